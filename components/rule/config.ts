// Settings of `thanos rule`, read once from its flags (https://thanos.io/tip/components/rule.md/).
// The rule files themselves are read by main.ts (and re-read on reload); a bad file at start is
// an error there, naming file and line.

import type { Labels } from "../../tsdb/series.ts";
import { labelsFromPairs } from "../../tsdb/labels.ts";
import { parseAlertmanagerURLs } from "../../rules/notifier.ts";
import { parseRelabelConfigs, type RelabelConfig } from "../../relabel/relabel.ts";
import { type Flags, type HttpConfig, httpConfig, parseLabelFlag, UsageError } from "../flags.ts";
import {
  type GrpcServerConfig,
  grpcServerConfig,
  type StoreLimitsConfig,
  storeLimitsConfig,
} from "../grpc.ts";
import { objstoreConfigText } from "../objstore.ts";
import type { RuleFlag } from "./flags.ts";

/** Everything `thanos rule` is configured with. */
export interface RuleConfig {
  http: HttpConfig;
  grpc: GrpcServerConfig;
  /** `--store.limits.request-series/-samples` (0: none). */
  storeLimits: StoreLimitsConfig;
  /** `--shipper.upload-compacted`. */
  uploadCompacted: boolean;
  /** `--label`s, sorted. */
  externalLabels: Labels;
  dataDir: string;
  /** `--rule-file` patterns. */
  ruleFiles: string[];
  resendDelayMs: number;
  /** `--for-outage-tolerance`, `--for-grace-period`. */
  forOutageToleranceMs: number;
  forGracePeriodMs: number;
  evalIntervalMs: number;
  blockDurationMs: number;
  retentionMs: number;
  walCompression: boolean;
  /** Normalized Alertmanager base URLs. */
  alertmanagers: string[];
  sendTimeoutMs: number;
  alertQueryURL: string;
  alertLabelDrop: string[];
  /** `--alert.relabel-config(-file)`: applied to alerts after the label drop. */
  alertRelabelConfigs: RelabelConfig[];
  /** Base URLs of the queriers' HTTP APIs. */
  queryURLs: string[];
  queryMethod: "GET" | "POST";
  /** Bucket config YAML; "" when uploads are off. */
  objstoreConfig: string;
}

/** Flags not supported yet: setting one is a usage error naming it. */
const NOT_SUPPORTED: readonly RuleFlag[] = [
  "tracing.config-file",
  "tracing.config",
  "http.config",
  "hash-func",
  "alertmanagers.config-file",
  "alertmanagers.config",
  "query.config-file",
  "query.config",
  "query.sd-files",
  "remote-write.config-file",
  "remote-write.config",
  "restore-ignored-label",
];

/** `--query` values as base URLs: `host:port` means `http://host:port`. */
export function queryURLsFrom(values: readonly string[]): string[] {
  return values.map((raw) => {
    const v = raw.trim();
    if (/^(dns|dnssrv|dnssrvnoa)\+/.test(v)) {
      throw new UsageError(
        `--query ${JSON.stringify(raw)}: DNS discovery (dns+, dnssrv+) of queriers is not ` +
          "supported yet; give host:port or http(s) URLs",
      );
    }
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new UsageError(`--query ${JSON.stringify(raw)}: not a host:port or URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new UsageError(`--query ${JSON.stringify(raw)}: scheme must be http or https`);
    }
    return u.toString().replace(/\/+$/, "");
  });
}

/** The typed settings; throws UsageError on bad values. */
export function ruleConfig(flags: Flags<RuleFlag>): RuleConfig {
  for (const name of NOT_SUPPORTED) {
    if (!flags.isSet(name)) continue;
    const values = flags.raw.values[name] ?? [];
    if (values.some((v) => v.trim() !== "")) {
      throw new UsageError(`--${name} is not supported yet by thanos-ts rule`);
    }
  }
  const pairs = new Map<string, string>();
  for (const s of flags.strings("label")) {
    const [name, value] = parseLabelFlag("label", s);
    if (pairs.has(name)) throw new UsageError(`--label ${name} given more than once`);
    pairs.set(name, value);
  }
  const evalIntervalMs = flags.duration("eval-interval");
  if (!(evalIntervalMs > 0)) throw new UsageError("--eval-interval must be greater than 0");
  const blockDurationMs = flags.duration("tsdb.block-duration");
  if (!(blockDurationMs > 0)) throw new UsageError("--tsdb.block-duration must be greater than 0");
  let alertmanagers: string[];
  try {
    alertmanagers = parseAlertmanagerURLs(flags.strings("alertmanagers.url"));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const queryURLs = queryURLsFrom(flags.strings("query"));
  if (queryURLs.length === 0) {
    throw new UsageError(
      "no --query parameter was given: the ruler needs a querier to evaluate rules",
    );
  }
  const alertQueryURL = flags.string("alert.query-url");
  if (alertQueryURL !== "") {
    try {
      new URL(alertQueryURL);
    } catch {
      throw new UsageError(`--alert.query-url ${JSON.stringify(alertQueryURL)}: not a URL`);
    }
  }
  const relabelFile = flags.fileContents("alert.relabel-config-file");
  const relabelInline = flags.string("alert.relabel-config");
  if (relabelFile !== "" && relabelInline !== "") {
    throw new UsageError(
      "--alert.relabel-config-file and --alert.relabel-config are mutually exclusive",
    );
  }
  let alertRelabelConfigs: RelabelConfig[];
  try {
    alertRelabelConfigs = parseRelabelConfigs(relabelFile || relabelInline);
  } catch (e) {
    throw new UsageError(`alert relabel config: ${(e as Error).message}`);
  }
  return {
    http: httpConfig(flags),
    grpc: grpcServerConfig(flags),
    storeLimits: storeLimitsConfig(flags),
    uploadCompacted: flags.bool("shipper.upload-compacted"),
    externalLabels: labelsFromPairs(pairs),
    dataDir: flags.string("data-dir"),
    ruleFiles: flags.strings("rule-file"),
    resendDelayMs: flags.duration("resend-delay"),
    forOutageToleranceMs: flags.duration("for-outage-tolerance"),
    forGracePeriodMs: flags.duration("for-grace-period"),
    evalIntervalMs,
    blockDurationMs,
    retentionMs: flags.duration("tsdb.retention"),
    walCompression: flags.bool("tsdb.wal-compression"),
    alertmanagers,
    sendTimeoutMs: flags.duration("alertmanagers.send-timeout"),
    alertQueryURL,
    alertLabelDrop: flags.strings("alert.label-drop"),
    alertRelabelConfigs,
    queryURLs,
    queryMethod: flags.enum("query.http-method", ["GET", "POST"]),
    objstoreConfig: objstoreConfigText(flags),
  };
}

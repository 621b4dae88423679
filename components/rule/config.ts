// Settings of `thanos rule`, read once from its flags (https://thanos.io/tip/components/rule.md/).
// The rule files themselves are read by main.ts (and re-read on reload); a bad file at start is
// an error there, naming file and line.

import type { Labels } from "../../tsdb/series.ts";
import { labelsFromPairs } from "../../tsdb/labels.ts";
import { parseAlertmanagerURLs } from "../../rules/notifier.ts";
import { DNS_SD_PREFIX } from "../../promclient/endpoints_config.ts";
import { type RelabelConfig } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import { type Flags, type HttpConfig, httpConfig, parseLabelFlag, UsageError } from "../flags.ts";
import {
  type GrpcServerConfig,
  grpcServerConfig,
  type StoreLimitsConfig,
  storeLimitsConfig,
} from "../grpc.ts";
import { objstoreConfigText } from "../objstore.ts";
import {
  type AlertmanagersGroup,
  type EndpointsGroup,
  parseAlertingConfig,
  parseQueryConfig,
  parseRemoteWriteConfig,
  type RemoteWriteConfig,
} from "../../promclient/endpoints_config.ts";
import type { RuleFlag } from "./flags.ts";
import { experimentalFunctionsEnabled } from "../features.ts";
import type { FunctionOptions } from "../../promql/functions_table.ts";

/** Everything `thanos rule` is configured with. */
export interface RuleConfig {
  http: HttpConfig;
  grpc: GrpcServerConfig;
  /** `--store.limits.request-series/-samples` (0: none). */
  storeLimits: StoreLimitsConfig;
  /** `--shipper.upload-compacted`. */
  uploadCompacted: boolean;
  /** `--shipper.meta-file-name`. */
  shipperMetaFileName: string;
  /** `--hash-func`: "SHA256" records each uploaded file's hash in meta.json ("" = none). */
  hashFunc: string;
  /** `--shipper.upload-concurrency` (0: one file at a time). */
  uploadConcurrency: number;
  /** `--label`s, sorted. */
  externalLabels: Labels;
  dataDir: string;
  /** `--rule-file` patterns. */
  ruleFiles: string[];
  /**
   * Optional PromQL functions rule expressions may call (`--query.enable-x-functions`,
   * `--enable-feature=promql-experimental-functions`); the querier evaluates them.
   */
  functions: FunctionOptions;
  resendDelayMs: number;
  /** `--for-outage-tolerance`, `--for-grace-period`. */
  forOutageToleranceMs: number;
  forGracePeriodMs: number;
  evalIntervalMs: number;
  /** `--rule-query-offset`: the query offset of groups without their own `query_offset`. */
  ruleQueryOffsetMs: number;
  blockDurationMs: number;
  retentionMs: number;
  walCompression: boolean;
  /** Normalized Alertmanager base URLs. */
  alertmanagers: string[];
  sendTimeoutMs: number;
  /** `--alertmanagers.sd-dns-interval`: how often dns+/dnssrv+ Alertmanager URLs are resolved. */
  alertmanagersDnsIntervalMs: number;
  alertQueryURL: string;
  /**
   * `--alert.query-template`: the generator URL's path after `--alert.query-url`; checked by
   * main.ts at start (`ExpressionLinkTemplate.parse`).
   */
  alertQueryTemplate: string;
  alertLabelDrop: string[];
  /** `--alert.relabel-config(-file)`: applied to alerts after the label drop. */
  alertRelabelConfigs: RelabelConfig[];
  /**
   * `--query` values: base URLs of queriers' HTTP APIs (`host:port` → `http://host:port`), or
   * `dns+host:port` / `dnssrv+name` resolved at run time.
   */
  queryAddresses: string[];
  /** `--query.sd-files` patterns (Prometheus file_sd files of `host:port` targets). */
  querySdFiles: string[];
  /**
   * `--grpc-query-endpoint`: queriers whose gRPC Query API evaluates the rules when no HTTP
   * querier answers (dns+/dnssrv+ resolved by the endpoint set).
   */
  grpcQueryEndpoints: string[];
  /** Re-read the SD files and re-resolve DNS this often (the shorter of the two intervals). */
  queryRefreshMs: number;
  queryMethod: "GET" | "POST";
  /** Bucket config YAML; "" when uploads are off. */
  objstoreConfig: string;
  /** `--query.config(-file)` groups; empty when the `--query*` flags are used. */
  queryGroups: EndpointsGroup[];
  /** `--alertmanagers.config(-file)` groups; empty when `--alertmanagers.url` is used. */
  alertmanagerGroups: AlertmanagersGroup[];
  /** `--query.default-step`: the step of the stateless ruler's `for` state range queries. */
  queryDefaultStepMs: number;
  /** `--restore-ignored-label`: left out of those queries' matchers. */
  restoreIgnoredLabels: string[];
  /** `--web.route-prefix` as `/prefix`, or "" for none. */
  routePrefix: string;
  /** `--web.external-prefix` as given, or undefined. */
  externalPrefix?: string;
  /** `--web.prefix-header` ("" for none). */
  prefixHeader: string;
  /** `--remote-write.config(-file)`: non-empty means stateless mode (WAL + remote write). */
  remoteWrite: RemoteWriteConfig[];
}

/** Flags not supported yet: setting one is a usage error naming it. */
const NOT_SUPPORTED: readonly RuleFlag[] = [];

/** A querier address as a base URL: `host:port` means `http://host:port`. */
export function queryBaseURL(raw: string): string {
  const v = raw.trim();
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
}

/** `--query` values: DNS discovery addresses kept as given, the others as base URLs. */
export function queryAddressesFrom(values: readonly string[]): string[] {
  return values.map((raw) => {
    const v = raw.trim();
    const dns = DNS_SD_PREFIX.exec(v);
    if (dns) {
      if (v.slice(dns[0].length).includes("/")) {
        throw new UsageError(
          `--query ${JSON.stringify(raw)}: with DNS discovery give host:port (dns+) or a ` +
            "SRV name (dnssrv+), without scheme or path",
        );
      }
      return v;
    }
    return queryBaseURL(v);
  });
}

/** The YAML of a `--x-file` / `--x` pair (mutually exclusive), "" when neither is set. */
function pathOrContent(flags: Flags<RuleFlag>, file: RuleFlag, inline: RuleFlag): string {
  const a = flags.fileContents(file);
  const b = flags.string(inline);
  if (a.trim() !== "" && b.trim() !== "") {
    throw new UsageError(`--${file} and --${inline} are mutually exclusive`);
  }
  return a.trim() !== "" ? a : b;
}

function parsed<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError(`${what}: ${(e as Error).message}`);
  }
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
  const queryAddresses = queryAddressesFrom(flags.strings("query"));
  const querySdFiles = flags.strings("query.sd-files");
  const queryYaml = pathOrContent(flags, "query.config-file", "query.config");
  const queryGroups = parsed("--query.config", () => parseQueryConfig(queryYaml));
  const grpcQueryEndpoints = flags.strings("grpc-query-endpoint").map((a, i) => {
    // Thanos's clientconfig.BuildConfigFromGRPCAddresses
    if (a === "") throw new UsageError(`static address cannot be empty at index ${i}`);
    return a;
  });
  if (
    queryAddresses.length === 0 && querySdFiles.length === 0 && queryGroups.length === 0 &&
    grpcQueryEndpoints.length === 0
  ) {
    throw new UsageError(
      "no --query parameter was given: the ruler needs a querier to evaluate rules " +
        "(--query, --query.sd-files, --query.config or --grpc-query-endpoint)",
    );
  }
  if (
    queryYaml.trim() !== "" &&
    (queryAddresses.length > 0 || querySdFiles.length > 0 || grpcQueryEndpoints.length > 0)
  ) {
    throw new UsageError(
      "--query/--query.sd-files/--grpc-query-endpoint and --query.config* parameters cannot " +
        "be defined at the same time",
    );
  }
  const amYaml = pathOrContent(flags, "alertmanagers.config-file", "alertmanagers.config");
  const alertmanagerGroups = parsed("--alertmanagers.config", () => parseAlertingConfig(amYaml));
  if (amYaml.trim() !== "" && alertmanagers.length > 0) {
    throw new UsageError(
      "--alertmanagers.url and --alertmanagers.config* parameters cannot be defined at the " +
        "same time",
    );
  }
  const routePrefix = flags.string("web.route-prefix").replace(/^\/+|\/+$/g, "");
  const rwYaml = pathOrContent(flags, "remote-write.config-file", "remote-write.config");
  const remoteWrite = parsed("--remote-write.config", () => parseRemoteWriteConfig(rwYaml));
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
    shipperMetaFileName: flags.string("shipper.meta-file-name"),
    hashFunc: flags.enum("hash-func", ["", "SHA256"]),
    uploadConcurrency: flags.int("shipper.upload-concurrency"),
    externalLabels: labelsFromPairs(pairs),
    dataDir: flags.string("data-dir"),
    // Thanos globs each --rule-file (filepath.Glob); its default `rules/` (a directory, never
    // a rule file) matches nothing to load where it does not exist, so unset means no files
    ruleFiles: flags.isSet("rule-file") ? flags.strings("rule-file") : [],
    functions: {
      xFunctions: flags.bool("query.enable-x-functions"),
      experimentalFunctions: experimentalFunctionsEnabled(flags.strings("enable-feature")),
    },
    resendDelayMs: flags.duration("resend-delay"),
    forOutageToleranceMs: flags.duration("for-outage-tolerance"),
    forGracePeriodMs: flags.duration("for-grace-period"),
    evalIntervalMs,
    ruleQueryOffsetMs: flags.duration("rule-query-offset"),
    blockDurationMs,
    retentionMs: flags.duration("tsdb.retention"),
    walCompression: flags.bool("tsdb.wal-compression"),
    alertmanagers,
    sendTimeoutMs: flags.duration("alertmanagers.send-timeout"),
    alertmanagersDnsIntervalMs: Math.max(1000, flags.duration("alertmanagers.sd-dns-interval")),
    alertQueryURL,
    alertQueryTemplate: flags.string("alert.query-template"),
    alertLabelDrop: flags.strings("alert.label-drop"),
    alertRelabelConfigs,
    queryAddresses,
    querySdFiles,
    grpcQueryEndpoints,
    queryRefreshMs: Math.max(
      1000,
      Math.min(flags.duration("query.sd-interval"), flags.duration("query.sd-dns-interval")),
    ),
    queryMethod: flags.enum("query.http-method", ["GET", "POST"]),
    objstoreConfig: objstoreConfigText(flags),
    queryGroups,
    alertmanagerGroups,
    remoteWrite,
    queryDefaultStepMs: Math.max(1, flags.duration("query.default-step")),
    restoreIgnoredLabels: flags.strings("restore-ignored-label"),
    routePrefix: routePrefix === "" ? "" : "/" + routePrefix,
    externalPrefix: flags.string("web.external-prefix") || undefined,
    prefixHeader: flags.string("web.prefix-header"),
  };
}

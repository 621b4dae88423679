// Settings of `thanos receive`, read once from its flags
// (https://thanos.io/tip/components/receive.md/). The receive mode is derived from the flags as
// Thanos v0.42 does (`determineMode` in cmd/thanos/receive.go): a hashring configuration plus
// `--receive.local-endpoint` is RouterIngestor, a hashring without a local endpoint is
// RouterOnly, no hashring at all is IngestorOnly (every series is written locally).

import type { ClientTlsOptions } from "../../storeapi/grpc.ts";
import type { Labels } from "../../tsdb/series.ts";
import { labelsFromPairs } from "../../tsdb/labels.ts";
import { newHashring, parseHashrings } from "../../receive/hashring.ts";
import { noLimits, parseLimitsConfig, type ReceiveLimits } from "../../receive/limits.ts";
import {
  type Flags,
  type HttpConfig,
  httpConfig,
  type ListenAddress,
  parseLabelFlag,
  parseListenAddress,
  UsageError,
} from "../flags.ts";
import {
  type GrpcServerConfig,
  grpcServerConfig,
  type StoreLimitsConfig,
  storeLimitsConfig,
} from "../grpc.ts";
import { objstoreConfigText } from "../objstore.ts";
import { type RelabelConfig } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import type { OtlpTranslateOptions } from "../../receive/otlp_translate.ts";
import { substituteEnv } from "../../objstore/config.ts";
import {
  HASHRING_ALGORITHMS,
  type ReceiveFlag,
  TENANT_CERTIFICATE_FIELDS,
  TLS_VERSIONS,
} from "./flags.ts";

/** How this receiver handles writes (Thanos's `receive.ReceiverMode`). */
export type ReceiveMode = "RouterIngestor" | "RouterOnly" | "IngestorOnly";

/** Where the hashring configuration comes from. */
export type HashringSource =
  /** `--receive.hashrings-file`: re-read every refresh interval (and on change). */
  | { kind: "file"; path: string; initial: string }
  /** `--receive.hashrings`: fixed for the life of the process. */
  | { kind: "inline"; content: string }
  /** No hashring: every series is owned by this receiver. */
  | { kind: "none" };

/** Everything `thanos receive` is configured with. */
export interface ReceiveConfig {
  http: HttpConfig;
  grpc: GrpcServerConfig;
  /** `--store.limits.request-series/-samples` (0: none). */
  storeLimits: StoreLimitsConfig;
  /** `--remote-write.address`. */
  remoteWriteAddress: ListenAddress;
  /** `--remote-write.server-tls-cert/-key`: HTTPS on the remote-write address; absent: HTTP. */
  remoteWriteTls?: {
    certFile: string;
    keyFile: string;
    minVersion: string;
    /** `--remote-write.server-tls-client-ca`: mutual TLS (clients must present a certificate). */
    clientCaFile?: string;
  };
  /** `--receive.tenant-certificate-field` ("" = the tenant header decides). */
  tenantCertificateField: "" | "organization" | "organizationalUnit" | "commonName";
  /** TLS towards the other receivers (`--remote-write.client-tls-*`); undefined: plaintext. */
  forwardTls?: ClientTlsOptions;
  /** `--receive.grpc-compression`. */
  forwardCompression: "snappy" | "none";
  forwardTimeoutMs: number;
  /** `--receive-forward-max-backoff`. */
  forwardMaxBackoffMs: number;
  /** `--receive.forward.async-workers` (at least 1). */
  forwardWorkers: number;
  dataDir: string;
  /** `--label`s, sorted (at least one, as Thanos requires). */
  externalLabels: Labels;
  /** Bucket config YAML; "" when uploads are off. */
  objstoreConfig: string;
  /** `--hash-func`: "SHA256" records each shipped file's hash in meta.json ("" = none). */
  hashFunc: string;
  retentionMs: number;
  /** Block range of every tenant's TSDB (`--tsdb.min-block-duration`). */
  blockRangeMs: number;
  maxBlockDurationMs: number;
  walCompression: boolean;
  hashrings: HashringSource;
  hashringsAlgorithm: (typeof HASHRING_ALGORITHMS)[number];
  hashringsRefreshMs: number;
  /** `--receive.local-endpoint`, "" when unset. */
  localEndpoint: string;
  mode: ReceiveMode;
  tenantHeader: string;
  defaultTenant: string;
  tenantLabelName: string;
  replicaHeader: string;
  /** At least 1. */
  replicationFactor: number;
  /** Parsed `--receive.limits-config(-file)`; the empty config when none is given. */
  limits: ReceiveLimits;
  /** `--shipper.skip-corrupted-blocks`. */
  shipperSkipCorruptedBlocks: boolean;
  /** `--shipper.allow-out-of-order-uploads`. */
  shipperAllowOutOfOrderUploads: boolean;
  /** `--tsdb.max-exemplars` per tenant (≤ 0: exemplars not stored). */
  maxExemplars: number;
  /** `--tsdb.max-retention-bytes` per tenant (0 = no limit). */
  maxRetentionBytes: number;
  /** `--receive.artificial-max-delay` in ms (0 = off). */
  maxArtificialDelayMs: number;
  /** `--tsdb.too-far-in-future.time-window` in ms (0 = off). */
  tooFarInFutureMs: number;
  /** `--tsdb.out-of-order.time-window` in ms (0 = out-of-order samples refused). */
  oooWindowMs: number;
  /** `--tsdb.out-of-order.cap-max` (≤ 0: Prometheus's 32 samples per out-of-order chunk). */
  oooCapMax: number;
  /** `--receive.split-tenant-label-name` ("" = off). */
  splitTenantLabelName: string;
  /** `--receive.relabel-config(-file)`: applied to each remote-written series (none: []). */
  relabelConfigs: RelabelConfig[];
  /** `--receive.otlp-enable-target-info`, `--receive.otlp-promote-resource-attributes`. */
  otlp: OtlpTranslateOptions;
}

/** Label names Prometheus accepts (the legacy charset Thanos validates the tenant label with). */
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The `--label` flags as sorted labels; at least one, names unique. */
function externalLabelsFrom(flags: Flags<ReceiveFlag>): Labels {
  const pairs = new Map<string, string>();
  for (const s of flags.strings("label")) {
    const [name, value] = parseLabelFlag("label", s);
    if (pairs.has(name)) throw new UsageError(`--label ${name} given more than once`);
    pairs.set(name, value);
  }
  if (pairs.size === 0) {
    // Thanos refuses too: https://thanos.io/tip/thanos/storage.md#external-labels
    throw new UsageError(
      "no external labels configured for receive, uniquely identifying external labels must " +
        'be configured (ideally with `receive_` prefix), e.g. --label=replica="r0"',
    );
  }
  return labelsFromPairs(pairs);
}

/**
 * The hashring source; its initial content is parsed and built into a hashring here, so a bad
 * file or a ring smaller than the replication factor is a UsageError at start-up.
 */
function hashringSourceFrom(flags: Flags<ReceiveFlag>, rf: number): HashringSource {
  const path = flags.string("receive.hashrings-file");
  let src: HashringSource;
  let content: string;
  let what: string;
  if (path !== "") {
    content = flags.fileContents("receive.hashrings-file");
    src = { kind: "file", path, initial: content };
    what = `hashring configuration file ${path}`;
  } else if (flags.string("receive.hashrings") !== "") {
    content = flags.string("receive.hashrings");
    src = { kind: "inline", content };
    what = "--receive.hashrings";
  } else return { kind: "none" };
  try {
    newHashring(
      parseHashrings(content),
      flags.enum("receive.hashrings-algorithm", HASHRING_ALGORITHMS),
      rf,
    );
  } catch (e) {
    throw new UsageError(`failed to validate ${what}: ${(e as Error).message}`);
  }
  return src;
}

/** The limits from `--receive.limits-config(-file)`. */
function limitsFrom(flags: Flags<ReceiveFlag>): ReceiveLimits {
  const fromFile = flags.fileContents("receive.limits-config-file");
  const inline = flags.string("receive.limits-config");
  if (fromFile !== "" && inline !== "") {
    throw new UsageError(
      "--receive.limits-config-file and --receive.limits-config are mutually exclusive",
    );
  }
  if ((fromFile || inline).trim() === "") return noLimits();
  try {
    return parseLimitsConfig(fromFile || inline);
  } catch (e) {
    throw new UsageError(`parse limit configuration: ${(e as Error).message}`);
  }
}

/** The rules of `--receive.relabel-config(-file)` (Prometheus relabel_configs YAML). */
function relabelConfigsFrom(flags: Flags<ReceiveFlag>): RelabelConfig[] {
  const fromFile = flags.fileContents("receive.relabel-config-file");
  const inline = flags.string("receive.relabel-config");
  if (fromFile !== "" && inline !== "") {
    throw new UsageError(
      "--receive.relabel-config-file and --receive.relabel-config are mutually exclusive",
    );
  }
  try {
    // `$(VAR)` references are expanded, as Thanos's extflag.WithEnvSubstitution
    const text = substituteEnv(fromFile || inline, (name) => Deno.env.get(name));
    return parseRelabelConfigs(text);
  } catch (e) {
    const msg = (e as Error).message.replace(/^objstore config: /, "");
    throw new UsageError(`get relabel configuration: ${msg}`);
  }
}

/** The receive mode Thanos derives from the flags. */
export function determineMode(hashringGiven: boolean, localEndpoint: string): ReceiveMode {
  if (hashringGiven && localEndpoint !== "") return "RouterIngestor";
  if (hashringGiven) return "RouterOnly";
  return "IngestorOnly";
}

/** Reads and validates the flags of `thanos receive`; throws UsageError on bad values. */
export function receiveConfig(flags: Flags<ReceiveFlag>): ReceiveConfig {
  const externalLabels = externalLabelsFrom(flags);
  const tenantLabelName = flags.string("receive.tenant-label-name");
  if (!LABEL_NAME_RE.test(tenantLabelName)) {
    throw new UsageError(
      `unsupported format for tenant label name, got ${JSON.stringify(tenantLabelName)}`,
    );
  }
  const rf = flags.int("receive.replication-factor");
  if (rf < 1) {
    throw new UsageError(`--receive.replication-factor must be at least 1, got ${rf}`);
  }
  const minBlock = flags.duration("tsdb.min-block-duration");
  const maxBlock = flags.duration("tsdb.max-block-duration");
  if (minBlock < 1000) {
    throw new UsageError("--tsdb.min-block-duration must be at least 1s");
  }
  if (maxBlock < minBlock) {
    throw new UsageError(
      "--tsdb.max-block-duration must be at least --tsdb.min-block-duration",
    );
  }
  const refresh = flags.duration("receive.hashrings-file-refresh-interval");
  if (refresh <= 0) {
    throw new UsageError("--receive.hashrings-file-refresh-interval must be positive");
  }
  if (flags.int("receive.lazy-retrieval-max-buffered-responses") <= 0) {
    throw new UsageError("--receive.lazy-retrieval-max-buffered-responses must be > 0");
  }
  const workers = flags.int("receive.forward.async-workers");
  if (workers < 1) throw new UsageError("--receive.forward.async-workers must be at least 1");
  const forwardTimeoutMs = flags.duration("receive-forward-timeout");
  if (forwardTimeoutMs <= 0) throw new UsageError("--receive-forward-timeout must be positive");
  const tenantHeader = flags.string("receive.tenant-header").trim();
  if (tenantHeader === "") throw new UsageError("--receive.tenant-header must not be empty");
  const defaultTenant = flags.string("receive.default-tenant-id");
  if (defaultTenant === "" || defaultTenant.includes("/") || defaultTenant.startsWith(".")) {
    throw new UsageError(
      `invalid --receive.default-tenant-id ${JSON.stringify(defaultTenant)}: it names a ` +
        "directory under --tsdb.path",
    );
  }

  const hashrings = hashringSourceFrom(flags, rf);
  const localEndpoint = flags.string("receive.local-endpoint").trim();
  const mode = determineMode(hashrings.kind !== "none", localEndpoint);

  let forwardTls: ClientTlsOptions | undefined;
  if (flags.bool("remote-write.client-tls-secure")) {
    forwardTls = {
      certFile: flags.string("remote-write.client-tls-cert") || undefined,
      keyFile: flags.string("remote-write.client-tls-key") || undefined,
      caFile: flags.string("remote-write.client-tls-ca") || undefined,
      serverName: flags.string("remote-write.client-server-name") || undefined,
      skipVerify: flags.bool("remote-write.client-tls-skip-verify"),
    };
  }

  const rwCert = flags.string("remote-write.server-tls-cert");
  const rwKey = flags.string("remote-write.server-tls-key");
  if ((rwCert === "") !== (rwKey === "")) {
    // Thanos's tls.NewServerConfig
    throw new UsageError("both server key and certificate must be provided");
  }
  const rwCa = flags.string("remote-write.server-tls-client-ca");
  if (rwCa !== "" && rwCert === "") {
    throw new UsageError(
      "when a client CA is used a server key and certificate must also be provided",
    );
  }
  const tenantCertificateField = flags.enum(
    "receive.tenant-certificate-field",
    TENANT_CERTIFICATE_FIELDS,
  );
  if (tenantCertificateField !== "" && rwCa === "") {
    // the field is read from a verified client certificate, which only mutual TLS provides
    throw new UsageError(
      "--receive.tenant-certificate-field needs --remote-write.server-tls-client-ca (mutual TLS)",
    );
  }
  const remoteWriteTls = rwCert === "" ? undefined : {
    certFile: rwCert,
    keyFile: rwKey,
    minVersion: flags.enum("remote-write.server-tls-min-version", TLS_VERSIONS),
    ...(rwCa === "" ? {} : { clientCaFile: rwCa }),
  };

  return {
    http: httpConfig(flags),
    grpc: grpcServerConfig(flags),
    storeLimits: storeLimitsConfig(flags),
    remoteWriteAddress: parseListenAddress(flags.string("remote-write.address")),
    remoteWriteTls,
    tenantCertificateField,
    forwardTls,
    forwardCompression: flags.enum("receive.grpc-compression", ["snappy", "none"]),
    forwardTimeoutMs,
    forwardMaxBackoffMs: flags.duration("receive-forward-max-backoff"),
    forwardWorkers: workers,
    dataDir: flags.string("tsdb.path"),
    externalLabels,
    objstoreConfig: objstoreConfigText(flags),
    hashFunc: flags.enum("hash-func", ["", "SHA256"]),
    retentionMs: flags.duration("tsdb.retention"),
    blockRangeMs: minBlock,
    maxBlockDurationMs: maxBlock,
    walCompression: flags.bool("tsdb.wal-compression"),
    hashrings,
    hashringsAlgorithm: flags.enum("receive.hashrings-algorithm", HASHRING_ALGORITHMS),
    hashringsRefreshMs: refresh,
    localEndpoint,
    mode,
    tenantHeader,
    defaultTenant,
    tenantLabelName,
    replicaHeader: flags.string("receive.replica-header"),
    replicationFactor: rf,
    limits: limitsFrom(flags),
    relabelConfigs: relabelConfigsFrom(flags),
    otlp: {
      enableTargetInfo: flags.bool("receive.otlp-enable-target-info"),
      promoteResourceAttributes: flags.strings("receive.otlp-promote-resource-attributes"),
    },
    splitTenantLabelName: flags.string("receive.split-tenant-label-name"),
    tooFarInFutureMs: flags.duration("tsdb.too-far-in-future.time-window"),
    oooWindowMs: flags.duration("tsdb.out-of-order.time-window"),
    oooCapMax: flags.int("tsdb.out-of-order.cap-max"),
    maxArtificialDelayMs: flags.duration("receive.artificial-max-delay"),
    maxRetentionBytes: flags.bytes("tsdb.max-retention-bytes"),
    maxExemplars: Math.max(0, flags.int("tsdb.max-exemplars")),
    shipperSkipCorruptedBlocks: flags.bool("shipper.skip-corrupted-blocks"),
    shipperAllowOutOfOrderUploads: flags.bool("shipper.allow-out-of-order-uploads"),
  };
}

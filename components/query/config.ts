// Settings of `thanos query`, read once from its flags (https://thanos.io/tip/components/query.md/).

import { DNS_SD_PREFIX } from "../../promclient/endpoints_config.ts";
import { tracingConfig } from "../tracing.ts";
import { selectorRelabelConfigsFromFlags } from "../selector.ts";
import type { RelabelConfig } from "../../relabel/relabel.ts";
import type { OtlpConfig } from "../../tracing/config.ts";
import type { DedupFunc } from "../../storeapi/dedup.ts";
import type { StoreClientOptions } from "../../storeapi/client.ts";
import type { Labels } from "../../tsdb/series.ts";
import { labelsFromPairs } from "../../tsdb/labels.ts";
import { parseReplicaLabels } from "../../query/replica_labels.ts";
import type { QueryTenancy } from "../../query/api.ts";
import { isTenantValid } from "../../server/tenancy.ts";
import {
  EndpointConfigError,
  type EndpointSpec,
  parseEndpointConfig,
} from "../../query/endpoints.ts";
import {
  type Flags,
  type HttpConfig,
  httpConfig,
  parseLabelFlag,
  requireClientCertificates,
  TENANT_CERTIFICATE_FIELDS,
  UsageError,
} from "../flags.ts";
import type { WebConfig } from "../../server/web_config.ts";
import {
  type GrpcServerConfig,
  grpcServerConfig,
  type StoreLimitsConfig,
  storeLimitsConfig,
  TLS_VERSIONS,
} from "../grpc.ts";
import {
  CONN_METRIC_LABELS,
  type ConnMetricLabel,
  DEDUP_FUNCS,
  GRPC_COMPRESSIONS,
  PROMQL_ENGINES,
  type QueryFlag,
} from "./flags.ts";
import { experimentalFunctionsEnabled } from "../features.ts";
import type { PromqlEngine } from "../../query/api.ts";
import type { TelemetryBuckets } from "../../query/telemetry.ts";

/** Everything `thanos query` is configured with. */
export interface QueryConfig {
  http: HttpConfig;
  /** `--tracing.config(-file)`: the OTLP exporter, null when tracing is off. */
  tracing: OtlpConfig | null;
  grpc: GrpcServerConfig;
  /** Options of the StoreAPI clients (`--grpc-client-*`, `--grpc-compression`). */
  client: StoreClientOptions;
  /** `--web.route-prefix` (or `--web.external-prefix`) as `/prefix`, or "" for none. */
  routePrefix: string;
  /** `--web.external-prefix` as given, or undefined. */
  externalPrefix?: string;
  /** `--web.prefix-header`, or "" for none. */
  prefixHeader: string;
  enableCors: boolean;
  queryTimeoutMs: number;
  /** At least 1. */
  maxConcurrent: number;
  /** At least 1. */
  maxConcurrentSelect: number;
  lookbackDeltaMs: number;
  maxSamples: number;
  defaultStepMs: number;
  defaultEvaluationIntervalMs: number;
  replicaLabels: string[];
  dedupFunc: DedupFunc;
  partialResponse: boolean;
  autoDownsampling: boolean;
  selectorLabels: Labels;
  /** `--store`, `--endpoint` and `--endpoint-strict` endpoints. */
  staticEndpoints: EndpointSpec[];
  /** Endpoints of `--endpoint.sd-config` (validated; it never changes). */
  inlineEndpoints: EndpointSpec[];
  /** `--endpoint.sd-config-file` (re-read every round), or undefined. */
  endpointConfigFile?: { path: string; contents: string };
  /** `--store.sd-files` paths or globs. */
  sdFiles: string[];
  /** Info timeout, also the interval between health checks (default 5s). */
  infoTimeoutMs: number;
  dnsIntervalMs: number;
  unhealthyTimeoutMs: number;
  /** 0 disables it. */
  responseTimeoutMs: number;
  /** `--store.limits.*` of the querier's own StoreAPI server (0: none). */
  limits: StoreLimitsConfig;
  /** Labels of `thanos_store_nodes_grpc_connections` (`--query.conn-metric.label`). */
  connMetricLabels: ConnMetricLabel[];
  /** Every flag's value as text, for `/api/v1/status/flags`. */
  flagValues: Record<string, string>;
  /** `--selector.relabel-config(-file)` rules (empty: every label set is queried). */
  tsdbSelector: RelabelConfig[];
  /** `--query.mode=distributed` with its `--query.partition-label`s; undefined: local. */
  distributed?: { partitionLabels: string[] };
  /** `--query.tenant-header`, `--query.default-tenant-id`, `--query.enforce-tenancy`, … */
  tenancy: QueryTenancy;
  /**
   * `--query.promql-engine`, `--enable-feature=promql-experimental-functions`,
   * `--query.enable-x-functions` (x-functions for queries whose engine is "thanos").
   */
  promql: { defaultEngine: PromqlEngine; experimentalFunctions: boolean; xFunctions: boolean };
  /** `--query.metadata.default-time-range` (ms; 0: all time). */
  metadataDefaultTimeRangeMs: number;
  /** `--query.active-query-path`, or "" for no active query log. */
  activeQueryPath: string;
  /** `--query.telemetry.request-{duration-seconds,series-seconds,samples}-quantiles`. */
  telemetry: TelemetryBuckets;
}

/** A telemetry flag's values: numbers in ascending order (histogram buckets). */
function telemetryBuckets(flags: Flags<QueryFlag>, name: QueryFlag): number[] {
  const vs = flags.strings(name).map(Number);
  for (let i = 0; i < vs.length; i++) {
    if (Number.isNaN(vs[i]) || (i > 0 && vs[i] <= vs[i - 1])) {
      throw new UsageError(`--${name}: the values must be ascending numbers`);
    }
  }
  return vs;
}

/** Prometheus's default lookback delta, when `--query.lookback-delta` is unset. */
const DEFAULT_LOOKBACK_DELTA_MS = 5 * 60_000;

/** Node's names of the TLS versions of `--grpc-client-tls-min-version`. */
const TLS_MIN_VERSIONS = {
  "1.0": "TLSv1",
  "1.1": "TLSv1.1",
  "1.2": "TLSv1.2",
  "1.3": "TLSv1.3",
} as const satisfies Record<typeof TLS_VERSIONS[number], string>;

/** The StoreAPI client options from the `--grpc-client-*` flags. */
function clientOptions(flags: Flags<QueryFlag>): StoreClientOptions {
  const opts: StoreClientOptions = {
    compression: flags.enum("grpc-compression", GRPC_COMPRESSIONS),
  };
  if (flags.bool("grpc-client-tls-secure")) {
    opts.tls = {
      certFile: flags.string("grpc-client-tls-cert") || undefined,
      keyFile: flags.string("grpc-client-tls-key") || undefined,
      caFile: flags.string("grpc-client-tls-ca") || undefined,
      serverName: flags.string("grpc-client-server-name") || undefined,
      skipVerify: flags.bool("grpc-client-tls-skip-verify"),
      minVersion: TLS_MIN_VERSIONS[flags.enum("grpc-client-tls-min-version", TLS_VERSIONS)],
    };
  }
  return opts;
}

/**
 * A strict endpoint (group) address: DNS discovery is refused, as Thanos's validateEndpointConfig
 * refuses it (cmd/thanos/endpointset.go; exit 1).
 */
function staticStrict(address: string): string {
  if (DNS_SD_PREFIX.test(address)) {
    throw new UsageError(
      `${address} is a dynamically specified endpoint i.e. it uses SD and that is not ` +
        "permitted under strict mode.",
    );
  }
  return address;
}

/** `--query.partition-label`s; Thanos requires them apart from the replica labels. */
function partitionLabels(labels: string[], replicaLabels: readonly string[]): string[] {
  for (const l of labels) {
    if (replicaLabels.includes(l)) {
      throw new UsageError(
        `--query.partition-label ${JSON.stringify(l)} is also a replica label: partition ` +
          "labels must not intersect with replica labels",
      );
    }
  }
  return [...new Set(labels)];
}

/** Reads and validates the flags of `thanos query`; throws UsageError on bad values. */
export function queryConfig(flags: Flags<QueryFlag>): QueryConfig {
  const replicaLabels = parseReplicaLabels(flags.strings("query.replica-label"));
  const selectorLabels = labelsFromPairs(
    flags.strings("selector-label").map((s) => parseLabelFlag("selector-label", s)),
  );
  const dedupFunc = flags.enum("deduplication.func", DEDUP_FUNCS);

  const staticEndpoints: EndpointSpec[] = [
    ...flags.strings("store").map((address) => ({ address, strict: false })),
    ...flags.strings("endpoint").map((address) => ({ address, strict: false })),
    ...flags.strings("endpoint-strict").map((address) => ({
      address: staticStrict(address),
      strict: true,
    })),
    ...flags.strings("endpoint-group").map((address) => ({ address, strict: false, group: true })),
    ...flags.strings("endpoint-group-strict").map((address) => ({
      address: staticStrict(address),
      strict: true,
      group: true,
    })),
  ];
  const sdConfigFile = flags.string("endpoint.sd-config-file");
  const sdConfigInline = flags.string("endpoint.sd-config");
  if (sdConfigFile !== "" && sdConfigInline !== "") {
    throw new EndpointConfigError(
      "--endpoint.sd-config-file and --endpoint.sd-config are mutually exclusive",
    );
  }
  // validate configs once at start so mistakes fail fast; the inline one never changes
  const inlineEndpoints = sdConfigInline !== ""
    ? parseEndpointConfig(sdConfigInline, "--endpoint.sd-config")
    : [];
  let endpointConfigFile: QueryConfig["endpointConfigFile"];
  if (sdConfigFile !== "") {
    const contents = flags.fileContents("endpoint.sd-config-file");
    parseEndpointConfig(contents, sdConfigFile);
    endpointConfigFile = { path: sdConfigFile, contents };
  }

  const prefixFlag = flags.string("web.route-prefix") || flags.string("web.external-prefix");
  const http = httpConfig(flags);
  return {
    http,
    tracing: tracingConfig(flags.raw),
    grpc: grpcServerConfig(flags),
    client: clientOptions(flags),
    routePrefix: prefixFlag === "" ? "" : "/" + prefixFlag.replace(/^\/+|\/+$/g, ""),
    externalPrefix: flags.string("web.external-prefix") || undefined,
    prefixHeader: flags.string("web.prefix-header"),
    enableCors: !flags.bool("web.disable-cors"),
    queryTimeoutMs: flags.duration("query.timeout"),
    maxConcurrent: Math.max(1, flags.int("query.max-concurrent")),
    maxConcurrentSelect: Math.max(1, flags.int("query.max-concurrent-select")),
    // unset: Prometheus's 5m (https://prometheus.io/docs/prometheus/latest/querying/basics/)
    lookbackDeltaMs: flags.isSet("query.lookback-delta")
      ? flags.duration("query.lookback-delta")
      : DEFAULT_LOOKBACK_DELTA_MS,
    maxSamples: flags.int("query.max-samples"),
    defaultStepMs: flags.duration("query.default-step"),
    defaultEvaluationIntervalMs: flags.duration("query.default-evaluation-interval"),
    replicaLabels,
    dedupFunc,
    partialResponse: flags.bool("query.partial-response"),
    autoDownsampling: flags.bool("query.auto-downsampling"),
    selectorLabels,
    staticEndpoints,
    inlineEndpoints,
    endpointConfigFile,
    sdFiles: flags.strings("store.sd-files"),
    infoTimeoutMs: flags.duration("endpoint.info-timeout") || 5000,
    dnsIntervalMs: flags.duration("store.sd-dns-interval"),
    unhealthyTimeoutMs: flags.duration("store.unhealthy-timeout"),
    responseTimeoutMs: flags.duration("store.response-timeout"),
    limits: storeLimitsConfig(flags),
    connMetricLabels: [...new Set(flags.strings("query.conn-metric.label"))].map((l) => {
      if (!(CONN_METRIC_LABELS as readonly string[]).includes(l)) {
        throw new UsageError(
          `invalid --query.conn-metric.label ${JSON.stringify(l)}: want one of ` +
            CONN_METRIC_LABELS.join(", "),
        );
      }
      return l as ConnMetricLabel;
    }),
    flagValues: flags.textValues(),
    tsdbSelector: selectorRelabelConfigsFromFlags(flags),
    distributed: flags.enum("query.mode", ["local", "distributed"]) === "distributed"
      ? { partitionLabels: partitionLabels(flags.strings("query.partition-label"), replicaLabels) }
      : undefined,
    tenancy: tenancyConfig(flags, http.web),
    promql: {
      defaultEngine: flags.enum("query.promql-engine", PROMQL_ENGINES),
      experimentalFunctions: experimentalFunctionsEnabled(flags.strings("enable-feature")),
      xFunctions: flags.bool("query.enable-x-functions"),
    },
    metadataDefaultTimeRangeMs: flags.duration("query.metadata.default-time-range"),
    activeQueryPath: flags.string("query.active-query-path"),
    telemetry: {
      durationSeconds: telemetryBuckets(
        flags,
        "query.telemetry.request-duration-seconds-quantiles",
      ),
      series: telemetryBuckets(flags, "query.telemetry.request-series-seconds-quantiles"),
      samples: telemetryBuckets(flags, "query.telemetry.request-samples-quantiles"),
    },
  };
}

/**
 * The tenancy flags, validated: a header and a default tenant the API can use, and a certificate
 * field only when `--http.config` asks clients for certificates.
 */
function tenancyConfig(flags: Flags<QueryFlag>, web: WebConfig | undefined): QueryTenancy {
  const header = flags.string("query.tenant-header").trim();
  if (header === "" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new UsageError(
      `invalid --query.tenant-header ${JSON.stringify(header)}: want an HTTP header name`,
    );
  }
  const defaultTenant = flags.string("query.default-tenant-id");
  if (!isTenantValid(defaultTenant)) {
    throw new UsageError(
      `invalid --query.default-tenant-id ${JSON.stringify(defaultTenant)}: tenant name not valid`,
    );
  }
  const labelName = flags.string("query.tenant-label-name");
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(labelName)) {
    throw new UsageError(
      `invalid --query.tenant-label-name ${JSON.stringify(labelName)}: want a label name`,
    );
  }
  const field = flags.enum("query.tenant-certificate-field", TENANT_CERTIFICATE_FIELDS);
  requireClientCertificates("query.tenant-certificate-field", field, web);
  return {
    header,
    defaultTenant,
    enforce: flags.bool("query.enforce-tenancy"),
    labelName,
    ...(field === "" ? {} : { certificateField: field }),
  };
}

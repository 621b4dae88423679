// Settings of `thanos query-frontend`, read once from its flags
// (https://thanos.io/tip/components/query-frontend.md/#flags).

import { parseAllDocuments } from "yaml";
import { type CacheConfig, parseCacheConfig } from "../../cache/config.ts";
import {
  type Flags,
  type HttpConfig,
  httpConfig,
  parseDurationFlag,
  requireClientCertificates,
  TENANT_CERTIFICATE_FIELDS,
  UsageError,
} from "../flags.ts";
import type { CertificateTenantField } from "../../server/tenancy.ts";
import { CACHE_COMPRESSIONS, type QueryFrontendFlag } from "./flags.ts";
import { experimentalFunctionsEnabled } from "../features.ts";
import type { FunctionOptions } from "../../promql/functions_table.ts";
import { DEFAULT_TENANT_HEADER } from "../../server/tenancy.ts";

/** Everything `thanos query-frontend` is configured with. */
export interface QueryFrontendConfig {
  http: HttpConfig;
  enableCors: boolean;
  /** `--query-frontend.enable-x-functions`, `--enable-feature=promql-experimental-functions`. */
  functions: FunctionOptions;
  downstreamUrl: string;
  /** `response_header_timeout` of the tripper config (0: none). */
  downstreamTimeoutMs: number;
  alignRangeWithStep: boolean;
  requestDownsampled: boolean;
  splitIntervalMs: number;
  /** Dynamic horizontal splitting (all three > 0, or all 0 when split-interval is set). */
  minSplitIntervalMs: number;
  maxSplitIntervalMs: number;
  horizontalShards: number;
  /** `--query-frontend.vertical-shards` (0 or 1: no vertical sharding). */
  verticalShards: number;
  maxRetries: number;
  instantMaxRetries: number;
  maxQueryLengthMs: number;
  maxQueryParallelism: number;
  maxFreshnessMs: number;
  partialResponse: boolean;
  rangeCache?: CacheConfig;
  labelsSplitIntervalMs: number;
  labelsMaxRetries: number;
  labelsMaxQueryParallelism: number;
  labelsMaxFreshnessMs: number;
  labelsPartialResponse: boolean;
  labelsDefaultTimeRangeMs: number;
  labelsCache?: CacheConfig;
  snappy: boolean;
  compressResponses: boolean;
  logQueriesLongerThanMs: number;
  forwardHeaders: string[];
  /** `--query-frontend.tenant-header` */
  tenantHeader: string;
  /** `--query-frontend.org-id-header` (repeatable; not with a custom tenant header). */
  orgIdHeaders: string[];
  /** `--query-frontend.slow-query-logs-user-header` ("" = the basic-auth user). */
  slowQueryLogsUserHeader: string;
  /** `--query-frontend.force-query-stats`. */
  forceQueryStats: boolean;
  /** `--query-frontend.tenant-certificate-field` (absent: the tenant header decides). */
  tenantCertificateField?: CertificateTenantField;
  /** `--query-frontend.default-tenant-id`: the `tenant` label of requests without tenant. */
  defaultTenant: string;
}

function cacheConfig(
  flags: Flags<QueryFrontendFlag>,
  fileFlag: QueryFrontendFlag,
  inlineFlag: QueryFrontendFlag,
): CacheConfig | undefined {
  const file = flags.string(fileFlag);
  const inline = flags.string(inlineFlag);
  if (file !== "" && inline !== "") {
    throw new UsageError(`--${fileFlag} and --${inlineFlag} are mutually exclusive`);
  }
  const yaml = file !== "" ? flags.fileContents(fileFlag) : inline;
  if (yaml === "") return undefined;
  let cfg: CacheConfig;
  try {
    cfg = parseCacheConfig(yaml);
  } catch (e) {
    throw new UsageError(`--${file !== "" ? fileFlag : inlineFlag}: ${(e as Error).message}`);
  }
  // "If both max_size and max_size_items are not set, then the cache would not be created"
  // (https://thanos.io/tip/components/query-frontend.md/#in-memory)
  if (cfg.type === "IN-MEMORY" && cfg.config.maxSizeBytes === 0 && cfg.config.maxSizeItems === 0) {
    return undefined;
  }
  return cfg;
}

const TRIPPER_KEYS = [
  "idle_conn_timeout",
  "response_header_timeout",
  "tls_handshake_timeout",
  "expect_continue_timeout",
  "max_idle_conns",
  "max_idle_conns_per_host",
  "max_conns_per_host",
];

/** `response_header_timeout` of a downstream tripper config (the other keys are accepted). */
function tripperTimeout(yaml: string): number {
  if (yaml.trim() === "") return 0;
  const doc = parseAllDocuments(yaml)[0];
  const v = (doc?.toJS() ?? {}) as Record<string, unknown>;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new UsageError("downstream tripper config: expected a mapping");
  }
  for (const k of Object.keys(v)) {
    if (!TRIPPER_KEYS.includes(k)) {
      throw new UsageError(`downstream tripper config: unknown field ${k}`);
    }
  }
  const t = v.response_header_timeout;
  return t === undefined || t === null ? 0 : parseDurationFlag(String(t));
}

/** Reads and validates the flags of `thanos query-frontend`; throws UsageError on bad values. */
export function queryFrontendConfig(flags: Flags<QueryFrontendFlag>): QueryFrontendConfig {
  const verticalShards = flags.int("query-frontend.vertical-shards");
  if (verticalShards < 0) {
    throw new UsageError("--query-frontend.vertical-shards must not be negative");
  }
  const rangeCache = cacheConfig(
    flags,
    "query-range.response-cache-config-file",
    "query-range.response-cache-config",
  );
  const labelsCache = cacheConfig(
    flags,
    "labels.response-cache-config-file",
    "labels.response-cache-config",
  );
  const splitIntervalMs = flags.duration("query-range.split-interval");
  const minSplitIntervalMs = flags.duration("query-range.min-split-interval");
  const maxSplitIntervalMs = flags.duration("query-range.max-split-interval");
  const horizontalShards = flags.int("query-range.horizontal-shards");
  // Thanos' Config.Validate (pkg/queryfrontend/config.go): dynamic splitting is on when any of
  // its three flags is set, excludes the static interval and needs all three
  const dynamicSplit = minSplitIntervalMs > 0 || maxSplitIntervalMs > 0 || horizontalShards > 0;
  if (rangeCache && splitIntervalMs <= 0 && !dynamicSplit) {
    throw new UsageError(
      "split queries or split threshold interval should be greater than 0 when caching is " +
        "enabled (--query-range.split-interval or --query-range.min-split-interval)",
    );
  }
  if (dynamicSplit) {
    if (splitIntervalMs !== 0) {
      throw new UsageError(
        "split queries interval and dynamic query split interval cannot be set at the same " +
          "time (set --query-range.split-interval=0 with --query-range.min-split-interval, " +
          "--query-range.max-split-interval and --query-range.horizontal-shards)",
      );
    }
    if (horizontalShards <= 0) {
      throw new UsageError(
        "min horizontal shards should be greater than 0 when query split threshold is enabled " +
          "(--query-range.horizontal-shards)",
      );
    }
    if (maxSplitIntervalMs <= 0) {
      throw new UsageError(
        "max query split interval should be greater than 0 when query split threshold is " +
          "enabled (--query-range.max-split-interval)",
      );
    }
    if (minSplitIntervalMs <= 0) {
      throw new UsageError(
        "min query split interval should be greater than 0 when query split threshold is " +
          "enabled (--query-range.min-split-interval)",
      );
    }
  }
  const labelsSplitIntervalMs = flags.duration("labels.split-interval");
  if (labelsCache && labelsSplitIntervalMs <= 0) {
    throw new UsageError(
      "--labels.split-interval must be greater than 0 when a response cache is configured",
    );
  }
  const url = flags.string("query-frontend.downstream-url");
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
  } catch {
    throw new UsageError(
      `--query-frontend.downstream-url: ${JSON.stringify(url)} is not an http(s) URL`,
    );
  }
  const tripperFile = flags.string("query-frontend.downstream-tripper-config-file");
  const tripperInline = flags.string("query-frontend.downstream-tripper-config");
  if (tripperFile !== "" && tripperInline !== "") {
    throw new UsageError(
      "--query-frontend.downstream-tripper-config-file and " +
        "--query-frontend.downstream-tripper-config are mutually exclusive",
    );
  }
  const slow = flags.string("query-frontend.log-queries-longer-than");
  const tenant = tenantHeader(flags.string("query-frontend.tenant-header"));
  const orgIdHeaders = flags.strings("query-frontend.org-id-header").map((h) =>
    headerName("query-frontend.org-id-header", h)
  );
  // cmd/thanos/query_frontend.go: a custom tenant header is the org ID header itself
  if (orgIdHeaders.length > 0 && tenant.toLowerCase() !== DEFAULT_TENANT_HEADER.toLowerCase()) {
    throw new UsageError(
      "query-frontend.org-id-header and query-frontend.tenant-header cannot be used together",
    );
  }
  const userHeader = flags.string("query-frontend.slow-query-logs-user-header");
  const http = httpConfig(flags);
  const certField = flags.enum(
    "query-frontend.tenant-certificate-field",
    TENANT_CERTIFICATE_FIELDS,
  );
  requireClientCertificates("query-frontend.tenant-certificate-field", certField, http.web);
  return {
    http,
    enableCors: !flags.bool("web.disable-cors"),
    functions: {
      xFunctions: flags.bool("query-frontend.enable-x-functions"),
      experimentalFunctions: experimentalFunctionsEnabled(flags.strings("enable-feature")),
    },
    downstreamUrl: url,
    downstreamTimeoutMs: tripperTimeout(
      tripperFile !== ""
        ? flags.fileContents("query-frontend.downstream-tripper-config-file")
        : tripperInline,
    ),
    alignRangeWithStep: flags.bool("query-range.align-range-with-step"),
    requestDownsampled: flags.bool("query-range.request-downsampled"),
    splitIntervalMs,
    minSplitIntervalMs,
    maxSplitIntervalMs,
    horizontalShards,
    verticalShards,
    maxRetries: flags.int("query-range.max-retries-per-request"),
    instantMaxRetries: flags.int("query.max-retries-per-request"),
    maxQueryLengthMs: flags.duration("query-range.max-query-length"),
    maxQueryParallelism: Math.max(1, flags.int("query-range.max-query-parallelism")),
    maxFreshnessMs: flags.duration("query-range.response-cache-max-freshness"),
    partialResponse: flags.bool("query-range.partial-response"),
    rangeCache,
    labelsSplitIntervalMs,
    labelsMaxRetries: flags.int("labels.max-retries-per-request"),
    labelsMaxQueryParallelism: Math.max(1, flags.int("labels.max-query-parallelism")),
    labelsMaxFreshnessMs: flags.duration("labels.response-cache-max-freshness"),
    labelsPartialResponse: flags.bool("labels.partial-response"),
    labelsDefaultTimeRangeMs: flags.duration("labels.default-time-range"),
    labelsCache,
    snappy: flags.enum("cache-compression-type", CACHE_COMPRESSIONS) === "snappy",
    compressResponses: flags.bool("query-frontend.compress-responses"),
    logQueriesLongerThanMs: slow === "" || slow === "0" ? 0 : parseDurationFlag(slow, true),
    forwardHeaders: flags.strings("query-frontend.forward-header"),
    tenantHeader: tenant,
    orgIdHeaders,
    slowQueryLogsUserHeader: userHeader === ""
      ? ""
      : headerName("query-frontend.slow-query-logs-user-header", userHeader),
    forceQueryStats: flags.bool("query-frontend.force-query-stats"),
    defaultTenant: flags.string("query-frontend.default-tenant-id"),
    ...(certField === "" ? {} : { tenantCertificateField: certField }),
  };
}

/** `--query-frontend.tenant-header`: an HTTP header name. */
function tenantHeader(v: string): string {
  return headerName("query-frontend.tenant-header", v);
}

/** The value of a flag naming an HTTP header (a token); throws UsageError naming the flag. */
function headerName(flag: string, v: string): string {
  const h = v.trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h)) {
    throw new UsageError(`invalid --${flag} ${JSON.stringify(v)}: want an HTTP header name`);
  }
  return h;
}

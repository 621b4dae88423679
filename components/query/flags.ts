// Flag table of `thanos query` (https://thanos.io/tip/components/query.md/#flags): Thanos names
// and defaults.

import {
  defineCommand,
  defineFlags,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  httpFlags,
  LOG_FLAGS,
  REQUEST_LOGGING_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";
import { featureCheck, QUERY_FEATURES } from "../features.ts";
import { grpcServerFlags, STORE_LIMITS_FLAGS, TLS_VERSIONS } from "../grpc.ts";
import type { DedupFunc } from "../../storeapi/dedup.ts";
import type { PromqlEngine } from "../../query/api.ts";

/** The values of `--deduplication.func`. */
export const DEDUP_FUNCS = ["penalty", "chain"] as const satisfies readonly DedupFunc[];

/** The values of `--query.conn-metric.label`. */
export const CONN_METRIC_LABELS = ["external_labels", "store_type"] as const;
/** One label of `thanos_store_nodes_grpc_connections`. */
export type ConnMetricLabel = typeof CONN_METRIC_LABELS[number];

/** The values of `--query.promql-engine`. */
export const PROMQL_ENGINES = ["prometheus", "thanos"] as const satisfies readonly PromqlEngine[];

/** The values of `--grpc-compression`. */
export const GRPC_COMPRESSIONS = ["none", "snappy"] as const;

const GRPC_CLIENT_FLAGS = defineFlags([
  {
    name: "grpc-client-tls-secure",
    kind: "bool",
    default: "false",
    help: "Use TLS when talking to the gRPC server.",
  },
  {
    name: "grpc-client-tls-skip-verify",
    kind: "bool",
    default: "false",
    help: "Disable TLS certificate verification i.e self signed, signed by fake CA.",
  },
  {
    name: "grpc-client-tls-cert",
    kind: "string",
    default: "",
    help: "TLS Certificates to use to identify this client to the server.",
    grants: "read-file",
  },
  {
    name: "grpc-client-tls-key",
    kind: "string",
    default: "",
    help: "TLS Key for the client's certificate.",
    grants: "read-file",
  },
  {
    name: "grpc-client-tls-ca",
    kind: "string",
    default: "",
    help: "TLS CA Certificates to use to verify gRPC servers.",
    grants: "read-file",
  },
  {
    name: "grpc-client-server-name",
    kind: "string",
    default: "",
    help: "Server name to verify the hostname on the returned gRPC certificates. " +
      "See https://tools.ietf.org/html/rfc4366#section-3.1",
  },
  {
    name: "grpc-compression",
    kind: "enum",
    choices: GRPC_COMPRESSIONS,
    default: "none",
    help: "Compression algorithm to use for gRPC requests to other clients.",
  },
  {
    name: "grpc-client-tls-min-version",
    kind: "enum",
    choices: TLS_VERSIONS,
    default: "1.3",
    help: "TLS version for the gRPC client, leave blank to default to TLS 1.3.",
  },
]);

/** `thanos query` */
export const QUERY_COMMAND = defineCommand({
  path: ["query"],
  help:
    "Query node exposing PromQL enabled Query API with data retrieved from multiple store nodes.",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...httpFlags(),
    ...grpcServerFlags(),
    ...GRPC_CLIENT_FLAGS,
    ...STORE_LIMITS_FLAGS,
    ...REQUEST_LOGGING_FLAGS,
    {
      name: "web.prefix-header",
      kind: "string",
      default: "",
      help: "Name of HTTP request header used for dynamic prefixing of UI links and " +
        "redirects. This option is ignored if web.external-prefix argument is set. Security " +
        "risk: enable this option only if a reverse proxy in front of thanos is resetting the " +
        "header.",
    },
    {
      name: "query.promql-engine",
      kind: "enum",
      choices: PROMQL_ENGINES,
      default: "prometheus",
      help: "Default PromQL engine to use (the API's 'engine' parameter's default). This " +
        "build evaluates every query with its own engine, which follows Prometheus's " +
        "semantics; 'thanos' enables the x-functions of --query.enable-x-functions.",
    },
    {
      name: "query.enable-x-functions",
      kind: "bool",
      default: "false",
      help: "Whether to enable extended rate functions (xrate, xincrease and xdelta). Only " +
        "has effect when used with Thanos engine.",
    },
    {
      name: "query.mode",
      kind: "enum",
      choices: ["local", "distributed"],
      default: "local",
      help: "PromQL query mode. One of: local, distributed. Distributed: aggregations are " +
        "pushed down to the endpoints serving the gRPC Query API (leaf queriers) and merged " +
        "here; the rest is evaluated here over their raw data.",
    },
    {
      name: "query.conn-metric.label",
      kind: "enum",
      choices: CONN_METRIC_LABELS,
      repeatable: true,
      defaults: CONN_METRIC_LABELS,
      help: "Optional selection of query connection metric labels to be collected from " +
        "endpoint set.",
    },
    {
      name: "query.partition-label",
      kind: "string",
      repeatable: true,
      help: "Labels that partition the leaf queriers. This is used to scope down the " +
        "labelsets of leaf queriers when using the distributed query mode. If set, these labels " +
        "must form a partition of the leaf queriers. Partition labels must not intersect with " +
        "replica labels. Every TSDB of a leaf querier must have these labels. If this is empty " +
        "then all labels are used as partition labels.",
    },
    {
      name: "query.metadata.default-time-range",
      kind: "duration",
      default: "0s",
      help: "The default metadata time range duration for retrieving labels through Labels " +
        "and Series API when the range parameters are not specified. The zero value means " +
        "range covers the time since the beginning.",
    },
    {
      name: "query.active-query-path",
      kind: "string",
      default: "",
      help: "Directory to log currently active queries in the queries.active file.",
      grants: "write",
    },
    {
      name: "enable-feature",
      kind: "string",
      repeatable: true,
      help: "Comma separated feature names to enable. Valid options for now: " +
        "promql-experimental-functions (enables promql experimental functions in query; all " +
        "but info()); promql-at-modifier, promql-negative-offset (always on, no-ops) and " +
        "query-pushdown (ignored) are accepted.",
      check: featureCheck(QUERY_FEATURES),
    },
    {
      name: "selector.relabel-config-file",
      kind: "string",
      help: "Path to YAML file with relabeling configuration that allows selecting blocks " +
        "to query based on their external labels. It follows the Thanos sharding " +
        "relabel-config syntax. For format details see: " +
        "https://thanos.io/tip/thanos/sharding.md/#relabelling",
      grants: "read-file",
    },
    {
      name: "selector.relabel-config",
      kind: "string",
      help: "Alternative to 'selector.relabel-config-file' flag (mutually exclusive). Content " +
        "of YAML file with relabeling configuration that allows selecting blocks to query " +
        "based on their external labels. It follows the Thanos sharding relabel-config " +
        "syntax. For format details see: https://thanos.io/tip/thanos/sharding.md/#relabelling",
    },
    {
      name: "alert.query-url",
      kind: "string",
      help: "The external Thanos Query URL that would be set in all alerts 'Source' field.",
      noEffect: "this build's querier serves no alerts or rules pages to link from",
    },
    {
      name: "query.telemetry.request-duration-seconds-quantiles",
      kind: "float",
      repeatable: true,
      defaults: ["0.1", "0.25", "0.75", "1.25", "1.75", "2.5", "3", "5", "10"],
      help: "The quantiles for exporting metrics about the request duration quantiles.",
    },
    {
      name: "query.telemetry.request-samples-quantiles",
      kind: "float",
      repeatable: true,
      defaults: ["100", "1000", "10000", "100000", "1000000"],
      help: "The quantiles for exporting metrics about the samples count quantiles.",
    },
    {
      name: "query.telemetry.request-series-seconds-quantiles",
      kind: "float",
      repeatable: true,
      defaults: ["10", "100", "1000", "10000", "100000"],
      help: "The quantiles for exporting metrics about the series count quantiles.",
    },
    {
      name: "query.tenant-header",
      kind: "string",
      default: "THANOS-TENANT",
      help: "HTTP header to determine tenant.",
    },
    {
      name: "query.default-tenant-id",
      kind: "string",
      default: "default-tenant",
      help: "Default tenant ID to use if tenant header is not present",
    },
    {
      name: "query.tenant-certificate-field",
      kind: "enum",
      choices: ["", "organization", "organizationalUnit", "commonName"],
      default: "",
      help: "Use TLS client's certificate field to determine tenant for write requests. Must be " +
        "one of organization, organizationalUnit or commonName. This setting will cause the " +
        "query.tenant-header flag value to be ignored.",
    },
    {
      name: "query.enforce-tenancy",
      kind: "bool",
      default: "false",
      help: "Enforce tenancy on Query APIs. Responses are returned only if the label value of " +
        "the configured tenant-label-name and the value of the tenant header matches.",
    },
    {
      name: "query.tenant-label-name",
      kind: "string",
      default: "tenant_id",
      help: "Label name to use when enforcing tenancy (if --query.enforce-tenancy is enabled).",
    },
    {
      name: "endpoint-group",
      kind: "string",
      repeatable: true,
      help: "(Deprecated, Experimental): DNS name of statically configured Thanos API " +
        "server groups (repeatable). Targets resolved from the DNS name will be queried in a " +
        "round-robin, instead of a fanout manner. This flag should be used when connecting a " +
        "Thanos Query to HA groups of Thanos components.",
      grants: "connect",
    },
    {
      name: "endpoint-group-strict",
      kind: "string",
      repeatable: true,
      help: "(Deprecated, Experimental): DNS name of statically configured Thanos API " +
        "server groups (repeatable) that are always used, even if the health check fails.",
      grants: "connect",
    },
    {
      name: "web.route-prefix",
      kind: "string",
      default: "",
      help: "Prefix for API and UI endpoints. This allows thanos UI to be served on a sub-path. " +
        "Defaults to the value of --web.external-prefix.",
    },
    {
      name: "web.external-prefix",
      kind: "string",
      default: "",
      help: "Static prefix for all HTML links and redirect URLs in the UI query web interface.",
    },
    {
      name: "web.disable-cors",
      kind: "bool",
      default: "false",
      help: "Whether to disable CORS headers to be set by Thanos.",
    },
    {
      name: "query.timeout",
      kind: "duration",
      default: "2m",
      help: "Maximum time to process query by query node.",
    },
    {
      name: "query.max-concurrent",
      kind: "int",
      default: "20",
      help: "Maximum number of queries processed concurrently by query node.",
    },
    {
      // ours (no Thanos equivalent): Thanos evaluates on goroutines over every core
      name: "query.eval-workers",
      kind: "int",
      default: "2",
      help: "Most worker threads evaluating PromQL queries off the HTTP thread, so probes, " +
        "/metrics and store health checks stay responsive and concurrent queries use several " +
        "cores. Started when queries need them, stopped after 5 minutes idle. 0 evaluates on " +
        "the HTTP thread.",
    },
    {
      name: "query.max-concurrent-select",
      kind: "int",
      default: "4",
      help: "Maximum number of select requests made concurrently per a query.",
    },
    {
      name: "query.lookback-delta",
      kind: "duration",
      help: "The maximum lookback duration for retrieving metrics during expression " +
        "evaluations. Unset: 5m, as Prometheus.",
    },
    {
      name: "query.max-samples",
      kind: "int",
      default: "50000000",
      help: "Maximum number of samples a single query can load into memory.",
    },
    {
      name: "query.default-step",
      kind: "duration",
      default: "1s",
      help: "Set default step for range queries. Default step is only used when step is not set " +
        "in UI. In such cases, Thanos UI will use default step to calculate resolution " +
        "(resolution = max(rangeSeconds / 250, defaultStep)).",
    },
    {
      name: "query.default-evaluation-interval",
      kind: "duration",
      default: "1m",
      help: "Set default evaluation interval for sub queries.",
    },
    {
      name: "query.replica-label",
      kind: "string",
      repeatable: true,
      help: "Labels to treat as a replica indicator along which data is deduplicated. Still you " +
        "will be able to query without deduplication using 'dedup=false' parameter. Data " +
        "includes time series, recording rules, and alerting rules. Flag may be specified " +
        "multiple times as well as a comma separated list of labels.",
    },
    {
      name: "deduplication.func",
      kind: "enum",
      choices: DEDUP_FUNCS,
      default: "penalty",
      help: "Experimental. Deduplication algorithm for merging overlapping series. Possible " +
        'values are: "penalty", "chain". If no value is specified, penalty based ' +
        "deduplication algorithm will be used. When set to chain, the default compact " +
        "deduplication merger is used, which performs 1:1 deduplication for samples. At least " +
        "one replica label has to be set via --query.replica-label flag.",
    },
    {
      name: "query.partial-response",
      kind: "bool",
      default: "true",
      help: "Enable partial response for queries if no partial_response param is specified. " +
        "--no-query.partial-response for disabling.",
    },
    {
      name: "query.auto-downsampling",
      kind: "bool",
      default: "false",
      help: "Enable automatic adjustment (step / 5) to what source of data should be used in " +
        "store gateways if no max_source_resolution param is specified.",
    },
    {
      name: "selector-label",
      kind: "string",
      repeatable: true,
      help: "Query selector labels that will be exposed in info endpoint (repeated).",
    },
    {
      name: "store",
      kind: "string",
      repeatable: true,
      help: "Deprecation Warning - This flag is deprecated and replaced with `endpoint`. " +
        "Addresses of statically configured store API servers (repeatable). The scheme may be " +
        "prefixed with 'dns+' or 'dnssrv+' to detect store API servers through respective DNS " +
        "lookups.",
      grants: "connect",
    },
    {
      name: "endpoint",
      kind: "string",
      repeatable: true,
      help: "Addresses of statically configured Thanos API servers (repeatable). The scheme may " +
        "be prefixed with 'dns+' or 'dnssrv+' to detect Thanos API servers through respective " +
        "DNS lookups.",
      grants: "connect",
    },
    {
      name: "endpoint-strict",
      kind: "string",
      repeatable: true,
      help: "Addresses of only statically configured Thanos API servers that are always used, " +
        "even if the health check fails. Useful if you have a caching layer on top.",
      grants: "connect",
    },
    {
      name: "store.sd-files",
      kind: "string",
      repeatable: true,
      help: "Path to files that contain addresses of store API servers. The path can be a glob " +
        "pattern (repeatable).",
      grants: "discover-glob",
    },
    {
      name: "store.sd-interval",
      kind: "duration",
      default: "5m",
      help: "Refresh interval to re-read file SD files. It is used as a resync fallback.",
    },
    {
      name: "endpoint.sd-config-file",
      kind: "string",
      default: "",
      help: "Path to Config File with endpoint definitions.",
      grants: "discover-file",
    },
    {
      name: "endpoint.sd-config",
      kind: "string",
      default: "",
      help: "Alternative to 'endpoint.sd-config-file' flag (mutually exclusive). Content of " +
        "Config File with endpoint definitions.",
      grants: "discover",
    },
    {
      name: "endpoint.sd-config-reload-interval",
      kind: "duration",
      default: "5m",
      help: "Interval between endpoint config refreshes.",
    },
    {
      name: "store.sd-dns-interval",
      kind: "duration",
      default: "30s",
      help: "Interval between DNS resolutions.",
    },
    {
      name: "store.unhealthy-timeout",
      kind: "duration",
      default: "5m",
      help: "Timeout before an unhealthy store is cleaned from the store UI page.",
    },
    {
      name: "endpoint.info-timeout",
      kind: "duration",
      default: "5s",
      help: "Timeout of gRPC Info requests (also the interval between health checks).",
      hidden: true,
    },
    {
      name: "store.response-timeout",
      kind: "duration",
      default: "0ms",
      help: "If a Store doesn't send any data in this specified duration then a Store will be " +
        "ignored and partial data will be returned if it's enabled. 0 disables timeout.",
    },
  ],
});

/** The flag names of `thanos query`. */
export type QueryFlag = FlagName<typeof QUERY_COMMAND>;

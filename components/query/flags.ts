// Flag table of `thanos query` (https://thanos.io/tip/components/query.md/#flags): Thanos names
// and defaults.

import { defineCommand, defineFlags, type FlagName, httpFlags, LOG_FLAGS } from "../flags.ts";
import { grpcServerFlags } from "../grpc.ts";
import type { DedupFunc } from "../../storeapi/dedup.ts";

/** The values of `--deduplication.func`. */
export const DEDUP_FUNCS = ["penalty", "chain"] as const satisfies readonly DedupFunc[];

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
]);

/** `thanos query` */
export const QUERY_COMMAND = defineCommand({
  path: ["query"],
  help:
    "Query node exposing PromQL enabled Query API with data retrieved from multiple store nodes.",
  flags: [
    ...LOG_FLAGS,
    ...httpFlags(),
    ...grpcServerFlags(),
    ...GRPC_CLIENT_FLAGS,
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
      help: "Worker threads evaluating PromQL queries off the HTTP thread, so probes, " +
        "/metrics and store health checks stay responsive and concurrent queries use several " +
        "cores. 0 evaluates on the HTTP thread.",
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
      default: "5m",
      help: "The maximum lookback duration for retrieving metrics during expression evaluations.",
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

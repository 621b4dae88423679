// Flag table of `thanos query-frontend`
// (https://thanos.io/tip/components/query-frontend.md/#flags): Thanos names and defaults.

import { featureCheck, PROMQL_FEATURES } from "../features.ts";
import {
  defineCommand,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  httpFlags,
  LOG_FLAGS,
  REQUEST_LOGGING_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";

/** The values of `--cache-compression-type`. */
export const CACHE_COMPRESSIONS = ["", "snappy"] as const;

/** `thanos query-frontend` */
export const QUERY_FRONTEND_COMMAND = defineCommand({
  path: ["query-frontend"],
  env: YAML_ENV,
  help: "Query frontend command implements a service deployed in front of queriers to improve " +
    "query parallelization and caching.",
  flags: [
    ...LOG_FLAGS,
    ...httpFlags(),
    {
      name: "web.disable-cors",
      kind: "bool",
      default: "false",
      help: "Whether to disable CORS headers to be set by Thanos. By default Thanos sets CORS " +
        "headers to be allowed by all.",
    },
    {
      name: "query-range.align-range-with-step",
      kind: "bool",
      default: "true",
      help: "Mutate incoming queries to align their start and end with their step for better " +
        "cache-ability. Note: Grafana dashboards do that by default.",
    },
    {
      name: "query-range.request-downsampled",
      kind: "bool",
      default: "true",
      help: "Make additional query for downsampled data in case of empty or incomplete response " +
        "to range request.",
    },
    {
      name: "query-range.split-interval",
      kind: "duration",
      default: "24h",
      help: "Split query range requests by an interval and execute in parallel, it should be " +
        "greater than 0 when query-range.response-cache-config is configured.",
    },
    {
      name: "query-range.max-retries-per-request",
      kind: "int",
      default: "5",
      help: "Maximum number of retries for a single query range request; beyond this, the " +
        "downstream error is returned.",
    },
    {
      name: "query.max-retries-per-request",
      kind: "int",
      default: "5",
      help: "Maximum number of retries for a single instant query request; beyond this, the " +
        "downstream error is returned.",
    },
    {
      name: "query-range.max-query-length",
      kind: "duration",
      default: "0",
      help: "Limit the query time range (end - start time) in the query-frontend, 0 disables it.",
    },
    {
      name: "query-range.max-query-parallelism",
      kind: "int",
      default: "14",
      help: "Maximum number of query range requests will be scheduled in parallel by the " +
        "Frontend.",
    },
    {
      name: "query-range.response-cache-max-freshness",
      kind: "duration",
      default: "1m",
      help: "Most recent allowed cacheable result for query range requests, to prevent caching " +
        "very recent results that might still be in flux.",
    },
    {
      name: "query-range.partial-response",
      kind: "bool",
      default: "true",
      help: "Enable partial response for query range requests if no partial_response param is " +
        "specified. --no-query-range.partial-response for disabling.",
    },
    {
      name: "query-range.response-cache-config-file",
      kind: "string",
      default: "",
      help: "Path to YAML file that contains response cache configuration.",
      grants: "cache-file",
    },
    {
      name: "query-range.response-cache-config",
      kind: "string",
      default: "",
      help: "Alternative to 'query-range.response-cache-config-file' flag (mutually exclusive). " +
        "Content of YAML file that contains response cache configuration.",
      grants: "cache",
    },
    {
      name: "labels.split-interval",
      kind: "duration",
      default: "24h",
      help: "Split labels requests by an interval and execute in parallel, it should be greater " +
        "than 0 when labels.response-cache-config is configured.",
    },
    {
      name: "labels.max-retries-per-request",
      kind: "int",
      default: "5",
      help: "Maximum number of retries for a single label/series API request; beyond this, the " +
        "downstream error is returned.",
    },
    {
      name: "labels.max-query-parallelism",
      kind: "int",
      default: "14",
      help: "Maximum number of labels requests will be scheduled in parallel by the Frontend.",
    },
    {
      name: "labels.response-cache-max-freshness",
      kind: "duration",
      default: "1m",
      help: "Most recent allowed cacheable result for labels requests, to prevent caching very " +
        "recent results that might still be in flux.",
    },
    {
      name: "labels.partial-response",
      kind: "bool",
      default: "true",
      help: "Enable partial response for labels requests if no partial_response param is " +
        "specified. --no-labels.partial-response for disabling.",
    },
    {
      name: "labels.default-time-range",
      kind: "duration",
      default: "24h",
      help: "The default metadata time range duration for retrieving labels through Labels and " +
        "Series API when the range parameters are not specified.",
    },
    {
      name: "labels.response-cache-config-file",
      kind: "string",
      default: "",
      help: "Path to YAML file that contains response cache configuration.",
      grants: "cache-file",
    },
    {
      name: "labels.response-cache-config",
      kind: "string",
      default: "",
      help: "Alternative to 'labels.response-cache-config-file' flag (mutually exclusive). " +
        "Content of YAML file that contains response cache configuration.",
      grants: "cache",
    },
    {
      name: "cache-compression-type",
      kind: "enum",
      choices: CACHE_COMPRESSIONS,
      default: "",
      help: "Use compression in results cache. Supported values are: 'snappy' and '' (disable " +
        "compression).",
    },
    {
      name: "query-frontend.downstream-url",
      kind: "string",
      default: "http://localhost:9090",
      help: "URL of downstream Prometheus Query compatible API.",
      grants: "connect",
    },
    {
      name: "query-frontend.downstream-tripper-config-file",
      kind: "string",
      default: "",
      help: "Path to YAML file that contains downstream tripper configuration. If your " +
        "downstream URL is localhost or 127.0.0.1 then it is highly recommended to increase " +
        "max_idle_conns_per_host to at least 100.",
      grants: "read-file",
    },
    {
      name: "query-frontend.downstream-tripper-config",
      kind: "string",
      default: "",
      help: "Alternative to 'query-frontend.downstream-tripper-config-file' flag (mutually " +
        "exclusive). Content of YAML file that contains downstream tripper configuration.",
    },
    {
      name: "query-frontend.compress-responses",
      kind: "bool",
      default: "false",
      help: "Compress HTTP responses.",
    },
    {
      name: "query-frontend.log-queries-longer-than",
      // a duration that may be negative (the duration kind has no sign)
      kind: "string",
      default: "0",
      help: "Log queries that are slower than the specified duration. Set to 0 to disable. Set " +
        "to < 0 to enable on all queries.",
    },
    {
      name: "query-frontend.forward-header",
      kind: "string",
      repeatable: true,
      help: "List of headers forwarded by the query-frontend to downstream queriers, default is " +
        "empty",
    },
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...REQUEST_LOGGING_FLAGS,
    {
      name: "query-range.min-split-interval",
      kind: "duration",
      default: "0",
      help: "Split query range requests above this interval in query-range.horizontal-shards " +
        "requests of equal range. Using this parameter is not allowed with " +
        "query-range.split-interval. One should also set " +
        "query-range.split-min-horizontal-shards to a value greater than 1 to enable splitting.",
    },
    {
      name: "query-range.max-split-interval",
      kind: "duration",
      default: "0",
      help: "Split query range below this interval in query-range.horizontal-shards. Queries " +
        "with a range longer than this value will be split in multiple requests of this length.",
    },
    {
      name: "query-range.horizontal-shards",
      kind: "int",
      default: "0",
      help: "Split queries in this many requests when query duration is below " +
        "query-range.max-split-interval.",
    },
    {
      name: "query-frontend.enable-x-functions",
      kind: "bool",
      default: "false",
      help: "Enable experimental x- functions in query-frontend. " +
        "--no-query-frontend.enable-x-functions for disabling.",
    },
    {
      name: "enable-feature",
      kind: "string",
      repeatable: true,
      help: "Comma separated feature names to enable. Valid options for now: " +
        "promql-experimental-functions (enables promql experimental functions in " +
        "query-frontend).",
      check: featureCheck(PROMQL_FEATURES),
    },
    {
      name: "query-frontend.force-query-stats",
      kind: "bool",
      default: "false",
      help: "Enables query statistics for all queries and will export statistics as logs and " +
        "service headers.",
    },
    {
      name: "query-frontend.org-id-header",
      kind: "string",
      repeatable: true,
      help: "Deprecation Warning - This flag will be soon deprecated in favor of " +
        "query-frontend.tenant-header and both flags cannot be used at the same time. Request " +
        "header names used to identify the source of slow queries (repeated flag). The values " +
        "of the header will be added to the org id field in the slow query log. If multiple " +
        "headers match the request, the first matching arg specified will take precedence. If " +
        "no headers match 'anonymous' will be used.",
    },
    {
      name: "query-frontend.slow-query-logs-user-header",
      kind: "string",
      help: "Set the value of the field remote_user in the slow query logs to the value of the " +
        "given HTTP header. Falls back to reading the user from the basic auth header.",
    },
    {
      // hidden in Thanos v0.42 (cmd/thanos/query_frontend.go), as here
      name: "query-frontend.tenant-header",
      kind: "string",
      default: "THANOS-TENANT",
      help: "HTTP header to determine tenant. Its value is passed on to the querier in the " +
        "THANOS-TENANT header.",
      hidden: true,
    },
    {
      name: "query-frontend.default-tenant-id",
      kind: "string",
      default: "default-tenant",
      help: "Default tenant ID to use if tenant header is not present (the tenant label of " +
        "the HTTP request metrics; the querier is sent THANOS-TENANT=default-tenant, as by " +
        "Thanos's frontend).",
      hidden: true,
    },
    {
      name: "query-frontend.tenant-certificate-field",
      kind: "enum",
      choices: ["", "organization", "organizationalUnit", "commonName"],
      default: "",
      help: "Use TLS client's certificate field to determine tenant for requests. Must be one " +
        "of organization, organizationalUnit or commonName. This setting will cause the " +
        "query-frontend.tenant-header flag value to be ignored.",
      hidden: true,
    },
    {
      name: "query-frontend.vertical-shards",
      kind: "int",
      help: "Number of shards to use when distributing shardable PromQL queries. For more " +
        "details, you can refer to the Vertical query sharding proposal: " +
        "https://thanos.io/tip/proposals-accepted/202205-vertical-query-sharding.md",
    },
  ],
});

/** The flag names of `thanos query-frontend`. */
export type QueryFrontendFlag = FlagName<typeof QUERY_FRONTEND_COMMAND>;

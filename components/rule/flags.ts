// Flag table of `thanos rule` (https://thanos.io/tip/components/rule.md/#flags, v0.42 names and
// defaults). Flags this implementation does not support yet parse, and are refused by config.ts
// when set. Grants: the data dir (write), the rule files (read; a glob grants its directory),
// the listen addresses, the queriers and Alertmanagers (connect), the bucket.

import { featureCheck, PROMQL_FEATURES } from "../features.ts";
import {
  defineCommand,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  httpFlags,
  LOG_FLAGS,
  OBJSTORE_FLAGS,
  REQUEST_LOGGING_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";
import { grpcServerFlags, STORE_LIMITS_FLAGS } from "../grpc.ts";

/** `thanos rule` */
export const RULE_COMMAND = defineCommand({
  path: ["rule"],
  env: YAML_ENV,
  help: "Ruler evaluating Prometheus rules against given Query nodes, exposing Store API and " +
    "storing old blocks in bucket.",
  reloadOnSighup: true,
  flags: [
    ...LOG_FLAGS,
    ...httpFlags(),
    ...grpcServerFlags(),
    ...STORE_LIMITS_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...REQUEST_LOGGING_FLAGS,
    {
      name: "web.route-prefix",
      kind: "string",
      default: "",
      help: "Prefix for API and UI endpoints. This allows thanos UI to be served on a sub-path. " +
        "This option is analogous to --web.route-prefix of Prometheus.",
    },
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
      name: "web.disable-cors",
      kind: "bool",
      default: "false",
      help: "Whether to disable CORS headers to be set by Thanos. (This build's ruler sets " +
        "none either way.)",
    },
    {
      name: "shipper.meta-file-name",
      kind: "string",
      default: "thanos.shipper.json",
      help: "the file to store shipper metadata in",
    },
    {
      name: "shipper.upload-concurrency",
      kind: "int",
      default: "0",
      help: "Number of goroutines to use when uploading block files to object storage. 0 " +
        "uploads them one by one.",
    },
    {
      name: "alert.query-template",
      kind: "string",
      default: "/graph?g0.expr={{.Expr}}&g0.tab=1",
      help: "Template to use in alerts source field. Need only include {{.Expr}} parameter",
    },
    {
      name: "rule-query-offset",
      kind: "duration",
      default: "0s",
      help: "The default rule group query_offset duration to use.",
    },
    {
      name: "rule-concurrent-evaluation",
      kind: "int",
      default: "1",
      help: "How many rules can be evaluated concurrently. (This build evaluates a group's " +
        "rules one at a time.)",
      noEffect: "this build evaluates a group's rules one at a time",
    },
    {
      name: "grpc-query-endpoint",
      kind: "string",
      repeatable: true,
      help: "Addresses of Thanos gRPC query API servers (repeatable). The scheme may be " +
        "prefixed with 'dns+' or 'dnssrv+' to detect Thanos API servers through respective DNS " +
        "lookups. Rules are evaluated through their gRPC Query API when no --query querier " +
        "answers.",
      grants: "connect",
    },
    {
      name: "query.enable-x-functions",
      kind: "bool",
      default: "false",
      help: "Whether to enable extended rate functions (xrate, xincrease and xdelta). Only " +
        "has effect when used with Thanos engine (rule expressions with them parse; the " +
        "querier evaluates them).",
    },
    {
      name: "enable-feature",
      kind: "string",
      repeatable: true,
      help: "Comma separated feature names to enable. Valid options for now: " +
        "promql-experimental-functions (enables promql experimental functions for ruler).",
      check: featureCheck(PROMQL_FEATURES),
    },
    {
      name: "tsdb.enable-native-histograms",
      kind: "bool",
      default: "true",
      help: "(Deprecated) Enables the ingestion of native histograms. A no-op in Thanos too.",
      noEffect: "deprecated; a no-op in Thanos v0.42 as well",
    },
    {
      name: "hash-func",
      kind: "enum",
      choices: ["", "SHA256"],
      default: "",
      help: "Specify which hash function to use when calculating the hashes of produced " +
        "files. If no function has been specified, it does not happen. This permits avoiding " +
        "downloading some files twice albeit at some performance cost. Possible values are: " +
        '"", "SHA256".',
    },
    {
      name: "shipper.upload-compacted",
      kind: "bool",
      default: "false",
      help: "If true shipper will try to upload compacted blocks as well.",
    },
    {
      name: "label",
      kind: "string",
      repeatable: true,
      help: "Labels to be applied to all generated metrics (repeated). Similar to external " +
        "labels for Prometheus, used to identify ruler and its blocks as unique source.",
    },
    {
      name: "data-dir",
      kind: "string",
      default: "data/",
      help: "data directory",
      grants: "write",
    },
    {
      name: "rule-file",
      kind: "string",
      repeatable: true,
      defaults: ["rules/"],
      help: "Rule files that should be used by rule manager. Can be in glob format " +
        "(repeated).",
      grants: "read-glob",
    },
    {
      name: "resend-delay",
      kind: "duration",
      default: "1m",
      help: "Minimum amount of time to wait before resending an alert to Alertmanager.",
    },
    {
      name: "eval-interval",
      kind: "duration",
      default: "1m",
      help: "The default evaluation interval to use.",
    },
    {
      name: "for-outage-tolerance",
      kind: "duration",
      default: "1h",
      help: 'Max time to tolerate prometheus outage for restoring "for" state of alert.',
    },
    {
      name: "for-grace-period",
      kind: "duration",
      default: "10m",
      help: 'Minimum duration between alert and restored "for" state. This is maintained ' +
        'only for alerts with configured "for" time greater than grace period.',
    },
    {
      name: "restore-ignored-label",
      kind: "string",
      repeatable: true,
      help: "Label names to be ignored when restoring alerts from the remote storage. This " +
        "is only used in stateless mode.",
    },
    {
      name: "tsdb.block-duration",
      kind: "duration",
      default: "2h",
      help: "Block duration for TSDB block.",
    },
    {
      name: "tsdb.retention",
      kind: "duration",
      default: "48h",
      help: "Block retention time on local disk.",
    },
    {
      name: "tsdb.no-lockfile",
      kind: "bool",
      default: "false",
      help: "Do not create lockfile in TSDB data directory. (No lockfile is created here.)",
    },
    {
      name: "tsdb.wal-compression",
      kind: "bool",
      default: "true",
      help: "Compress the tsdb WAL.",
    },
    {
      name: "alertmanagers.url",
      kind: "string",
      repeatable: true,
      help: "Alertmanager replica URLs to push firing alerts. Ruler claims success if push to " +
        "at least one alertmanager from discovered succeeds. The scheme should not be empty " +
        "e.g `http` might be used. The scheme may be prefixed with 'dns+' or 'dnssrv+' to " +
        "detect Alertmanager IPs through respective DNS lookups. The port defaults to 9093 or " +
        "the SRV record's value. The URL path is used as a prefix for the regular " +
        "Alertmanager API path.",
      grants: "connect-alertmanager",
    },
    {
      name: "alertmanagers.send-timeout",
      kind: "duration",
      default: "10s",
      help: "Timeout for sending alerts to Alertmanager",
    },
    {
      name: "alertmanagers.config-file",
      kind: "string",
      help: "Path to YAML file that contains alerting configuration. See format details: " +
        "https://thanos.io/tip/components/rule.md/#configuration. If defined, it takes " +
        "precedence over the '--alertmanagers.url' and '--alertmanagers.send-timeout' flags.",
      grants: "endpoints-file",
    },
    {
      name: "alertmanagers.config",
      kind: "string",
      help: "Alternative to 'alertmanagers.config-file' flag (mutually exclusive). Content " +
        "of YAML file that contains alerting configuration.",
      grants: "endpoints",
    },
    {
      name: "alertmanagers.sd-dns-interval",
      kind: "duration",
      default: "30s",
      help: "Interval between DNS resolutions of Alertmanager hosts.",
    },
    {
      name: "alert.query-url",
      kind: "string",
      default: "",
      help: "The external Thanos Query URL that would be set in all alerts 'Source' field",
    },
    {
      name: "alert.label-drop",
      kind: "string",
      repeatable: true,
      help: "Labels by name to drop before sending to alertmanager. This allows alert to be " +
        "deduplicated on replica label (repeated). Similar Prometheus alert relabelling",
    },
    {
      name: "alert.relabel-config-file",
      kind: "string",
      help: "Path to YAML file that contains alert relabelling configuration.",
      grants: "read-file",
    },
    {
      name: "alert.relabel-config",
      kind: "string",
      help: "Alternative to 'alert.relabel-config-file' flag (mutually exclusive). Content of " +
        "YAML file that contains alert relabelling configuration.",
    },
    {
      name: "web.external-prefix",
      kind: "string",
      default: "",
      help: "Static prefix for all HTML links and redirect URLs in the UI web interface. " +
        "Actual endpoints are still served on / or the web.route-prefix.",
    },
    ...OBJSTORE_FLAGS,
    {
      name: "query",
      kind: "string",
      repeatable: true,
      help: "Addresses of statically configured query API servers (repeatable): host:port " +
        "or an http(s) URL. The address may be prefixed with 'dns+' or 'dnssrv+' to detect " +
        "query API servers through respective DNS lookups.",
      grants: "connect",
    },
    {
      name: "query.config-file",
      kind: "string",
      help: "Path to YAML file that contains query API servers configuration. See format " +
        "details: https://thanos.io/tip/components/rule.md/#configuration. If defined, it " +
        "takes precedence over the '--query' and '--query.sd-files' flags.",
      grants: "endpoints-file",
    },
    {
      name: "query.config",
      kind: "string",
      help: "Alternative to 'query.config-file' flag (mutually exclusive). Content of YAML " +
        "file that contains query API servers configuration.",
      grants: "endpoints",
    },
    {
      name: "query.sd-files",
      kind: "string",
      repeatable: true,
      help: "Path to file that contains addresses of query API servers. The path can be a " +
        "glob pattern (repeatable).",
      grants: "discover-glob",
    },
    {
      name: "query.sd-interval",
      kind: "duration",
      default: "5m",
      help: "Refresh interval to re-read file SD files. (used as a fallback)",
    },
    {
      name: "query.sd-dns-interval",
      kind: "duration",
      default: "30s",
      help: "Interval between DNS resolutions.",
    },
    {
      name: "query.http-method",
      kind: "enum",
      choices: ["GET", "POST"],
      default: "POST",
      help: "HTTP method to use when sending queries. Possible options: [GET, POST]",
    },
    {
      name: "query.default-step",
      kind: "duration",
      default: "1s",
      help: "Default range query step to use. This is only used in stateless Ruler and alert " +
        "state restoration.",
    },
    {
      name: "remote-write.config-file",
      kind: "string",
      help: "Path to YAML config for the remote-write configurations, that specify servers " +
        "where samples should be sent to (see https://prometheus.io/docs/prometheus/latest/" +
        "configuration/configuration/#remote_write). This automatically enables stateless " +
        "mode for ruler and no series will be stored in the ruler's TSDB. If an empty config " +
        "(or file) is provided, the flag is ignored and ruler is run with its own TSDB.",
      grants: "endpoints-file",
    },
    {
      name: "remote-write.config",
      kind: "string",
      help: "Alternative to 'remote-write.config-file' flag (mutually exclusive). Content of " +
        "YAML config for the remote-write configurations.",
      grants: "endpoints",
    },
  ],
});

/** Flag names of `thanos rule`. */
export type RuleFlag = FlagName<typeof RULE_COMMAND>;

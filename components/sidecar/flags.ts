// Flag table of `thanos sidecar` (https://thanos.io/tip/components/sidecar.md/#flags): Thanos's
// names and defaults. The grants give the role exactly its Prometheus URL, its listen addresses, its bucket, its TSDB
// directory (read, plus write for the shipper's state file and upload staging dir) and the
// reloader's files.

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

/** The values of `--hash-func`. */
export const HASH_FUNCS = ["", "SHA256"] as const;

/** The values of `--reloader.method`. */
export const RELOADER_METHODS = ["http"] as const;

/** `thanos sidecar` */
export const SIDECAR_COMMAND = defineCommand({
  path: ["sidecar"],
  help: "Sidecar for Prometheus server.",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...OBJSTORE_FLAGS,
    ...httpFlags(),
    ...grpcServerFlags(),
    ...REQUEST_LOGGING_FLAGS,
    {
      name: "reloader.process-name",
      kind: "string",
      default: "prometheus",
      help: "Executable name used to match the process being reloaded when using the signal " +
        "method. (No effect: this build has no signal method.)",
      noEffect: "it names the process for --reloader.method=signal, which this build does not " +
        "have (the role may not send signals)",
    },
    ...STORE_LIMITS_FLAGS,
    {
      name: "prometheus.url",
      kind: "string",
      default: "http://localhost:9090",
      help: "URL at which to reach Prometheus's API. For better performance use local network.",
      grants: "connect",
    },
    {
      name: "prometheus.ready_timeout",
      kind: "duration",
      default: "10m",
      help: "Maximum time to wait for the Prometheus instance to start up.",
    },
    {
      name: "prometheus.get_config_interval",
      kind: "duration",
      default: "30s",
      help: "How often to get Prometheus config.",
    },
    {
      name: "prometheus.get_config_timeout",
      kind: "duration",
      default: "30s",
      help: "Timeout for getting Prometheus config.",
    },
    {
      name: "prometheus.http-client-file",
      kind: "string",
      help: "Path to YAML file or string with http client configs. See Format details: " +
        "https://thanos.io/tip/components/sidecar.md/#configuration.",
      grants: "read-file",
    },
    {
      name: "prometheus.http-client",
      kind: "string",
      help: "Alternative to 'prometheus.http-client-file' flag (mutually exclusive). Content of " +
        "YAML file or string with http client configs.",
    },
    {
      name: "tsdb.path",
      kind: "string",
      default: "./data",
      help: "Data directory of TSDB.",
      grants: "write",
    },
    {
      name: "reloader.config-file",
      kind: "string",
      default: "",
      help: "Config file watched by the reloader.",
      grants: "read-env",
    },
    {
      name: "reloader.config-envsubst-file",
      kind: "string",
      default: "",
      help: "Output file for environment variable substituted config file.",
      grants: "write",
    },
    {
      name: "reloader.rule-dir",
      kind: "string",
      repeatable: true,
      help: "Rule directories for the reloader to refresh (repeated field).",
      grants: "read",
    },
    {
      name: "reloader.watch-interval",
      kind: "duration",
      default: "3m",
      help: "Controls how often reloader re-reads config and rules.",
    },
    {
      name: "reloader.retry-interval",
      kind: "duration",
      default: "5s",
      help: "Controls how often reloader retries config reload in case of error.",
    },
    {
      name: "reloader.method",
      kind: "enum",
      choices: RELOADER_METHODS,
      default: "http",
      help: "Method used to reload the configuration: http (POST /-/reload to Prometheus, " +
        "which needs --web.enable-lifecycle). Thanos-TS has no 'signal' method: the role may " +
        "not send signals to other processes.",
    },
    {
      name: "shipper.upload-compacted",
      kind: "bool",
      default: "false",
      help: "If true shipper will try to upload compacted blocks as well. Useful for migration " +
        "purposes. Works only if compaction is disabled on Prometheus. Do it once and then " +
        "disable the flag when done.",
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
      help: "Number of goroutines to use when uploading block files. 0 uploads them one by one.",
    },
    {
      name: "shipper.sync-interval",
      kind: "duration",
      default: "30s",
      help: "How often the shipper looks for new blocks to upload (Thanos: fixed 30s).",
      hidden: true,
    },
    {
      name: "hash-func",
      kind: "enum",
      choices: HASH_FUNCS,
      default: "",
      help: "Specify which hash function to use when calculating the hashes of produced files. " +
        "If no function has been specified, it does not happen. This permits avoiding " +
        "downloading some files twice albeit at some performance cost. Possible values are: " +
        '"", "SHA256".',
    },
    {
      name: "min-time",
      kind: "time",
      default: "0000-01-01T00:00:00Z",
      help: "Start of time range limit to serve. Thanos sidecar will serve only metrics, which " +
        "happened later than this value. Option can be a constant time in RFC3339 format or " +
        "time duration relative to current time, such as -1d or 2h45m. Valid duration units " +
        "are ms, s, m, h, d, w, y.",
    },
  ],
});

/** The flag names of `thanos sidecar`. */
export type SidecarFlag = FlagName<typeof SIDECAR_COMMAND>;

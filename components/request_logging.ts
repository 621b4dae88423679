// `--request.logging-config(-file)`: the config text from the flags, checked by the launcher
// (a bad config exits 2 on one line) and installed by the role's worker for the servers the
// role creates. As in Thanos v0.42, each role logs the protocols it wires the logging into
// (https://github.com/thanos-io/thanos/tree/v0.42.4/cmd/thanos): query and rule HTTP and gRPC,
// store, sidecar and receive gRPC (store's HTTP logging covers only its bucket UI, not in this
// role), query-frontend HTTP.

import { type RawFlags, UsageError } from "./flags.ts";
import { type RequestLogConfig, RequestLogConfigError } from "../server/request_log.ts";
import { parseRequestLogConfig } from "../server/request_log_config.ts";

/** The protocols each role logs requests of. */
const PROTOCOLS: Record<string, readonly ("http" | "grpc")[]> = {
  query: ["http", "grpc"],
  rule: ["http", "grpc"],
  store: ["grpc"],
  sidecar: ["grpc"],
  receive: ["grpc"],
  "query-frontend": ["http"],
};

/** The request logging config of a parsed command; UsageError when it is invalid. */
export function requestLogFromFlags(raw: RawFlags): RequestLogConfig {
  const inline = (raw.values["request.logging-config"] ?? []).at(-1) ?? "";
  const path = (raw.values["request.logging-config-file"] ?? []).at(-1) ?? "";
  if (inline.trim() !== "" && path.trim() !== "") {
    throw new UsageError(
      "--request.logging-config-file and --request.logging-config are mutually exclusive",
    );
  }
  const file = path.trim() !== "";
  try {
    return parseRequestLogConfig(file ? raw.files[path] ?? "" : inline);
  } catch (e) {
    if (!(e instanceof RequestLogConfigError)) throw e;
    throw new UsageError(
      `--request.logging-config${file ? "-file" : ""}: error while parsing config for request ` +
        `logging: ${e.message}`,
    );
  }
}

/** What role `key` logs of `cfg`: the protocols it does not wire are off. */
export function requestLogForRole(key: string, cfg: RequestLogConfig): RequestLogConfig {
  const on = PROTOCOLS[key] ?? [];
  return {
    http: on.includes("http") ? cfg.http : null,
    grpc: on.includes("grpc") ? cfg.grpc : null,
  };
}

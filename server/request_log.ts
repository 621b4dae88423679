// `--request.logging-config(-file)`: Thanos's request logging (https://thanos.io/tip/thanos/logging.md/,
// https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/logging/): a YAML document with global
// `options` and per-protocol `http` / `grpc` blocks, each with `options` (`level`, `decision`:
// `log_start`, `log_end`) and an optional allowlist `config` (HTTP `path` + `port`, gRPC `service`
// + `method`, exact matches). The HTTP server (server/http.ts) and the gRPC server
// (storeapi/grpc.ts) log each request they are told to as Thanos does: "started call" at debug
// before the handler, "finished call" after it at a level from the status (HTTP: debug for
// 200–499, else error; gRPC: error for Unknown, Unimplemented, Internal and DataLoss, else debug).
// The role's `--log.level` still applies on top. The YAML document is parsed by
// server/request_log_config.ts (apart, so that servers do not load a YAML parser).

import type { LogFields, Logger, LogLevel } from "../logging/log.ts";

/**
 * The role's request logging, installed once at start by the role's worker (components/worker.ts)
 * and read by the HTTP and gRPC servers it creates; by default nothing is logged.
 */
let active: RequestLogConfig = { http: null, grpc: null };

/** Installs the role's request logging. */
export function setRequestLogConfig(c: RequestLogConfig): void {
  active = c;
}

/** The role's request logging (nothing unless installed). */
export function requestLogConfig(): RequestLogConfig {
  return active;
}

/** A request logging config Thanos would refuse. */
export class RequestLogConfigError extends Error {
  override name = "RequestLogConfigError";
}

/** HTTP request logging as configured. */
export interface HttpLogSettings {
  /** `options.level` (`DEBUG`, `INFO`, `WARNING`, `ERROR`): which lines pass. */
  level: string;
  /** Log "started call" too. */
  logStart: boolean;
  /** `path:port` entries of `http.config`; null logs every request. */
  allow: Set<string> | null;
}

/** gRPC request logging as configured. */
export interface GrpcLogSettings {
  logStart: boolean;
  /** `/service/method` entries of `grpc.config`; null logs every call. */
  allow: Set<string> | null;
}

/** The parsed config: null for a protocol that logs nothing. */
export interface RequestLogConfig {
  http: HttpLogSettings | null;
  grpc: GrpcLogSettings | null;
}

/** Levels an HTTP `options.level` lets through (go-kit's level filters, as Thanos maps them). */
function allowedLevels(level: string): Set<LogLevel> {
  switch (level) {
    case "ERROR":
      return new Set(["error"]);
    case "INFO":
      return new Set(["info", "warn", "error"]);
    default:
      // DEBUG, and WARNING (Thanos maps that name to "allow all")
      return new Set(["debug", "info", "warn", "error"]);
  }
}

function write(logger: Logger, level: LogLevel, msg: string, f: LogFields): void {
  if (level === "error") logger.error(msg, f);
  else if (level === "warn") logger.warn(msg, f);
  else if (level === "info") logger.info(msg, f);
  else logger.debug(msg, f);
}

/** What the HTTP server knows of a request when it logs it. */
export interface HttpRequestFacts {
  req: Request;
  url: URL;
  /** The route's name (Thanos's `thanos.method_name`). */
  name: string;
  remoteAddr: string;
}

/** Logs HTTP requests as Thanos's HTTPServerMiddleware. */
export class HttpRequestLogger {
  private readonly allowed: Set<LogLevel>;
  private readonly logger: Logger;

  constructor(private readonly settings: HttpLogSettings, logger: Logger) {
    this.allowed = allowedLevels(settings.level);
    this.logger = logger.with({ protocol: "http", "http.component": "server" });
  }

  /** Whether the request is logged: the allowlist holds `path:port` (the Host header's port). */
  decides(url: URL, host: string | null): boolean {
    if (this.settings.allow === null) return true;
    const h = host ?? url.host;
    const colon = h.lastIndexOf(":");
    const port = colon >= 0 && !h.endsWith("]") ? h.slice(colon + 1) : "";
    return this.settings.allow.has(port === "" ? url.pathname : `${url.pathname}:${port}`);
  }

  private common(f: HttpRequestFacts): LogFields {
    return {
      "http.method": `${f.req.method} ${f.url.pathname}${f.url.search}`,
      "http.request_id": f.req.headers.get("x-request-id") ?? "",
      "http.user_agent": f.req.headers.get("user-agent") ?? "",
    };
  }

  /** "started call" (debug), when the config asks for it. */
  start(f: HttpRequestFacts): void {
    if (!this.settings.logStart || !this.allowed.has("debug")) return;
    this.logger.debug("started call", {
      "http.start_time": new Date().toISOString(),
      ...this.common(f),
      "thanos.method_name": f.name,
    });
  }

  /** "finished call" at the level of the response's status. */
  finish(f: HttpRequestFacts, status: number, durationMs: number): void {
    const level: LogLevel = status >= 200 && status < 500 ? "debug" : "error";
    if (!this.allowed.has(level)) return;
    write(this.logger, level, "finished call", {
      ...this.common(f),
      "http.status_code": String(status),
      "http.time_ms": durationMs.toFixed(3).replace(/\.?0+$/, ""),
      "http.remote_addr": f.req.headers.get("x-forwarded-for") || f.remoteAddr,
      "thanos.method_name": f.name,
    });
  }
}

/** gRPC status codes Thanos logs at error (DefaultCodeToLevelGRPC): 2, 12, 13, 15. */
const GRPC_ERROR_CODES = new Set([2, 12, 13, 15]);

/** What the gRPC server knows of a call when it logs it. */
export interface GrpcCallFacts {
  /** Full method, `/thanos.Store/Series`. */
  path: string;
  kind: "unary" | "stream";
  /** `x-request-id` metadata, or a new id. */
  requestId: string;
  startTime: Date;
  deadline?: Date;
}

/** Logs gRPC calls as Thanos's server interceptors (go-grpc-middleware's logging). */
export class GrpcRequestLogger {
  private readonly logger: Logger;

  constructor(private readonly settings: GrpcLogSettings, logger: Logger) {
    this.logger = logger.with({ service: "gRPC/server" });
  }

  /** Whether the call is logged (the allowlist of `/service/method`, if any). */
  decides(path: string): boolean {
    return this.settings.allow === null || this.settings.allow.has(path);
  }

  private common(f: GrpcCallFacts): LogFields {
    const slash = f.path.lastIndexOf("/");
    const out: LogFields = {
      protocol: "grpc",
      "grpc.component": "server",
      "grpc.service": f.path.slice(1, slash),
      "grpc.method": f.path.slice(slash + 1),
      "grpc.method_type": f.kind === "unary" ? "unary" : "server_stream",
      requestID: f.requestId,
      "grpc.start_time": f.startTime.toISOString(),
    };
    if (f.deadline) out["grpc.request.deadline"] = f.deadline.toISOString();
    return out;
  }

  /** "started call" (debug), when the config asks for it. */
  start(f: GrpcCallFacts): void {
    if (this.settings.logStart) this.logger.debug("started call", this.common(f));
  }

  /** "finished call" with the status code name and the error, if any. */
  finish(f: GrpcCallFacts, code: number, codeName: string, message: string, ms: number): void {
    const out: LogFields = { ...this.common(f), "grpc.code": codeName };
    if (code !== 0) out["grpc.error"] = `rpc error: code = ${codeName} desc = ${message}`;
    out["grpc.time_ms"] = ms.toFixed(3).replace(/\.?0+$/, "");
    write(this.logger, GRPC_ERROR_CODES.has(code) ? "error" : "debug", "finished call", out);
  }
}

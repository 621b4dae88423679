// `--request.logging-config(-file)`'s YAML document (https://thanos.io/tip/thanos/logging.md/),
// parsed and checked as Thanos does into the settings server/request_log.ts applies. Apart from
// it so that code creating servers — the querier's evaluation Workers among them — does not load
// the npm `yaml` package (issue 19: a third of such a Worker's start-up).

import { parse as parseYaml } from "yaml";
import {
  type GrpcLogSettings,
  type RequestLogConfig,
  RequestLogConfigError,
} from "./request_log.ts";

interface Options {
  level: string;
  logStart: boolean;
  logEnd: boolean;
}

const LEVELS = ["INFO", "DEBUG", "ERROR", "WARNING"];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Thanos reads the document strictly (yaml.UnmarshalStrict): unknown fields are errors. */
function fields(v: unknown, where: string, allowed: string[]): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new RequestLogConfigError(`${where}: want a mapping`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new RequestLogConfigError(`field ${k} not found in ${where}`);
    }
  }
  return v;
}

function str(v: unknown, where: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "object") throw new RequestLogConfigError(`${where}: want a string`);
  return String(v);
}

function bool(v: unknown, where: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new RequestLogConfigError(`${where}: want true or false`);
  return v;
}

/** An `options` block; null when empty (Thanos's checkOptionsConfigEmpty). */
function options(v: unknown, where: string): Options | null {
  const o = fields(v, where, ["level", "decision"]);
  const d = fields(o.decision, `${where}.decision`, ["log_start", "log_end"]);
  const opts = {
    level: str(o.level, `${where}.level`),
    logStart: bool(d.log_start, `${where}.decision.log_start`),
    logEnd: bool(d.log_end, `${where}.decision.log_end`),
  };
  if (opts.level === "" && !opts.logStart && !opts.logEnd) return null;
  if (opts.level === "") throw new RequestLogConfigError("level field is empty");
  return opts;
}

function list(v: unknown, where: string): Record<string, unknown>[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new RequestLogConfigError(`${where}: want a list`);
  return v as Record<string, unknown>[];
}

function validateLevel(level: string): void {
  if (!LEVELS.includes(level)) {
    throw new RequestLogConfigError(
      `the format of level is invalid. Expected INFO/DEBUG/ERROR/WARNING, got this ${level}`,
    );
  }
}

/** Parses a request logging config; blank text logs nothing. Throws RequestLogConfigError. */
export function parseRequestLogConfig(text: string): RequestLogConfig {
  if (text.trim() === "") return { http: null, grpc: null };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new RequestLogConfigError(`parsing YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const top = fields(doc, "logging.RequestConfig", ["http", "grpc", "options"]);
  const http = fields(top.http, "http", ["config", "options"]);
  const grpc = fields(top.grpc, "grpc", ["config", "options"]);
  const global = options(top.options, "options");
  // the protocol's own options replace the global ones; neither: ERROR, nothing logged
  const eff = (own: Options | null): Options =>
    own ?? global ?? { level: "ERROR", logStart: false, logEnd: false };

  const h = eff(options(http.options, "http.options"));
  validateLevel(h.level);
  if (h.logStart && !h.logEnd) throw new RequestLogConfigError("log start call is not supported");
  const httpAllow = list(http.config, "http.config").map((c, i) => {
    const e = fields(c, `http.config[${i}]`, ["path", "port"]);
    return `${str(e.path, "path")}:${str(e.port ?? 0, "port")}`;
  });

  const g = eff(options(grpc.options, "grpc.options"));
  let grpcSettings: GrpcLogSettings | null = null;
  if (g.logStart || g.logEnd) {
    validateLevel(g.level);
    if (g.logStart && !g.logEnd) {
      throw new RequestLogConfigError("log decision combination is not supported");
    }
    const allow = list(grpc.config, "grpc.config").map((c, i) => {
      const e = fields(c, `grpc.config[${i}]`, ["service", "method"]);
      return `/${str(e.service, "service")}/${str(e.method, "method")}`;
    });
    grpcSettings = { logStart: g.logStart, allow: allow.length > 0 ? new Set(allow) : null };
  }
  return {
    http: h.logEnd
      ? {
        level: h.level,
        logStart: h.logStart,
        allow: httpAllow.length > 0 ? new Set(httpAllow) : null,
      }
      : null,
    grpc: grpcSettings,
  };
}

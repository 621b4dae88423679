// Thanos receive's `--receive.limits-config(-file)` (https://thanos.io/tip/components/receive.md/#limits,
// https://github.com/thanos-io/thanos/blob/main/pkg/receive/limiter_config.go, request_limiter.go):
//
//   write:
//     global: { max_concurrency, meta_monitoring_url, meta_monitoring_http_client,
//               meta_monitoring_limit_query }
//     default: { request: { size_bytes_limit, series_limit, samples_limit }, head_series_limit }
//     tenants: { <tenant>: { request: {...}, head_series_limit } }
//
// Parsed strictly like Go's yaml.UnmarshalStrict (unknown fields are errors). A tenant inherits
// every limit it does not set from `default`; 0 means unlimited. Statuses as Thanos's handler: a
// body above size_bytes_limit → 413 "write request too large", more series than series_limit →
// 413 "too many timeseries", more samples than samples_limit → 413 "too many samples", a tenant at
// or above head_series_limit → 429 "tenant is above active series limit". Thanos enforces
// head_series_limit from a meta-monitoring query (fleet-wide series); here it is enforced against
// the tenant's series in this receiver's head (see MultiTSDB.write), with or without that URL.

import { parseAllDocuments } from "yaml";
import { countSamples, RemoteWriteError, type WriteRequest } from "./remote_write.ts";

/** Per-request limits; 0 = unlimited. */
export interface RequestLimits {
  sizeBytesLimit: number;
  seriesLimit: number;
  samplesLimit: number;
}

/** Limits of one tenant after inheriting from `default`. */
export interface TenantLimits {
  request: RequestLimits;
  headSeriesLimit: number;
}

/** A parsed limits configuration. */
export interface ReceiveLimits {
  /** `write.global.max_concurrency`: concurrent write requests (0 = unlimited). */
  maxConcurrency: number;
  /** `write.global.meta_monitoring_url` ("" when unset). */
  metaMonitoringUrl: string;
  /** `write.global.meta_monitoring_limit_query` (Thanos's default when unset). */
  metaMonitoringLimitQuery: string;
  /** `write.global.meta_monitoring_http_client`, kept as parsed. */
  metaMonitoringHttpClient?: Record<string, unknown>;
  /** `write.default`. */
  defaults: TenantLimits;
  /** `write.tenants`, each already merged with the defaults. */
  tenants: Map<string, TenantLimits>;
}

/** Thanos's default meta-monitoring query. */
export const DEFAULT_META_MONITORING_LIMIT_QUERY = "sum(prometheus_tsdb_head_series) by (tenant)";

/** No limits at all (no `--receive.limits-config`). */
export function noLimits(): ReceiveLimits {
  return {
    maxConcurrency: 0,
    metaMonitoringUrl: "",
    metaMonitoringLimitQuery: DEFAULT_META_MONITORING_LIMIT_QUERY,
    defaults: {
      request: { sizeBytesLimit: 0, seriesLimit: 0, samplesLimit: 0 },
      headSeriesLimit: 0,
    },
    tenants: new Map(),
  };
}

/** A limits configuration is invalid; the message names the field. */
export class LimitsConfigError extends Error {
  override name = "LimitsConfigError";
}

type Obj = Record<string, unknown>;

function fail(msg: string): never {
  throw new LimitsConfigError(`parsing limits config: ${msg}`);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a sequence";
  return typeof v === "object" ? "a mapping" : `${typeof v} ${JSON.stringify(v)}`;
}

function mapping(v: unknown, path: string, known: readonly string[]): Obj {
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v)) {
    fail(`${path}: expected a mapping, got ${typeName(v)}`);
  }
  for (const k of Object.keys(v as Obj)) {
    if (!known.includes(k)) {
      fail(`${path}: unknown field ${JSON.stringify(k)} (known fields: ${known.join(", ")})`);
    }
  }
  return v as Obj;
}

/** An integer field (null/absent → undefined); `unsigned` refuses negatives (Go uint64). */
function int(v: unknown, path: string, unsigned = false): number | undefined {
  if (v === null || v === undefined) return undefined;
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && /^[+-]?\d+$/.test(v.trim())) n = Number(v.trim());
  else fail(`${path}: expected an integer, got ${typeName(v)}`);
  if (!Number.isSafeInteger(n)) fail(`${path}: expected an integer, got ${v}`);
  if (unsigned && n < 0) fail(`${path}: expected a non-negative integer, got ${n}`);
  return n;
}

function str(v: unknown, path: string): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  fail(`${path}: expected a string, got ${typeName(v)}`);
}

interface PartialTenant {
  request?: Partial<RequestLimits>;
  headSeriesLimit?: number;
}

function parseRequest(v: unknown, path: string): Partial<RequestLimits> | undefined {
  if (v === null || v === undefined) return undefined;
  const o = mapping(v, path, ["size_bytes_limit", "series_limit", "samples_limit"]);
  return {
    sizeBytesLimit: int(o.size_bytes_limit, `${path}.size_bytes_limit`),
    seriesLimit: int(o.series_limit, `${path}.series_limit`),
    samplesLimit: int(o.samples_limit, `${path}.samples_limit`),
  };
}

function parseTenant(v: unknown, path: string): PartialTenant {
  const o = mapping(v, path, ["request", "head_series_limit"]);
  return {
    request: parseRequest(o.request, `${path}.request`),
    headSeriesLimit: int(o.head_series_limit, `${path}.head_series_limit`, true),
  };
}

/** Negative limits behave as unlimited in Thanos (`*limit <= 0`). */
function orZero(n: number | undefined): number {
  return n === undefined || n < 0 ? 0 : n;
}

/**
 * Parses `--receive.limits-config` YAML (Go yaml.v2 semantics: YAML 1.1, strict fields). An empty
 * document means no limits. Throws LimitsConfigError naming the field.
 */
export function parseLimitsConfig(yaml: string): ReceiveLimits {
  const docs = parseAllDocuments(yaml, { version: "1.1", uniqueKeys: true });
  const first = Array.isArray(docs) ? docs[0] : undefined;
  const out = noLimits();
  if (first === undefined || first.contents === null) return out;
  if (first.errors.length > 0) {
    const e = first.errors[0];
    const line = e.linePos?.[0] ? ` at line ${e.linePos[0].line}` : "";
    fail(`invalid YAML${line}: ${e.message.split("\n")[0]}`);
  }
  const root = mapping(first.toJS({ maxAliasCount: 100 }), "root", ["write"]);
  const write = mapping(root.write, "write", ["global", "default", "tenants"]);
  const global = mapping(write.global, "write.global", [
    "max_concurrency",
    "meta_monitoring_url",
    "meta_monitoring_http_client",
    "meta_monitoring_limit_query",
  ]);
  out.maxConcurrency = orZero(int(global.max_concurrency, "write.global.max_concurrency"));
  out.metaMonitoringUrl = str(global.meta_monitoring_url, "write.global.meta_monitoring_url");
  if (out.metaMonitoringUrl !== "") {
    let u: URL | null = null;
    try {
      u = new URL(out.metaMonitoringUrl);
    } catch {
      u = null;
    }
    if (u === null || u.host === "" || u.protocol === "") {
      fail(
        `write.global.meta_monitoring_url: ${out.metaMonitoringUrl} is not a valid meta-monitoring URL (need scheme and host)`,
      );
    }
  }
  const q = str(global.meta_monitoring_limit_query, "write.global.meta_monitoring_limit_query");
  if (q !== "") out.metaMonitoringLimitQuery = q;
  if (
    global.meta_monitoring_http_client !== undefined && global.meta_monitoring_http_client !== null
  ) {
    out.metaMonitoringHttpClient = mapping(
      global.meta_monitoring_http_client,
      "write.global.meta_monitoring_http_client",
      Object.keys(global.meta_monitoring_http_client as Obj),
    );
  }
  const def = parseTenant(write.default, "write.default");
  out.defaults = {
    request: {
      sizeBytesLimit: orZero(def.request?.sizeBytesLimit),
      seriesLimit: orZero(def.request?.seriesLimit),
      samplesLimit: orZero(def.request?.samplesLimit),
    },
    headSeriesLimit: def.headSeriesLimit ?? 0,
  };
  const tenants = write.tenants;
  if (tenants !== undefined && tenants !== null) {
    if (typeof tenants !== "object" || Array.isArray(tenants)) {
      fail(`write.tenants: expected a mapping of tenant to limits, got ${typeName(tenants)}`);
    }
    for (const [name, v] of Object.entries(tenants as Obj)) {
      const t = parseTenant(v, `write.tenants.${name}`);
      const d = out.defaults;
      out.tenants.set(name, {
        request: {
          sizeBytesLimit: t.request?.sizeBytesLimit !== undefined
            ? orZero(t.request.sizeBytesLimit)
            : d.request.sizeBytesLimit,
          seriesLimit: t.request?.seriesLimit !== undefined
            ? orZero(t.request.seriesLimit)
            : d.request.seriesLimit,
          samplesLimit: t.request?.samplesLimit !== undefined
            ? orZero(t.request.samplesLimit)
            : d.request.samplesLimit,
        },
        headSeriesLimit: t.headSeriesLimit ?? d.headSeriesLimit,
      });
    }
  }
  return out;
}

/** The limits that apply to `tenant`. */
export function limitsFor(limits: ReceiveLimits, tenant: string): TenantLimits {
  return limits.tenants.get(tenant) ?? limits.defaults;
}

/** `head_series_limit` of `tenant` (0 = unlimited); pass to MultiTSDBOptions.headSeriesLimit. */
export function headSeriesLimitFor(limits: ReceiveLimits, tenant: string): number {
  return limitsFor(limits, tenant).headSeriesLimit;
}

/**
 * Thanos's request limiter: `bodyBytes` against size_bytes_limit (call it with the compressed
 * body length before decoding, and pass the same limit as `maxDecompressedBytes` to
 * decodeWriteRequest, as Thanos checks both), and with `req` its series and samples. Throws
 * RemoteWriteError 413 as Thanos.
 */
export function checkRequestLimits(
  limits: ReceiveLimits,
  tenant: string,
  bodyBytes: number,
  req?: WriteRequest,
): void {
  const l = limitsFor(limits, tenant).request;
  if (l.sizeBytesLimit > 0 && bodyBytes > l.sizeBytesLimit) {
    throw new RemoteWriteError(
      413,
      `write request too large: ${bodyBytes} bytes exceeds the size_bytes_limit of ${l.sizeBytesLimit} for tenant ${tenant}`,
    );
  }
  if (req === undefined) return;
  if (l.seriesLimit > 0 && req.series.length > l.seriesLimit) {
    throw new RemoteWriteError(
      413,
      `too many timeseries: ${req.series.length} exceeds the series_limit of ${l.seriesLimit} for tenant ${tenant}`,
    );
  }
  if (l.samplesLimit > 0) {
    const n = countSamples(req.series);
    if (n > l.samplesLimit) {
      throw new RemoteWriteError(
        413,
        `too many samples: ${n} exceeds the samples_limit of ${l.samplesLimit} for tenant ${tenant}`,
      );
    }
  }
}

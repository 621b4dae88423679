// The querier's HTTP API v1 (https://thanos.io/tip/components/query.md/#query-api-overview, on top
// of https://prometheus.io/docs/prometheus/latest/querying/api/): Prometheus's envelope, parameter
// formats, validation messages and byte-exact JSON, plus Thanos's parameters (`dedup`,
// `partial_response`, `replicaLabels[]`, `storeMatch[]`, `max_source_resolution`) and
// `/api/v1/stores`. Routes are one table; every handler reads GET query and form POST bodies.

import { compareStrings } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { goQuote, goQuoteBytes } from "../strconv/quote.ts";
import { goJSONString, labelsJSON } from "../strconv/json.ts";
import { Engine, type EngineOptions, WorkLimitError } from "../promql/engine.ts";
import { PromQLError, type PromQLErrorType } from "../promql/errors.ts";
import { ParseError, parseExpr, parseMetricSelector } from "../promql/parser.ts";
import { enforceMatchers, enforceQuery } from "../promql/enforce.ts";
import type { FunctionOptions } from "../promql/functions_table.ts";
import type { QueryTelemetry, SeriesStats } from "./telemetry.ts";
import type { ActiveQueryTracker } from "./active_queries.ts";
import { queryStatsMember, resultToJSONChunks } from "../promql/value.ts";
import { type DedupFunc } from "../storeapi/dedup.ts";
import type { StoreProxy } from "../storeapi/proxy.ts";
import type { ShardInfo } from "../storeapi/codec.ts";
import { ProxyQueryable } from "./queryable.ts";
import { type EvalPool, evalSpanName, type EvalTask, type MatcherData } from "./eval_pool.ts";
import { labelApiBody, labelApiData, type LabelApiRequest } from "./label_api.ts";
import {
  type DistributedOptions,
  evaluateDistributed,
  remoteCallOptions,
  remoteEngines,
} from "./distributed.ts";
import { requestReplicaLabels } from "./replica_labels.ts";
import { InvalidDurationError, parseDuration } from "../tsdb/duration.ts";
import { HttpError, percentDecodeBytes, type RequestInfo, type Route } from "../server/http.ts";
import {
  type CertificateTenantField,
  DEFAULT_TENANT,
  DEFAULT_TENANT_HEADER,
  DEFAULT_TENANT_LABEL,
  isTenantValid,
  type PeerCertificate,
  TenantError,
  tenantFromRequest,
} from "../server/tenancy.ts";
import type { Logger } from "../logging/log.ts";
import type { Counter, Registry } from "../metrics/registry.ts";
import type { EndpointStatus } from "./endpoints.ts";
import { Gate } from "../runutil/gate.ts";
import { activeTraceparent, inSpan } from "../tracing/tracer.ts";

/** API error types and their HTTP status codes (Prometheus 2.42 `returnAPIError`). */
export type ApiErrorType = PromQLErrorType | "not_found" | "unavailable";

const STATUS_OF: Record<ApiErrorType, number> = {
  bad_data: 400,
  execution: 422,
  timeout: 503,
  canceled: 499,
  internal: 500,
  unavailable: 503,
  not_found: 404,
};

/** An API error with its type. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(readonly type: ApiErrorType, message: string) {
    super(message);
  }
}

/** Thanos's CORS headers (pkg/api/api.go `corsHeaders`). */
const CORS_HEADERS: readonly (readonly [string, string])[] = [
  ["Access-Control-Allow-Origin", "*"],
  ["Access-Control-Allow-Headers", "Accept, Accept-Encoding, Authorization, Content-Type, Origin"],
  ["Access-Control-Allow-Methods", "GET, POST, OPTIONS"],
  ["Access-Control-Expose-Headers", "Date"],
];

/** Unix ms of Prometheus's `minTime` / `maxTime` (API defaults for open time ranges). */
export const API_MIN_TIME = -9223309901257974000;
export const API_MAX_TIME = 9223309901257974000;
const MIN_TIME_STRING = "-292273086-05-16T16:47:06Z";
const MAX_TIME_STRING = "292277025-08-18T07:12:54.999999999Z";

/**
 * Default of {@link QueryApiOptions.inlineRangeWork}: about a few milliseconds of decoding and
 * evaluation, in which the hand-off to a Worker and back would cost as much as the query (issue
 * 19); e.g. one series over 2 h at 15 s is about 1,000, `up` of 170 series over 1 h about 80,000.
 */
export const INLINE_RANGE_WORK = 100_000;

/** Range queries remembered as past {@link INLINE_RANGE_WORK} (see `QueryApi.heavyRange`). */
const HEAVY_RANGE_QUERIES_KEPT = 256;

/**
 * Go's `strconv.ParseFloat` succeeds on this decimal number: it is finite in float64 (`1e400`
 * is out of range there, an error, so Prometheus goes on to its other formats and refuses it).
 */
function goFloat(s: string): number | null {
  if (s.trim() === "" || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s.trim())) return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/** Prometheus `parseTime`: float Unix seconds (ms rounded) or RFC 3339. Throws ApiError text. */
export function parseApiTime(s: string): number {
  const t = goFloat(s);
  if (t !== null) {
    const sec = Math.trunc(t);
    const ms = sec * 1000 + Math.round((t - sec) * 1000);
    return Math.max(API_MIN_TIME, Math.min(API_MAX_TIME, ms));
  }
  if (s === MIN_TIME_STRING) return API_MIN_TIME;
  if (s === MAX_TIME_STRING) return API_MAX_TIME;
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
    .exec(s);
  if (m) {
    const frac = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
    const base = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8].toUpperCase()}`);
    if (!Number.isNaN(base)) return base + frac;
  }
  throw new Error(`cannot parse ${goQuote(s)} to a valid timestamp`);
}

/** Prometheus `parseDuration`: float seconds or a duration string; returns ms. */
export function parseApiDuration(s: string): number {
  const f = goFloat(s);
  if (f !== null) {
    const ms = f * 1000;
    if (Math.abs(ms) * 1e6 > 9.223372036854775807e18) {
      throw new Error(`cannot parse ${goQuote(s)} to a valid duration. It overflows int64`);
    }
    return Math.round(ms);
  }
  try {
    return parseDuration(s);
  } catch (e) {
    if (e instanceof InvalidDurationError) {
      throw new Error(`cannot parse ${goQuote(s)} to a valid duration`);
    }
    throw e;
  }
}

/** Go's cap on a form body (net/http `maxFormSize`, 10 MiB: https://pkg.go.dev/net/http#Request.ParseForm). */
export const MAX_FORM_BYTES = 10 << 20;

/** Request parameters: form body values first, then the URL query (Go's `r.FormValue`). */
export class ApiParams {
  /**
   * Every value of each name, body values first, read from both lists once: a query handler
   * asks for a dozen names, and each URLSearchParams lookup is a checked call that scans its list
   * (issue 19, an instant query's fixed cost).
   */
  private readonly values = new Map<string, string[]>();

  constructor(
    body: URLSearchParams,
    query: URLSearchParams,
    readonly headers: Headers = new Headers(),
    /** The client's TLS certificate, when the server asked for one. */
    readonly peerCertificate?: PeerCertificate,
  ) {
    // forEach: Deno's iterator checks the receiver and makes a result object per entry
    const add = (value: string, name: string) => {
      const vs = this.values.get(name);
      if (vs === undefined) this.values.set(name, [value]);
      else vs.push(value);
    };
    body.forEach(add);
    query.forEach(add);
  }

  /**
   * Reads GET query and, for form POSTs, the body: at most {@link MAX_FORM_BYTES}, read as it
   * arrives. A larger form is refused as Prometheus's `/api/v1/series` refuses it (400 "error
   * parsing form values: http: POST too large"; its other endpoints silently drop such a body);
   * a body slower than the server's read timeout gets 408.
   */
  static async from(
    req: Request,
    info: Pick<RequestInfo, "readBody" | "peerCertificate" | "url" | "search">,
  ): Promise<ApiParams> {
    const query = info.search !== undefined
      ? new URLSearchParams(info.search)
      : (info.url ?? new URL(req.url)).searchParams;
    let body = new URLSearchParams();
    const ct = req.headers.get("content-type") ?? "";
    if (req.method === "POST" && ct.includes("application/x-www-form-urlencoded")) {
      let bytes: Uint8Array;
      try {
        bytes = await info.readBody(MAX_FORM_BYTES);
      } catch (e) {
        if (e instanceof HttpError && e.status === 413) {
          throw new ApiError("bad_data", "error parsing form values: http: POST too large");
        }
        throw e;
      }
      body = new URLSearchParams(new TextDecoder().decode(bytes));
    }
    return new ApiParams(body, query, req.headers, info.peerCertificate);
  }

  /** First value of `name` ("" when absent). */
  get(name: string): string {
    return this.values.get(name)?.[0] ?? "";
  }

  /** True when `name` was given. */
  has(name: string): boolean {
    return this.values.has(name);
  }

  /** Every value of `name` (body values then query values). */
  all(name: string): string[] {
    return this.values.get(name)?.slice() ?? [];
  }
}

/** The values of `--query.promql-engine` and of the API's `engine` parameter. */
export type PromqlEngine = "prometheus" | "thanos";

/** Static configuration of the API. */
export interface QueryApiOptions {
  proxy: StoreProxy;
  /**
   * Evaluates queries off this thread (query/eval_pool.ts); absent: evaluated here. An instant
   * query still evaluates here while no other one does (see {@link QueryApi.evaluate}).
   */
  evalPool?: Pick<EvalPool, "evaluate">;
  /**
   * With an evaluation pool, the selected samples plus steps up to which a range query
   * evaluates on this thread (see {@link QueryApi.evaluate}); default {@link INLINE_RANGE_WORK}.
   */
  inlineRangeWork?: number;
  logger: Logger;
  registry: Registry;
  /** Endpoint statuses for `/api/v1/stores`. */
  endpoints: () => EndpointStatus[];
  replicaLabels: string[];
  dedupFunc: DedupFunc;
  partialResponse: boolean;
  queryTimeoutMs: number;
  lookbackDeltaMs: number;
  maxSamples: number;
  maxConcurrent: number;
  maxConcurrentSelect: number;
  defaultStepMs: number;
  defaultEvaluationIntervalMs: number;
  autoDownsampling: boolean;
  enableCors: boolean;
  /**
   * `--query.promql-engine` (the `engine` parameter's default) and the optional function sets
   * (`--enable-feature=promql-experimental-functions`, `--query.enable-x-functions`; the
   * x-functions only for queries whose engine is "thanos", as in Thanos). Absent: none.
   */
  promql?: { defaultEngine: PromqlEngine; experimentalFunctions: boolean; xFunctions: boolean };
  /** `--query.active-query-path`'s log of running queries (query/active_queries.ts), if any. */
  activeQueries?: Pick<ActiveQueryTracker, "track">;
  /** Query telemetry (`--query.telemetry.*`), absent: none recorded. */
  telemetry?: { histogram: QueryTelemetry; tenantHeader: string; defaultTenant: string };
  /** `--query.metadata.default-time-range` (ms; 0 or absent: all time). */
  metadataDefaultTimeRangeMs?: number;
  /**
   * Exemplars of the endpoints serving them (query/rules_api.ts `fetchExemplars`); absent: none.
   * `start`/`end` in ms; the answer in Prometheus's JSON.
   */
  exemplars?: (
    req: { query: string; start: number; end: number; partialResponse: boolean },
    signal: AbortSignal,
  ) => Promise<{ data: unknown; warnings: string[] }>;
  /** `--query.mode=distributed` (query/distributed.ts): its options and the endpoints now. */
  distributed?: {
    options: DistributedOptions;
    endpoints: () => Parameters<typeof remoteEngines>[0];
  };
  /** Every flag with its value, for `/api/v1/status/flags`. */
  flags: Record<string, string>;
  version: string;
  now?: () => number;
  /** The tenancy flags; absent: Thanos's defaults (tenant from `THANOS-TENANT`, not enforced). */
  tenancy?: QueryTenancy;
}

/**
 * The querier's tenancy (https://thanos.io/tip/components/query.md/#tenancy): the tenant of a
 * request (server/tenancy.ts) is sent to the stores; with `enforce`, every selector of a query,
 * and every `match[]` of series, labels and label values, gets `labelName="<tenant>"`
 * (promql/enforce.ts), as Thanos's `tenancy.RewritePromQL` / `RewriteLabelMatchers` do.
 */
export interface QueryTenancy {
  /** `--query.tenant-header` */
  header: string;
  /** `--query.default-tenant-id` */
  defaultTenant: string;
  /** `--query.enforce-tenancy` */
  enforce: boolean;
  /** `--query.tenant-label-name` */
  labelName: string;
  /** `--query.tenant-certificate-field`: the tenant is this field of the client certificate. */
  certificateField?: CertificateTenantField;
}

const DEFAULT_QUERY_TENANCY: QueryTenancy = {
  header: DEFAULT_TENANT_HEADER,
  defaultTenant: DEFAULT_TENANT,
  enforce: false,
  labelName: DEFAULT_TENANT_LABEL,
};

/** The API: builds the route table. */
export class QueryApi {
  private readonly startTime = new Date();
  /** Concurrent queries (`--query.max-concurrent`, at least one); more wait in FIFO order. */
  private readonly queryGate: Gate;
  private readonly queries: Counter;
  /** True while a query evaluates on this thread although there is a pool. */
  private inlineBusy = false;
  /**
   * Range queries (step, duration and expression) that went past the work bound here: the next
   * ones go to the pool at once, without another attempt here (dashboards repeat the same
   * queries). Oldest first, at most {@link HEAVY_RANGE_QUERIES_KEPT}.
   */
  private readonly heavyRange = new Set<string>();

  private readonly tenancy: QueryTenancy;

  constructor(private readonly o: QueryApiOptions) {
    this.tenancy = o.tenancy ?? DEFAULT_QUERY_TENANCY;
    this.queryGate = new Gate(Math.max(1, o.maxConcurrent));
    this.queries = o.registry.counter({
      name: "thanos_query_api_queries_total",
      help: "Queries handled by the query API, by endpoint and result.",
      labelNames: ["handler", "result"],
    });
    const inFlight = o.registry.gauge({
      name: "thanos_query_concurrent_gate_queries_in_flight",
      help: "Number of queries that are currently in flight.",
    });
    const maxGauge = o.registry.gauge({
      name: "thanos_query_concurrent_gate_queries_max",
      help: "Maximum number of concurrent queries.",
    });
    o.registry.onCollect(() => {
      inFlight.set(this.queryGate.inFlight);
      maxGauge.set(o.maxConcurrent);
    });
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }

  /** The route table (paths relative to the route prefix). */
  routes(): Route[] {
    const both = ["GET", "POST"];
    const r = (
      method: string | string[],
      path: string,
      fn: (
        p: ApiParams,
        params: Record<string, string>,
        signal: AbortSignal,
      ) => Promise<Body>,
    ): Route => ({
      method,
      path: `/api/v1${path}`,
      handler: async (req, params, info) => {
        let res: Response;
        try {
          const p = await ApiParams.from(req, info);
          res = this.respond(await fn(p, params, info.signal), info.handsOffBodyChunks);
        } catch (e) {
          res = this.respondError(e);
        }
        return res;
      },
    });
    return [
      r(both, "/query", (p, _, s) => this.query(p, s)),
      r(both, "/query_range", (p, _, s) => this.queryRange(p, s)),
      r(both, "/series", (p, _, s) => this.series(p, s)),
      r(both, "/labels", (p, _, s) => this.labels(p, s)),
      {
        method: "GET",
        path: "/api/v1/label/:name/values",
        handler: async (req, params, info) => {
          try {
            const p = await ApiParams.from(req, info);
            return this.respond(
              await this.labelValues(p, params.name, info.signal, info.rawParams.name),
              info.handsOffBodyChunks,
            );
          } catch (e) {
            return this.respondError(e);
          }
        },
      },
      r(both, "/query_exemplars", (p, _, s) => this.exemplars(p, s)),
      r("GET", "/status/buildinfo", () => Promise.resolve({ data: this.buildInfo() })),
      r("GET", "/status/flags", () => Promise.resolve({ data: this.flagsJSON() })),
      r("GET", "/status/runtimeinfo", () => Promise.resolve({ data: this.runtimeInfo() })),
      r("GET", "/stores", () => Promise.resolve({ data: this.storesJSON() })),
      {
        method: "OPTIONS",
        path: "/api/v1/*",
        handler: () => new Response(null, { status: 204, headers: this.corsHeaders() }),
      },
    ];
  }

  // Thanos's CORS headers, on every API answer unless --web.disable-cors
  // (https://github.com/thanos-io/thanos/blob/main/pkg/api/api.go, `corsHeaders`)
  corsHeaders(): Record<string, string> {
    return this.o.enableCors ? Object.fromEntries(CORS_HEADERS) : {};
  }

  /**
   * `res` with the CORS headers (when enabled), appended after the Response was built: Deno
   * builds a Response whose init names only its content type on a fast path, while any other
   * header in the init costs about 2 µs more per response than appending it afterwards (issue 19,
   * an instant query's fixed cost).
   */
  private withCors(res: Response): Response {
    if (!this.o.enableCors) return res;
    const h = res.headers;
    for (const [k, v] of CORS_HEADERS) h.append(k, v);
    return res;
  }

  /**
   * `b` as the API's success envelope. `handsOff`: the server hands each body chunk off to the
   * runtime (RequestInfo.handsOffBodyChunks), so a worker's pieces can be released as it does.
   */
  private respond(b: Body, handsOff = false): Response {
    let tail = "}";
    let partial = false;
    if (b.warnings && b.warnings.length > 0) {
      tail = `,"warnings":[${b.warnings.map(goJSONString).join(",")}]}`;
      partial = true;
    }
    const head = `{"status":"success","data":`;
    let body: string | Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
    if (typeof b.data === "string") body = head + b.data + tail;
    else if (b.data instanceof Uint8Array && b.data.length < FRAME_COPY_LIMIT) {
      // an evaluation worker's encoded data, small: one body with a Content-Length
      const h = utf8.encode(head);
      const t = utf8.encode(tail);
      const all = new Uint8Array(h.length + b.data.length + t.length);
      all.set(h);
      all.set(b.data, h.length);
      all.set(t, h.length + b.data.length);
      body = all;
      // copied: a worker's buffer is freed now rather than at this thread's next full GC
      if (b.owned) detachBuffer(b.data);
    } else if (b.data instanceof Uint8Array || b.data instanceof ReadableStream) {
      // large, or a worker's streamed answer: framed without decoding or copying it (a copy
      // would stall this thread)
      body = framedBody(head, b.data, tail, b.owned === true && handsOff);
    } else body = textBody(head, b.data, tail);
    const res = new Response(body, {
      status: 200,
      headers: { "content-type": "application/json" },
    });
    // partial answers must not be cached (Thanos)
    if (partial) res.headers.set("cache-control", "no-store");
    return this.withCors(res);
  }

  private respondError(e: unknown): Response {
    let type: ApiErrorType;
    let msg: string;
    if (e instanceof HttpError) {
      // a body that could not be read (408 too slow, 400 broken): plain text, like the server
      return this.withCors(
        new Response(e.message + "\n", {
          status: e.status,
          headers: { "content-type": "text/plain; charset=utf-8" },
        }),
      );
    }
    if (e instanceof ApiError || e instanceof PromQLError) {
      type = e.type;
      msg = e.message;
    } else {
      type = "internal";
      msg = e instanceof Error ? e.message : String(e);
      this.o.logger.error("API handler failed", { err: msg });
    }
    const text = `{"status":"error","errorType":"${type}","error":${goJSONString(msg)}}`;
    return this.withCors(
      new Response(text, {
        status: STATUS_OF[type],
        headers: { "content-type": "application/json" },
      }),
    );
  }

  // ---- parameters

  private timeParam(p: ApiParams, name: string, def: number, wrap: boolean): number {
    const v = p.get(name);
    if (v === "") return def;
    try {
      return parseApiTime(v);
    } catch (e) {
      const inner = wrap
        ? `Invalid time value for '${name}': ${(e as Error).message}`
        : (e as Error).message;
      throw new ApiError("bad_data", `invalid parameter "${name}": ${inner}`);
    }
  }

  /**
   * `start`/`end` of `/api/v1/series`, `labels` and `label/<name>/values`: when missing, the
   * last `--query.metadata.default-time-range` before now, or all time when that is 0 (Thanos's
   * parseMetadataTimeRange in pkg/api/query/v1.go).
   */
  private metadataRange(p: ApiParams): [number, number] {
    const range = this.o.metadataDefaultTimeRangeMs ?? 0;
    const now = range > 0 ? this.now() : 0;
    const start = this.timeParam(p, "start", range > 0 ? now - range : API_MIN_TIME, true);
    const end = this.timeParam(p, "end", range > 0 ? now : API_MAX_TIME, true);
    if (end < start) throw new ApiError("bad_data", "end timestamp must not be before start time");
    return [start, end];
  }

  private boolParam(p: ApiParams, name: string, def: boolean): boolean {
    const v = p.get(name);
    if (v === "") return def;
    const l = v.toLowerCase();
    if (["1", "t", "true"].includes(l)) return true;
    if (["0", "f", "false"].includes(l)) return false;
    throw new ApiError(
      "bad_data",
      `invalid parameter "${name}": cannot parse ${goQuote(v)} as bool`,
    );
  }

  /**
   * `match[]` selectors of series, labels and label values: each needs a matcher that does not
   * match the empty string, or it would select every series (Prometheus `parseMatchersParam`).
   */
  private seriesSelectors(p: ApiParams, prefixed: boolean): Matcher[][] {
    const sets = this.selectors(p, "match[]", prefixed);
    for (const ms of sets) {
      if (!ms.some((m) => !m.matches(""))) {
        const msg = "match[] must contain at least one non-empty matcher";
        throw new ApiError("bad_data", prefixed ? `invalid parameter "match[]": ${msg}` : msg);
      }
    }
    return sets;
  }

  private selectors(p: ApiParams, name: string, prefixed: boolean): Matcher[][] {
    const out: Matcher[][] = [];
    for (const s of p.all(name)) {
      try {
        out.push(parseMetricSelector(s));
      } catch (e) {
        if (e instanceof ParseError) {
          throw new ApiError(
            "bad_data",
            prefixed ? `invalid parameter "${name}": ${e.message}` : e.message,
          );
        }
        throw e;
      }
    }
    return out;
  }

  /**
   * The request's tenant: from its headers, or its client certificate with
   * `--query.tenant-certificate-field`; none, or an invalid one, is refused (400 bad_data, as
   * Thanos's `GetTenantFromHTTP`).
   */
  private tenant(p: ApiParams): string {
    const t = this.tenancy;
    let tenant: string;
    try {
      tenant = tenantFromRequest(
        p.headers,
        t.header,
        t.defaultTenant,
        t.certificateField,
        p.peerCertificate,
      );
    } catch (e) {
      if (e instanceof TenantError) throw new ApiError("bad_data", e.message);
      throw e;
    }
    if (!isTenantValid(tenant)) throw new ApiError("bad_data", "tenant name not valid");
    return tenant;
  }

  /** `expr` with the tenant enforced when `--query.enforce-tenancy` is on. */
  private enforceQuery(expr: string, tenant: string): string {
    if (!this.tenancy.enforce) return expr;
    try {
      return enforceQuery(expr, this.tenancy.labelName, tenant);
    } catch (e) {
      if (e instanceof ParseError) {
        // Thanos's message, its spelling included (pkg/tenancy EnforceQueryTenancy)
        throw new ApiError(
          "bad_data",
          `error parsing query string, when enforcing tenenacy: ${e.message}`,
        );
      }
      throw e;
    }
  }

  /**
   * `match[]` sets with the tenant enforced when `--query.enforce-tenancy` is on; no set at all
   * becomes the tenant's matcher alone (Thanos's `getLabelMatchers`).
   */
  private enforceSelectors(sets: Matcher[][], tenant: string): Matcher[][] {
    if (!this.tenancy.enforce) return sets;
    const m = new Matcher(MatchType.Equal, this.tenancy.labelName, tenant);
    if (sets.length === 0) return [[m]];
    return sets.map((set) => enforceMatchers(set, m));
  }

  /** The per-request proxy view from Thanos's parameters. */
  private queryable(p: ApiParams, tenant: string, step = 0, sharded = false): ProxyQueryable {
    const replicaLabels = requestReplicaLabels(p.all("replicaLabels[]"), this.o.replicaLabels);
    let maxSourceResolutionMs = 0;
    const msr = p.get("max_source_resolution");
    if (msr === "auto" || (msr === "" && this.o.autoDownsampling)) {
      maxSourceResolutionMs = Math.max(0, Math.floor(step / 5));
    } else if (msr !== "") {
      try {
        maxSourceResolutionMs = parseApiDuration(msr);
      } catch (e) {
        throw new ApiError(
          "bad_data",
          `invalid parameter "max_source_resolution": ${(e as Error).message}`,
        );
      }
      if (maxSourceResolutionMs < 0) {
        throw new ApiError(
          "bad_data",
          "negative max_source_resolution is not accepted. Try a positive integer",
        );
      }
    }
    const storeMatchers = this.selectors(p, "storeMatch[]", true);
    return new ProxyQueryable(this.o.proxy, {
      partialResponse: this.boolParam(p, "partial_response", this.o.partialResponse),
      dedup: this.boolParam(p, "dedup", true),
      replicaLabels,
      dedupFunc: this.o.dedupFunc,
      storeMatchers: storeMatchers.length > 0 ? storeMatchers : undefined,
      maxSourceResolutionMs,
      maxConcurrentSelect: this.o.maxConcurrentSelect,
      shardInfo: sharded ? parseShardInfo(p.get("shard_info")) : undefined,
      tenant,
    });
  }

  /**
   * The functions a query may call: its engine is the `engine` parameter ("prometheus" or
   * "thanos"; Thanos's pkg/api/query/v1.go parseEngineParam), else `--query.promql-engine`.
   * This build evaluates both with its one engine (Prometheus's semantics); the engine only
   * decides whether the x-functions are known, as Thanos's engines do.
   */
  private functions(p: ApiParams): FunctionOptions {
    const o = this.o.promql;
    const engine = p.get("engine") || (o?.defaultEngine ?? "prometheus");
    if (engine !== "prometheus" && engine !== "thanos") {
      throw new ApiError("bad_data", `'${engine}' bad engine`);
    }
    return {
      experimentalFunctions: o?.experimentalFunctions ?? false,
      xFunctions: (o?.xFunctions ?? false) && engine === "thanos",
    };
  }

  private engine(
    p: ApiParams,
  ): { engine: Engine; timeout: number; expired: boolean; opts: EngineOptions } {
    let timeout = this.o.queryTimeoutMs;
    let expired = false;
    const t = p.get("timeout");
    if (t !== "") {
      let ms: number;
      try {
        ms = parseApiDuration(t);
      } catch (e) {
        throw new ApiError("bad_data", `invalid parameter "timeout": ${(e as Error).message}`);
      }
      // a zero or negative timeout has expired before the query could start (Prometheus's
      // context deadline: "query timed out in query queue")
      if (ms <= 0) expired = true;
      else if (ms < timeout) timeout = ms;
    }
    let lookback = this.o.lookbackDeltaMs;
    const lb = p.get("lookback_delta");
    if (lb !== "") {
      try {
        lookback = parseApiDuration(lb);
      } catch (e) {
        throw new ApiError(
          "bad_data",
          `invalid parameter "lookback_delta": ${(e as Error).message}`,
        );
      }
    }
    const opts: EngineOptions = {
      lookbackDelta: lookback,
      maxSamples: this.o.maxSamples,
      timeout,
      defaultEvaluationInterval: this.o.defaultEvaluationIntervalMs,
      functions: this.functions(p),
    };
    return { engine: new Engine(opts), timeout, expired, opts };
  }

  /**
   * Evaluates one query: in the evaluation pool when there is one (off the HTTP thread), else
   * here. An instant query evaluates here while no other query does: most are a few
   * milliseconds of work, and the hand-off to a Worker and back (two thread wake-ups and a copy
   * of the endpoint snapshot) cost as much (issue 19); one at a time, so this thread stays as
   * responsive as with `--query.eval-workers=0` (the engine reads I/O between series), and
   * concurrent queries still use the pool. A range query (not distributed) evaluates here too,
   * under the same rule, until its selectors have read {@link QueryApiOptions.inlineRangeWork}
   * samples plus steps: a small one ends first; a heavier one stops there (its store streams
   * cancelled) and goes to the pool, so what it spent here is bounded (issue 20), and the same
   * query (step, duration, expression) goes to the pool at once from then on. Warnings are the
   * engine's and the stores'.
   */
  private async evaluate(
    e: { engine: Engine; opts: EngineOptions },
    q: ProxyQueryable,
    t: Pick<EvalTask, "kind" | "expr" | "start" | "end" | "step" | "stats">,
    signal: AbortSignal,
    p?: ApiParams,
  ): Promise<
    { data: Uint8Array | ReadableStream<Uint8Array> | Iterator<string>; warnings: string[] }
  > {
    const began = performance.now();
    const pool = this.o.evalPool;
    const heavyKey = t.kind === "range" ? `${t.step}/${t.end - t.start}/${t.expr}` : "";
    const here = t.kind === "instant" ||
      (this.o.distributed === undefined && !this.heavyRange.has(heavyKey));
    if (pool && (this.inlineBusy || !here)) {
      return this.evaluateInPool(pool, e, q, t, signal, p, began);
    }
    const inline = pool !== undefined;
    if (inline) this.inlineBusy = true;
    // a range query evaluated here instead of in the pool stops at its work bound
    const engine = inline && t.kind === "range"
      ? new Engine({ ...e.opts, workLimit: this.o.inlineRangeWork ?? INLINE_RANGE_WORK })
      : e.engine;
    try {
      const res = await inSpan(
        evalSpanName(t.kind),
        { "promql.query": t.expr },
        () =>
          this.o.distributed
            ? evaluateDistributed(
              e.engine,
              q,
              t,
              remoteEngines(this.o.distributed.endpoints()),
              this.o.distributed.options,
              remoteCallOptions({ engine: e.opts, queryable: q.describe() }),
              q.warnings,
              signal,
            )
            : t.kind === "instant"
            ? engine.instantQuery(q, t.expr, t.start, signal)
            : engine.rangeQuery(q, t.expr, t.start, t.end, t.step, signal),
      );
      this.observeQuery(p, q.stats, began);
      const extra = t.stats ? queryStatsMember(res.stats, t.stats.queueMs) : "";
      return {
        data: resultToJSONChunks(res.value, extra),
        warnings: [...res.warnings, ...q.warnings],
      };
    } catch (err) {
      if (!(err instanceof WorkLimitError) || !pool) throw err;
      this.heavyRange.add(heavyKey);
      if (this.heavyRange.size > HEAVY_RANGE_QUERIES_KEPT) {
        this.heavyRange.delete(this.heavyRange.values().next().value!);
      }
    } finally {
      if (inline) this.inlineBusy = false;
    }
    // past the work bound: the pool evaluates it from the start (its answer has its own
    // warnings and statistics; the attempt's, in `q`, are dropped)
    return this.evaluateInPool(pool, e, q, t, signal, p, began);
  }

  /** {@link QueryApi.evaluate} in an evaluation Worker. */
  private async evaluateInPool(
    pool: Pick<EvalPool, "evaluate">,
    e: { opts: EngineOptions },
    q: ProxyQueryable,
    t: Pick<EvalTask, "kind" | "expr" | "start" | "end" | "step" | "stats">,
    signal: AbortSignal,
    p: ApiParams | undefined,
    began: number,
  ): Promise<{ data: Uint8Array | ReadableStream<Uint8Array>; warnings: string[] }> {
    // parse errors are answered here, with the ParseError the API's messages depend on
    try {
      parseExpr(t.expr, e.opts.functions);
    } catch (err) {
      if (err instanceof ParseError) {
        throw new PromQLError("bad_data", err.message, { cause: err });
      }
      throw err;
    }
    // the worker's evaluation span continues this request's trace
    const task = { ...t, distributed: this.o.distributed?.options };
    const answer = await pool.evaluate(
      { ...task, engine: e.opts, queryable: q.describe(), traceparent: activeTraceparent() },
      signal,
    );
    this.observeQuery(p, answer.stats, began);
    return answer;
  }

  /**
   * A successful query's duration in the telemetry histogram (query/telemetry.ts), labelled
   * with the tenant of the request's tenant header (Thanos's defaults: THANOS-TENANT, else
   * default-tenant).
   */
  private observeQuery(p: ApiParams | undefined, stats: SeriesStats | undefined, began: number) {
    const t = this.o.telemetry;
    if (!t || !stats) return;
    const tenant = p?.headers.get(t.tenantHeader) || t.defaultTenant;
    t.histogram.observe(tenant, stats, (performance.now() - began) / 1000);
  }

  /**
   * A `/api/v1/series`, `labels` or `label/<name>/values` request's fan-out and merge: in the
   * evaluation pool when there is one (off the HTTP thread), else here.
   */
  private async labelApi(
    q: ProxyQueryable,
    r: LabelApiRequest,
    signal: AbortSignal,
  ): Promise<Body> {
    try {
      if (!this.o.evalPool) {
        const data = await inSpan(
          `query_${r.kind}`,
          undefined,
          async () => labelApiBody(await labelApiData(q, r, signal)),
        );
        return { data, warnings: q.warnings };
      }
      // the worker's span continues this request's trace
      return await this.o.evalPool.evaluate({
        kind: r.kind,
        matchers: r.matchers.map((set) => set.map((m): MatcherData => [m.type, m.name, m.value])),
        name: r.name,
        start: r.start,
        end: r.end,
        traceparent: activeTraceparent(),
        queryable: q.describe(),
      }, signal);
    } catch (e) {
      throw queryError(e);
    }
  }

  /**
   * A zero or negative `timeout` has expired before the query starts: Prometheus still reports
   * a query that does not parse, else 503 "query timed out in query queue".
   */
  private expiredQuery(expr: string, instant: boolean, functions?: FunctionOptions): never {
    try {
      parseExpr(expr, functions);
    } catch (e) {
      if (e instanceof ParseError) {
        throw queryError(new PromQLError("bad_data", e.message, { cause: e }), instant);
      }
      throw e;
    }
    throw new ApiError("timeout", "query timed out in query queue");
  }

  /** Runs a query's evaluation as an entry of the active query log, when there is one. */
  private tracked<T>(expr: string, fn: () => Promise<T>): Promise<T> {
    return this.o.activeQueries ? this.o.activeQueries.track(expr, fn) : fn();
  }

  /** Runs `fn` under `--query.max-concurrent` (the gRPC Query API shares it). */
  gate<T>(fn: () => Promise<T>): Promise<T> {
    // not abortable while queued: a cancelled request fails in the engine once it runs
    return this.queryGate.run(fn);
  }

  // ---- handlers

  private async query(p: ApiParams, signal: AbortSignal): Promise<Body> {
    const time = this.timeParam(p, "time", this.now(), true);
    const e = this.engine(p);
    const expired = e.expired;
    const tenant = this.tenant(p);
    const q = this.queryable(p, tenant, 0, true);
    const expr = this.enforceQuery(p.get("query"), tenant);
    if (expired) this.expiredQuery(expr, true, e.opts.functions);
    try {
      const queued = performance.now();
      const res = await this.gate(() =>
        this.tracked(
          expr,
          () =>
            this.evaluate(
              e,
              q,
              {
                kind: "instant",
                expr,
                start: time,
                end: time,
                step: 0,
                stats: statsRequest(p, queued),
              },
              signal,
              p,
            ),
        )
      );
      this.queries.inc({ handler: "query", result: "success" });
      return res;
    } catch (e) {
      this.queries.inc({ handler: "query", result: "error" });
      throw queryError(e, true);
    }
  }

  private async queryRange(p: ApiParams, signal: AbortSignal): Promise<Body> {
    // start, then end: the first bad one is named (a missing start before a bad end)
    const start = this.timeParam(p, "start", NaN, false);
    if (Number.isNaN(start)) {
      throw new ApiError(
        "bad_data",
        `invalid parameter "start": cannot parse "" to a valid timestamp`,
      );
    }
    const end = this.timeParam(p, "end", NaN, false);
    if (Number.isNaN(end)) {
      throw new ApiError(
        "bad_data",
        `invalid parameter "end": cannot parse "" to a valid timestamp`,
      );
    }
    if (end < start) {
      throw new ApiError(
        "bad_data",
        `invalid parameter "end": end timestamp must not be before start time`,
      );
    }
    let step: number;
    const stepText = p.get("step");
    if (stepText === "") {
      // Thanos: max(range/250, --query.default-step), in whole seconds, like its UI
      const rangeSeconds = Math.trunc((end - start) / 1000);
      step = Math.max(Math.trunc(rangeSeconds / 250), Math.trunc(this.o.defaultStepMs / 1000)) *
        1000;
      if (step <= 0) step = this.o.defaultStepMs > 0 ? this.o.defaultStepMs : 1000;
    } else {
      try {
        step = parseApiDuration(stepText);
      } catch (e) {
        throw new ApiError("bad_data", `invalid parameter "step": ${(e as Error).message}`);
      }
    }
    if (step <= 0) {
      throw new ApiError(
        "bad_data",
        `invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer`,
      );
    }
    if (Math.trunc((end - start) / step) > 11000) {
      throw new ApiError(
        "bad_data",
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
      );
    }
    const e = this.engine(p);
    const expired = e.expired;
    const tenant = this.tenant(p);
    const q = this.queryable(p, tenant, step, true);
    const expr = this.enforceQuery(p.get("query"), tenant);
    if (expired) this.expiredQuery(expr, false, e.opts.functions);
    try {
      const queued = performance.now();
      const res = await this.gate(() =>
        this.tracked(
          expr,
          () =>
            this.evaluate(
              e,
              q,
              { kind: "range", expr, start, end, step, stats: statsRequest(p, queued) },
              signal,
              p,
            ),
        )
      );
      this.queries.inc({ handler: "query_range", result: "success" });
      return res;
    } catch (e) {
      this.queries.inc({ handler: "query_range", result: "error" });
      throw queryError(e);
    }
  }

  private async series(p: ApiParams, signal: AbortSignal): Promise<Body> {
    if (p.all("match[]").length === 0) {
      throw new ApiError("bad_data", "no match[] parameter provided");
    }
    const [start, end] = this.metadataRange(p);
    const tenant = this.tenant(p);
    const matchers = this.enforceSelectors(this.seriesSelectors(p, true), tenant);
    const q = this.queryable(p, tenant);
    return await this.labelApi(q, { kind: "series", matchers, start, end }, signal);
  }

  private async labels(p: ApiParams, signal: AbortSignal): Promise<Body> {
    const [start, end] = this.metadataRange(p);
    const tenant = this.tenant(p);
    const matchers = this.enforceSelectors(this.seriesSelectors(p, false), tenant);
    const q = this.queryable(p, tenant);
    return await this.labelApi(q, { kind: "labels", matchers, start, end }, signal);
  }

  private async labelValues(
    p: ApiParams,
    name: string,
    signal: AbortSignal,
    rawName = name,
  ): Promise<Body> {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
      // quoted from the bytes sent: `%FF%FE` reads "\xff\xfe" as in Prometheus
      throw new ApiError(
        "bad_data",
        `invalid label name: ${goQuoteBytes(percentDecodeBytes(rawName))}`,
      );
    }
    const [start, end] = this.metadataRange(p);
    const tenant = this.tenant(p);
    const matchers = this.enforceSelectors(this.seriesSelectors(p, false), tenant);
    const q = this.queryable(p, tenant);
    return await this.labelApi(q, { kind: "label_values", matchers, name, start, end }, signal);
  }

  private async exemplars(p: ApiParams, signal: AbortSignal): Promise<Body> {
    const start = this.timeParam(p, "start", API_MIN_TIME, false);
    const end = this.timeParam(p, "end", API_MAX_TIME, false);
    // validated like Prometheus before any endpoint is asked
    try {
      parseExpr(p.get("query"));
    } catch (e) {
      if (e instanceof ParseError) throw new ApiError("bad_data", e.message);
      throw e;
    }
    if (!this.o.exemplars) return { data: "[]" };
    const partialResponse = this.boolParam(p, "partial_response", this.o.partialResponse);
    const r = await this.o.exemplars(
      { query: p.get("query"), start, end, partialResponse },
      signal,
    );
    return { data: JSON.stringify(r.data), warnings: r.warnings };
  }

  private buildInfo(): string {
    return JSON.stringify({
      version: this.o.version,
      revision: "",
      branch: "",
      buildUser: "",
      buildDate: "",
      goVersion: `deno${Deno.version.deno}`,
    });
  }

  private flagsJSON(): string {
    const keys = Object.keys(this.o.flags).sort(compareStrings);
    return `{${keys.map((k) => `${goJSONString(k)}:${goJSONString(this.o.flags[k])}`).join(",")}}`;
  }

  private runtimeInfo(): string {
    let cwd = "";
    try {
      cwd = Deno.cwd();
    } catch { /* no read permission for the working directory */ }
    return JSON.stringify({
      startTime: this.startTime.toISOString(),
      CWD: cwd,
      goroutineCount: 0,
      GOMAXPROCS: navigator.hardwareConcurrency ?? 1,
      GOGC: "",
      GODEBUG: "",
    });
  }

  private storesJSON(): string {
    const groups = new Map<string, string[]>();
    const eps = this.o.endpoints().slice().sort((a, b) => compareStrings(a.name, b.name));
    for (const s of eps) {
      const type = s.info?.componentType ?? "store";
      const item = `{"name":${goJSONString(s.name)},"lastCheck":${
        JSON.stringify(s.lastCheck ? s.lastCheck.toISOString() : "0001-01-01T00:00:00Z")
      },"lastError":${s.lastError === null ? "null" : goJSONString(s.lastError)},"labelSets":[${
        (s.info?.labelSets ?? []).map(labelsJSON).join(",")
      }],"minTime":${s.info ? s.info.minTime : 0},"maxTime":${s.info ? s.info.maxTime : 0}}`;
      const g = groups.get(type) ?? [];
      g.push(item);
      groups.set(type, g);
    }
    const keys = [...groups.keys()].sort(compareStrings);
    return `{${keys.map((k) => `${goJSONString(k)}:[${groups.get(k)!.join(",")}]`).join(",")}}`;
  }
}

/**
 * A query's `stats` parameter: any non-empty value asks for the statistics in the answer's data
 * (Prometheus's and Thanos's query APIs); read when the query gets its slot, so the wait since
 * `queued` is its queue time.
 * https://prometheus.io/docs/prometheus/latest/querying/api/#expression-queries
 */
function statsRequest(p: ApiParams, queued: number): { queueMs: number } | undefined {
  if (p.get("stats") === "") return undefined;
  return { queueMs: performance.now() - queued };
}

/** A handler's success: pre-rendered `data` JSON (text, or UTF-8 bytes) and warnings. */
interface Body {
  /**
   * The `data` JSON: text, an evaluation worker's UTF-8 bytes, or pieces of text (a query result
   * evaluated here, written out as they are made).
   */
  data: string | Uint8Array | ReadableStream<Uint8Array> | Iterator<string>;
  warnings?: string[];
  /** `data`'s buffers belong to this answer alone (an evaluation Worker's, EvalAnswer.owned). */
  owned?: boolean;
}

/**
 * `head`, an answer's bytes (one buffer, or a worker's stream of pieces) and `tail` as a byte
 * stream that asks for each piece only when the client takes the previous one. `release`: the
 * pieces are the answer's alone and the server hands each chunk off (holding its memory by
 * itself until written), so each piece is detached when the next chunk is asked for: its memory
 * goes once written instead of at this thread's next full GC, which external-memory pressure
 * starts only after ~64 MB of such buffers (issue 19, the querier's peak).
 */
function framedBody(
  head: string,
  data: Uint8Array | ReadableStream<Uint8Array>,
  tail: string,
  release: boolean,
): ReadableStream<Uint8Array> {
  const pieces = data instanceof ReadableStream ? data.getReader() : undefined;
  let one = data instanceof Uint8Array ? data : undefined;
  /** The piece last enqueued, to release at the next pull (the server has taken it then). */
  let taken: Uint8Array | undefined;
  let stage = 0; // head, pieces, tail, end
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (taken !== undefined) {
        detachBuffer(taken);
        taken = undefined;
      }
      if (stage === 0) {
        stage = 1;
        return ctrl.enqueue(utf8.encode(head));
      }
      if (stage === 1) {
        let piece = one;
        one = undefined;
        if (pieces !== undefined) {
          const r = await pieces.read();
          piece = r.done ? undefined : r.value;
        }
        if (piece !== undefined) {
          if (release) taken = piece;
          return ctrl.enqueue(piece);
        }
        stage = 2;
      }
      if (stage === 2) {
        stage = 3;
        return ctrl.enqueue(utf8.encode(tail));
      }
      ctrl.close();
    },
    cancel: (reason) => {
      taken = one = undefined;
      return pieces?.cancel(reason);
    },
    // with no queue, a piece is pulled only once the server has taken the previous one
  }, { highWaterMark: 0 });
}

/**
 * Detaches `bytes`' buffer, freeing its memory now (or, when the runtime still holds it for a
 * write, once written). Only for bytes nothing will read again.
 */
function detachBuffer(bytes: Uint8Array): void {
  const buf = bytes.buffer;
  if (buf instanceof ArrayBuffer && !buf.detached) buf.transfer(0);
}

/**
 * `head`, the pieces and `tail` as one string when the pieces are one (a small answer keeps its
 * Content-Length), else as a byte stream that makes each piece when the client takes it: a large
 * answer never exists as one string, nor as its UTF-8 bytes.
 */
function textBody(
  head: string,
  pieces: Iterator<string>,
  tail: string,
): string | ReadableStream<Uint8Array> {
  const first = pieces.next();
  if (first.done) return head + tail;
  const second = pieces.next();
  if (second.done) return head + first.value + tail;
  const all = (function* () {
    yield head + first.value;
    yield second.value;
    for (let n = pieces.next(); !n.done; n = pieces.next()) yield n.value;
    yield tail;
  })();
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      const n = all.next();
      if (n.done) ctrl.close();
      else ctrl.enqueue(enc.encode(n.value));
    },
  });
}

const utf8 = new TextEncoder();
/** Worker answers up to this size are copied into one body (with a Content-Length). */
const FRAME_COPY_LIMIT = 1 << 20;

/** Maps engine and proxy failures to API errors. */
function queryError(e: unknown, instant = false): Error {
  if (e instanceof PromQLError) {
    // Prometheus 2.42 prefixes parse errors with the parameter for instant queries only
    if (instant && e.type === "bad_data" && e.cause instanceof ParseError) {
      return new ApiError("bad_data", `invalid parameter "query": ${e.message}`);
    }
    return e;
  }
  if (e instanceof ApiError) return e;
  if (e instanceof ParseError) return new ApiError("bad_data", e.message);
  return new ApiError("internal", e instanceof Error ? e.message : String(e));
}

/**
 * The `shard_info` parameter of query and query_range (vertical sharding by the query frontend,
 * https://thanos.io/tip/proposals-accepted/202205-vertical-query-sharding.md): the JSON of
 * Thanos' storepb.ShardInfo (`shard_index`, `total_shards`, `by`, `labels`), passed on to the
 * stores in every Series request. Empty: not sharded.
 */
export function parseShardInfo(text: string): ShardInfo | undefined {
  if (text === "") return undefined;
  const bad = (why: string) =>
    new ApiError("bad_data", `could not unmarshal parameter shard_info: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw bad("not a JSON object");
  const o = v as Record<string, unknown>;
  const int = (k: string): number => {
    const x = o[k];
    if (x === undefined || x === null) return 0;
    if (typeof x !== "number" || !Number.isSafeInteger(x)) throw bad(`${k} is not an integer`);
    return x;
  };
  const by = o.by ?? false;
  if (typeof by !== "boolean") throw bad("by is not a boolean");
  const labels = o.labels ?? [];
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== "string")) {
    throw bad("labels is not a list of strings");
  }
  const info: ShardInfo = {
    shardIndex: int("shard_index"),
    totalShards: int("total_shards"),
    by,
    labels: labels as string[],
  };
  if (info.totalShards > 0 && (info.shardIndex < 0 || info.shardIndex >= info.totalShards)) {
    throw bad(`shard_index ${info.shardIndex} is not below total_shards ${info.totalShards}`);
  }
  return info;
}

// `thanos query-frontend`'s HTTP handler (https://thanos.io/tip/components/query-frontend.md/):
// range queries are aligned, split by interval, answered from the results cache where it can
// and from the querier for the rest (in parallel, retried), and merged; label and series
// requests are split and merged the same way; everything else (instant queries, the UI) is
// passed through. A request the frontend cannot read is passed through unchanged, so the
// querier's own validation answers it with its exact status and body.

import type { Cache } from "../cache/cache.ts";
import type { Counter, Histogram, Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import type { Route } from "../server/http.ts";
import { mapConcurrent } from "../runutil/gate.ts";
import { goJSONString, labelsJSON } from "../strconv/json.ts";
import { formatGoDuration } from "../strconv/duration.ts";
import { formatFloatGo } from "../strconv/float.ts";
import {
  mergeSampleStats,
  readSampleStats,
  replaceStatsMember,
  RequestSampleStats,
  type SampleStats,
  statsMemberText,
} from "./stats.ts";
import { activeTraceparent } from "../tracing/tracer.ts";
import { ApiParams, MAX_FORM_BYTES, parseApiDuration, parseApiTime } from "../query/api.ts";
import { parseExpr } from "../promql/parser.ts";
import type { FunctionOptions } from "../promql/functions_table.ts";
import { compareLabels, compareStrings } from "../tsdb/labels.ts";
import { Downstream, type DownstreamAnswer } from "./downstream.ts";
import {
  cutMatrix,
  type Matrix,
  matrixResponseText,
  mergeMatrices,
  parseMatrix,
  parseVector,
  vectorResponseText,
  type VectorSample,
} from "./matrix.ts";
import {
  analyzeQuery,
  isShardable,
  shardInfoParam,
  shardInfos,
  sortPlanForQuery,
} from "./sharding.ts";
import type { ShardInfo } from "../storeapi/codec.ts";
import {
  type CertificateTenantField,
  DEFAULT_TENANT,
  DEFAULT_TENANT_HEADER,
  type PeerCertificate,
  TenantError,
  tenantFromRequest,
} from "../server/tenancy.ts";
import {
  type Extent,
  ExtentCache,
  mergeExtents,
  partition,
  resultsCacheMetrics,
} from "./results_cache.ts";
import {
  alignToStep,
  boundedSplitInterval,
  resolveAtModifiers,
  splitIntervalFor,
  splitLabelsRange,
  splitRange,
  type TimeRange,
} from "./split.ts";

/** Settings of the frontend (the flags of `thanos query-frontend`). */
export interface FrontendOptions {
  downstreamUrl: string;
  logger: Logger;
  registry: Registry;
  /** `--query-range.split-interval` (ms; 0 = no static splitting). */
  splitIntervalMs: number;
  /** Dynamic horizontal splitting (`--query-range.min-split-interval`, …; 0: off). */
  minSplitIntervalMs?: number;
  maxSplitIntervalMs?: number;
  horizontalShards?: number;
  /** `--query-frontend.vertical-shards` (0 or 1: no vertical sharding). */
  verticalShards?: number;
  alignRangeWithStep: boolean;
  /** 0 = no limit. */
  maxQueryLengthMs: number;
  maxQueryParallelism: number;
  maxRetries: number;
  /** `--query.max-retries-per-request`: attempts of passed-through instant queries. */
  instantMaxRetries: number;
  requestDownsampled: boolean;
  /** `--query-range.response-cache-max-freshness`. */
  maxFreshnessMs: number;
  /** `partial_response` sent when a range request has none (`--query-range.partial-response`). */
  partialResponse: boolean;
  /** The same for label and series requests (`--labels.partial-response`). */
  labelsPartialResponse: boolean;
  /** Results cache of range queries, or undefined. */
  rangeCache?: Cache;
  labelsSplitIntervalMs: number;
  labelsMaxRetries: number;
  labelsMaxQueryParallelism: number;
  labelsMaxFreshnessMs: number;
  labelsDefaultTimeRangeMs: number;
  labelsCache?: Cache;
  /** `--cache-compression-type=snappy`. */
  snappy: boolean;
  /** TTL of cached results (0: the backend's expiration). */
  cacheTtlMs?: number;
  compressResponses: boolean;
  /** 0 disables; < 0 logs every query. */
  logQueriesLongerThanMs: number;
  forwardHeaders: readonly string[];
  /**
   * `--query-frontend.tenant-header` (default `THANOS-TENANT`): the tenant's header, passed on to
   * the querier as `THANOS-TENANT` (server/tenancy.ts).
   */
  tenantHeader?: string;
  /**
   * `--query-frontend.org-id-header` (repeatable): headers naming the request's org ID for the
   * slow-query log's `org_id` (the first one set wins; then the tenant header, `THANOS-TENANT`,
   * else "anonymous", as Thanos's `extractOrgId`). When given, cached answers are keyed by the
   * org ID too (Thanos keys its results cache by it), besides the tenant.
   */
  orgIdHeaders?: readonly string[];
  /**
   * `--query-frontend.slow-query-logs-user-header`: the header whose value is the slow-query
   * log's `remote_user` ("" = the basic-auth user name, Thanos's default).
   */
  slowQueryLogsUserHeader?: string;
  /**
   * --query-frontend.force-query-stats: every query asks the querier for its statistics
   * (`stats=all`), answers carry them, and each request gets a `query stats` log line and a
   * `Server-Timing` header (Thanos v0.42's transport handler and stats middleware).
   */
  forceQueryStats?: boolean;
  /**
   * `--query-frontend.tenant-certificate-field`: the tenant is this field of the client
   * certificate instead (none: an empty tenant, as Thanos sends).
   */
  tenantCertificateField?: CertificateTenantField;
  /** Per-attempt downstream timeout (0: none). */
  downstreamTimeoutMs: number;
  enableCors: boolean;
  /**
   * Functions beyond Prometheus's stable ones the frontend parses (to split, shard and order
   * answers): `--enable-feature=promql-experimental-functions`,
   * `--query-frontend.enable-x-functions`. Absent: none; such a query goes to the querier whole.
   */
  functions?: FunctionOptions;
  /** Clock (ms) for the freshness window. */
  now?: () => number;
}

/** Who asked, for the slow-query log. */
interface SlowQueryWho {
  orgId: string;
  remoteUser: string;
  remoteAddr: string;
  /** The request body as read (a form POST's parameters), or null. */
  body: Uint8Array | null;
  res: Response;
  /** The request's sample counts with --query-frontend.force-query-stats, else null. */
  stats: RequestSampleStats | null;
}

/** The user name of a basic `Authorization` header, else "" (Go's `Request.BasicAuth`). */
function basicAuthUser(headers: Headers): string {
  const m = /^basic\s+(\S+)$/i.exec(headers.get("authorization") ?? "");
  if (!m) return "";
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return "";
  }
  const colon = text.indexOf(":");
  return colon < 0 ? "" : text.slice(0, colon);
}

/** The trace ID of the active span when it is sampled, else "". */
function sampledTraceId(): string {
  const parts = activeTraceparent().split("-");
  return parts.length === 4 && (parseInt(parts[3], 16) & 1) === 1 ? parts[1] : "";
}

/**
 * Go's `Request.ParseForm` values: a form body's parameters (POST, PUT, PATCH with
 * `application/x-www-form-urlencoded`) first, then the query string's; by name, in order.
 */
function formValues(req: Request, body: Uint8Array | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (ps: URLSearchParams) => {
    for (const [k, v] of ps) {
      const vs = out.get(k);
      if (vs) vs.push(v);
      else out.set(k, [v]);
    }
  };
  const ct = req.headers.get("content-type") ?? "";
  if (
    body !== null && ["POST", "PUT", "PATCH"].includes(req.method) &&
    /^application\/x-www-form-urlencoded\b/i.test(ct)
  ) add(new URLSearchParams(new TextDecoder().decode(body)));
  add(new URL(req.url).searchParams);
  return out;
}

/** `end - start` (ms) of the form's first `start` and `end`, 0 when either is absent or bad. */
function queryRangeMs(form: Map<string, string[]>): number {
  const start = form.get("start")?.[0] ?? "";
  const end = form.get("end")?.[0] ?? "";
  if (start === "" || end === "") return 0;
  try {
    return parseApiTime(end) - parseApiTime(start);
  } catch {
    return 0;
  }
}

/** Thanos' downsampling resolutions (ms), lowest first. */
const RESOLUTIONS = [0, 5 * 60_000, 3600_000];

/** Range query parameters the frontend sets itself; every other one is passed on. */
const RANGE_OWN = new Set(["query", "start", "end", "step"]);

interface PartAnswer {
  matrix?: Matrix;
  warnings: string[];
  /** The querier's sample counts, when it was asked for them. */
  stats?: SampleStats | null;
  /** A downstream error to return as is. */
  error?: DownstreamAnswer;
}

/** The frontend's HTTP routes and their state. */
export class QueryFrontend {
  readonly #o: FrontendOptions;
  readonly #down: Downstream;
  readonly #now: () => number;
  readonly #queries: Counter;
  readonly #splits: Counter;
  readonly #downsampledExtra: Counter;
  readonly #duration: Histogram;
  readonly #shardable: Counter;
  readonly #rangeCache?: ExtentCache;
  readonly #labelsCache?: Cache;

  constructor(o: FrontendOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#down = new Downstream({
      url: o.downstreamUrl,
      // Thanos's frontend always forwards the tenant header (cmd/thanos/query_frontend.go)
      forwardHeaders: [...o.forwardHeaders, DEFAULT_TENANT_HEADER],
      timeoutMs: o.downstreamTimeoutMs,
      registry: o.registry,
    });
    this.#queries = o.registry.counter({
      name: "thanos_query_frontend_queries_total",
      help: "Total queries passing through query frontend",
      labelNames: ["op"],
    });
    for (const op of ["query_range", "query", "label_names", "label_values", "series"]) {
      this.#queries.inc({ op }, 0);
    }
    this.#splits = o.registry.counter({
      name: "thanos_frontend_split_queries_total",
      help: "Total number of underlying query requests after the split by interval is applied.",
    });
    this.#splits.inc(0);
    this.#downsampledExtra = o.registry.counter({
      name: "thanos_frontend_downsampled_extra_queries_total",
      help: "Total number of additional queries for downsampled data.",
    });
    this.#downsampledExtra.inc(0);
    this.#duration = o.registry.histogram({
      name: "cortex_frontend_query_range_duration_seconds",
      help: "Total time spent in seconds doing query range requests.",
      labelNames: ["method", "status_code"],
    });
    this.#shardable = o.registry.counter({
      name: "thanos_frontend_sharding_middleware_queries_total",
      help: "Total number of queries analyzed by the sharding middleware",
      labelNames: ["shardable"],
    });
    this.#shardable.inc({ shardable: "true" }, 0);
    this.#shardable.inc({ shardable: "false" }, 0);
    const m = resultsCacheMetrics(o.registry);
    if (o.rangeCache) {
      this.#rangeCache = new ExtentCache(o.rangeCache, "frontend.query-range", o.snappy, m);
    }
    this.#labelsCache = o.labelsCache;
  }

  /**
   * `headers` with the tenant in `THANOS-TENANT` as the querier reads it, the configured tenant
   * header removed (Thanos's `InternalTenancyConversionTripper`, on every request it sends down:
   * the tenant header's value, else `THANOS-TENANT`'s, else `default-tenant`; or the
   * certificate field's value).
   */
  #tenantHeaders(headers: Headers, cert: PeerCertificate | undefined): Headers {
    const custom = this.#o.tenantHeader ?? DEFAULT_TENANT_HEADER;
    const out = new Headers(headers);
    let tenant = "";
    try {
      tenant = tenantFromRequest(
        headers,
        custom,
        DEFAULT_TENANT,
        this.#o.tenantCertificateField,
        cert,
      );
    } catch (e) {
      // Thanos ignores the error and sends an empty tenant (the querier's default then applies)
      if (!(e instanceof TenantError)) throw e;
    }
    out.set(DEFAULT_TENANT_HEADER, tenant);
    if (custom.toLowerCase() !== DEFAULT_TENANT_HEADER.toLowerCase()) out.delete(custom);
    return out;
  }

  /**
   * The org ID of a request as Thanos's frontend reads it (cmd/thanos/query_frontend.go
   * `extractOrgId`): the first of the org-ID headers, the custom tenant header and
   * `THANOS-TENANT` with a value, else "anonymous".
   */
  orgId(headers: Headers): string {
    const custom = this.#o.tenantHeader ?? DEFAULT_TENANT_HEADER;
    const names = [...(this.#o.orgIdHeaders ?? [])];
    if (custom.toLowerCase() !== DEFAULT_TENANT_HEADER.toLowerCase()) names.push(custom);
    names.push(DEFAULT_TENANT_HEADER);
    for (const h of names) {
      const v = headers.get(h);
      if (v) return v;
    }
    return "anonymous";
  }

  /** The routes: the API paths the frontend handles, then a pass-through for everything. */
  routes(): Route[] {
    const both = ["GET", "POST"];
    const wrap = (
      name: string,
      fn: (
        req: Request,
        params: Record<string, string>,
        signal: AbortSignal,
        cacheUser: string,
        stats: RequestSampleStats | null,
      ) => Promise<Response>,
    ): Route["handler"] =>
    async (req, params, info) => {
      const start = performance.now();
      const stats = this.#o.forceQueryStats ? new RequestSampleStats() : null;
      // read before the tenant conversion, as Thanos does ahead of its tripperware
      const orgId = this.orgId(req.headers);
      const basicUser = basicAuthUser(req.headers);
      const headers = this.#tenantHeaders(req.headers, info.peerCertificate);
      // tenants never share cached answers; with org-ID headers, org IDs do not either
      const cacheUser = (headers.get(DEFAULT_TENANT_HEADER) ?? "") +
        ((this.#o.orgIdHeaders ?? []).length > 0 ? `:${orgId}` : "");
      let body: Uint8Array | null = null;
      if (req.body !== null) {
        // bodies are read with the querier's cap (10 MiB, Prometheus's form limit) and the
        // server's read timeout, never from the announced length; HttpError answers 413/408
        body = await info.readBody(MAX_FORM_BYTES);
        req = new Request(req, { body: body as Uint8Array<ArrayBuffer>, headers });
      } else req = new Request(req, { headers });
      let res = await fn(req, params, info.signal, cacheUser, stats);
      const took = performance.now() - start;
      if (stats !== null) {
        // no querier reports its wall time to this frontend (Thanos's neither): 0
        res = new Response(res.body, res);
        res.headers.set(
          "Server-Timing",
          `querier_wall_time;dur=0, response_time;dur=${formatFloatGo(took)}`,
        );
      }
      const who = {
        orgId,
        remoteUser: this.#o.slowQueryLogsUserHeader
          ? req.headers.get(this.#o.slowQueryLogsUserHeader) ?? ""
          : basicUser,
        remoteAddr: info.remoteAddr,
        body,
        res,
        stats,
      };
      this.#logSlow(req, took, who);
      if (stats !== null) this.#logQueryStats(req, took, who, stats);
      if (name === "query_range") {
        this.#duration.observe(
          { method: req.method, status_code: String(res.status) },
          took / 1000,
        );
      }
      return this.#compress(req, res);
    };
    return [
      {
        method: both,
        path: "/api/v1/query_range",
        handler: wrap(
          "query_range",
          (req, _, s, user, stats) => this.#queryRange(req, s, user, stats),
        ),
      },
      {
        method: both,
        path: "/api/v1/query",
        handler: wrap("query", (req, _, s, _u, stats) => this.#instantQuery(req, s, stats)),
      },
      {
        method: both,
        path: "/api/v1/labels",
        handler: wrap(
          "labels",
          (req, _, s, user) => this.#labels(req, "label_names", "/api/v1/labels", s, user),
        ),
      },
      {
        method: "GET",
        path: "/api/v1/label/:name/values",
        handler: wrap("label_values", (req, _, s, user) => {
          const path = new URL(req.url).pathname;
          return this.#labels(req, "label_values", path, s, user);
        }),
      },
      {
        method: both,
        path: "/api/v1/series",
        handler: wrap(
          "series",
          (req, _, s, user) => this.#labels(req, "series", "/api/v1/series", s, user),
        ),
      },
      {
        method: ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"],
        path: "/*",
        name: "proxy",
        handler: wrap("proxy", (req, _, s) => this.#down.proxy(req, new URL(req.url).pathname, s)),
      },
    ];
  }

  #cors(): Record<string, string> {
    if (!this.#o.enableCors) return {};
    return {
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Allow-Headers":
        "Accept, Accept-Encoding, Authorization, Content-Type, Origin",
      "Access-Control-Allow-Methods": "GET, OPTIONS",
      "Access-Control-Expose-Headers": "Date",
    };
  }

  #json(status: number, text: string, extra: Record<string, string> = {}): Response {
    return new Response(text, {
      status,
      headers: { "content-type": "application/json", ...this.#cors(), ...extra },
    });
  }

  #relay(a: DownstreamAnswer): Response {
    const h: Record<string, string> = {};
    const ct = a.headers.get("content-type");
    if (ct !== null) h["content-type"] = ct;
    const cc = a.headers.get("cache-control");
    if (cc !== null) h["cache-control"] = cc;
    return new Response(a.text, { status: a.status, headers: { ...this.#cors(), ...h } });
  }

  /**
   * The `slow query detected` line of Thanos v0.42's frontend (internal/cortex/frontend/transport
   * handler.go `reportSlowQuery`): requests to `/api/v1` paths slower than
   * `--query-frontend.log-queries-longer-than` (all of them when it is < 0), with the org ID,
   * the user, Grafana's dashboard and panel headers, the trace ID, every form parameter (query
   * string and form body, repeated values joined by ",") and the queried range.
   */
  #logSlow(req: Request, tookMs: number, who: SlowQueryWho): void {
    const limit = this.#o.logQueriesLongerThanMs;
    if (limit === 0 || (limit > 0 && tookMs <= limit)) return;
    const url = new URL(req.url);
    if (!url.pathname.includes("/api/v1")) return;
    const fields: Record<string, unknown> = {
      org_id: who.orgId,
      method: req.method,
      host: url.host,
      path: url.pathname,
      remote_user: who.remoteUser,
      remote_addr: who.remoteAddr,
      time_taken_ms: Math.trunc(tookMs),
      grafana_dashboard_uid: req.headers.get("X-Dashboard-Uid") || "-",
      grafana_panel_id: req.headers.get("X-Panel-Id") || "-",
      trace_id: who.res.headers.get("X-Thanos-Trace-Id") || sampledTraceId() || "-",
    };
    const form = formValues(req, who.body);
    for (const [k, v] of form) fields[`param_${k}`] = v.join(",");
    const range = queryRangeMs(form);
    if (range !== 0) {
      fields.query_range_hours = Math.trunc(range / 3600_000);
      fields.query_range_human = formatGoDuration(range);
    }
    if (who.stats !== null) {
      fields.peak_samples = who.stats.peakSamples;
      fields.total_samples_loaded = who.stats.totalSamples;
    }
    this.#o.logger.info("slow query detected", fields);
  }

  /**
   * The `query stats` line of Thanos v0.42's frontend with --query-frontend.force-query-stats
   * (handler.go `reportQueryStats`), for every request: the querier's sample counts of its
   * answers; wall time, series and chunk bytes stay 0 as in Thanos, whose queriers do not report
   * them to the frontend.
   */
  #logQueryStats(req: Request, tookMs: number, who: SlowQueryWho, stats: RequestSampleStats) {
    const url = new URL(req.url);
    const fields: Record<string, unknown> = {
      org_id: who.orgId,
      component: "query-frontend",
      method: req.method,
      path: url.pathname,
      remote_user: basicAuthUser(req.headers),
      remote_addr: who.remoteAddr,
      response_time: formatGoDuration(Math.round(tookMs)),
      query_wall_time_seconds: 0,
      fetched_series_count: 0,
      fetched_chunks_bytes: 0,
    };
    const form = formValues(req, who.body);
    for (const [k, v] of form) fields[`param_${k}`] = v.join(",");
    fields.peak_samples = stats.peakSamples;
    fields.total_samples_loaded = stats.totalSamples;
    const range = queryRangeMs(form);
    if (range !== 0) {
      fields.query_range_hours = Math.trunc(range / 3600_000);
      fields.query_range_human = formatGoDuration(range);
    }
    this.#o.logger.info("query stats", fields);
  }

  #compress(req: Request, res: Response): Response {
    if (
      !this.#o.compressResponses || res.body === null || res.headers.has("content-encoding") ||
      !/\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")
    ) return res;
    const headers = new Headers(res.headers);
    headers.set("content-encoding", "gzip");
    headers.append("vary", "Accept-Encoding");
    headers.delete("content-length");
    const body = res.body.pipeThrough(new CompressionStream("gzip"));
    return new Response(body, { status: res.status, headers });
  }

  // ---- range queries

  async #queryRange(
    req: Request,
    signal: AbortSignal,
    cacheUser: string,
    stats: RequestSampleStats | null,
  ): Promise<Response> {
    this.#queries.inc({ op: "query_range" });
    const original = req.clone();
    const { p, pairs } = await requestParams(req);
    const query = p.get("query");
    let start: number, end: number, step: number;
    try {
      start = parseApiTime(p.get("start"));
      end = parseApiTime(p.get("end"));
      step = parseApiDuration(p.get("step"));
      parseExpr(query, this.#o.functions);
    } catch {
      // the querier reports it, with its own status and message
      return this.#down.proxy(original, "/api/v1/query_range", signal);
    }
    if (end < start || step <= 0 || Math.trunc((end - start) / step) > 11000) {
      return this.#down.proxy(original, "/api/v1/query_range", signal);
    }
    if (this.#o.maxQueryLengthMs > 0 && end - start > this.#o.maxQueryLengthMs) {
      return this.#json(
        400,
        `{"status":"error","errorType":"bad_data","error":${
          goJSONString(
            `the query time range exceeds the limit (query length: ${
              formatGoDuration(end - start)
            }, limit: ${formatGoDuration(this.#o.maxQueryLengthMs)})`,
          )
        }}`,
      );
    }
    let range: TimeRange = { start, end };
    if (this.#o.alignRangeWithStep) range = alignToStep(range, step);
    const at = resolveAtModifiers(query, range.start, range.end, this.#o.functions);
    const interval = boundedSplitInterval(range, splitIntervalFor(this.#o, range));

    // parameters passed on to every part, and the options that make a different answer
    const rest = new URLSearchParams();
    for (const [k, v] of pairs) if (!RANGE_OWN.has(k)) rest.append(k, v);
    if (!p.has("partial_response")) rest.set("partial_response", String(this.#o.partialResponse));
    // statistics: forced ones always; with a results cache Thanos asks the querier only for
    // forced ones and answers only those (its results cache middleware), else the client's
    const force = stats !== null;
    const statsParam = this.#rangeCache !== undefined
      ? (force ? "all" : "")
      : (force ? "all" : p.get("stats"));
    if (statsParam === "") rest.delete("stats");
    else rest.set("stats", statsParam);
    const now = this.#now();
    const dedupOff = p.get("dedup") === "false";
    const cacheable = this.#rangeCache !== undefined && !dedupOff &&
      p.all("storeMatch[]").length === 0 &&
      (at.maxAt === null || at.maxAt <= now - this.#o.maxFreshnessMs);
    // the cache key's parts but the downsampling level (which the downsampled retry changes)
    // the tenant (and org ID) first: tenants never share cached answers (Cortex keys by org ID)
    const keyOf = (msr: string) =>
      [
        cacheUser,
        at.query,
        step,
        interval,
        ((range.start % step) + step) % step,
        resolutionIndex(msr),
        rest.get("partial_response"),
        p.all("replicaLabels[]").sort().join(","),
        p.get("engine"),
      ].join(":");
    const headers = this.#down.forwarded(req);
    const parts = splitRange(range, step, interval);
    this.#splits.inc(parts.length);
    const maxCacheTime = Math.floor((now - this.#o.maxFreshnessMs) / step) * step;
    // vertical sharding after the split, before the cache (Thanos' middleware order): every
    // part is asked once per shard, each shard's answer cached under its own key
    const shards = this.#shards(at.query, parts.length);
    const tasks = parts.flatMap((part) => shards.map((shard) => ({ part, shard })));
    const run = (base: URLSearchParams) => {
      const keyBase = keyOf(base.get("max_source_resolution") ?? "");
      return mapConcurrent(
        tasks,
        Math.max(1, this.#o.maxQueryParallelism),
        ({ part, shard }) => {
          const params = shard ? withShard(base, shard) : base;
          return cacheable && part.start <= maxCacheTime
            ? this.#cachedPart(
              part,
              step,
              at.query,
              params,
              headers,
              shard ? `${keyBase}:${shard.totalShards}:${shard.shardIndex}` : keyBase,
              interval,
              maxCacheTime,
              signal,
            )
            : this.#fetchPart(part, step, at.query, params, headers, signal);
        },
      );
    };

    const answers = await run(rest);
    const failed = answers.find((a) => a.error !== undefined);
    if (failed?.error) return this.#relay(failed.error);
    let matrix = mergeMatrices(answers.map((a) => a.matrix ?? []));
    // Thanos's downsampled middleware merges every run's answer: their statistics add up
    const counted = [...answers];
    const warnings = [...new Set(answers.flatMap((a) => a.warnings))];
    if (
      shards[0] !== undefined && this.#o.requestDownsampled && matrix.length === 0 &&
      !rest.has("max_source_resolution")
    ) {
      // --query-range.request-downsampled with vertical shards: an empty shard is normal, so
      // only an empty merged answer is asked again for downsampled data (5m, then 1h), every
      // part and shard of it, through the cache under that resolution's key (Thanos'
      // downsampled middleware sees the whole answer, above split, shards and cache)
      for (const res of RESOLUTIONS.slice(1)) {
        this.#downsampledExtra.inc();
        const more = new URLSearchParams(rest);
        more.set("max_source_resolution", `${res / 1000}s`);
        const again = await run(more);
        const bad = again.find((a) => a.error !== undefined);
        if (bad?.error) return this.#relay(bad.error);
        counted.push(...again);
        for (const w of again.flatMap((a) => a.warnings)) {
          if (!warnings.includes(w)) warnings.push(w);
        }
        matrix = mergeMatrices(again.map((a) => a.matrix ?? []));
        if (matrix.length > 0) break;
      }
    }

    const extra: Record<string, string> = warnings.length > 0
      ? { "cache-control": "no-store" }
      : {};
    const merged = statsParam === "" ? null : mergeSampleStats(counted.map((a) => a.stats));
    stats?.record(merged);
    return this.#json(200, matrixResponseText(matrix, warnings, statsMemberText(merged)), extra);
  }

  /**
   * The shards a query is run in: one per `--query-frontend.vertical-shards` when the query is
   * shardable, else one unsharded run ([undefined]). Counted once per request the sharding
   * middleware sees (`requests`: a range query's split parts, as in Thanos).
   */
  #shards(query: string, requests = 1): (ShardInfo | undefined)[] {
    const n = this.#o.verticalShards ?? 0;
    if (n <= 0) return [undefined];
    const a = analyzeQuery(query, this.#o.functions);
    const ok = isShardable(a);
    this.#shardable.inc({ shardable: String(ok) }, requests);
    return ok ? shardInfos(a, n) : [undefined];
  }

  // ---- instant queries

  /**
   * Instant queries pass through, except shardable ones with vertical sharding: one request per
   * shard, their vectors merged (Thanos' instant-query codec: deduplicated by labels, ordered by
   * labels, or by value under `sort`/`sort_desc`, or as they come under `topk`/`bottomk`). A
   * missing `time` is set to now, so every shard evaluates at the same instant.
   */
  async #instantQuery(
    req: Request,
    signal: AbortSignal,
    stats: RequestSampleStats | null,
  ): Promise<Response> {
    this.#queries.inc({ op: "query" });
    const tries = this.#o.instantMaxRetries;
    const sharding = (this.#o.verticalShards ?? 0) > 0;
    const statsAsked = stats !== null || new URL(req.url).searchParams.get("stats");
    if (!sharding && !statsAsked && req.method === "GET") {
      return this.#down.proxy(req, "/api/v1/query", signal, tries);
    }
    const original = req.clone();
    const { p, pairs } = await requestParams(req);
    const query = p.get("query");
    const shards = sharding ? this.#shards(query) : [undefined];
    const statsParam = stats !== null ? "all" : p.get("stats");
    if (statsParam === "") {
      if (shards[0] === undefined) {
        return this.#down.proxy(original, "/api/v1/query", signal, tries);
      }
    } else if (shards[0] === undefined) {
      // asked for statistics: Thanos's codec re-encodes the answer with its own form of them
      const params = new URLSearchParams(pairs);
      params.set("stats", statsParam);
      const a = await this.#down.get(
        "/api/v1/query",
        params,
        this.#down.forwarded(req),
        tries,
        signal,
      );
      if (a.status !== 200) return this.#relay(a);
      let counts: SampleStats | null = null;
      try {
        counts = readSampleStats((JSON.parse(a.text) as { data?: unknown }).data);
      } catch { /* relayed as it came */ }
      stats?.record(counts);
      return this.#relay({ ...a, text: replaceStatsMember(a.text, counts) });
    }
    const rest = new URLSearchParams();
    for (const [k, v] of pairs) if (k !== "shard_info") rest.append(k, v);
    if (statsParam !== "") rest.set("stats", statsParam);
    if (!p.has("time")) rest.set("time", formatSeconds(this.#now()));
    const headers = this.#down.forwarded(req);
    const answers = await mapConcurrent(
      shards,
      Math.max(1, this.#o.maxQueryParallelism),
      (shard) => this.#down.get("/api/v1/query", withShard(rest, shard!), headers, tries, signal),
    );
    const vectors: VectorSample[][] = [];
    const matrices: Matrix[] = [];
    const warnings = new Set<string>();
    const counts: (SampleStats | null)[] = [];
    for (const a of answers) {
      if (a.status !== 200) return this.#relay(a);
      let body: { status?: string; data?: { resultType?: string }; warnings?: string[] };
      try {
        body = JSON.parse(a.text);
      } catch {
        return this.#relay(a);
      }
      if (body.status !== "success") return this.#relay(a);
      for (const w of body.warnings ?? []) warnings.add(w);
      counts.push(readSampleStats(body.data));
      const v = parseVector(body.data);
      const m = v === null ? parseMatrix(body.data) : null;
      // scalars and strings are never sharded; anything else: the first shard's answer
      if (v === null && m === null) return this.#relay(answers[0]);
      if (v !== null) vectors.push(v);
      if (m !== null) matrices.push(m);
    }
    const extra: Record<string, string> = warnings.size > 0 ? { "cache-control": "no-store" } : {};
    const merged = mergeSampleStats(counts);
    stats?.record(merged);
    const member = statsMemberText(merged);
    if (matrices.length > 0) {
      return this.#json(
        200,
        matrixResponseText(mergeMatrices(matrices), [...warnings], member),
        extra,
      );
    }
    return this.#json(
      200,
      vectorResponseText(
        mergeVectors(vectors, sortPlanForQuery(query, this.#o.functions)),
        [...warnings],
        member,
      ),
      extra,
    );
  }

  async #fetchPart(
    part: TimeRange,
    step: number,
    query: string,
    rest: URLSearchParams,
    headers: Headers,
    signal: AbortSignal,
  ): Promise<PartAnswer & { noStore?: boolean }> {
    const params = new URLSearchParams(rest);
    params.set("query", query);
    params.set("start", formatSeconds(part.start));
    params.set("end", formatSeconds(part.end));
    params.set("step", formatSeconds(step));
    const a = await this.#down.get(
      "/api/v1/query_range",
      params,
      headers,
      this.#o.maxRetries,
      signal,
    );
    if (a.status !== 200) return { warnings: [], error: a };
    let body: { status?: string; data?: unknown; warnings?: string[] };
    try {
      body = JSON.parse(a.text);
    } catch {
      return { warnings: [], error: a };
    }
    const matrix = parseMatrix(body.data);
    if (body.status !== "success" || matrix === null) return { warnings: [], error: a };
    if (
      this.#o.requestDownsampled && matrix.length === 0 && !rest.has("max_source_resolution") &&
      !rest.has("shard_info")
    ) {
      // --query-range.request-downsampled: an empty raw answer is asked again for downsampled
      // data (5m, then 1h), below the results cache like Thanos' downsampled middleware (a
      // shard's part is not: the merged answer of all shards is, in #queryRange)
      for (const res of RESOLUTIONS.slice(1)) {
        this.#downsampledExtra.inc();
        const more = new URLSearchParams(rest);
        more.set("max_source_resolution", `${res / 1000}s`);
        const d = await this.#fetchPart(part, step, query, more, headers, signal);
        if (d.error || (d.matrix && d.matrix.length > 0)) return d;
      }
    }
    return {
      matrix,
      warnings: body.warnings ?? [],
      stats: readSampleStats(body.data),
      noStore: /no-store/.test(a.headers.get("cache-control") ?? "") ||
        (body.warnings ?? []).length > 0,
    };
  }

  async #cachedPart(
    part: TimeRange,
    step: number,
    query: string,
    rest: URLSearchParams,
    headers: Headers,
    keyBase: string,
    interval: number,
    maxCacheTime: number,
    signal: AbortSignal,
  ): Promise<PartAnswer> {
    const cache = this.#rangeCache!;
    const index = Math.floor(part.start / Math.max(1, interval || Infinity));
    const key = `${keyBase}:${Number.isFinite(index) ? index : 0}`;
    const extents = await cache.get(key);
    const { missing, cached } = partition(part, step, extents);
    const fetched = await Promise.all(
      missing.map((m) => this.#fetchPart(m, step, query, rest, headers, signal)),
    );
    const failed = fetched.find((f) => f.error !== undefined);
    if (failed) return failed;
    const warnings = fetched.flatMap((f) => f.warnings);
    const noStore = fetched.some((f) => f.noStore);
    if (missing.length > 0 && !noStore) {
      const added: Extent[] = [];
      missing.forEach((m, i) => {
        // never cache what is newer than the freshness window
        const end = Math.min(m.end, maxCacheTime);
        if (end < m.start) return;
        added.push({ start: m.start, end, matrix: cutMatrix(fetched[i].matrix!, m.start, end) });
      });
      if (added.length > 0) {
        await cache.put(key, mergeExtents([...extents, ...added], step), this.#o.cacheTtlMs ?? 0);
      }
    }
    // cached extents count no samples (Cortex extracts per-step counts, which none sends)
    const zero = rest.has("stats") ? { totalQueryableSamples: 0, peakSamples: 0 } : null;
    return {
      matrix: mergeMatrices([...cached, ...fetched.map((f) => f.matrix!)]),
      warnings,
      stats: mergeSampleStats([zero, ...fetched.map((f) => f.stats)]),
    };
  }

  // ---- labels and series

  async #labels(
    req: Request,
    op: "label_names" | "label_values" | "series",
    path: string,
    signal: AbortSignal,
    cacheUser: string,
  ): Promise<Response> {
    this.#queries.inc({ op });
    const original = req.clone();
    const { p, pairs } = await requestParams(req);
    const now = this.#now();
    let start: number, end: number;
    try {
      end = p.get("end") === "" ? now : parseApiTime(p.get("end"));
      start = p.get("start") === ""
        ? end - this.#o.labelsDefaultTimeRangeMs
        : parseApiTime(p.get("start"));
    } catch {
      return this.#down.proxy(original, path, signal);
    }
    if (end < start || (op === "series" && p.all("match[]").length === 0)) {
      return this.#down.proxy(original, path, signal);
    }
    const rest = new URLSearchParams();
    for (const [k, v] of pairs) if (k !== "start" && k !== "end") rest.append(k, v);
    if (!p.has("partial_response")) {
      rest.set("partial_response", String(this.#o.labelsPartialResponse));
    }
    const headers = this.#down.forwarded(req);
    const interval = boundedSplitInterval({ start, end }, this.#o.labelsSplitIntervalMs);
    const parts = splitLabelsRange({ start, end }, interval);
    this.#splits.inc(parts.length);
    const keyBase = `${cacheUser}:${path}:${
      [...rest].sort().map(([k, v]) => `${k}=${v}`).join("&")
    }:${interval}`;
    const freshBefore = now - this.#o.labelsMaxFreshnessMs;
    const answers = await mapConcurrent(
      parts,
      Math.max(1, this.#o.labelsMaxQueryParallelism),
      async (part): Promise<{ data?: unknown[]; warnings: string[]; error?: DownstreamAnswer }> => {
        // only whole past intervals are cached: their answer cannot change
        const whole = interval > 0 && part.start % interval === 0 &&
          part.end === part.start + interval - 1 && part.end <= freshBefore;
        const fullKey = `${keyBase}:${Math.floor(part.start / (interval || 1))}`;
        const key = ExtentCache.hashKey(fullKey);
        if (whole && this.#labelsCache) {
          const hit = (await this.#labelsCache.fetch([key])).get(key);
          if (hit !== undefined) {
            try {
              // the full key is stored with the data: a hash collision is a miss
              const v = JSON.parse(new TextDecoder().decode(hit)) as { k: string; d: unknown[] };
              if (v.k === fullKey) return { data: v.d, warnings: [] };
            } catch { /* a miss */ }
          }
        }
        const params = new URLSearchParams(rest);
        params.set("start", formatSeconds(part.start));
        params.set("end", formatSeconds(part.end));
        const a = await this.#down.get(path, params, headers, this.#o.labelsMaxRetries, signal);
        if (a.status !== 200) return { warnings: [], error: a };
        let body: { status?: string; data?: unknown; warnings?: string[] };
        try {
          body = JSON.parse(a.text);
        } catch {
          return { warnings: [], error: a };
        }
        if (body.status !== "success" || !Array.isArray(body.data)) {
          return { warnings: [], error: a };
        }
        const warnings = body.warnings ?? [];
        if (whole && this.#labelsCache && warnings.length === 0) {
          await this.#labelsCache.store(
            new Map([[
              key,
              new TextEncoder().encode(JSON.stringify({ k: fullKey, d: body.data })),
            ]]),
            this.#o.cacheTtlMs ?? 0,
          );
        }
        return { data: body.data, warnings };
      },
    );
    const failed = answers.find((a) => a.error !== undefined);
    if (failed?.error) return this.#relay(failed.error);
    const warnings = [...new Set(answers.flatMap((a) => a.warnings))];
    let data: string;
    if (op === "series") {
      const seen = new Map<string, string[]>();
      for (const a of answers) {
        for (const m of a.data as Record<string, string>[]) {
          const ls = Object.entries(m).flat();
          seen.set(ls.join("\xff"), ls);
        }
      }
      data = `[${[...seen.values()].sort(compareLabels).map(labelsJSON).join(",")}]`;
    } else {
      const all = new Set<string>();
      for (const a of answers) for (const v of a.data as string[]) all.add(v);
      data = `[${[...all].sort(compareStrings).map(goJSONString).join(",")}]`;
    }
    let text = `{"status":"success","data":${data}`;
    if (warnings.length > 0) text += `,"warnings":[${warnings.map(goJSONString).join(",")}]`;
    return this.#json(200, text + "}", warnings.length > 0 ? { "cache-control": "no-store" } : {});
  }
}

/** The parameters of a request (form body, then URL query) and all of them as pairs. */
async function requestParams(req: Request): Promise<{ p: ApiParams; pairs: [string, string][] }> {
  const url = new URL(req.url);
  let body = new URLSearchParams();
  const ct = req.headers.get("content-type") ?? "";
  if (req.method === "POST" && ct.includes("application/x-www-form-urlencoded")) {
    body = new URLSearchParams(await req.text());
  }
  return { p: new ApiParams(body, url.searchParams), pairs: [...body, ...url.searchParams] };
}

/** `params` plus the `shard_info` of `shard`. */
function withShard(params: URLSearchParams, shard: ShardInfo): URLSearchParams {
  const out = new URLSearchParams(params);
  out.set("shard_info", shardInfoParam(shard));
  return out;
}

/** A sample value's text as a number (the API writes `+Inf`, `-Inf`, `NaN`). */
function sampleNumber(v: string): number {
  return v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v);
}

/**
 * The shards' vectors as one (Thanos' vectorMerge): a series answered twice keeps its later
 * sample; ordered per the query's sort plan (labels in the querier's label order).
 */
export function mergeVectors(
  parts: readonly VectorSample[][],
  plan: ReturnType<typeof sortPlanForQuery>,
): VectorSample[] {
  const byKey = new Map<string, VectorSample>();
  for (const v of parts) {
    for (const s of v) {
      const key = s.labels.join("\xff");
      const had = byKey.get(key);
      if (had === undefined || had.point[0] <= s.point[0]) byKey.set(key, s);
    }
  }
  const out = [...byKey.values()];
  if (plan === "merge-only") return out;
  if (plan === "values-asc" || plan === "values-desc") {
    const sign = plan === "values-asc" ? 1 : -1;
    return out.sort((a, b) => {
      const x = sampleNumber(a.point[1]);
      const y = sampleNumber(b.point[1]);
      return x < y ? -sign : x > y ? sign : 0;
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

/** ms as the API's float seconds. */
export function formatSeconds(ms: number): string {
  const a = Math.abs(ms);
  const sec = Math.floor(a / 1000);
  const rem = a - sec * 1000;
  return (ms < 0 ? "-" : "") + (rem === 0 ? String(sec) : `${sec}.${String(rem).padStart(3, "0")}`);
}

/** Index of the downsampling level a `max_source_resolution` allows (part of the cache key). */
function resolutionIndex(v: string): number {
  if (v === "" || v === "auto") return 0;
  let ms: number;
  try {
    ms = parseApiDuration(v);
  } catch {
    return 0;
  }
  let i = 0;
  while (i + 1 < RESOLUTIONS.length && RESOLUTIONS[i + 1] <= ms) i++;
  return i;
}

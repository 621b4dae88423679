// Request parameters of the querier HTTP API against their configured defaults, asserted exactly:
// - `--no-query.partial-response` makes a failing store fail the query when the request has no
//   `partial_response` parameter (https://thanos.io/tip/components/query.md/#partial-response);
// - a range query may have at most 11,000 steps: Prometheus rejects `(end - start) / step >
//   11000` with "exceeded maximum resolution of 11,000 points per timeseries"
//   (https://github.com/prometheus/prometheus/blob/v2.42.0/web/api/v1/api.go, queryRange).
// The API is built from the parsed `thanos query` flags, the way components/query/main.ts does.

import { assertEquals } from "../helpers/assert.ts";
import { serveRoute } from "../helpers/query_api.ts";
import { ApiParams, QueryApi } from "../../query/api.ts";
import { type ProxyEndpoint, StoreProxy } from "../../storeapi/proxy.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { directRequestInfo, type Route } from "../../server/http.ts";
import { Flags, parseFlags } from "../../components/flags.ts";
import { QUERY_COMMAND } from "../../components/query/flags.ts";
import { queryConfig } from "../../components/query/config.ts";
import { QueryTelemetry } from "../../query/telemetry.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";

const INFO = { componentType: "store", labelSets: [], minTime: 0, maxTime: 10 ** 13 };

/** A store with `up{job="node"}` = 1 at 0s, 15s, …, 600s. */
function goodStore(): ProxyEndpoint {
  const app = new XorAppender();
  for (let t = 0; t <= 600_000; t += 15_000) app.append(t, 1);
  const chunk = {
    minTime: 0,
    maxTime: 600_000,
    encoding: ChunkEncoding.XOR,
    data: app.bytes().slice(),
  };
  return {
    name: "good:10901",
    info: INFO,
    client: {
      async *series() {
        yield { labels: labelsFromObject({ __name__: "up", job: "node" }), chunks: [chunk] };
      },
      labelNames: () => Promise.resolve({ names: ["__name__", "job"], warnings: [] }),
      labelValues: () => Promise.resolve({ values: ["node"], warnings: [] }),
    },
  };
}

function failingStore(): ProxyEndpoint {
  const fail = () => Promise.reject(new Error("store exploded"));
  return {
    name: "bad:10901",
    info: INFO,
    client: {
      // deno-lint-ignore require-yield
      async *series() {
        throw new Error("store exploded");
      },
      labelNames: fail,
      labelValues: fail,
    },
  };
}

/** The API routes of `thanos query <argv>` over `stores`. */
function api(
  argv: string[],
  stores: ProxyEndpoint[],
  now?: () => number,
  registry = new Registry(),
): Route[] {
  const cfg = queryConfig(new Flags(QUERY_COMMAND, parseFlags(QUERY_COMMAND, argv)));
  return new QueryApi({
    proxy: new StoreProxy({ endpoints: () => stores }),
    logger: new Logger("error", "logfmt", {}, () => {}),
    registry,
    endpoints: () => [],
    replicaLabels: cfg.replicaLabels,
    dedupFunc: cfg.dedupFunc,
    partialResponse: cfg.partialResponse,
    queryTimeoutMs: cfg.queryTimeoutMs,
    lookbackDeltaMs: cfg.lookbackDeltaMs,
    maxSamples: cfg.maxSamples,
    maxConcurrent: cfg.maxConcurrent,
    maxConcurrentSelect: cfg.maxConcurrentSelect,
    defaultStepMs: cfg.defaultStepMs,
    defaultEvaluationIntervalMs: cfg.defaultEvaluationIntervalMs,
    autoDownsampling: cfg.autoDownsampling,
    enableCors: cfg.enableCors,
    flags: cfg.flagValues,
    version: "test",
    promql: cfg.promql,
    metadataDefaultTimeRangeMs: cfg.metadataDefaultTimeRangeMs,
    telemetry: {
      histogram: new QueryTelemetry(registry, cfg.telemetry),
      tenantHeader: "THANOS-TENANT",
      defaultTenant: "default-tenant",
    },
    now,
  }).routes();
}

async function call(
  routes: Route[],
  path: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const res = await serveRoute(routes, new Request(`http://querier${path}?${query}`, { headers }));
  return { status: res.status, body: await res.text() };
}

/** The proxy's message for the failing store (Thanos's wording, with the store's Info). */
const STORE_ERROR =
  "receive series from Addr: bad:10901 LabelSets:  Mint: 0 Maxt: 10000000000000: store exploded";

/** What the endpoints reading series answer when the store's failure is fatal. */
const QUERY_ERROR = `expanding series: ${STORE_ERROR}`;

const QUERIES = [
  ["/api/v1/query", "query=up&time=300"],
  ["/api/v1/query_range", "query=up&start=0&end=600&step=300"],
  ["/api/v1/series", "match[]=up&start=0&end=600"],
] as const;

Deno.test("the query.partial-response flag: on by default, off with --no-", () => {
  const cfg = (argv: string[]) =>
    queryConfig(new Flags(QUERY_COMMAND, parseFlags(QUERY_COMMAND, argv)));
  assertEquals(cfg([]).partialResponse, true);
  assertEquals(cfg(["--no-query.partial-response"]).partialResponse, false);
  assertEquals(cfg(["--query.partial-response"]).partialResponse, true);
});

Deno.test("--no-query.partial-response: a failing store fails queries without the parameter", async () => {
  const routes = api(["--no-query.partial-response"], [goodStore(), failingStore()]);
  for (const [path, query] of QUERIES) {
    const r = await call(routes, path, query);
    assertEquals(
      [r.status, JSON.parse(r.body)],
      [422, { status: "error", errorType: "execution", error: QUERY_ERROR }],
      `${path}?${query}`,
    );
    // explicitly asking for partial response overrides the flag
    const p = await call(routes, path, `${query}&partial_response=true`);
    assertEquals(p.status, 200, `${path}?${query}&partial_response=true`);
    assertEquals(JSON.parse(p.body).warnings, [STORE_ERROR]);
  }
});

Deno.test("partial response by default: the good store's data with the failure as a warning", async () => {
  const routes = api([], [goodStore(), failingStore()]);
  const r = await call(routes, "/api/v1/query", "query=up&time=300");
  assertEquals([r.status, JSON.parse(r.body)], [200, {
    status: "success",
    data: {
      resultType: "vector",
      result: [{ metric: { __name__: "up", job: "node" }, value: [300, "1"] }],
    },
    warnings: [STORE_ERROR],
  }]);
  // partial_response=false overrides the default
  const off = await call(routes, "/api/v1/query", "query=up&time=300&partial_response=false");
  assertEquals(
    [off.status, JSON.parse(off.body)],
    [422, { status: "error", errorType: "execution", error: QUERY_ERROR }],
  );
});

Deno.test("range queries: 11,000 steps are accepted, 11,001 rejected with Prometheus' message", async () => {
  const routes = api([], [goodStore()]);
  // (end - start) / step = 11000: 11,001 evaluation timestamps 0s, 1s, …, 11000s
  const ok = await call(routes, "/api/v1/query_range", "query=vector(7)&start=0&end=11000&step=1");
  assertEquals(ok.status, 200);
  const body = JSON.parse(ok.body);
  assertEquals(body.status, "success");
  assertEquals(body.data.resultType, "matrix");
  assertEquals(body.data.result.length, 1);
  const values = body.data.result[0].values as [number, string][];
  assertEquals(values.length, 11_001);
  assertEquals([values[0], values[5_000], values[11_000]], [[0, "7"], [5000, "7"], [11000, "7"]]);
  // the same count with a larger step and a non-zero start
  const ok2 = await call(
    routes,
    "/api/v1/query_range",
    "query=vector(7)&start=1000&end=111000&step=10",
  );
  assertEquals(ok2.status, 200);
  assertEquals(JSON.parse(ok2.body).data.result[0].values.length, 11_001);

  const rejected = {
    status: "error",
    errorType: "bad_data",
    error: "exceeded maximum resolution of 11,000 points per timeseries. " +
      "Try decreasing the query resolution (?step=XX)",
  };
  for (
    const query of [
      "query=vector(7)&start=0&end=11001&step=1",
      "query=vector(7)&start=1000&end=111010&step=10",
    ]
  ) {
    const r = await call(routes, "/api/v1/query_range", query);
    assertEquals([r.status, JSON.parse(r.body)], [400, rejected], query);
  }
  // the step count is truncated (Go's integer Duration division): 11000.5 steps is 11000
  const truncated = await call(
    routes,
    "/api/v1/query_range",
    "query=vector(7)&start=0&end=11000.5&step=1",
  );
  assertEquals(truncated.status, 200);
  assertEquals(JSON.parse(truncated.body).data.result[0].values.length, 11_001);
});

Deno.test("range queries: the first bad of start, end names the answer's parameter", async () => {
  const routes = api([], [goodStore()]);
  const error = async (query: string) => {
    const r = await call(routes, "/api/v1/query_range", query);
    assertEquals(r.status, 400, query);
    return JSON.parse(r.body).error;
  };
  // a missing start comes before a bad end, as in Prometheus's and Thanos's queryRange
  assertEquals(
    await error("query=up&end=sum(x)&step=15"),
    'invalid parameter "start": cannot parse "" to a valid timestamp',
  );
  assertEquals(
    await error("query=up&start=abc&end=xyz&step=15"),
    'invalid parameter "start": cannot parse "abc" to a valid timestamp',
  );
  assertEquals(
    await error("query=up&start=0&end=xyz&step=15"),
    'invalid parameter "end": cannot parse "xyz" to a valid timestamp',
  );
  assertEquals(
    await error("query=up&start=0&step=15"),
    'invalid parameter "end": cannot parse "" to a valid timestamp',
  );
});

Deno.test("x-functions: unknown by default and with the prometheus engine, known with thanos", async () => {
  const q = "query=xrate(up[1m])&time=300";
  const unknown = [400, {
    status: "error",
    errorType: "bad_data",
    error: 'invalid parameter "query": 1:1: parse error: unknown function with name "xrate"',
  }];
  const answer = async (argv: string[], extra = "") => {
    const r = await call(api(argv, [goodStore()]), "/api/v1/query", q + extra);
    return [r.status, JSON.parse(r.body)];
  };
  assertEquals(await answer([]), unknown);
  assertEquals(await answer([], "&engine=thanos"), unknown);
  // Thanos: the flag "only has effect when used with Thanos engine"
  assertEquals(await answer(["--query.enable-x-functions"]), unknown);
  const ok = await answer(["--query.enable-x-functions"], "&engine=thanos");
  assertEquals(ok[0], 200);
  // a constant counter: xrate 0, without the metric name
  assertEquals(ok[1].data.result, [{ metric: { job: "node" }, value: [300, "0"] }]);
  const byDefault = await answer(["--query.enable-x-functions", "--query.promql-engine=thanos"]);
  assertEquals(byDefault, ok);
  assertEquals(
    await answer(
      ["--query.enable-x-functions", "--query.promql-engine=thanos"],
      "&engine=prometheus",
    ),
    unknown,
  );
});

Deno.test("the engine parameter: prometheus or thanos, else bad_data as Thanos answers", async () => {
  const r = await call(api([], [goodStore()]), "/api/v1/query", "query=up&time=300&engine=foo");
  assertEquals([r.status, JSON.parse(r.body)], [400, {
    status: "error",
    errorType: "bad_data",
    error: "'foo' bad engine",
  }]);
  const ok = await call(
    api([], [goodStore()]),
    "/api/v1/query_range",
    "query=up&start=0&end=600&step=300&engine=thanos",
  );
  assertEquals(ok.status, 200);
});

Deno.test("--enable-feature=promql-experimental-functions makes the experimental functions known", async () => {
  const q = 'query=sort_by_label(up, "job")&time=300';
  const off = await call(api([], [goodStore()]), "/api/v1/query", q);
  assertEquals([off.status, JSON.parse(off.body).error], [
    400,
    'invalid parameter "query": 1:1: parse error: function "sort_by_label" is not enabled',
  ]);
  const on = await call(
    api(["--enable-feature=promql-experimental-functions"], [goodStore()]),
    "/api/v1/query",
    q,
  );
  assertEquals(on.status, 200);
  assertEquals(JSON.parse(on.body).data.result, [{
    metric: { __name__: "up", job: "node" },
    value: [300, "1"],
  }]);
  const mad = await call(
    api(["--enable-feature=promql-experimental-functions"], [goodStore()]),
    "/api/v1/query",
    "query=mad_over_time(up[5m])&time=300",
  );
  assertEquals(JSON.parse(mad.body).data.result, [{ metric: { job: "node" }, value: [300, "0"] }]);
});

/** A store recording the time range of every Series and LabelNames request it gets. */
function recordingStore(seen: [number, number][]): ProxyEndpoint {
  const s = goodStore();
  return {
    ...s,
    client: {
      ...s.client,
      series(req: { minTime: number; maxTime: number }, signal: AbortSignal) {
        seen.push([req.minTime, req.maxTime]);
        return s.client.series(req as never, signal);
      },
      labelNames(req: { start: number; end: number }, signal: AbortSignal) {
        seen.push([req.start, req.end]);
        return s.client.labelNames(req as never, signal);
      },
    },
  } as ProxyEndpoint;
}

Deno.test("--query.metadata.default-time-range: series and labels without start/end ask for the last range", async () => {
  const now = 10_000_000;
  for (
    const [argv, want] of [
      [[], null],
      [["--query.metadata.default-time-range=1h"], [now - 3_600_000, now]],
    ] as const
  ) {
    for (const [path, query] of [["/api/v1/series", "match[]=up"], ["/api/v1/labels", ""]]) {
      const seen: [number, number][] = [];
      const r = await call(api([...argv], [recordingStore(seen)], () => now), path, query);
      assertEquals(r.status, 200, `${path} ${argv}`);
      assertEquals(seen.length, 1, `${path} ${argv}`);
      if (want === null) {
        // all time: far outside any data
        assertEquals(seen[0][0] < -1e15 && seen[0][1] > 1e15, true, JSON.stringify(seen));
      } else assertEquals(seen[0], want, `${path} ${argv}`);
    }
  }
  // a given start or end is kept; the other one defaults
  const seen: [number, number][] = [];
  const routes = api(["--query.metadata.default-time-range=1h"], [recordingStore(seen)], () => now);
  await call(routes, "/api/v1/series", `match[]=up&start=${(now - 60_000) / 1000}`);
  assertEquals(seen[0], [now - 60_000, now]);
  const bad = await call(routes, "/api/v1/series", `match[]=up&end=${(now - 7_200_000) / 1000}`);
  assertEquals([bad.status, JSON.parse(bad.body).error], [
    400,
    "end timestamp must not be before start time",
  ]);
});

Deno.test("query telemetry: each successful query's duration by series and samples bucket and tenant", async () => {
  const registry = new Registry();
  const routes = api(
    [
      "--query.telemetry.request-duration-seconds-quantiles=0.5",
      "--query.telemetry.request-duration-seconds-quantiles=1000",
      "--query.telemetry.request-series-seconds-quantiles=1",
      "--query.telemetry.request-series-seconds-quantiles=5",
      "--query.telemetry.request-samples-quantiles=40",
      "--query.telemetry.request-samples-quantiles=50",
    ],
    [goodStore()],
    undefined,
    registry,
  );
  // one series of 41 samples in one chunk: series_le "1" (the first bound not below 1),
  // samples_le "50"
  assertEquals((await call(routes, "/api/v1/query", "query=up&time=300")).status, 200);
  assertEquals(
    (await call(routes, "/api/v1/query_range", "query=up&start=0&end=600&step=60", {
      "THANOS-TENANT": "team-a",
    })).status,
    200,
  );
  // a failed query is not observed
  await call(routes, "/api/v1/query", "query=rate(up[1m]&time=300");
  const text = await registry.expose();
  const lines = text.split("\n").filter((l) =>
    l.startsWith("thanos_store_api_query_duration_seconds")
  );
  const count = lines.filter((l) => l.includes("_count{")).sort();
  assertEquals(count, [
    'thanos_store_api_query_duration_seconds_count{samples_le="50",series_le="1",tenant="default-tenant"} 1',
    'thanos_store_api_query_duration_seconds_count{samples_le="50",series_le="1",tenant="team-a"} 1',
  ]);
  // the duration flag's values are the buckets
  assertEquals(
    lines.filter((l) => l.includes("_bucket{") && l.includes("default-tenant")).map((l) =>
      /le="([^"]+)"} /.exec(l)![1]
    ),
    ["0.5", "1000", "+Inf"],
  );
});

Deno.test("telemetry flags must be ascending numbers", () => {
  let msg = "";
  try {
    queryConfig(
      new Flags(
        QUERY_COMMAND,
        parseFlags(QUERY_COMMAND, [
          "--query.telemetry.request-samples-quantiles=10",
          "--query.telemetry.request-samples-quantiles=5",
        ]),
      ),
    );
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(
    msg,
    "--query.telemetry.request-samples-quantiles: the values must be ascending numbers",
  );
});

Deno.test("request parameters: a form body value comes before the URL's, all() lists both", () => {
  const p = new ApiParams(
    new URLSearchParams("query=from_body&match[]=b1&empty="),
    new URLSearchParams("query=from_url&time=5&match[]=u1&match[]=u2&empty=x"),
  );
  assertEquals(p.get("query"), "from_body");
  assertEquals(p.get("time"), "5");
  assertEquals(p.get("empty"), "");
  assertEquals(p.get("absent"), "");
  assertEquals([p.has("empty"), p.has("time"), p.has("absent")], [true, true, false]);
  assertEquals(p.all("match[]"), ["b1", "u1", "u2"]);
  assertEquals(p.all("absent"), []);
  // a caller's changes to the list do not change the parameters
  p.all("match[]").push("x");
  assertEquals(p.all("match[]"), ["b1", "u1", "u2"]);
});

Deno.test("request parameters come from the server's query text when it gives one", async () => {
  const req = new Request("http://h/api/v1/query?query=from_url");
  const info = directRequestInfo(req);
  assertEquals((await ApiParams.from(req, info)).get("query"), "from_url");
  const sliced = await ApiParams.from(req, { ...info, search: "?query=a%20b&time=5" });
  assertEquals([sliced.get("query"), sliced.get("time")], ["a b", "5"]);
  assertEquals((await ApiParams.from(req, { ...info, search: "" })).has("query"), false);
});

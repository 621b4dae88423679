// Hostile requests to the querier's HTTP API (tests/helpers/fuzz.ts): every query and metadata
// endpoint, by GET and form POST, with Prometheus's and Thanos's parameters given odd values
// (unparsable times and durations, ±Inf, huge ranges, broken selectors, bad shard_info JSON,
// label names that are not names), must answer in Prometheus's JSON shape with a user-facing
// status — never a 500 "internal" error, never a hang. (Which message for which input is
// compared with a real Prometheus in tests/e2e/query_prometheus_test.ts.)

import { assert, assertEquals } from "../helpers/assert.ts";
import { below, fuzz, pick } from "../helpers/fuzz.ts";
import { minuteSeriesStore, serveRoute, testQueryApi } from "../helpers/query_api.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { Route } from "../../server/http.ts";

const VALUES = [
  "",
  "abc",
  "-1",
  "0",
  "1",
  "1e300",
  "-1e300",
  "NaN",
  "Inf",
  "-Inf",
  "2023-01-01T00:00:00Z",
  "0001-01-01T00:00:00Z",
  "10000-01-01T00:00:00Z",
  "1700000000.5",
  "9999999999999",
  "-9999999999999",
  "5m",
  "1h",
  "-5m",
  "1ms",
  "1e-9",
  "true",
  "false",
  "{",
  "x",
  'x{id="0001"}',
  "rate(x[5m])",
  "sum by (id) (x)",
  '{__name__=~".+"}',
  '{a=""}',
  "%",
  "\u0000",
  "x[5m]",
  "x[5m:1s]",
  "{}",
  '{"shard_index":1,"total_shards":0}',
  '{"shard_index":-1,"total_shards":2,"by":true,"labels":["id"]}',
  "[]",
  "null",
  "3600",
  "11001",
  "auto",
  "raw",
  "thanos",
  "prometheus",
  "a,b",
  "😀",
];

const PARAMS: Record<string, string[]> = {
  "/api/v1/query": [
    "query",
    "time",
    "timeout",
    "dedup",
    "partial_response",
    "replicaLabels[]",
    "max_source_resolution",
    "engine",
    "analyze",
    "lookback_delta",
    "stats",
    "shard_info",
    "explain",
  ],
  "/api/v1/query_range": [
    "query",
    "start",
    "end",
    "step",
    "timeout",
    "dedup",
    "partial_response",
    "max_source_resolution",
    "lookback_delta",
    "stats",
    "shard_info",
  ],
  "/api/v1/series": ["match[]", "start", "end", "limit", "dedup", "partial_response"],
  "/api/v1/labels": ["match[]", "start", "end", "limit"],
  "/api/v1/label/NAME/values": ["match[]", "start", "end", "limit"],
  "/api/v1/query_exemplars": ["query", "start", "end"],
};

const VALID: Record<string, string> = {
  "/api/v1/query": "query=sum by (id) (rate(x[5m]))&time=3600",
  "/api/v1/query_range": "query=x&start=0&end=3600&step=60",
  "/api/v1/series": "match[]=x",
  "/api/v1/labels": "",
  "/api/v1/label/NAME/values": "",
  "/api/v1/query_exemplars": "query=x&start=0&end=3600",
};

const NAMES = ["__name__", "id", "%ff", "a%20b", "%F0%9F%98%80", "x.y", "a-b"];

async function call(
  routes: Route[],
  url: string,
  post: boolean,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const req = post
    ? new Request(u.origin + u.pathname, {
      method: "POST",
      body: u.search.slice(1),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    })
    : new Request(url);
  const res = await serveRoute(routes, req);
  return { status: res.status, body: await res.text() };
}

Deno.test("fuzz: odd API parameters get Prometheus's JSON and a user-facing status", async () => {
  const routes = testQueryApi({
    proxy: new StoreProxy({ endpoints: () => [minuteSeriesStore(20, 120)] }),
    now: () => 7_200_000,
  }).routes();
  const statuses = new Map<number, number>();
  await fuzz(
    "api",
    13,
    2_500,
    (r) => {
      const path = pick(r, Object.keys(PARAMS));
      // half of the requests start from a valid one, so evaluation is reached too
      const params = new URLSearchParams(below(r, 2) === 0 ? VALID[path] : "");
      for (let k = below(r, 5); k >= 0; k--) params.append(pick(r, PARAMS[path]), pick(r, VALUES));
      return {
        url: `http://querier${path.replace("NAME", pick(r, NAMES))}?${params}`,
        // label values is GET only, as in Prometheus
        post: !path.includes("NAME") && below(r, 4) === 0,
      };
    },
    async ({ url, post }) => {
      const res = await call(routes, url, post);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const body = JSON.parse(res.body);
      if (res.status === 200) {
        assertEquals(body.status, "success", res.body);
        assert("data" in body, res.body);
        return;
      }
      assert([400, 422, 503].includes(res.status), `status ${res.status}: ${res.body}`);
      assertEquals(body.status, "error", res.body);
      assert(["bad_data", "execution", "timeout", "canceled"].includes(body.errorType), res.body);
      assert(typeof body.error === "string" && body.error !== "", res.body);
    },
  );
  // both outcomes were exercised, not only the parameter checks
  assert((statuses.get(200) ?? 0) > 200, `statuses ${JSON.stringify([...statuses])}`);
  assert((statuses.get(400) ?? 0) > 200, `statuses ${JSON.stringify([...statuses])}`);
});

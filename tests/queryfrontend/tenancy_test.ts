// The frontend's tenancy, as Thanos v0.42's (cmd/thanos/query_frontend.go, pkg/tenancy
// `InternalTenancyConversionTripper`): every request sent to the querier carries the tenant in
// `THANOS-TENANT` (the configured tenant header's value, else THANOS-TENANT's, else
// `default-tenant`), the configured header itself is not passed on, and cached answers are
// keyed by tenant: one tenant's cached range or labels answer never answers another tenant.

import { assertEquals } from "../helpers/assert.ts";
import { freePort } from "../helpers/ports.ts";
import { Registry } from "../../metrics/registry.ts";
import { Logger } from "../../logging/log.ts";
import { InMemoryCache } from "../../cache/inmemory.ts";
import { QueryFrontend } from "../../queryfrontend/frontend.ts";
import { directRequestInfo } from "../../server/http.ts";

interface Seen {
  path: string;
  tenant: string | null;
  custom: string | null;
}

/** A querier answering a one-point matrix per request (or a label list), recording headers. */
function fakeQuerier() {
  const seen: Seen[] = [];
  const ac = new AbortController();
  const port = freePort();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen() {} },
    (req) => {
      const u = new URL(req.url);
      seen.push({
        path: u.pathname,
        tenant: req.headers.get("thanos-tenant"),
        custom: req.headers.get("x-scope-orgid"),
      });
      const tenant = req.headers.get("thanos-tenant") ?? "";
      const data = u.pathname === "/api/v1/query_range"
        ? `{"resultType":"matrix","result":[{"metric":{"tenant_id":"${tenant}"},"values":[[${
          u.searchParams.get("start")
        },"1"]]}]}`
        : u.pathname === "/api/v1/query"
        ? `{"resultType":"vector","result":[]}`
        : `["${tenant}"]`;
      return new Response(`{"status":"success","data":${data}}`, {
        headers: { "content-type": "application/json" },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

const NOW = 1_700_000_000_000;

function frontend(url: string, tenantHeader?: string): QueryFrontend {
  const registry = new Registry();
  const cache = (name: string) =>
    new InMemoryCache({
      name,
      config: { maxSizeBytes: 0, maxSizeItems: 100, validityMs: 0 },
      registry,
    });
  return new QueryFrontend({
    downstreamUrl: url,
    logger: new Logger("error"),
    registry,
    splitIntervalMs: 3600_000,
    alignRangeWithStep: false,
    maxQueryLengthMs: 0,
    maxQueryParallelism: 1,
    maxRetries: 1,
    instantMaxRetries: 1,
    requestDownsampled: false,
    maxFreshnessMs: 60_000,
    partialResponse: true,
    labelsPartialResponse: true,
    rangeCache: cache("range"),
    labelsSplitIntervalMs: 3600_000,
    labelsMaxRetries: 1,
    labelsMaxQueryParallelism: 1,
    labelsMaxFreshnessMs: 60_000,
    labelsDefaultTimeRangeMs: 3600_000,
    labelsCache: cache("labels"),
    snappy: false,
    compressResponses: false,
    logQueriesLongerThanMs: 0,
    forwardHeaders: [],
    downstreamTimeoutMs: 0,
    enableCors: false,
    tenantHeader,
    now: () => NOW,
  });
}

async function get(
  f: QueryFrontend,
  path: string,
  qs: string,
  headers: Record<string, string>,
): Promise<string> {
  const route = f.routes().find((r) => r.path === path)!;
  const req = new Request(`http://fe${path}?${qs}`, { headers });
  const res = await route.handler(req, {}, directRequestInfo(req));
  assertEquals(res.status, 200);
  return await res.text();
}

// a whole hour well before the freshness window (one split part, cacheable)
const HOUR = Math.floor(NOW / 3600_000) * 3600_000 - 7200_000;
const RANGE = `query=up&start=${HOUR / 1000}&end=${(HOUR + 3540_000) / 1000}&step=60`;
const LABELS = `start=${HOUR / 1000}&end=${(HOUR + 3599_999) / 1000}`;

Deno.test("frontend tenancy: THANOS-TENANT is always sent; the custom header is not", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url, "X-Scope-OrgID");
    await get(f, "/api/v1/query_range", RANGE, { "X-Scope-OrgID": "team-a" });
    await get(f, "/api/v1/query", "query=up", { "X-Scope-OrgID": "team-a" });
    await get(f, "/*", "", { "X-Scope-OrgID": "team-a" });
    await get(f, "/api/v1/labels", LABELS, { "THANOS-TENANT": "team-b" });
    await get(f, "/api/v1/series", `match[]=up&${LABELS}`, {});
    assertEquals(fake.seen.map((s) => [s.tenant, s.custom]), [
      ["team-a", null],
      ["team-a", null],
      ["team-a", null],
      ["team-b", null],
      ["default-tenant", null],
    ]);
  } finally {
    await fake.close();
  }
});

Deno.test("frontend tenancy: cached answers are per tenant", async () => {
  const fake = fakeQuerier();
  try {
    const f = frontend(fake.url);
    const a = await get(f, "/api/v1/query_range", RANGE, { "THANOS-TENANT": "team-a" });
    const b = await get(f, "/api/v1/query_range", RANGE, { "THANOS-TENANT": "team-b" });
    // team-a's second ask comes from the cache; team-b's answer is its own
    assertEquals(await get(f, "/api/v1/query_range", RANGE, { "THANOS-TENANT": "team-a" }), a);
    assertEquals(JSON.parse(a).data.result[0].metric.tenant_id, "team-a");
    assertEquals(JSON.parse(b).data.result[0].metric.tenant_id, "team-b");
    const la = await get(f, "/api/v1/labels", LABELS, { "THANOS-TENANT": "team-a" });
    const lb = await get(f, "/api/v1/labels", LABELS, {});
    assertEquals(await get(f, "/api/v1/labels", LABELS, { "THANOS-TENANT": "team-a" }), la);
    assertEquals([JSON.parse(la).data, JSON.parse(lb).data], [["team-a"], ["default-tenant"]]);
    assertEquals(fake.seen.map((s) => `${s.path} ${s.tenant}`), [
      "/api/v1/query_range team-a",
      "/api/v1/query_range team-b",
      "/api/v1/labels team-a",
      "/api/v1/labels default-tenant",
    ]);
  } finally {
    await fake.close();
  }
});

// The querier API's tenancy (https://thanos.io/tip/components/query.md/#tenancy) in process: the
// tenant comes from the configured header, else `THANOS-TENANT`, else the default tenant; it is
// handed to every store call; with enforcement every selector of query / query_range and every
// `match[]` of series, labels and label values carries `<label>="<tenant>"`, and a store holding
// two tenants' series answers only the asking tenant's. Invalid tenants are refused.

import { assert, assertEquals } from "../helpers/assert.ts";
import { type QueryTenancy } from "../../query/api.ts";
import { serveRoute, testQueryApi } from "../helpers/query_api.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { SeriesItem, StoreCallContext } from "../../storeapi/server.ts";
import type { LabelNamesRequest, LabelValuesRequest, SeriesRequest } from "../../storeapi/codec.ts";
import type { Route } from "../../server/http.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import type { Matcher } from "../../tsdb/matchers.ts";
import { ChunkEncoding, type Labels } from "../../tsdb/series.ts";

const SERIES: Labels[] = [
  labelsFromObject({ __name__: "up", job: "api", tenant_id: "team-a" }),
  labelsFromObject({ __name__: "up", job: "db", tenant_id: "team-b" }),
  labelsFromObject({ __name__: "up", job: "web", tenant_id: "default-tenant" }),
];

interface Seen {
  tenant: string | undefined;
  matchers: string[];
}

/** A store over SERIES (one sample each at t=0) that records each call's tenant and matchers. */
function recordingStore(seen: Seen[]) {
  const select = (ms: readonly Matcher[]) =>
    SERIES.filter((l) => {
      const o = labelsToObject(l);
      return ms.every((m) => m.matches(o[m.name] ?? ""));
    });
  const note = (ms: readonly Matcher[], call?: StoreCallContext) =>
    seen.push({ tenant: call?.tenant, matchers: ms.map(String).sort() });
  return {
    name: "rec:10901",
    info: { componentType: "store", labelSets: [], minTime: -(10 ** 13), maxTime: 10 ** 13 },
    client: {
      async *series(req: SeriesRequest, _s: AbortSignal, call?: StoreCallContext) {
        note(req.matchers, call);
        for (const labels of select(req.matchers)) {
          const app = new XorAppender();
          app.append(0, 1);
          yield {
            labels,
            chunks: [{ minTime: 0, maxTime: 0, encoding: ChunkEncoding.XOR, data: app.bytes() }],
          } satisfies SeriesItem;
        }
      },
      labelNames: (req: LabelNamesRequest, _s: AbortSignal, call?: StoreCallContext) => {
        note(req.matchers, call);
        const names = new Set<string>();
        for (const l of select(req.matchers)) for (let i = 0; i < l.length; i += 2) names.add(l[i]);
        return Promise.resolve({ names: [...names].sort(), warnings: [] });
      },
      labelValues: (req: LabelValuesRequest, _s: AbortSignal, call?: StoreCallContext) => {
        note(req.matchers, call);
        const values = select(req.matchers).map((l) => labelsToObject(l)[req.label]);
        return Promise.resolve({ values: [...new Set(values)].sort(), warnings: [] });
      },
    },
  };
}

function api(seen: Seen[], tenancy?: Partial<QueryTenancy>): Route[] {
  const proxy = new StoreProxy({ endpoints: () => [recordingStore(seen)] });
  return testQueryApi({
    proxy,
    tenancy: tenancy === undefined ? undefined : {
      header: "THANOS-TENANT",
      defaultTenant: "default-tenant",
      enforce: false,
      labelName: "tenant_id",
      ...tenancy,
    },
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

const q = (s: string) => encodeURIComponent(s);

/** The `job` values of a vector or matrix answer. */
function jobs(body: string): string[] {
  const j = JSON.parse(body);
  assertEquals(j.status, "success", body);
  return j.data.result.map((r: { metric: Record<string, string> }) => r.metric.job).sort();
}

Deno.test("tenancy: enforced on query and query_range; the tenant reaches the store", async () => {
  const seen: Seen[] = [];
  const routes = api(seen, { enforce: true });
  const a = { "THANOS-TENANT": "team-a" };
  let r = await call(routes, "/api/v1/query", `query=${q('up{tenant_id="team-b"}')}&time=1`, a);
  assertEquals(r.status, 200, r.body);
  assertEquals(jobs(r.body), ["api"]);
  assertEquals(seen, [{ tenant: "team-a", matchers: ['__name__="up"', 'tenant_id="team-a"'] }]);
  seen.length = 0;
  r = await call(
    routes,
    "/api/v1/query_range",
    `query=${q("sum by (job) (up)")}&start=0&end=1&step=1`,
    {
      "thanos-tenant": "team-b",
    },
  );
  assertEquals(jobs(r.body), ["db"]);
  assertEquals(seen.map((s) => s.tenant), ["team-b"]);
  // no header: the default tenant, and its series
  seen.length = 0;
  r = await call(routes, "/api/v1/query", `query=up&time=1`);
  assertEquals(jobs(r.body), ["web"]);
  assertEquals(seen, [{
    tenant: "default-tenant",
    matchers: ['__name__="up"', 'tenant_id="default-tenant"'],
  }]);
});

Deno.test("tenancy: enforced on series, labels and label values (no match[]: the tenant's)", async () => {
  const seen: Seen[] = [];
  const routes = api(seen, { enforce: true });
  const a = { "THANOS-TENANT": "team-a" };
  let r = await call(routes, "/api/v1/series", `match[]=${q('{__name__="up"}')}`, a);
  assertEquals(r.status, 200, r.body);
  assertEquals(JSON.parse(r.body).data, [{ __name__: "up", job: "api", tenant_id: "team-a" }]);
  r = await call(routes, "/api/v1/label/job/values", "", a);
  assertEquals(JSON.parse(r.body).data, ["api"]);
  r = await call(routes, "/api/v1/label/job/values", `match[]=${q('up{tenant_id=~".+"}')}`, a);
  assertEquals(JSON.parse(r.body).data, ["api"]);
  r = await call(routes, "/api/v1/labels", "", a);
  assertEquals(JSON.parse(r.body).data, ["__name__", "job", "tenant_id"]);
  assertEquals(seen.map((s) => s.tenant), ["team-a", "team-a", "team-a", "team-a"]);
  assertEquals(seen.map((s) => s.matchers), [
    ['__name__="up"', 'tenant_id="team-a"'],
    ['tenant_id="team-a"'],
    ['__name__="up"', 'tenant_id="team-a"'],
    ['tenant_id="team-a"'],
  ]);
  // the checks on the user's own selectors still apply
  r = await call(routes, "/api/v1/series", `match[]=${q('{job=""}')}`, a);
  assertEquals(r.status, 400, r.body);
});

Deno.test("tenancy: a custom header wins over THANOS-TENANT; off: nothing injected", async () => {
  const seen: Seen[] = [];
  const routes = api(seen, { header: "X-Scope-OrgID" });
  const r = await call(routes, "/api/v1/query", "query=up&time=1", {
    "X-Scope-OrgID": "team-a",
    "THANOS-TENANT": "team-b",
  });
  assertEquals(jobs(r.body), ["api", "db", "web"]);
  assertEquals(seen, [{ tenant: "team-a", matchers: ['__name__="up"'] }]);
  seen.length = 0;
  await call(routes, "/api/v1/labels", "", { "THANOS-TENANT": "team-b" });
  assertEquals(seen, [{ tenant: "team-b", matchers: [] }]);
  // without tenancy options (an API built without flags): the default tenant is still sent
  seen.length = 0;
  await call(api(seen), "/api/v1/label/job/values", "");
  assertEquals(seen, [{ tenant: "default-tenant", matchers: [] }]);
});

Deno.test("tenancy: an invalid tenant and an unparsable enforced query are bad_data", async () => {
  const seen: Seen[] = [];
  const routes = api(seen, { enforce: true });
  for (const path of ["/api/v1/query", "/api/v1/labels", "/api/v1/series"]) {
    const r = await call(routes, path, "query=up&match[]=up", { "THANOS-TENANT": "a/b" });
    assertEquals(r.status, 400, path);
    assertEquals(JSON.parse(r.body).error, "tenant name not valid", path);
  }
  const r = await call(routes, "/api/v1/query", `query=${q("sum(")}`, {});
  assertEquals(r.status, 400);
  const err: string = JSON.parse(r.body).error;
  assert(err.startsWith("error parsing query string, when enforcing tenenacy: "), err);
  assertEquals(seen, []);
});

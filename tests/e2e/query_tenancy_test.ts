// The querier's tenancy end to end (https://thanos.io/tip/components/query.md/#tenancy): a real
// store gateway (`main.ts store`) serves a bucket holding three tenants' blocks, each with the
// tenant in its `tenant_id` external label as Thanos receive writes them; a real querier
// (`main.ts query`, evaluating in its Workers) with `--query.enforce-tenancy` answers query,
// query_range, series, labels and label values with the asking tenant's series only, the default
// tenant's without a header, and a custom `--query.tenant-header`; a StoreAPI server in this test
// records the `thanos-tenant` gRPC metadata every call of the querier carries. A real query
// frontend (`--query-frontend.tenant-header`, results cache) in front of an enforcing querier
// gives each tenant its own answers, cached per tenant.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import { smallDataset, startQuerier, T0, withLabels } from "../helpers/query_e2e.ts";
import {
  type RecordingProxy,
  startFrontend,
  startRecordingProxy,
} from "../helpers/frontend_e2e.ts";
import { createBlocksFromSeries } from "../../tsdb/block_writer.ts";
import { type SeriesItem, type StoreBackend, StoreServer } from "../../storeapi/server.ts";
import type { StoreInfo } from "../../storeapi/codec.ts";
import type { Matcher } from "../../tsdb/matchers.ts";

const TENANTS = ["team-a", "team-b", "default-tenant"];
const END = T0 / 1000 + 3 * 3600;

interface Seen {
  method: string;
  tenant: string | undefined;
  matchers: string[];
}

/** A StoreAPI with no series that records each call's tenant metadata and matchers. */
class RecordingBackend implements StoreBackend {
  readonly seen: Seen[] = [];
  info(): Promise<StoreInfo> {
    return Promise.resolve({
      componentType: "store",
      labelSets: [],
      minTime: -(2 ** 53),
      maxTime: 2 ** 53,
      storeApi: true,
    });
  }
  private note(method: string, ms: readonly Matcher[], tenant?: string) {
    this.seen.push({ method, tenant, matchers: ms.map(String).sort() });
  }
  // deno-lint-ignore require-yield
  async *series(
    req: { matchers: Matcher[] },
    _s: AbortSignal,
    call?: { tenant?: string },
  ): AsyncIterable<SeriesItem> {
    this.note("series", req.matchers, call?.tenant);
  }
  labelNames(req: { matchers: Matcher[] }, _s: AbortSignal, call?: { tenant?: string }) {
    this.note("labelNames", req.matchers, call?.tenant);
    return Promise.resolve({ names: [], warnings: [] });
  }
  labelValues(req: { matchers: Matcher[] }, _s: AbortSignal, call?: { tenant?: string }) {
    this.note("labelValues", req.matchers, call?.tenant);
    return Promise.resolve({ values: [], warnings: [] });
  }
}

async function bucket(dirs: TempDirs): Promise<string> {
  const root = await dirs.make();
  for (const [i, tenant] of TENANTS.entries()) {
    await createBlocksFromSeries(`${root}/bucket`, withLabels(smallDataset(11 + i, 6), {}), {
      thanos: { labels: { tenant_id: tenant }, downsample: { resolution: 0 }, source: "receive" },
    });
  }
  await Deno.writeTextFile(
    `${root}/bucket.yml`,
    `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
  );
  return root;
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { status: string; data: unknown; error?: string } }> {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text) };
}

/** Waits (bounded) until the querier lists `n` healthy endpoints. */
async function waitForStores(q: ThanosProc, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const r = await get(`${q.http}/api/v1/stores`);
    const all = Object.values(r.body.data as Record<string, { lastError: string | null }[]>)
      .flat();
    if (all.length === n && all.every((s) => s.lastError === null)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the querier did not see ${n} healthy endpoints in 30 s`);
}

/** The tenant_id values of a query answer's series. */
function tenantsOf(body: { data: unknown }): string[] {
  const d = body.data as { result: { metric: Record<string, string> }[] };
  return [...new Set(d.result.map((r) => r.metric.tenant_id))].sort();
}

const enc = encodeURIComponent;

/** `http_request_duration_seconds_count` of one handler and tenant (200 GETs), 0 when absent. */
function requestCount(metrics: string, handler: string, tenant: string): number {
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("http_request_duration_seconds_count{")) continue;
    const labels = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}")).split(",");
    const want = ['code="200"', `handler="${handler}"`, 'method="get"', `tenant="${tenant}"`];
    if (want.every((w) => labels.includes(w))) return Number(line.slice(line.lastIndexOf(" ")));
  }
  return 0;
}

Deno.test({
  name: "tenancy: an enforcing querier answers each tenant with its own series only",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const rec = new RecordingBackend();
    const recorder = new StoreServer(rec, { serving: true });
    const { port } = await recorder.listen("127.0.0.1", 0);
    const procs: ThanosProc[] = [];
    try {
      const root = await bucket(dirs);
      const store = await startComponent("store", [
        `--objstore.config-file=${root}/bucket.yml`,
        `--data-dir=${root}/store`,
        "--log.level=warn",
      ]);
      procs.push(store);
      const endpoints = [`--endpoint=${store.grpc}`, `--endpoint=127.0.0.1:${port}`];
      const q = await startQuerier([...endpoints, "--query.enforce-tenancy"]);
      procs.push(q);
      await waitForStores(q, 2);
      const A = { "THANOS-TENANT": "team-a" };

      // query: only the tenant's series, even when the query names another tenant
      const all = enc('count by (tenant_id) ({__name__=~".+"})');
      let r = await get(`${q.http}/api/v1/query?query=${all}&time=${END}`, A);
      assertEquals(r.status, 200, JSON.stringify(r.body));
      assertEquals(tenantsOf(r.body), ["team-a"]);
      const other = enc('count by (tenant_id) ({__name__=~".+",tenant_id="team-b"})');
      r = await get(`${q.http}/api/v1/query?query=${other}&time=${END}`, A);
      assertEquals(tenantsOf(r.body), ["team-a"]);
      // no header: the default tenant
      r = await get(`${q.http}/api/v1/query?query=${all}&time=${END}`);
      assertEquals(tenantsOf(r.body), ["default-tenant"]);

      // query_range
      r = await get(
        `${q.http}/api/v1/query_range?query=${all}&start=${END - 3600}&end=${END}&step=600`,
        { "THANOS-TENANT": "team-b" },
      );
      assertEquals(r.status, 200, JSON.stringify(r.body));
      assertEquals(tenantsOf(r.body), ["team-b"]);

      // series
      r = await get(`${q.http}/api/v1/series?match[]=${enc('{__name__=~".+"}')}`, A);
      assertEquals(r.status, 200, JSON.stringify(r.body));
      const series = r.body.data as Record<string, string>[];
      assert(series.length > 0);
      assertEquals([...new Set(series.map((s) => s.tenant_id))], ["team-a"]);

      // labels, label values (with and without match[])
      r = await get(`${q.http}/api/v1/labels`, A);
      assert((r.body.data as string[]).includes("tenant_id"), JSON.stringify(r.body));
      r = await get(`${q.http}/api/v1/label/tenant_id/values`, A);
      assertEquals(r.body.data, ["team-a"]);
      r = await get(
        `${q.http}/api/v1/label/tenant_id/values?match[]=${enc('{tenant_id=~"team-.*"}')}`,
        { "THANOS-TENANT": "team-b" },
      );
      assertEquals(r.body.data, ["team-b"]);
      r = await get(`${q.http}/api/v1/label/tenant_id/values`);
      assertEquals(r.body.data, ["default-tenant"]);

      // an invalid tenant is refused
      r = await get(`${q.http}/api/v1/query?query=up&time=${END}`, { "THANOS-TENANT": ".." });
      assertEquals([r.status, r.body.error], [400, "tenant name not valid"]);

      // every call reached the store with the tenant's metadata and matcher
      const byTenant = new Map<string | undefined, Seen[]>();
      for (const s of rec.seen) byTenant.set(s.tenant, [...byTenant.get(s.tenant) ?? [], s]);
      assertEquals([...byTenant.keys()].sort(), ["default-tenant", "team-a", "team-b"]);
      for (const [tenant, calls] of byTenant) {
        for (const c of calls) {
          assert(c.matchers.includes(`tenant_id="${tenant}"`), JSON.stringify(c));
        }
      }
      assertEquals(
        [...new Set(rec.seen.map((s) => s.method))].sort(),
        ["labelNames", "labelValues", "series"],
      );

      // the request metrics carry the tenant (Thanos's tenant instrumentation middleware)
      const metrics = await (await fetch(`${q.http}/metrics`)).text();
      assertEquals([
        requestCount(metrics, "/api/v1/query", "team-a"),
        requestCount(metrics, "/api/v1/query", "default-tenant"),
        requestCount(metrics, "/api/v1/query_range", "team-b"),
        requestCount(metrics, "/api/v1/query_range", "team-a"),
      ], [2, 1, 1, 0]);

      // a custom header and default tenant, with enforcement; and a querier without it
      const q2 = await startQuerier([
        ...endpoints,
        "--query.enforce-tenancy",
        "--query.tenant-header=X-Scope-OrgID",
        "--query.default-tenant-id=team-b",
      ]);
      procs.push(q2);
      const q3 = await startQuerier(endpoints);
      procs.push(q3);
      await waitForStores(q2, 2);
      await waitForStores(q3, 2);
      r = await get(`${q2.http}/api/v1/query?query=${all}&time=${END}`, {
        "X-Scope-OrgID": "team-a",
      });
      assertEquals(tenantsOf(r.body), ["team-a"]);
      r = await get(`${q2.http}/api/v1/query?query=${all}&time=${END}`);
      assertEquals(tenantsOf(r.body), ["team-b"]);
      rec.seen.length = 0;
      r = await get(`${q3.http}/api/v1/query?query=${all}&time=${END}`, A);
      assertEquals(tenantsOf(r.body), [...TENANTS].sort());
      assertEquals(rec.seen, [{
        method: "series",
        tenant: "team-a",
        matchers: ['__name__=~".+"'],
      }]);
      const m2 = await (await fetch(`${q2.http}/metrics`)).text();
      assertEquals(
        [requestCount(m2, "/api/v1/query", "team-a"), requestCount(m2, "/api/v1/query", "team-b")],
        [1, 1],
      );
    } finally {
      for (const p of procs) await p.stop();
      await recorder.close();
    }
  },
});

Deno.test({
  name: "tenancy: through the query frontend, each tenant gets its own (cached) answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const procs: ThanosProc[] = [];
    let px: RecordingProxy | undefined;
    try {
      const root = await bucket(dirs);
      const store = await startComponent("store", [
        `--objstore.config-file=${root}/bucket.yml`,
        `--data-dir=${root}/store`,
        "--log.level=warn",
      ]);
      procs.push(store);
      const q = await startQuerier([`--endpoint=${store.grpc}`, "--query.enforce-tenancy"]);
      procs.push(q);
      await waitForStores(q, 1);
      px = startRecordingProxy(q.http);
      const fe = await startFrontend([
        `--query-frontend.downstream-url=${px.url}`,
        "--query-range.split-interval=1h",
        "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 64MB\n",
        "--labels.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: 64MB\n",
        "--query-frontend.tenant-header=X-Scope-OrgID",
      ]);
      procs.push(fe);
      const all = enc('count by (tenant_id) ({__name__=~".+"})');
      const range = `${fe.http}/api/v1/query_range?query=${all}&start=${T0 / 1000}&end=${
        T0 / 1000 + 3600
      }&step=60`;
      const asked = (tenant: string) =>
        px!.seen.filter((s) =>
          s.path === "/api/v1/query_range" && s.headers.get("thanos-tenant") === tenant
        ).length;
      // each tenant twice: the second answer comes from the frontend's cache, and is its own
      for (const round of [1, 2]) {
        for (const tenant of ["team-a", "team-b"]) {
          const r = await get(range, { "X-Scope-OrgID": tenant });
          assertEquals(r.status, 200, JSON.stringify(r.body));
          assertEquals(tenantsOf(r.body), [tenant], `round ${round}`);
        }
        // no tenant header: the frontend sends THANOS-TENANT=default-tenant
        const r = await get(range);
        assertEquals(tenantsOf(r.body), ["default-tenant"], `round ${round}`);
      }
      const once = [asked("team-a"), asked("team-b"), asked("default-tenant")];
      assert(once.every((n) => n > 0), JSON.stringify(once));
      // the second round was answered from the cache (the range is in the past)
      const r = await get(range, { "X-Scope-OrgID": "team-a" });
      assertEquals(tenantsOf(r.body), ["team-a"]);
      assertEquals(asked("team-a"), once[0]);
      // the custom header is not passed on
      assert(px.seen.every((s) => s.headers.get("x-scope-orgid") === null));
      // label values through the frontend's labels path (the data's time range)
      const span = `start=${T0 / 1000}&end=${END}`;
      const lv = await get(`${fe.http}/api/v1/label/tenant_id/values?${span}`, {
        "X-Scope-OrgID": "team-b",
      });
      assertEquals(lv.body.data, ["team-b"]);
    } finally {
      for (const p of procs) await p.stop();
      await px?.close();
    }
  },
});

// `thanos query --endpoint-group` / `--endpoint-group-strict` through the real CLI: a store
// reached as an endpoint group (`dns+localhost:<port>`: DNS discovery runs, and a member that
// refuses — localhost's ::1 where the store listens on 127.0.0.1 only — is skipped) is one
// endpoint named `thanos:///<address>` whose data answers queries (evaluated in the querier's
// Workers, which build the group's client too); a strict group that is down stays listed and
// queried (a partial-response warning names it). A strict group with a DNS prefix is refused,
// as Thanos refuses it.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  getJSON,
  smallDataset,
  startQuerier,
  startStore,
  T0,
  writeBlocks,
} from "../helpers/query_e2e.ts";
import { spawnMain } from "../helpers/thanos.ts";
import { freePort } from "../helpers/ports.ts";

Deno.test({
  name: "thanos query --endpoint-group(-strict): one endpoint per group, queried, strict kept",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const ds = smallDataset(5, 4);
      const dir = await dirs.make();
      await writeBlocks(dir, ds.series);
      const store = await startStore(dir, { cluster: "a" });
      procs.push(store);
      const downPort = freePort();
      const q = await startQuerier([
        `--endpoint-group=dns+localhost:${store.port}`,
        `--endpoint-group-strict=127.0.0.1:${downPort}`,
      ]);
      procs.push(q);
      const group = `thanos:///dns+localhost:${store.port}`;
      const strict = `thanos:///127.0.0.1:${downPort}`;
      let listed: { name: string; lastError: string | null }[] = [];
      for (let i = 0; i < 50; i++) {
        const s = await getJSON(`${q.url}/api/v1/stores`);
        listed = Object.values(s.body.data as Record<string, typeof listed>).flat();
        if (listed.some((e) => e.name === group)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(listed.some((e) => e.name === group && e.lastError === null), JSON.stringify(listed));
      const t = (T0 + 3600_000) / 1000;
      const expr = encodeURIComponent('count by (cluster) ({__name__=~".+"})');
      for (let i = 0; i < 4; i++) {
        // every call succeeds whichever member the round-robin picks first
        const r = await getJSON(`${q.url}/api/v1/query?query=${expr}&time=${t}`);
        assertEquals(r.status, 200, r.text);
        const result = (r.body.data as { result: { metric: Record<string, string> }[] }).result;
        assertEquals(result.map((x) => x.metric.cluster), ["a"], r.text);
        const warnings = (r.body.warnings ?? []) as string[];
        assert(warnings.some((w) => w.includes(strict)), r.text);
        // a range query evaluates in an evaluation Worker (an instant query may run on the
        // role's thread), which builds the group's client too
        const range = await getJSON(
          `${q.url}/api/v1/query_range?query=${expr}&start=${t - 60}&end=${t}&step=30`,
        );
        assertEquals(range.status, 200, range.text);
        const matrix = (range.body.data as { result: { metric: Record<string, string> }[] })
          .result;
        assertEquals(matrix.map((x) => x.metric.cluster), ["a"], range.text);
      }
      const values = await getJSON(`${q.url}/api/v1/label/cluster/values`);
      assertEquals(values.body.data, ["a"], values.text);
    } finally {
      for (const p of procs) await p.stop();
      await dirs.cleanup();
    }
  },
});

Deno.test({
  name: "thanos query refuses a strict endpoint group with a DNS prefix, as Thanos",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const http = freePort();
    const p = spawnMain(
      [
        "query",
        `--http-address=127.0.0.1:${http}`,
        `--grpc-address=127.0.0.1:${freePort()}`,
        "--endpoint-group-strict=dns+localhost:10901",
      ],
      http,
      "query-strict-dns-group",
    );
    const timer = setTimeout(() => p.stop(1000, "SIGKILL"), 20_000);
    const st = await p.status;
    clearTimeout(timer);
    assert(st.code !== 0, p.logs());
    assert(p.logs().includes("not permitted under strict mode"), p.logs());
  },
});

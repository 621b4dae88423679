// Store failures through the querier: one of three stores killed mid-run. Partial response on:
// queries succeed with a warning naming the store; partial_response=false: a clear error; the dead
// store shows as unhealthy in /api/v1/stores and recovers when restarted on the same port.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc } from "../helpers/thanos.ts";
import {
  getJSON,
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";

type StoreStatus = { name: string; lastError: string | null };

async function storeStatus(url: string, addr: string): Promise<StoreStatus | undefined> {
  const r = await getJSON(`${url}/api/v1/stores`);
  const groups = r.body.data as Record<string, StoreStatus[]>;
  return Object.values(groups).flat().find((s) => s.name === addr);
}

async function until(what: string, fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test({
  name: "a killed store gives warnings or errors per partial_response and recovers on restart",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dirs = new TempDirs();
    const procs: Proc[] = [];
    try {
      const names = ["a", "b", "c"];
      const dirsFor: string[] = [];
      for (let i = 0; i < 3; i++) {
        const d = await dirs.make();
        await writeBlocks(d, withLabels(smallDataset(10 + i, 20), {}));
        dirsFor.push(d);
      }
      const stores = await Promise.all(
        names.map((n, i) => startStore(dirsFor[i], { site: n })),
      );
      procs.push(...stores);
      const q = await startQuerier([
        ...stores.map((s) => `--endpoint=127.0.0.1:${s.port}`),
        "--endpoint.info-timeout=1s",
      ]);
      procs.push(q);
      const dead = `127.0.0.1:${stores[1].port}`;
      const query =
        `${q.url}/api/v1/query?query=${
          encodeURIComponent("count by (site) (last_over_time(http_requests_total[3h]))")
        }` +
        `&time=${T0 / 1000 + 3 * 3600}`;

      let r = await getJSON(query);
      assertEquals((r.body.data as { result: unknown[] }).result.length, 3, r.text);

      await stores[1].stop(5000, "SIGKILL");

      await t.step("partial response on: success with a warning naming the store", async () => {
        r = await getJSON(query);
        assertEquals(r.status, 200, r.text);
        const res = (r.body.data as { result: unknown[] }).result;
        if (res.length === 3) throw new Error("dead store still answered");
        // failing in the call or already excluded as unhealthy: either way the answer names it
        const warnings = r.body.warnings as string[] | undefined;
        assert(warnings?.some((w) => w.includes(dead)), r.text);
        assertEquals(res.length, 2);
      });

      await t.step("the dead store shows as unhealthy in /api/v1/stores", async () => {
        await until(
          "unhealthy status",
          async () => (await storeStatus(q.url, dead))?.lastError != null,
        );
      });

      await t.step(
        "once unhealthy, answers still name it; partial_response=false fails",
        async () => {
          const w = await getJSON(query);
          assertEquals(w.status, 200, w.text);
          assertEquals((w.body.data as { result: unknown[] }).result.length, 2, w.text);
          assert((w.body.warnings as string[]).some((x) => x.includes(dead)), w.text);
          const e = await getJSON(query + "&partial_response=false");
          assertEquals(e.status, 422, e.text);
          assert(String(e.body.error).includes(dead), e.text);
        },
      );

      await t.step("partial_response=false fails with a clear error while it is down", async () => {
        // a strict endpoint is queried even when unhealthy: use a fresh querier with it strict
        const strict = await startQuerier([
          `--endpoint=127.0.0.1:${stores[0].port}`,
          `--endpoint-strict=${dead}`,
          "--endpoint.info-timeout=1s",
        ]);
        procs.push(strict);
        const u = strict.url + query.slice(q.url.length) + "&partial_response=false";
        const e = await getJSON(u);
        assertEquals(e.status, 422, e.text);
        assertEquals(e.body.errorType, "execution");
        assert(String(e.body.error).includes(dead), e.text);
        const w = await getJSON(strict.url + query.slice(q.url.length));
        assertEquals(w.status, 200, w.text);
        assert((w.body.warnings as string[]).some((x) => x.includes(dead)), w.text);
      });

      await t.step("the store recovers when restarted", async () => {
        const again = await startStore(dirsFor[1], { site: "b" }, stores[1].port);
        procs.push(again);
        await until(
          "healthy status",
          async () => (await storeStatus(q.url, dead))?.lastError === null,
        );
        r = await getJSON(query);
        assertEquals((r.body.data as { result: unknown[] }).result.length, 3, r.text);
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});

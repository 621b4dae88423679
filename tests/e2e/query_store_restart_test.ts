// A store killed with SIGKILL and restarted while clients keep querying (issue 20): every answer
// during the outage either has that store's data or names it (a warning with partial response
// on, an error with partial_response=false). Never an empty-looking success that hides it.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import type { Proc } from "../helpers/thanos.ts";
import {
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";

interface Tally {
  complete: number;
  warned: number;
  failedNaming: number;
  bad: string[];
}

Deno.test({
  name: "kill -9 and restart of a store under load: every answer has its data or names it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: Proc[] = [];
    try {
      const sites = ["a", "b"];
      const dataDirs: string[] = [];
      for (let i = 0; i < sites.length; i++) {
        const d = await dirs.make();
        await writeBlocks(d, withLabels(smallDataset(20 + i, 20), {}));
        dataDirs.push(d);
      }
      const stores = await Promise.all(sites.map((s, i) => startStore(dataDirs[i], { site: s })));
      procs.push(...stores);
      const q = await startQuerier([
        ...stores.map((s) => `--endpoint=127.0.0.1:${s.port}`),
        "--endpoint.info-timeout=1s",
      ]);
      procs.push(q);
      const victim = `127.0.0.1:${stores[1].port}`;
      const expr = encodeURIComponent("count by (site) (last_over_time(http_requests_total[3h]))");
      const base = `${q.url}/api/v1/query?query=${expr}&time=${T0 / 1000 + 3 * 3600}`;

      let stop = false;
      const tally: Tally = { complete: 0, warned: 0, failedNaming: 0, bad: [] };
      const check = async (strict: boolean) => {
        const r = await fetch(base + (strict ? "&partial_response=false" : ""), {
          signal: AbortSignal.timeout(30_000),
        });
        const text = await r.text();
        const body = JSON.parse(text);
        if (r.status === 200) {
          const sitesSeen = (body.data.result as { metric: { site: string } }[])
            .map((x) => x.metric.site).sort();
          if (sitesSeen.join() === "a,b") tally.complete++;
          else if ((body.warnings as string[] | undefined)?.some((w) => w.includes(victim))) {
            tally.warned++;
          } else tally.bad.push(`200 without ${victim}'s data and no warning naming it: ${text}`);
        } else if (strict && String(body.error).includes(victim)) {
          tally.failedNaming++;
        } else tally.bad.push(`${r.status}: ${text}`);
      };
      const client = async (strict: boolean) => {
        for (let i = 0; i < 5000 && !stop; i++) await check(strict);
      };
      const load = [client(false), client(false), client(true)];
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

      await pause(1000);
      await stores[1].stop(5000, "SIGKILL");
      // long enough for the querier to mark it unhealthy (Info every second)
      await pause(4000);
      const again = await startStore(dataDirs[1], { site: "b" }, stores[1].port);
      procs.push(again);
      await pause(3000);
      stop = true;
      await Promise.all(load);

      console.log(
        `answers: ${tally.complete} complete, ${tally.warned} warned naming ${victim}, ` +
          `${tally.failedNaming} partial_response=false errors naming it, ${tally.bad.length} bad`,
      );
      assertEquals(tally.bad.slice(0, 5), [], `${tally.bad.length} bad answers`);
      assert(
        tally.warned + tally.failedNaming > 0,
        `no answer saw the outage: ${JSON.stringify(tally)}`,
      );
      assert(tally.complete > 0, JSON.stringify(tally));
      // after the restart the store's data is back
      const last = await (await fetch(base)).json();
      assertEquals(last.data.result.length, 2, JSON.stringify(last));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});

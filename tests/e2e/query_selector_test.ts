// `thanos query --selector.relabel-config(-file)` through the real CLI: two stores with
// different external labels, the querier keeps only one of them by relabel rules (from a file,
// so the launcher's read grant is exercised). Queries (a range query evaluated in the querier's
// evaluation Workers), label values (on the role's thread), /api/v1/stores and the querier's own Info
// (a second querier stacked on it) see only the kept store. A rule with an action Thanos does not
// allow for selectors stops the querier at start.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  getJSON,
  smallDataset,
  startQuerier,
  startStore,
  T0,
  withLabels,
  writeBlocks,
} from "../helpers/query_e2e.ts";
import { spawnMain } from "../helpers/thanos.ts";
import { freePort } from "../helpers/ports.ts";

Deno.test({
  name: "thanos query --selector.relabel-config-file queries and announces only the kept stores",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const ds = smallDataset(11, 5);
      const [dirEu, dirUs, conf] = [await dirs.make(), await dirs.make(), await dirs.make()];
      await writeBlocks(dirEu, ds.series);
      await writeBlocks(dirUs, withLabels(ds, {}));
      const [eu, us] = await Promise.all([
        startStore(dirEu, { region: "eu-1" }),
        startStore(dirUs, { region: "us-1" }),
      ]);
      procs.push(eu, us);
      const file = `${conf}/selector.yml`;
      await Deno.writeTextFile(
        file,
        "- action: keep\n  source_labels: [region]\n  regex: eu-.*\n",
      );
      const q = await startQuerier([
        `--endpoint=127.0.0.1:${eu.port}`,
        `--endpoint=127.0.0.1:${us.port}`,
        `--selector.relabel-config-file=${file}`,
      ]);
      procs.push(q);
      const t = (T0 + 3600_000) / 1000;
      const expr = encodeURIComponent('count by (region) ({__name__=~".+"})');
      // the first discovery round may still be under way: bounded wait for both stores' data
      let result: { metric: Record<string, string> }[] = [];
      for (let i = 0; i < 50; i++) {
        const r = await getJSON(`${q.url}/api/v1/query?query=${expr}&time=${t}`);
        assertEquals(r.status, 200, r.text);
        result = (r.body.data as { result: typeof result }).result;
        if (result.length > 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assertEquals(result.map((s) => s.metric.region), ["eu-1"]);
      // a range query evaluates in an evaluation Worker (an instant query may run on the
      // role's thread): the Worker's proxy applies the selector too
      const range = await getJSON(
        `${q.url}/api/v1/query_range?query=${expr}&start=${t - 60}&end=${t}&step=30`,
      );
      assertEquals(range.status, 200, range.text);
      const matrix = (range.body.data as { result: typeof result }).result;
      assertEquals(matrix.map((s) => s.metric.region), ["eu-1"], range.text);
      const values = await getJSON(`${q.url}/api/v1/label/region/values`);
      assertEquals(values.body.data, ["eu-1"]);
      const stores = await getJSON(`${q.url}/api/v1/stores`);
      const listed = Object.values(stores.body.data as Record<string, { name: string }[]>).flat();
      assertEquals(listed.map((s) => s.name), [`127.0.0.1:${eu.port}`], stores.text);

      // a querier stacked on this one sees only the kept label set in its Info
      const top = await startQuerier([`--endpoint=${q.grpc}`]);
      procs.push(top);
      let labelSets: unknown = undefined;
      for (let i = 0; i < 50; i++) {
        const s = await getJSON(`${top.url}/api/v1/stores`);
        const all = Object.values(s.body.data as Record<string, { labelSets: unknown }[]>).flat();
        labelSets = all[0]?.labelSets;
        if (Array.isArray(labelSets) && labelSets.length > 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assertEquals(labelSets, [{ region: "eu-1" }]);
    } finally {
      for (const p of procs) await p.stop();
      await dirs.cleanup();
    }
  },
});

Deno.test({
  name: "thanos query refuses a selector relabel action other than keep, drop and hashmod",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const http = freePort();
    const p = spawnMain(
      [
        "query",
        `--http-address=127.0.0.1:${http}`,
        `--grpc-address=127.0.0.1:${freePort()}`,
        "--selector.relabel-config=- action: labeldrop\n  regex: region\n",
      ],
      http,
      "query-bad-selector",
    );
    const timer = setTimeout(() => p.stop(1000, "SIGKILL"), 20_000);
    const st = await p.status;
    clearTimeout(timer);
    assert(st.code !== 0, p.logs());
    assert(p.logs().includes("unsupported relabel action: labeldrop"), p.logs());
  },
});

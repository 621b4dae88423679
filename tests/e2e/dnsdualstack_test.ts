// `dnsdualstack+` addresses through the real CLI (sandboxed roles): Thanos resolves them to the
// host's A and AAAA addresses (pkg/discovery/dns), so the role gets the network grant DNS
// discovery needs (components/permissions.ts) and reaches what it names:
// - query `--endpoint=dnsdualstack+localhost:<port>` lists and queries the store behind it;
// - rule `--query=dnsdualstack+localhost:<port>` evaluates its rules through that querier, and
//   `--alertmanagers.url=dnsdualstack+http://localhost:<port>` is accepted;
// - a DNS-prefixed `--endpoint-strict` is refused with Thanos's message and exit code 1.
// https://thanos.io/tip/thanos/service-discovery.md/#dns-service-discovery

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  getJSON,
  smallDataset,
  startQuerier,
  startStore,
  writeBlocks,
} from "../helpers/query_e2e.ts";
import { spawnMain, startComponent } from "../helpers/thanos.ts";
import { freePort } from "../helpers/ports.ts";

Deno.test({
  name: "dnsdualstack+ endpoints and queriers are granted and resolved (query, rule)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const ds = smallDataset(3, 2);
      const dir = await dirs.make();
      await writeBlocks(dir, ds.series);
      const store = await startStore(dir, { cluster: "dual" });
      procs.push(store);
      const q = await startQuerier([`--endpoint=dnsdualstack+localhost:${store.port}`]);
      procs.push(q);
      let listed: { name: string; lastError: string | null }[] = [];
      for (let i = 0; i < 100; i++) {
        const s = await getJSON(`${q.url}/api/v1/stores`);
        listed = Object.values((s.body.data ?? {}) as Record<string, typeof listed>).flat();
        if (listed.some((e) => e.lastError === null)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(
        listed.some((e) => e.name === `127.0.0.1:${store.port}` && e.lastError === null),
        JSON.stringify(listed) + q.logs().slice(-2000),
      );
      const values = await getJSON(`${q.url}/api/v1/label/cluster/values`);
      assertEquals(values.body.data, ["dual"], values.text);

      const rdir = await dirs.make();
      await Deno.mkdir(`${rdir}/rules`);
      await Deno.writeTextFile(
        `${rdir}/rules/r.yml`,
        "groups:\n- name: g\n  interval: 1s\n  rules:\n  - record: one\n    expr: vector(1)\n",
      );
      const qport = new URL(q.url).port;
      const r = await startComponent("rule", [
        `--data-dir=${rdir}/data`,
        `--rule-file=${rdir}/rules/*.yml`,
        `--query=dnsdualstack+localhost:${qport}`,
        `--alertmanagers.url=dnsdualstack+http://localhost:${freePort()}`,
        '--label=replica="r1"',
      ], { name: "rule-dualstack", readyPath: "/-/healthy" });
      procs.push(r);
      let rule: { health?: string; lastError?: string } = {};
      for (let i = 0; i < 200; i++) {
        const g = await getJSON(`${r.http}/api/v1/rules`);
        const groups = (g.body.data as { groups: { rules: typeof rule[] }[] }).groups;
        rule = groups[0]?.rules[0] ?? {};
        if (rule.health === "ok") break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assertEquals(rule.health, "ok", JSON.stringify(rule) + r.logs().slice(-2000));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});

Deno.test({
  name: "thanos query refuses a DNS-prefixed --endpoint-strict (exit 1), as Thanos",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    for (const address of ["dns+localhost:10901", "dnsdualstack+localhost:10901"]) {
      const http = freePort();
      const p = spawnMain(
        [
          "query",
          `--http-address=127.0.0.1:${http}`,
          `--grpc-address=127.0.0.1:${freePort()}`,
          `--endpoint-strict=${address}`,
        ],
        http,
        "query-strict-dns",
      );
      const timer = setTimeout(() => p.stop(1000, "SIGKILL"), 20_000);
      const st = await p.status;
      clearTimeout(timer);
      assertEquals(st.code, 1, p.logs());
      assert(
        p.logs().includes(
          `${address} is a dynamically specified endpoint i.e. it uses SD and that is not ` +
            "permitted under strict mode.",
        ),
        p.logs(),
      );
    }
  },
});

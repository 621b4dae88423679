// `thanos rule --grpc-query-endpoint` through the real CLI: a store with a data set around now, a
// querier over it, and three rulers with the same recording rules:
// - A evaluates through the querier's HTTP API (`--query`),
// - B through its gRPC Query API only (`--grpc-query-endpoint=host:port`),
// - C with both, its HTTP querier down: it falls back to the gRPC Query API (Thanos's order),
//   found through a `dns+` address.
// Every sample a ruler wrote (read back through a second querier over the rulers' StoreAPIs)
// equals the querier's HTTP API answer at that time (for B and C at the whole second, as Thanos's
// Query API carries whole seconds). A ruler with --grpc-query-endpoint and --query.config stops
// at start.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { spawnMain, startComponent } from "../helpers/thanos.ts";
import { getJSON, startStore, withLabels, writeBlocks } from "../helpers/query_e2e.ts";
import { generateDataset } from "../../scripts/dataset.ts";

const RULES: [string, string][] = [
  ["rec:job:http_requests:rate5m", "sum by (job) (rate(http_requests_total[5m]))"],
  [
    "rec:request_duration:p90",
    "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  ],
  ["rec:up:count", "count(up)"],
  ["rec:up:double", "up * 2"],
];
const RULE_FILE = "groups:\n- name: recording\n  interval: 1s\n  rules:\n" +
  RULES.map(([name, expr]) => `  - record: ${name}\n    expr: ${JSON.stringify(expr)}\n`)
    .join("");

type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

function key(m: Record<string, string>): string {
  const o = { ...m };
  delete o.__name__;
  delete o.replica;
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

async function until<T>(what: string, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + 60_000;
  let last: unknown = null;
  for (let i = 0; i < 240 && Date.now() < deadline; i++) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

Deno.test({
  name: "thanos rule --grpc-query-endpoint evaluates through the Query API as the HTTP path does",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const now = Date.now();
      const ds = generateDataset({
        series: 20,
        start: Math.floor((now - 2 * 3600_000) / 15_000) * 15_000,
        end: now + 30 * 60_000,
        stepMs: 15_000,
        seed: 5,
        specialValues: false,
      });
      const [storeDir, rulesDir] = [await dirs.make(), await dirs.make()];
      await writeBlocks(storeDir, withLabels(ds, {}));
      await Deno.writeTextFile(`${rulesDir}/rec.yml`, RULE_FILE);
      const store = await startStore(storeDir, { region: "east" });
      procs.push(store);
      const q = await startComponent("query", [
        "--log.level=warn",
        `--store=127.0.0.1:${store.port}`,
      ], {
        name: "querier",
      });
      procs.push(q);
      const grpcPort = q.grpc.split(":")[1];
      const common = async (replica: string) => [
        `--data-dir=${await dirs.make()}`,
        `--rule-file=${rulesDir}/*.yml`,
        `--label=replica="${replica}"`,
        "--eval-interval=1s",
        "--log.level=warn",
      ];
      const rulers = {
        A: await startComponent("rule", [...await common("A"), `--query=${q.http}`], {
          name: "ruler A (HTTP)",
        }),
        B: await startComponent("rule", [
          ...await common("B"),
          `--grpc-query-endpoint=${q.grpc}`,
        ], { name: "ruler B (gRPC)" }),
        C: await startComponent("rule", [
          ...await common("C"),
          `--query=127.0.0.1:${freePort()}`,
          `--grpc-query-endpoint=dns+localhost:${grpcPort}`,
          "--query.sd-dns-interval=1s",
        ], { name: "ruler C (HTTP down, gRPC)" }),
      };
      procs.push(...Object.values(rulers));
      const reader = await startComponent("query", [
        "--log.level=warn",
        ...Object.values(rulers).map((r) => `--store=${r.grpc}`),
      ], { name: "reader" });
      procs.push(reader);

      await t.step("every written sample equals the HTTP API's answer at its time", async () => {
        let compared = 0;
        for (const [name, expr] of RULES) {
          const written = await until(`three evaluations of ${name} by every ruler`, async () => {
            const r = await getJSON(
              `${reader.http}/api/v1/query?query=${encodeURIComponent(`${name}[30s]`)}&time=${
                Date.now() / 1000
              }`,
            );
            if (r.status !== 200) return null;
            const m = (r.body.data as { result: Matrix }).result;
            const by = new Set(m.filter((s) => s.values.length >= 3).map((s) => s.metric.replica));
            return by.size === 3 ? m : null;
          });
          for (const s of written) {
            const replica = s.metric.replica;
            for (const [ts, v] of s.values.slice(-3)) {
              // the Query API carries whole seconds (Thanos's remote engine truncates)
              const at = replica === "A" ? ts : Math.floor(ts);
              const r = await getJSON(
                `${q.http}/api/v1/query?query=${encodeURIComponent(expr)}&time=${at}`,
              );
              assertEquals(r.status, 200, r.text);
              const want = new Map<string, string>();
              for (
                const e of (r.body.data as {
                  result: { metric: Record<string, string>; value: [number, string] }[];
                }).result
              ) want.set(key(e.metric), e.value[1]);
              const k = key(s.metric);
              assert(
                want.has(k),
                `${name}@${ts} (${replica}): HTTP has no ${k}: ${[...want.keys()]}`,
              );
              assertEquals(v, want.get(k), `${name} ${k} @${ts} by ruler ${replica}`);
              compared++;
            }
          }
        }
        assert(compared >= RULES.length * 3 * 3, `compared ${compared}`);
      });

      await t.step("--grpc-query-endpoint with --query.config is refused at start", async () => {
        const p = spawnMain(
          [
            "rule",
            `--data-dir=${await dirs.make()}`,
            `--grpc-query-endpoint=${q.grpc}`,
            `--query.config=- static_configs: ["${q.grpc}"]`,
            `--http-address=127.0.0.1:${freePort()}`,
            `--grpc-address=127.0.0.1:${freePort()}`,
          ],
          0,
          "ruler (bad)",
        );
        const { code } = await p.child.status;
        assert(code !== 0, p.logs());
        assert(
          p.logs().includes("--grpc-query-endpoint and --query.config* parameters cannot"),
          p.logs(),
        );
      });
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
});

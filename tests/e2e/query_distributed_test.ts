// `thanos query --query.mode=distributed` through the real CLI: two stores with different external
// labels (region eu-1 / us-1, both cluster=c), a leaf querier over each, and central queriers in
// distributed mode over the two leaves (one with its evaluation Workers and every external label
// as a partition label, one evaluating on its own thread with `--query.partition-label=region`).
// A corpus of instant and range queries (aggregations pushed down whole or in two levels, binary
// expressions of pushed-down parts, and shapes evaluated centrally) answers as a local-mode
// querier over both stores does; the leaves' gRPC metrics show the Query API was used. Values are
// compared with a relative tolerance of 1e-12: a sum of partial sums adds in another order.

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
import { StoreClient } from "../../storeapi/client.ts";
import { callQuery, type QueryAnswer } from "../../storeapi/query.ts";
import { labelsKey } from "../../tsdb/labels.ts";

const CORPUS = [
  "sum(up)",
  "sum by (job) (rate(http_requests_total[5m]))",
  "sum by (region) (rate(http_requests_total[5m]))",
  "sum by (region, cluster, job) (http_requests_total)",
  "count(up)",
  "count by (job) (http_requests_total)",
  "max by (instance) (process_resident_memory_bytes)",
  "min(node_temperature_celsius)",
  "group by (job) (up)",
  "topk(3, node_temperature_celsius)",
  "bottomk(2, process_resident_memory_bytes)",
  "sum without (instance, region) (http_requests_total)",
  "sum without (instance) (rate(http_requests_total[1m]))",
  "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
  "sum(rate(http_requests_total[5m])) / sum(rate(http_request_duration_seconds_count[5m]))",
  "avg by (job) (process_resident_memory_bytes)",
  "up * 2",
  'count by (region) (label_join(up, "region", "-", "region", "instance"))',
  'sum by (j) (label_replace(up, "j", "$1", "job", "(.*)"))',
  "max_over_time(sum(up)[10m:1m])",
  "count(count by (job) (up))",
  "sum by (job) (up) > 0",
  "quantile(0.5, node_temperature_celsius)",
  "sum(http_requests_total offset 10m)",
  "-sum(abs(node_temperature_celsius - 20))",
  "avg by (region, job) (process_resident_memory_bytes)",
  "stddev without (instance) (node_temperature_celsius)",
  'count_values by (region) ("v", up)',
];

type Row = {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
};

function sorted(data: { resultType: string; result: unknown }): unknown {
  if (data.resultType === "scalar" || data.resultType === "string") return data;
  const rows = [...(data.result as Row[])];
  const key = (r: Row) => JSON.stringify(Object.entries(r.metric).sort());
  rows.sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  return { resultType: data.resultType, result: rows };
}

/** Equal JSON, numbers in value strings within a relative 1e-12. */
function assertClose(got: unknown, want: unknown, what: string): void {
  const close = (a: unknown, b: unknown): boolean => {
    if (typeof a === "string" && typeof b === "string") {
      if (a === b) return true;
      const x = Number(a);
      const y = Number(b);
      return Number.isFinite(x) && Number.isFinite(y) &&
        Math.abs(x - y) <= 1e-12 * Math.max(Math.abs(x), Math.abs(y));
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      return a.length === b.length && a.every((v, i) => close(v, b[i]));
    }
    if (a && b && typeof a === "object" && typeof b === "object") {
      const ka = Object.keys(a).sort();
      const kb = Object.keys(b).sort();
      return JSON.stringify(ka) === JSON.stringify(kb) &&
        ka.every((k) =>
          close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
        );
    }
    return a === b;
  };
  if (!close(got, want)) assertEquals(got, want, what);
}

async function metric(url: string, prefix: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const l of text.split("\n")) if (l.startsWith(prefix)) sum += Number(l.split(" ").pop());
  return sum;
}

Deno.test({
  name: "thanos query --query.mode=distributed answers as local mode over the same data",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const [dirEu, dirUs] = [await dirs.make(), await dirs.make()];
      await writeBlocks(dirEu, smallDataset(31, 10).series);
      await writeBlocks(dirUs, smallDataset(32, 10).series);
      const [eu, us] = await Promise.all([
        startStore(dirEu, { region: "eu-1", cluster: "c" }),
        startStore(dirUs, { region: "us-1", cluster: "c" }),
      ]);
      procs.push(eu, us);
      const [leafEu, leafUs, local] = await Promise.all([
        startQuerier([`--endpoint=127.0.0.1:${eu.port}`]),
        startQuerier([`--endpoint=127.0.0.1:${us.port}`]),
        startQuerier([`--endpoint=127.0.0.1:${eu.port}`, `--endpoint=127.0.0.1:${us.port}`]),
      ]);
      procs.push(leafEu, leafUs, local);
      const centrals = {
        "every external label partitions": await startQuerier([
          "--query.mode=distributed",
          `--endpoint=${leafEu.grpc}`,
          `--endpoint=${leafUs.grpc}`,
        ]),
        "--query.partition-label=region, evaluation on the role's thread": await startQuerier([
          "--query.mode=distributed",
          "--query.partition-label=region",
          "--query.eval-workers=0",
          `--endpoint=${leafEu.grpc}`,
          `--endpoint=${leafUs.grpc}`,
        ]),
      };
      procs.push(...Object.values(centrals));

      const at = T0 / 1000 + 2 * 3600;
      for (const [name, central] of Object.entries(centrals)) {
        await t.step(name, async () => {
          const calls = () =>
            Promise.all(
              [leafEu, leafUs].map((l) =>
                metric(l.url, 'grpc_server_started_total{grpc_method="Query')
              ),
            );
          const before = await calls();
          for (const expr of CORPUS) {
            const q = encodeURIComponent(expr);
            const paths = [
              `/api/v1/query?query=${q}&time=${at}`,
              `/api/v1/query_range?query=${q}&start=${at - 3600}&end=${at}&step=60`,
            ];
            for (const path of paths) {
              const [want, got] = await Promise.all([
                getJSON(local.url + path),
                getJSON(central.url + path),
              ]);
              assertEquals(want.status, 200, `${path}: ${want.text}`);
              assertEquals(got.status, 200, `${path}: ${got.text}`);
              const w = want.body.data as { resultType: string; result: unknown[] };
              assert(w.resultType === "scalar" || w.result.length > 0, `${expr}: empty`);
              assertClose(
                sorted(got.body.data as { resultType: string; result: unknown }),
                sorted(w),
                `${path}`,
              );
              assertEquals(got.body.warnings, want.body.warnings, path);
            }
          }
          const after = await calls();
          // every leaf answered pushed-down parts over the Query API
          for (let i = 0; i < 2; i++) assert(after[i] - before[i] >= 20, `${before} → ${after}`);

          // the central querier's own gRPC Query API distributes too
          const [cc, lc] = [new StoreClient(central.grpc), new StoreClient(local.grpc)];
          try {
            for (const expr of CORPUS.slice(0, 6)) {
              const req = { query: expr, timeSeconds: at, enableDedup: true };
              const [got, want] = await Promise.all([callQuery(cc, req), callQuery(lc, req)]);
              const rows = (a: QueryAnswer) =>
                a.series.map((
                  x,
                ) => [labelsKey(x.labels), Array.from(x.ts), Array.from(x.vs, String)])
                  .sort();
              assertClose(rows(got), rows(want), `gRPC ${expr}`);
            }
          } finally {
            cc.close();
            lc.close();
          }
          const last = await calls();
          for (let i = 0; i < 2; i++) assert(last[i] - after[i] >= 6, `${after} → ${last}`);
        });
      }

      await t.step(
        "a leaf down: evaluated as local mode, with its partial-response warning",
        async () => {
          const central = centrals["every external label partitions"];
          await leafUs.stop();
          const path = `/api/v1/query?query=${encodeURIComponent("sum(up)")}&time=${at}` +
            "&partial_response=true";
          // once the central querier's health check marked the leaf down
          const down = `thanos_query_endpoint_healthy{address="${leafUs.grpc}"} 0`;
          for (let i = 0; i < 80; i++) {
            if ((await (await fetch(`${central.url}/metrics`)).text()).includes(down)) break;
            await new Promise((ok) => setTimeout(ok, 250));
          }
          const queries = () => metric(leafEu.url, 'grpc_server_started_total{grpc_method="Query');
          const before = await queries();
          const r = await getJSON(central.url + path);
          assertEquals(r.status, 200, r.text);
          const warnings = r.body.warnings as string[];
          assert(warnings?.some((w) => w.includes(leafUs.grpc)), r.text);
          const euOnly = await getJSON(
            `${leafEu.url}/api/v1/query?query=${encodeURIComponent("sum(up)")}&time=${at}`,
          );
          assertEquals(r.body.data, euOnly.body.data);
          // not pushed down: leafEu served raw data only
          assertEquals(await queries(), before);
          const strict = await getJSON(central.url + path.replace("true", "false"));
          assertEquals(strict.status >= 400, true, strict.text);
        },
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await dirs.cleanup();
    }
  },
});

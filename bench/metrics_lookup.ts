// Cost of a labelled metric update (`counter.inc({…})`, `histogram.observe({…}, v)`), the lookup
// every caller of metrics/registry.ts pays, against another checkout's registry (issue 19).
// Printed, never asserted:
//
//   deno run -A bench/metrics_lookup.ts [--baseline=<checkout dir>] [--n=200000] [--rounds=11]

import { Registry } from "../metrics/registry.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}
const N = Number(flag("n", "200000"));
const ROUNDS = Number(flag("rounds", "11"));
const BASE = flag("baseline", "");

type Reg = typeof Registry;
const sides: [string, Reg][] = [["ours", Registry]];
if (BASE !== "") {
  const m = await import(`file://${BASE}/metrics/registry.ts`);
  sides.push(["baseline", m.Registry as Reg]);
}

function run(R: Reg): number {
  const reg = new R();
  const c = reg.counter({ name: "q_total", help: "h", labelNames: ["handler", "result"] });
  const h = reg.histogram({ name: "d", help: "h", labelNames: ["grpc_method", "grpc_type"] });
  const results = ["success", "error"];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    c.inc({ handler: "query", result: results[i & 1] });
    h.observe({ grpc_method: "Series", grpc_type: "server_stream" }, 0.001);
  }
  return ((performance.now() - t0) * 1e6) / N / 2;
}

const best = new Map<string, number[]>(sides.map(([n]) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, R] of r % 2 === 0 ? sides : [...sides].reverse()) best.get(name)!.push(run(R));
}
for (const [name, xs] of best) {
  xs.sort((a, b) => a - b);
  console.log(
    `${name}: ns per labelled update, median ${xs[xs.length >> 1].toFixed(1)}, best ${
      xs[0].toFixed(1)
    }`,
  );
}

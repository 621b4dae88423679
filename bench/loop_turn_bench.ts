// Cost of the PromQL engine's event-loop turns (runutil/loop_turn.ts): one CPU-heavy range query
// evaluated in-process, alternately with a socket-reading I/O turn every 5 ms of work through a
// loopback pair (the engine's default on a role's own thread), with timer turns instead (the
// fallback without the pair) and with cheap message turns between socket-reading turns every
// 100 ms (the eval workers). Prints the median times and their ratios; never asserts a time.
//
//   deno run -A bench/loop_turn_bench.ts [--runs=5]

import { Head } from "../tsdb/head.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import { Engine } from "../promql/engine.ts";
import { closeIoTurns, ioTurnsUseSocket, useIoTurnPort } from "../runutil/loop_turn.ts";

const runsArg = Deno.args.find((a) => a.startsWith("--runs="));
const RUNS = runsArg ? Number(runsArg.slice(7)) : 5;

const head = await Head.open(null);
const app = head.appender();
for (let s = 0; s < 20; s++) {
  const labels = labelsFromObject({ __name__: "busy", s: String(s) });
  for (let t = 0; t < 7200; t++) app.append(labels, t * 1000, (t * 7919 + s * 104729) % 1000);
}
await app.commit();

const QUERY = "quantile_over_time(0.5, busy[30m])";
const engines = {
  "I/O turns (loopback pair)": new Engine(),
  "timer turns (no pair)": new Engine(),
  "message turns, socket every 100 ms": new Engine({ ioTurnEvery: 100 }),
};
const times = new Map<string, number[]>(Object.keys(engines).map((k) => [k, []]));
for (let r = 0; r < RUNS; r++) {
  for (const [name, e] of Object.entries(engines)) {
    // the pair only for the first engine: the others' socket-reading turns are timer turns
    if (name.startsWith("I/O")) useIoTurnPort(0);
    else closeIoTurns();
    const s = performance.now();
    const res = await e.rangeQuery(head.querier(), QUERY, 1_800_000, 7_200_000, 5_000);
    times.get(name)!.push(performance.now() - s);
    if (name.startsWith("I/O") && !ioTurnsUseSocket()) throw new Error("no loopback pair");
    if (res.value.type !== "matrix" || res.value.series.length !== 20) {
      throw new Error("bad answer");
    }
  }
}
closeIoTurns();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const med = [...times].map(([name, xs]) => [name, median(xs)] as const);
for (const [name, m] of med) console.log(`${name.padEnd(36)} median ${m.toFixed(0)} ms`);
console.log(
  `ratios timer / I/O: ${(med[1][1] / med[0][1]).toFixed(3)}, message / I/O: ${
    (med[2][1] / med[0][1]).toFixed(3)
  }`,
);

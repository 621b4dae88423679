// Block querier select throughput on a 100,000-series block written once into a temp dir.
// Run: deno bench -A bench/select_bench.ts  (env SELECT_BENCH_SERIES to change the size)

import { generateDataset } from "../scripts/dataset.ts";
import { Block } from "../tsdb/block.ts";
import { writeBlock } from "../tsdb/block_writer.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { BlockQuerier } from "../tsdb/querier.ts";
import type { SelectHints } from "../tsdb/series.ts";

const SERIES = Number(Deno.env.get("SELECT_BENCH_SERIES") ?? 100_000);
const H = 3_600_000;

const dir = await Deno.makeTempDir({ prefix: "select-bench-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});

let t0 = performance.now();
const ds = generateDataset({ series: SERIES, start: 0, end: 2 * H, stepMs: 120_000, seed: 1 });
const meta = await writeBlock(dir, ds.series, { minTime: 0, maxTime: 2 * H });
console.log(
  `block: ${meta.stats.numSeries} series, ${meta.stats.numSamples} samples, ` +
    `${meta.stats.numChunks} chunks written in ${(performance.now() - t0).toFixed(0)} ms`,
);
const block = await Block.open(`${dir}/${meta.ulid}`);
const q = new BlockQuerier(block);

const SOME = [
  new Matcher(MatchType.Equal, "__name__", "up"),
  new Matcher(MatchType.Regexp, "job", "api|web"),
];
const ALL = [new Matcher(MatchType.Regexp, "__name__", ".+")];
const HINTS: SelectHints = { start: 0, end: 2 * H };

async function count(ms: Matcher[], hints: SelectHints): Promise<number> {
  let n = 0;
  for await (const _ of q.select(ms, hints)) n++;
  return n;
}

// One timed pass of each case, printed as series/s (deno bench reports time per run).
for (
  const [name, ms, hints] of [
    ["~1k series", SOME, HINTS],
    ["all series", ALL, HINTS],
    ["all series, skipChunks", ALL, { ...HINTS, skipChunks: true }],
  ] as const
) {
  t0 = performance.now();
  const n = await count([...ms], hints);
  const dt = performance.now() - t0;
  console.log(
    `select ${name}: ${n} series in ${dt.toFixed(0)} ms = ${(n / dt * 1000).toFixed(0)} series/s`,
  );
}

Deno.bench({ name: "select ~1k series with chunks", n: 20, warmup: 2 }, async () => {
  await count(SOME, HINTS);
});

Deno.bench({ name: `select all ${SERIES} series with chunks`, n: 3, warmup: 1 }, async () => {
  await count(ALL, HINTS);
});

Deno.bench({ name: `select all ${SERIES} series, skipChunks`, n: 3, warmup: 1 }, async () => {
  await count(ALL, { ...HINTS, skipChunks: true });
});

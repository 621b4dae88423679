// Idle RSS of the store gateway with and without `--store.enable-index-header-lazy-reader`
// (issue 19 goal 3: memory follows the queries in flight, not the bucket): buckets of
// `--blocks` and 4 × `--blocks` two-hour blocks whose indexes have large symbol tables (every
// series its own long `id`), two store processes side by side per bucket (defaults; lazy reader
// with the lazy download strategy), RSS from /proc/<pid>/status once both are ready and again
// after one Series call read every block. Prints figures; asserts nothing.
//
//   deno run -A bench/store_lazy_idle_rss.ts [--blocks=12] [--series=4000]

import { parseArgs } from "node:util";
import { TempDirs } from "../tests/helpers/tmp.ts";
import { startComponent, type ThanosProc } from "../tests/helpers/thanos.ts";
import { StoreClient } from "../storeapi/client.ts";
import { type RawSeries, writeBlock } from "../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";

const H = 3_600_000;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    blocks: { type: "string", default: "12" },
    series: { type: "string", default: "4000" },
  },
});
const SERIES = Number(values.series);

function blockSeries(b: number): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < SERIES; i++) {
    out.push({
      labels: labelsFromObject({
        __name__: `m${i % 400}`,
        id: `b${b}-${String(i).padStart(6, "0")}-${"x".repeat(24)}`,
        job: i % 3 === 0 ? "api" : "db",
      }),
      ts: Float64Array.of(b * 2 * H + 1000, b * 2 * H + 61_000),
      vs: Float64Array.of(i, i + 1),
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

function rssMiB(p: ThanosProc): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${p.child.pid}/status`));
  return Math.round(Number(m?.[1] ?? NaN) / 1024);
}

async function readAll(p: ThanosProc, blocks: number): Promise<number> {
  const c = new StoreClient(p.grpc);
  try {
    let n = 0;
    const matchers = [new Matcher(MatchType.Equal, "__name__", "m3")];
    for await (
      const s of c.series(
        { minTime: 0, maxTime: blocks * 2 * H, matchers },
        AbortSignal.timeout(120_000),
      )
    ) if (!("warning" in s)) n++;
    return n;
  } finally {
    c.close();
  }
}

await using dirs = new TempDirs();
const base = Number(values.blocks);
for (const blocks of [base, 4 * base]) {
  const root = await dirs.make();
  await Deno.mkdir(`${root}/bucket`);
  for (let b = 0; b < blocks; b++) {
    await writeBlock(`${root}/bucket`, blockSeries(b), {
      minTime: b * 2 * H,
      maxTime: (b + 1) * 2 * H,
      thanos: { labels: {}, downsample: { resolution: 0 }, source: "bench" },
    });
  }
  const bucket = `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`;
  const procs: ThanosProc[] = [];
  try {
    const off = await startComponent("store", [bucket, `--data-dir=${root}/off`], {
      name: "store (defaults)",
      timeoutMs: 600_000,
    });
    procs.push(off);
    const on = await startComponent("store", [
      bucket,
      `--data-dir=${root}/on`,
      "--store.enable-index-header-lazy-reader",
      "--store.index-header-lazy-download-strategy=lazy",
    ], { name: "store (lazy)", timeoutMs: 600_000 });
    procs.push(on);
    await new Promise((r) => setTimeout(r, 2000));
    const idle = [rssMiB(off), rssMiB(on)];
    const n = [await readAll(off, blocks), await readAll(on, blocks)];
    const after = [rssMiB(off), rssMiB(on)];
    console.log(
      `${blocks} blocks × ${SERIES} series: idle RSS ${idle[0]} MiB (defaults) vs ${idle[1]} MiB ` +
        `(lazy reader); after a Series call over every block (${n[0]}/${n[1]} series) ` +
        `${after[0]} vs ${after[1]} MiB`,
    );
  } finally {
    for (const p of procs) await p.stop();
  }
}

// Head benchmarks (issue 13 must-show 5), printed, never asserted:
//   deno run -A --v8-flags=--expose-gc bench/head_bench.ts [series=10000] [samplesPerSeries=120]
// - append throughput (samples/s, one core) through HeadAppender with one commit per scrape
// - memory per active series (bytes, Deno.memoryUsage heapUsed+external before/after, after GC)
// - WAL bytes per sample
// - replay time per million samples (reopen the head on the WAL)
// - head select latency (all series; one series by label)
// - fsync policy cost: per-commit vs interval (group commit) vs none, 16 concurrent committers

import { Head } from "../tsdb/head.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";

const SERIES = Number(Deno.args[0] ?? 10_000);
const PER_SERIES = Number(Deno.args[1] ?? 120);

const gc = (globalThis as { gc?: () => void }).gc;
function mem(): number {
  gc?.();
  gc?.();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

async function dirSize(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    n += e.isDirectory ? await dirSize(p) : (await Deno.stat(p)).size;
  }
  return n;
}

function labelsOf(n: number): Labels[] {
  return Array.from({ length: n }, (_, i) =>
    labelsFromObject({
      __name__: `bench_metric_${i % 50}`,
      instance: `host-${i % 500}:9100`,
      job: "node",
      id: String(i),
    }));
}

const dir = await Deno.makeTempDir({ prefix: "head-bench-" });
try {
  const labels = labelsOf(SERIES);
  // ---- append throughput + memory
  const before = mem();
  const head = await Head.open(dir, { fsync: { mode: "per-commit" } });
  const t0 = performance.now();
  for (let k = 0; k < PER_SERIES; k++) {
    const app = head.appender();
    const t = k * 15_000;
    for (let i = 0; i < SERIES; i++) app.append(labels[i], t, k % 100 === 99 ? 0 : k * 3 + i);
    await app.commit();
  }
  const dt = (performance.now() - t0) / 1000;
  const total = SERIES * PER_SERIES;
  const after = mem();
  console.log(`series=${SERIES} samples/series=${PER_SERIES} total=${total}`);
  console.log(
    `append: ${(total / dt / 1e6).toFixed(2)} M samples/s (${dt.toFixed(2)} s, ` +
      `per-commit fsync, ${head.fsyncs} fsyncs)`,
  );
  console.log(
    `memory per active series: ${Math.round((after - before) / SERIES)} bytes ` +
      `(${PER_SERIES} samples each${
        gc ? "" : "; run with --v8-flags=--expose-gc for exact figures"
      })`,
  );
  // ---- select latency
  const all = [new Matcher(MatchType.Regexp, "__name__", ".+")];
  const one = [new Matcher(MatchType.Equal, "id", "4242")];
  for (const [name, ms] of [["all series", all], ["one series", one]] as const) {
    const reps = name === "all series" ? 5 : 200;
    const s0 = performance.now();
    let n = 0;
    for (let r = 0; r < reps; r++) {
      for await (const _ of head.querier().select(ms, { start: 0, end: Infinity })) n++;
    }
    console.log(
      `select ${name}: ${((performance.now() - s0) / reps).toFixed(2)} ms (${n / reps} series)`,
    );
  }
  await head.close();
  const walBytes = await dirSize(`${dir}/wal`);
  console.log(`WAL: ${walBytes} bytes, ${(walBytes / total).toFixed(2)} bytes/sample`);

  // ---- replay
  const r0 = performance.now();
  const h2 = await Head.open(dir);
  const rt = performance.now() - r0;
  console.log(
    `replay: ${rt.toFixed(0)} ms for ${h2.replayStats!.samples} samples = ` +
      `${(rt / (h2.replayStats!.samples / 1e6)).toFixed(0)} ms per million samples`,
  );
  await h2.close();

  // ---- fsync policies: 16 concurrent committers, 1000 samples per commit
  const policies = [
    { mode: "per-commit" as const },
    { mode: "interval" as const, intervalMs: 10, maxPending: 16 },
    { mode: "interval" as const, intervalMs: 100 },
    { mode: "none" as const },
  ];
  for (const fsync of policies) {
    const d = await Deno.makeTempDir({ dir, prefix: "fsync-" });
    const h = await Head.open(d, { fsync });
    const ls = labelsOf(16_000);
    const rounds = 40;
    const c0 = performance.now();
    const lat: number[] = [];
    await Promise.all(Array.from({ length: 16 }, async (_, w) => {
      for (let r = 0; r < rounds; r++) {
        const app = h.appender();
        for (let i = 0; i < 1000; i++) app.append(ls[w * 1000 + i], r * 15_000, r + i);
        const a = performance.now();
        await app.commit();
        lat.push(performance.now() - a);
      }
    }));
    const secs = (performance.now() - c0) / 1000;
    lat.sort((a, b) => a - b);
    const commits = 16 * rounds;
    console.log(
      `fsync ${JSON.stringify(fsync)}: ${(commits / secs).toFixed(0)} commits/s, ` +
        `${((commits * 1000) / secs / 1e6).toFixed(2)} M samples/s, ${h.fsyncs} fsyncs for ` +
        `${commits} commits, commit latency p50 ${lat[lat.length >> 1].toFixed(1)} ms ` +
        `p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(1)} ms`,
    );
    await h.close();
  }
  // sequential single committer: per-commit fsync cost
  for (const fsync of [{ mode: "per-commit" as const }, { mode: "none" as const }]) {
    const d = await Deno.makeTempDir({ dir, prefix: "seq-" });
    const h = await Head.open(d, { fsync });
    const ls = labelsOf(100);
    const c0 = performance.now();
    for (let r = 0; r < 300; r++) {
      const app = h.appender();
      for (const l of ls) app.append(l, r * 1000, r);
      await app.commit();
    }
    const ms = (performance.now() - c0) / 300;
    console.log(`sequential commits of 100 samples, ${fsync.mode}: ${ms.toFixed(2)} ms/commit`);
    await h.close();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

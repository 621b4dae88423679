// Issue 15 must-show 6: our compactor side by side with Prometheus 2.42 compacting the same 2h
// blocks, same machine, same run. Printed, never asserted:
//   deno run -A bench/compact_vs_prometheus.ts [series=2000] [blocks=25]
// Workload: `blocks` 2h blocks (generated data: counters with resets, gauges, histograms, gaps;
// 30 s scrapes) written once by our block writer and given to both:
// - ours: uploaded to a FILESYSTEM bucket and compacted by `thanos compact` (one iteration, a
//   process started like a user would) with Thanos's levels 2h → 8h → 2d; then downsampling of
//   the 2d block to 5m in a second run;
// - Prometheus: the same block directories as its data dir, started with its default block
//   durations (levels 2h → 6h → 18h → 54h …, https://prometheus.io/docs/prometheus/2.42/storage/);
//   its TSDB compacts them in its background loop (the first pass about a minute after start).
// Figures per side: compactions, Σ of the compaction durations each logs (ours: "compacted
// blocks" duration, which includes the download from and upload to the bucket; Prometheus:
// "compact blocks" duration), source samples / Σ durations (samples/s; both rewrite each sample
// once per level they pass through, so this is the throughput of the whole job), and peak RSS
// (VmHWM of the process: ours includes the Deno runtime, Prometheus its empty head).
// Downsampling: source samples of the 2d block / "downsampled block" duration.

import { uploadSeriesBlocks } from "../tests/helpers/compact_bucket.ts";
import { generateDataset } from "../scripts/dataset.ts";
import { FilesystemBucket } from "../objstore/filesystem.ts";
import { startPrometheus } from "../tests/helpers/prometheus.ts";
import { freePort } from "../tests/helpers/ports.ts";
import { spawnMain } from "../tests/helpers/thanos.ts";

const SERIES = Number(Deno.args[0] ?? 2000);
const BLOCKS = Number(Deno.args[1] ?? 25);
const H = 3600_000;
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (48 * H));

/** Go duration text ("1m2.5s", "350.2ms", "12µs") in seconds. */
function goDurationSeconds(s: string): number {
  const unit: Record<string, number> = {
    ns: 1e-9,
    us: 1e-6,
    "µs": 1e-6,
    ms: 1e-3,
    s: 1,
    m: 60,
    h: 3600,
  };
  let total = 0;
  for (const m of s.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
  return total;
}

/** Peak resident set (VmHWM) of a live process in bytes, or 0 when unreadable. */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function runOurs(
  bucketDir: string,
  dataDir: string,
  extra: string[],
): Promise<{ logs: string; peak: number; wall: number }> {
  const port = freePort();
  const began = performance.now();
  const p = spawnMain(
    [
      "compact",
      `--http-address=127.0.0.1:${port}`,
      `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${bucketDir}\n`,
      `--data-dir=${dataDir}`,
      "--consistency-delay=0s",
      "--delete-delay=0s",
      "--http-grace-period=0s",
      ...extra,
    ],
    port,
    "compact",
  );
  let peak = 0;
  const timer = setTimeout(() => p.stop(1000, "SIGKILL"), 600_000);
  while (p.alive) {
    peak = Math.max(peak, peakRss(p.child.pid));
    await new Promise((r) => setTimeout(r, 50));
  }
  clearTimeout(timer);
  const st = await p.status;
  if (st.code !== 0) throw new Error(`compactor failed:\n${p.logs().slice(-3000)}`);
  return { logs: p.logs(), peak, wall: (performance.now() - began) / 1000 };
}

const root = await Deno.makeTempDir({ prefix: "compact-bench-" });
try {
  const ds = generateDataset({
    series: SERIES,
    start: T0,
    end: T0 + BLOCKS * 2 * H,
    stepMs: 30_000,
    seed: 15,
    specialValues: false,
  });
  const series = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
  const src = `${root}/src`;
  const bucketDir = `${root}/bucket`;
  const metas = await uploadSeriesBlocks(new FilesystemBucket(bucketDir), src, series, {
    cluster: "bench",
  });
  const samples = metas.reduce((n, m) => n + (m.stats.numSamples ?? 0), 0);
  console.log(
    `workload: ${ds.series.length} series, ${metas.length} 2h blocks, ${samples} samples`,
  );

  // Prometheus on a copy of the same block directories
  const promDir = `${root}/prom`;
  const cp = await new Deno.Command("cp", { args: ["-r", src, promDir] }).output();
  if (!cp.success) throw new Error("cp failed");
  const prom = await startPrometheus({
    dataDir: promDir,
    config: "global:\n  scrape_interval: 1h\n",
    extraFlags: ["--storage.tsdb.retention.time=100000d"],
  });
  let promLines: string[] = [];
  let promPeak = 0;
  try {
    const pid = Number(
      new TextDecoder().decode(
        (await new Deno.Command("pgrep", { args: ["-n", "-f", promDir] }).output()).stdout,
      ).trim(),
    );
    // its compaction loop starts about a minute after start; done when no compaction was
    // logged for 10 s after the first one (bounded: 4 minutes)
    const deadline = Date.now() + 240_000;
    let lastCount = 0;
    let stableSince = Date.now();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      if (pid > 0) promPeak = Math.max(promPeak, peakRss(pid));
      promLines = prom.logs().split("\n").filter((l) => l.includes('msg="compact blocks"'));
      if (promLines.length !== lastCount) {
        lastCount = promLines.length;
        stableSince = Date.now();
      } else if (lastCount > 0 && Date.now() - stableSince > 10_000) break;
    }
  } finally {
    await prom.stop();
  }
  const promSecs = promLines.reduce(
    (t, l) => t + goDurationSeconds(/duration=(\S+)/.exec(l)?.[1] ?? "0s"),
    0,
  );

  // ours: compaction only, then downsampling in a second run
  const ours = await runOurs(bucketDir, `${root}/data`, ["--downsampling.disable"]);
  const ourLines = ours.logs.split("\n").filter((l) => l.includes('msg="compacted blocks"'));
  const ourSecs = ourLines.reduce(
    (t, l) => t + Number(/duration=([0-9.]+)s/.exec(l)?.[1] ?? 0),
    0,
  );
  const ds5m = await runOurs(bucketDir, `${root}/data`, []);
  const dsLine = ds5m.logs.split("\n").find((l) => l.includes('msg="downsampled block"')) ?? "";
  const dsMs = Number(/duration_ms=(\d+)/.exec(dsLine)?.[1] ?? NaN);
  const dsSamples = metas.slice(0, 24).reduce((n, m) => n + (m.stats.numSamples ?? 0), 0);

  const rate = (s: number) => Math.round(samples / s);
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  console.log("side by side (machine shared with other jobs: compare the ratios):");
  console.log(
    `  ours:       ${ourLines.length} compactions, Σ ${ourSecs.toFixed(2)} s, ` +
      `${rate(ourSecs)} samples/s, peak RSS ${mb(ours.peak)} MiB (process wall ${
        ours.wall.toFixed(1)
      } s)`,
  );
  console.log(
    `  Prometheus: ${promLines.length} compactions, Σ ${promSecs.toFixed(2)} s, ` +
      `${rate(promSecs)} samples/s, peak RSS ${mb(promPeak)} MiB`,
  );
  console.log(`  throughput ratio ours/Prometheus: ${(promSecs / ourSecs).toFixed(2)}`);
  console.log(
    `  downsampling 2d raw → 5m: ${dsSamples} samples in ${dsMs} ms (${
      Math.round(dsSamples / (dsMs / 1000))
    } samples/s)`,
  );
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => undefined);
}

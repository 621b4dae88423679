// Sidecar throughput: series/s and samples/s streamed through `thanos sidecar` (StoreAPI Series
// over gRPC, external labels attached and re-sorted) from a real Prometheus holding N series × H
// hours, against reading the same data straight from Prometheus's remote read (streamed chunks).
// Prints figures and the ratio; asserts nothing.
//
//   deno run -A bench/sidecar_bench.ts [--series=10000] [--hours=6] [--runs=3]

import { generateDataset } from "../scripts/dataset.ts";
import { createBlocksFromSeries } from "../tsdb/block_writer.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import type { SeriesWithChunks } from "../tsdb/series.ts";
import { StoreClient } from "../storeapi/client.ts";
import { PrometheusClient } from "../promclient/client.ts";
import { remoteRead } from "../promclient/remote_read.ts";
import { LabPrometheus, startSidecar } from "../tests/helpers/sidecar_lab.ts";

function arg(name: string, def: number): number {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : def;
}

const SERIES = arg("series", 10_000);
const HOURS = arg("hours", 6);
const RUNS = arg("runs", 3);

function samplesOf(s: SeriesWithChunks): number {
  let n = 0;
  for (const c of s.chunks) n += (c.data[0] << 8) | c.data[1];
  return n;
}

async function measure(
  name: string,
  read: () => AsyncIterable<SeriesWithChunks | { warning: string }>,
): Promise<{ name: string; series: number; samples: number; secs: number }> {
  let best = Infinity;
  let series = 0;
  let samples = 0;
  for (let r = 0; r < RUNS; r++) {
    series = 0;
    samples = 0;
    const t0 = performance.now();
    for await (const s of read()) {
      if ("warning" in s) throw new Error(s.warning);
      series++;
      samples += samplesOf(s);
    }
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return { name, series, samples, secs: best };
}

const dir = await Deno.makeTempDir({ prefix: "thanos-sidecar-bench-" });
const prom = new LabPrometheus({
  dataDir: `${dir}/data`,
  externalLabels: { region: "bench", replica: "A" },
  scrapeInterval: "1h",
  extraFlags: ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"],
});
let sidecar: Awaited<ReturnType<typeof startSidecar>> | undefined;
try {
  const end = Math.floor(Date.now() / 7_200_000) * 7_200_000 - 7_200_000;
  const start = end - HOURS * 3600_000;
  const t0 = performance.now();
  const ds = generateDataset({
    series: SERIES,
    start,
    end,
    stepMs: 15_000,
    seed: 7,
    specialValues: false,
  });
  await createBlocksFromSeries(`${dir}/data`, ds.series);
  const total = ds.series.reduce((n, s) => n + s.ts.length, 0);
  console.log(
    `data: ${ds.series.length} series, ${total} samples over ${HOURS}h at 15s ` +
      `(blocks written in ${((performance.now() - t0) / 1000).toFixed(1)}s)`,
  );
  await prom.start();
  sidecar = await startSidecar(prom.url, [`--tsdb.path=${dir}/data`, "--log.level=warn"]);
  const matchers = [new Matcher(MatchType.NotEqual, "__name__", "")];
  const client = new PrometheusClient(prom.url);
  const store = new StoreClient(sidecar.grpc);
  const direct = await measure(
    "Prometheus remote read (direct)",
    () => remoteRead(client, { start, end, matchers }),
  );
  const via = await measure(
    "thanos sidecar StoreAPI Series",
    () => store.series({ minTime: start, maxTime: end, matchers }),
  );
  client.close();
  store.close();
  for (const m of [direct, via]) {
    console.log(
      `${m.name.padEnd(34)} ${m.series} series, ${m.samples} samples in ${m.secs.toFixed(2)}s: ` +
        `${Math.round(m.series / m.secs)} series/s, ${Math.round(m.samples / m.secs)} samples/s`,
    );
  }
  console.log(`sidecar / direct throughput: ${(direct.secs / via.secs).toFixed(2)}`);
} finally {
  await sidecar?.stop();
  await prom.dispose();
  await Deno.remove(dir, { recursive: true });
}

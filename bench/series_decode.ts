// CPU of decoding `SeriesResponse` batches in the querier (issue 19): node-exporter-like sorted
// series (`__name__`, `cpu`, `instance`, `job`, `mode`), 64 per batch, one 120-sample XOR chunk
// each, encoded once and decoded again and again. Prints ms per pass, never asserts.
//
//   deno run -A bench/series_decode.ts [--series=1360] [--rounds=20] [--baseline=<checkout dir>]
//     [--shape=up]
//
// `--shape=up`: `up`-like series instead (`__name__`, `instance`, `job`; sorted, so the job
// changes every series and the instance every third; one 120-sample chunk of 1s, 20 bytes).
//
// With `--baseline`, the other checkout's `storeapi/codec.ts` decodes the same bytes in the same
// process, rounds alternating between the two (fastest and median round printed per side).

import { XorAppender } from "../tsdb/chunkenc/xor.ts";
import { ChunkEncoding, type SeriesWithChunks } from "../tsdb/series.ts";
import * as ours from "../storeapi/codec.ts";

function flag(name: string, def: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const SERIES = Number(flag("series", "1360"));
const ROUNDS = Number(flag("rounds", "20"));
const BASELINE = flag("baseline", "");
/** Decodes of the whole set per round. */
const PASSES = 200;

const SHAPE = flag("shape", "node_cpu");
const app = new XorAppender();
for (let i = 0; i < 120; i++) {
  app.append(1_700_000_000_000 + i * 15_000, SHAPE === "up" ? 1 : 1000 + i * 3.5);
}
const chunk = { minTime: 1_700_000_000_000, maxTime: 1_700_001_785_000 };
const data = app.bytes();

const MODES = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
const JOBS = ["api", "db", "web"];
const series: SeriesWithChunks[] = [];
for (let host = 0; SHAPE === "up" && series.length < SERIES; host++) {
  for (let j = 0; j < JOBS.length && series.length < SERIES; j++) {
    series.push({
      labels: [
        "__name__",
        "up",
        "instance",
        `host-${String(host).padStart(3, "0")}:9100`,
        "job",
        JOBS[j],
      ],
      chunks: [{ ...chunk, encoding: ChunkEncoding.XOR, data }],
    });
  }
}
for (let cpu = 0; series.length < SERIES; cpu++) {
  for (let host = 0; host < 170 && series.length < SERIES; host++) {
    for (let m = 0; m < 4 && series.length < SERIES; m++) {
      series.push({
        labels: [
          "__name__",
          "node_cpu_seconds_total",
          "cpu",
          String(cpu),
          "instance",
          `host-${String(host).padStart(3, "0")}:9100`,
          "job",
          "node",
          "mode",
          MODES[m],
        ],
        chunks: [{ ...chunk, encoding: ChunkEncoding.XOR, data }],
      });
    }
  }
}
const frames: Uint8Array[] = [];
for (let i = 0; i < series.length; i += 64) {
  frames.push(ours.encodeSeriesResponseBatch(series.slice(i, i + 64)));
}

type Decode = (buf: Uint8Array) => unknown;
const sides: { name: string; decode: Decode; ms: number[] }[] = [
  { name: "this checkout", decode: ours.decodeSeriesResponse, ms: [] },
];
if (BASELINE !== "") {
  const mod = await import(`${BASELINE}/storeapi/codec.ts`);
  sides.push({ name: "baseline", decode: mod.decodeSeriesResponse, ms: [] });
}

let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < sides.length; k++) {
    const side = sides[(round + k) % sides.length];
    const t0 = performance.now();
    for (let p = 0; p < PASSES; p++) {
      for (const f of frames) sink += side.decode(f) === null ? 0 : 1;
    }
    side.ms.push((performance.now() - t0) / PASSES);
  }
}
if (sink === 0) throw new Error("nothing decoded");
console.log(`${series.length} series in ${frames.length} batches; ms per pass over them`);
for (const s of sides) {
  const sorted = [...s.ms].sort((a, b) => a - b);
  const fastest = sorted[0].toFixed(3);
  const median = sorted[sorted.length >> 1].toFixed(3);
  console.log(`${s.name}: fastest ${fastest}, median ${median}`);
}

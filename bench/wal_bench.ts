// WAL throughput: record encode/decode, Wal.log with and without snappy (no fsync), log+sync,
// and reading a WAL back; bytes per sample are printed at start. Figures are printed by
// `deno bench`, never asserted. Run: deno bench -A bench/wal_bench.ts
// One batch = one scrape of 10k series (sequential refs, ~15 s timestamps with jitter, counter
// and gauge values), i.e. what a head commit of a large scrape writes as one samples record.

import * as snappyjs from "snappyjs";
import {
  decodeSamples,
  decodeSeries,
  encodeSamples,
  encodeSeries,
  type RefSeries,
  type SamplesBatch,
} from "../tsdb/wal/records.ts";
import { readRecords, Wal } from "../tsdb/wal/wal.ts";

const SERIES = 10_000;
const BATCHES = 20;

/** Deterministic PRNG so every run measures the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = rng(7);
const series: RefSeries[] = [];
for (let i = 0; i < SERIES; i++) {
  series.push({
    ref: i + 1,
    labels: [
      "__name__",
      `http_requests_${i % 20}_total`,
      "code",
      String(200 + (i % 5)),
      "instance",
      `10.0.${i % 250}.${i % 7}:9100`,
      "job",
      "node",
      "path",
      `/api/v1/endpoint/${i % 100}`,
    ],
  });
}
const counters = new Float64Array(SERIES);
const batches: SamplesBatch[] = [];
for (let b = 0; b < BATCHES; b++) {
  const batch = {
    n: SERIES,
    refs: new Float64Array(SERIES),
    ts: new Float64Array(SERIES),
    vs: new Float64Array(SERIES),
  };
  const t0 = 1_700_000_000_000 + b * 15_000;
  for (let i = 0; i < SERIES; i++) {
    batch.refs[i] = i + 1;
    batch.ts[i] = t0 + Math.floor(rand() * 50);
    if (i % 2 === 0) {
      counters[i] += Math.floor(rand() * 100);
      batch.vs[i] = counters[i];
    } else batch.vs[i] = Math.round(rand() * 1e6) / 100;
  }
  batches.push(batch);
}
const sampleRecs = batches.map(encodeSamples);
const seriesRec = encodeSeries(series);

// ---- bytes per sample (printed once)
{
  let raw = 0;
  let snappy = 0;
  for (const r of sampleRecs) {
    raw += r.length;
    snappy += Math.min(r.length, (snappyjs.compress(r) as Uint8Array).length);
  }
  const n = SERIES * BATCHES;
  const sRaw = seriesRec.length;
  const sSnappy = (snappyjs.compress(seriesRec) as Uint8Array).length;
  console.log(
    `WAL record bytes per sample: ${(raw / n).toFixed(2)} uncompressed, ` +
      `${(snappy / n).toFixed(2)} snappy (+7 B header per ≤32 KiB fragment); ` +
      `series record: ${(sRaw / SERIES).toFixed(1)} B/series uncompressed, ` +
      `${(sSnappy / SERIES).toFixed(1)} snappy`,
  );
}

let sink = 0;

Deno.bench(`encodeSamples: ${SERIES} samples per record`, { group: "records" }, () => {
  sink += encodeSamples(batches[sink % BATCHES]).length;
});

Deno.bench(`decodeSamples: ${SERIES} samples per record`, { group: "records" }, () => {
  sink += decodeSamples(sampleRecs[sink % BATCHES]).n;
});

Deno.bench(`encodeSeries: ${SERIES} series (5 labels)`, { group: "records" }, () => {
  sink += encodeSeries(series).length;
});

Deno.bench(`decodeSeries: ${SERIES} series (5 labels)`, { group: "records" }, () => {
  sink += decodeSeries(seriesRec).length;
});

// ---- Wal.log

const tmp = Deno.makeTempDirSync({ prefix: "wal-bench-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(tmp, { recursive: true });
  } catch { /* gone */ }
});

async function openBenchWal(name: string, compress: boolean): Promise<Wal> {
  return await Wal.open(`${tmp}/${name}`, { compress, segmentSize: 16 * 1024 * 1024 });
}

/** Logs one record and deletes finished segments so the bench's disk use stays bounded. */
async function logOne(w: Wal, rec: Uint8Array): Promise<void> {
  const seg = w.currentSegment;
  await w.log(rec);
  if (w.currentSegment !== seg) await w.truncate(w.currentSegment);
}

const walPlain = await openBenchWal("plain", false);
const walSnappy = await openBenchWal("snappy", true);
const walSync = await openBenchWal("sync", false);
let k = 0;

Deno.bench(`Wal.log: ${SERIES}-sample record, uncompressed`, { group: "log" }, async () => {
  await logOne(walPlain, sampleRecs[k++ % BATCHES]);
});

Deno.bench(`Wal.log: ${SERIES}-sample record, snappy`, { group: "log" }, async () => {
  await logOne(walSnappy, sampleRecs[k++ % BATCHES]);
});

Deno.bench(
  `Wal.log + sync (fsync per batch): ${SERIES}-sample record, uncompressed`,
  { group: "log" },
  async () => {
    await logOne(walSync, sampleRecs[k++ % BATCHES]);
    await walSync.sync();
  },
);

Deno.bench(
  `Wal.log: 100-sample record (small commit), uncompressed`,
  { group: "log" },
  async () => {
    await logOne(walPlain, encodeSamples({ ...batches[k++ % BATCHES], n: 100 }));
  },
);

// ---- reading back: one WAL of every batch, compressed and not

for (const compress of [false, true]) {
  const dir = `${tmp}/read-${compress}`;
  const w = await Wal.open(dir, { compress });
  await w.log(seriesRec, ...sampleRecs);
  await w.close();
  Deno.bench(
    `readRecords + decodeSamples: ${BATCHES}×${SERIES} samples, ${
      compress ? "snappy" : "uncompressed"
    }`,
    { group: "read" },
    async () => {
      let n = 0;
      for await (const rec of readRecords(dir)) {
        if (rec[0] === 2) n += decodeSamples(rec).n;
      }
      sink += n;
    },
  );
}

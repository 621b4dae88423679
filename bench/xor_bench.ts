// XOR chunk encode/decode throughput on realistic 120-sample chunks (15 s scrape interval with
// a little jitter, counter-like and gauge-like values). Run: deno bench -A bench/xor_bench.ts
// Samples/s = CHUNKS * 120 / (time per iteration).
//
// The "window" groups decode 170 chunks at an exact 15 s the way an instant query's selector does
// (`decodeRest` to the last 5 minutes): `up`-like chunks (1, with a 0 now and then: mostly
// repeated samples) and changing gauges; ns per sample = time per iteration / (170 × 120).
// With XOR_BASELINE=<checkout dir> the other checkout's decoder runs the same groups beside ours.

import { decodeXorSamples, XorAppender, XorIterator } from "../tsdb/chunkenc/xor.ts";

type XorModule = typeof import("../tsdb/chunkenc/xor.ts");
const BASELINE_DIR = Deno.env.get("XOR_BASELINE") ?? "";
const baseline: XorModule | null = BASELINE_DIR === ""
  ? null
  : await import(`file://${BASELINE_DIR}/tsdb/chunkenc/xor.ts`);

const CHUNKS = 100;
const SAMPLES = 120;

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

const rand = rng(1);
const inputT: Float64Array[] = [];
const inputV: Float64Array[] = [];
for (let c = 0; c < CHUNKS; c++) {
  const ts = new Float64Array(SAMPLES);
  const vs = new Float64Array(SAMPLES);
  let t = 1_700_000_000_000 + c * 7_200_000;
  let v = Math.floor(rand() * 1000);
  const gauge = c % 2 === 1;
  for (let i = 0; i < SAMPLES; i++) {
    t += 15000 + (rand() < 0.2 ? Math.floor(rand() * 20) - 10 : 0);
    v = gauge ? rand() * 100 : v + Math.floor(rand() * 10);
    ts[i] = t;
    vs[i] = v;
  }
  inputT.push(ts);
  inputV.push(vs);
}

const chunks: Uint8Array[] = inputT.map((ts, c) => {
  const app = new XorAppender();
  for (let i = 0; i < SAMPLES; i++) app.append(ts[i], inputV[c][i]);
  return app.bytes();
});

let sink = 0;

Deno.bench(`decode ${CHUNKS}×${SAMPLES}-sample chunks with XorIterator`, {
  group: "decode",
  baseline: true,
}, () => {
  const it = new XorIterator();
  let s = 0;
  for (let c = 0; c < CHUNKS; c++) {
    it.reset(chunks[c]);
    while (it.next()) s += it.t;
  }
  sink += s;
});

Deno.bench(`decode ${CHUNKS}×${SAMPLES}-sample chunks with XorIterator reading values`, {
  group: "decode",
}, () => {
  const it = new XorIterator();
  let s = 0;
  for (let c = 0; c < CHUNKS; c++) {
    it.reset(chunks[c]);
    while (it.next()) s += it.v;
  }
  sink += s;
});

const outT = new Float64Array(SAMPLES);
const outV = new Float64Array(SAMPLES);
Deno.bench(`decode ${CHUNKS}×${SAMPLES}-sample chunks with decodeXorSamples`, {
  group: "decode",
}, () => {
  for (let c = 0; c < CHUNKS; c++) {
    const r = decodeXorSamples(chunks[c], outT, outV);
    sink += r.ts[SAMPLES - 1];
  }
});

Deno.bench(`encode ${CHUNKS}×${SAMPLES}-sample chunks`, { group: "encode" }, () => {
  for (let c = 0; c < CHUNKS; c++) {
    const app = new XorAppender();
    const ts = inputT[c];
    const vs = inputV[c];
    for (let i = 0; i < SAMPLES; i++) app.append(ts[i], vs[i]);
    sink += app.bytes().length;
  }
});

const WINDOW_CHUNKS = 170;
const T0 = 1_700_000_000_000;
/** 120 samples at exactly 15 s: `up`-like (1, now and then 0) or a changing gauge. */
function windowChunk(kind: "up" | "gauge", seed: number): Uint8Array {
  const r = rng(seed);
  const app = new XorAppender();
  for (let i = 0; i < SAMPLES; i++) {
    const v = kind === "up" ? (r() < 0.02 ? 0 : 1) : Math.round(r() * 1e9) * 4096;
    app.append(T0 + i * 15_000, v);
  }
  return app.bytes();
}
const windowOut = new Float64Array(SAMPLES);
const windowWords = new Uint32Array(SAMPLES * 2);
for (const kind of ["up", "gauge"] as const) {
  const data = Array.from({ length: WINDOW_CHUNKS }, (_, c) => windowChunk(kind, 100 + c));
  const maxt = T0 + (SAMPLES - 1) * 15_000 + 7_000;
  const sides: [string, XorModule][] = [["this checkout", { XorIterator } as XorModule]];
  if (baseline !== null) sides.push(["baseline", baseline]);
  // XOR_BASELINE_FIRST=1 registers the baseline first (the order can favour one side)
  if (Deno.env.get("XOR_BASELINE_FIRST") === "1") sides.reverse();
  for (const [side, mod] of sides) {
    const it = new mod.XorIterator();
    Deno.bench(`${kind} ${WINDOW_CHUNKS} chunks, 5 m window (${side})`, {
      group: `${kind} window`,
      baseline: side === "baseline",
    }, () => {
      for (let c = 0; c < WINDOW_CHUNKS; c++) {
        it.reset(data[c]);
        sink += it.decodeRest(windowOut, windowWords, 0, maxt, maxt - 300_000);
      }
    });
    Deno.bench(`${kind} ${WINDOW_CHUNKS} chunks, whole (${side})`, {
      group: `${kind} whole`,
      baseline: side === "baseline",
    }, () => {
      for (let c = 0; c < WINDOW_CHUNKS; c++) {
        it.reset(data[c]);
        sink += it.decodeRest(windowOut, windowWords, 0);
      }
    });
  }
}

globalThis.addEventListener("unload", () => {
  if (sink === 42) console.log(sink); // keeps the work observable
});

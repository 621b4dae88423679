// XOR chunk encode/decode throughput on realistic 120-sample chunks (15 s scrape interval with
// a little jitter, counter-like and gauge-like values). Run: deno bench -A bench/xor_bench.ts
// Samples/s = CHUNKS * 120 / (time per iteration).

import { decodeXorSamples, XorAppender, XorIterator } from "../tsdb/chunkenc/xor.ts";

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

globalThis.addEventListener("unload", () => {
  if (sink === 42) console.log(sink); // keeps the work observable
});

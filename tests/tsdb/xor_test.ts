import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { decodeXorSamples, XorAppender, XorIterator } from "../../tsdb/chunkenc/xor.ts";
import { BitReader, BitWriter } from "../../tsdb/chunkenc/bstream.ts";
import { CorruptionError, InvalidInputError } from "../../tsdb/errors.ts";
import { float64FromBits, STALE_NAN_HI, STALE_NAN_LO } from "../../tsdb/value.ts";

function hex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-f]/gi, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// Bits of a number read through typed arrays (never via a JS value that V8 might canonicalise).
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function bitsOfArray(a: Float64Array, i: number): string {
  const w = new Uint32Array(a.buffer, a.byteOffset + 8 * i, 2);
  const hi = LE ? w[1] : w[0];
  const lo = LE ? w[0] : w[1];
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}
function bitsOf(v: number): string {
  f64[0] = v;
  const hi = LE ? u32[1] : u32[0];
  const lo = LE ? u32[0] : u32[1];
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

const A1 = `0078000000000000000000e0d403c27c059400c1ac7de97a32d04fedb46e5b07
ce94a36d64f9d0fd1a506d0a539d0e51ad0650bda8bfca815a032833a05287da
05280fa0d281da3d2813a032835a072877a032815a0f2813b597f4501b40a507
f40a501b43a502741e502b40651ef40e506b406502743a503b41a501f40a53fb
40a5067406502b43e502f406506b40e51e740a501b41a503f43a501b40a50674
0e5a4aff5c85cb88d7b80fe52b465bc8e74529ed14a1f6e27d28768d284e8329
d68728de832856da57f2827434a06d0528ff414a06d0d28274fca0ad03286f41
ca3ad032`;

const A2 = `007880f4ee0640c7700000000000e0d403e03e94edb0bfd280fa05283da05287
3a032815a0f2817a0328f5a072833a05280da1d281fa0d280da0529f3a072835
a032817a1f2815a032833a0528fda05280fa0d281da1d2813a032835a072d667
f4b98b9721ab711fca4ee0474a1b4529fd14a1b6f27d284e8f28568329de8728
d683284edc57d283b434a07d0528fb414a19d03282b4fca0bd03286b41ca39d0
5281b434a0fdb4bfd280da052833a072875a032817a0f2815a0328f3a05283da
05280fa1d281da0d2813a0329f5a072837a032815a1f2813a0d280da0528ffa0
5280da0d20`;

const A4 = `0009d00f3ff0000000000000e807309bffdbfff613896042006775422bfedf00
000000000f07a6c3ffe556e1fc2f8f359ffffffffffff0f85a2034adc3f85f1e6b20`;
const A4_SAMPLES: [number, number][] = [
  [1000, 1.0],
  [2000, 1.0],
  [3000, 2.5],
  [3999, 2.5],
  [15000, -7.25],
  [15001, Infinity],
  [1000000, 1e-300],
  [1000001, 1e-300],
  [1000002, 0.0],
];

function encode(samples: [number, number][]): Uint8Array {
  const app = new XorAppender();
  for (const [t, v] of samples) app.append(t, v);
  assertEquals(app.numSamples, samples.length);
  const b = app.bytes();
  assertEquals(app.sizeBytes, b.length);
  return b;
}

function decodeAll(data: Uint8Array): [number, number][] {
  const it = new XorIterator(data);
  const out: [number, number][] = [];
  while (it.next()) out.push([it.t, it.v]);
  return out;
}

Deno.test("XOR encoder reproduces Prometheus's 120-sample chunk (A.1) and decodes it", () => {
  const samples: [number, number][] = [];
  for (let i = 0; i < 120; i++) samples.push([60000 * i, 100 * i]);
  const b = encode(samples);
  assertEquals(b.length, 228);
  assertEquals(toHex(b), toHex(hex(A1)));
  assertEquals(decodeAll(hex(A1)), samples);
});

Deno.test("XOR encoder reproduces the A.2 chunk starting at t=7200000", () => {
  const samples: [number, number][] = [];
  for (let i = 0; i < 120; i++) samples.push([7200000 + 60000 * i, 12000 + 100 * i]);
  const b = encode(samples);
  assertEquals(b.length, 229);
  assertEquals(toHex(b), toHex(hex(A2)));
  assertEquals(decodeAll(hex(A2)), samples);
});

Deno.test("single-sample XOR chunks match A.3, and the 2.x trailing zero byte decodes", () => {
  const b = encode([[7200000, 12000]]);
  assertEquals(toHex(b), "000180f4ee0640c7700000000000");
  const legacy = hex("000180f4ee0640c770000000000000");
  assertEquals(decodeAll(legacy), [[7200000, 12000]]);
  // the 2.x record from index_format_v1: (t=1, v=2.0), 12 bytes incl. trailing zero
  assertEquals(decodeAll(hex("000102400000000000000000")), [[1, 2]]);
  const app = new XorAppender();
  app.append(0, float64FromBits(STALE_NAN_HI, STALE_NAN_LO));
  assertEquals(toHex(app.bytes()), "0001007ff0000000000002");
  const app2 = new XorAppender();
  app2.appendStale(0);
  assertEquals(toHex(app2.bytes()), "0001007ff0000000000002");
});

Deno.test("XOR encoder reproduces the irregular A.4 vector (big dods, Inf, window reuse)", () => {
  const b = encode(A4_SAMPLES);
  assertEquals(toHex(b), toHex(hex(A4)));
  assertEquals(decodeAll(hex(A4)), A4_SAMPLES);
});

Deno.test("stale marker bits survive encode → decode exactly", () => {
  const app = new XorAppender();
  app.append(1000, 1.5);
  app.appendBits(2000, STALE_NAN_HI, STALE_NAN_LO);
  app.append(3000, NaN);
  app.appendBits(4000, STALE_NAN_HI, STALE_NAN_LO);
  app.append(5000, 2.5);
  const data = app.bytes();
  const it = new XorIterator(data);
  const stale: boolean[] = [];
  while (it.next()) stale.push(it.isStale());
  assertEquals(stale, [false, true, false, true, false]);
  const { ts, vs } = decodeXorSamples(data);
  assertEquals(Array.from(ts), [1000, 2000, 3000, 4000, 5000]);
  assertEquals(bitsOfArray(vs, 1), "7ff0000000000002");
  assertEquals(bitsOfArray(vs, 3), "7ff0000000000002");
  assertEquals(bitsOfArray(vs, 2), "7ff8000000000000");
  assertEquals(vs[0], 1.5);
  assertEquals(vs[4], 2.5);
});

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
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

Deno.test("random samples round-trip bit-exactly (NaN, ±Inf, -0, stale, huge dods)", () => {
  const rand = rng(42);
  const specials = [NaN, Infinity, -Infinity, -0, 0, 1e-310, Number.MAX_VALUE, -Number.MIN_VALUE];
  const sizes = [1, 2, 3, 5, 120, 240, 1000];
  const ts = new Float64Array(65535);
  const vs = new Float64Array(65535);
  const iterator = new XorIterator();
  let checkedChunks = 0;
  for (let round = 0; round < 60; round++) {
    const n = sizes[round % sizes.length];
    const app = new XorAppender();
    const expT: number[] = [];
    const expBits: string[] = [];
    let prevBits = "";
    let t = Math.floor((rand() - 0.5) * 2 ** 44);
    for (let i = 0; i < n; i++) {
      const r = rand();
      let step: number;
      if (r < 0.5) step = 15000;
      else if (r < 0.7) step = 1 + Math.floor(rand() * 100);
      else if (r < 0.8) step = 1 + Math.floor(rand() * 600000);
      else if (r < 0.9) step = 1 + Math.floor(rand() * 2 ** 40);
      else step = 1 + Math.floor(rand() * 3);
      if (i > 0) t += step;
      const k = rand();
      if (k < 0.1) {
        app.appendBits(t, STALE_NAN_HI, STALE_NAN_LO);
        expBits.push("7ff0000000000002");
      } else if (k > 0.6 && k < 0.7 && i > 0) {
        // Flip a random window of the previous value's bits, so that the XOR has every
        // shape the decoders handle: ≤32 or >32 significant bits, a window inside the low
        // word, inside the high word, or across both.
        const lead = Math.floor(rand() * 64);
        const sig = 1 + Math.floor(rand() * (64 - lead));
        const mask = ((1n << BigInt(sig)) - 1n) << BigInt(64 - lead - sig);
        const flip = (BigInt(Math.floor(rand() * 2 ** 32)) << 32n |
          BigInt(Math.floor(rand() * 2 ** 32)) | 1n << BigInt(64 - lead - 1)) & mask;
        const next = BigInt("0x" + prevBits) ^ flip;
        const hi = Number(next >> 32n);
        const lo = Number(next & 0xffffffffn);
        app.appendBits(t, hi, lo);
        expBits.push(next.toString(16).padStart(16, "0"));
      } else {
        let v: number;
        if (k < 0.3) v = specials[Math.floor(rand() * specials.length)];
        else if (k < 0.5) v = Math.floor(rand() * 1000);
        else if (k < 0.7) v = i > 0 ? 42 : 1;
        else if (k < 0.8) v = -rand() * 1e300;
        else v = rand() * 2 ** (Math.floor(rand() * 200) - 100);
        app.append(t, v);
        expBits.push(bitsOf(v));
      }
      expT.push(t);
      prevBits = expBits[expBits.length - 1];
    }
    const data = app.bytes();
    const out = decodeXorSamples(data, ts, vs);
    assertEquals(out.ts.length, n);
    for (let i = 0; i < n; i++) {
      if (out.ts[i] !== expT[i]) throw new Error(`round ${round}: t[${i}] ${out.ts[i]}`);
      const got = bitsOfArray(out.vs, i);
      if (got !== expBits[i]) throw new Error(`round ${round}: v[${i}] ${got} != ${expBits[i]}`);
    }
    // The iterator agrees with the bulk decoder: timestamps and value bits (stale NaN
    // included), read from the iterator's words so that no NaN payload is canonicalised.
    // One iterator is reset across all chunks, as dedup and `tools tsdb dump` reuse theirs.
    iterator.reset(data);
    let i = 0;
    while (iterator.next()) {
      if (iterator.t !== out.ts[i]) throw new Error(`round ${round}: iterator t[${i}]`);
      const got = iterator.vHi.toString(16).padStart(8, "0") +
        iterator.vLo.toString(16).padStart(8, "0");
      if (got !== bitsOfArray(out.vs, i) || got !== expBits[i]) {
        throw new Error(`round ${round}: iterator v[${i}] ${got} != ${expBits[i]}`);
      }
      i++;
    }
    assertEquals(i, n);
    checkedChunks++;
  }
  assertEquals(checkedChunks, 60);
});

Deno.test("a full chunk of 65535 samples round-trips; the 65536th append is refused", () => {
  const app = new XorAppender();
  for (let i = 0; i < 65535; i++) app.append(i * 10 + (i % 3), i % 7);
  const err = assertThrows(() => app.append(1e9, 1), InvalidInputError);
  assert(err.message.includes("65535"));
  const { ts, vs } = decodeXorSamples(app.bytes());
  assertEquals(ts.length, 65535);
  assertEquals(ts[65534], 65534 * 10 + (65534 % 3));
  assertEquals(vs[65534], 65534 % 7);
});

Deno.test("timestamp deltas of ±2^52 round-trip through the 64-bit dod case", () => {
  const samples: [number, number][] = [
    [-(2 ** 50), 1],
    [-(2 ** 50) + 1, 2],
    [2 ** 51, 3],
    [2 ** 51 + 2, 4],
    [2 ** 52, 5],
  ];
  assertEquals(decodeAll(encode(samples)), samples);
});

Deno.test("appending a non-increasing or fractional timestamp throws InvalidInputError", () => {
  const app = new XorAppender();
  app.append(100, 1);
  assertThrows(() => app.append(100, 2), InvalidInputError);
  assertThrows(() => app.append(50, 2), InvalidInputError);
  assertThrows(() => app.append(150.5, 2), InvalidInputError);
  assertEquals(app.numSamples, 1);
});

Deno.test("seek stops at the first sample at or after t, and stays when already there", () => {
  const samples: [number, number][] = [];
  for (let i = 0; i < 120; i++) samples.push([60000 * i, i]);
  const it = new XorIterator(encode(samples));
  assert(it.seek(90000));
  assertEquals([it.t, it.v], [120000, 2]);
  assert(it.seek(100000));
  assertEquals(it.t, 120000);
  assert(it.seek(60000 * 119));
  assertEquals(it.v, 119);
  assert(!it.seek(60000 * 119 + 1));
  assertEquals(it.numSamples, 120);
});

Deno.test("an empty chunk has no samples; reset reuses the iterator across chunks", () => {
  const it = new XorIterator(new XorAppender().bytes());
  assertEquals(it.numSamples, 0);
  assert(!it.next());
  it.reset(hex(A1));
  let n = 0;
  while (it.next()) n++;
  assertEquals(n, 120);
  it.reset(hex("000180f4ee0640c7700000000000"));
  assert(it.next());
  assertEquals([it.t, it.v], [7200000, 12000]);
  assert(!it.next());
});

Deno.test("truncated or corrupt XOR data throws CorruptionError instead of returning garbage", () => {
  const full = hex(A1);
  for (const cut of [0, 1, 2, 3, 5, 12, 13, 14, 50, 100, 200, 227]) {
    const err = assertThrows(() => decodeXorSamples(full.subarray(0, cut)), CorruptionError);
    assert(err.message.includes("<chunk>"), err.message);
  }
  // a count larger than the data
  const bad = hex(A1);
  bad[0] = 0x01;
  assertThrows(() => decodeXorSamples(bad), CorruptionError);
  // a new window whose leading + size bits exceed 64: L=31, size=63
  const w = new BitWriter();
  w.writeBits(2, 16);
  w.writeByte(0);
  w.writeBits(0, 32);
  w.writeBits(0, 32);
  w.writeByte(1);
  w.writeBits(0b11, 2);
  w.writeBits(31, 5);
  w.writeBits(63, 6);
  w.writeBits(0, 32);
  w.writeBits(0, 32);
  const e = assertThrows(() => decodeXorSamples(w.bytes()), CorruptionError);
  assert(e.message.includes("exceeds 64"), e.message);
});

Deno.test("bit stream writes MSB-first and reads back any widths", () => {
  const w = new BitWriter(1);
  const rand = rng(7);
  const vals: [number, number][] = [];
  for (let i = 0; i < 500; i++) {
    const n = 1 + Math.floor(rand() * 32);
    const v = Math.floor(rand() * 2 ** n);
    vals.push([v, n]);
    w.writeBits(v, n);
  }
  w.writeBits64(0x12345678, 0x9abcdef0, 64);
  w.writeBit(1);
  const r = new BitReader(w.bytes());
  for (const [v, n] of vals) assertEquals(r.readBits(n), v);
  r.readBits64(64);
  assertEquals([r.hi, r.lo], [0x12345678, 0x9abcdef0]);
  assertEquals(r.readBit(), 1);
  r.check("end");
  r.readBits(8);
  assertThrows(() => r.check("past end"), CorruptionError);
  const b = new BitWriter();
  b.writeBit(1);
  b.writeBits(0b01, 2);
  assertEquals(toHex(b.bytes()), "a0");
});

// ---------------------------------------------------------------------------------------------
// Delta-of-delta bucket boundaries.
//
// Prometheus (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/chunkenc/xor.go,
// `xorAppender.Append` and `bitRange`) writes the timestamp delta-of-delta (dod) of the third
// and later samples as:
//   dod == 0                  → '0'
//   bitRange(dod, 14)         → '10'   + 14-bit two's complement
//   bitRange(dod, 17)         → '110'  + 17-bit two's complement
//   bitRange(dod, 20)         → '1110' + 20-bit two's complement
//   otherwise                 → '1111' + 64-bit two's complement
// where bitRange(x, n) is `-((1 << (n-1)) - 1) <= x && x <= 1 << (n-1)`. The ranges are
// therefore asymmetric: 14 bits hold −8191 … +8192, 17 bits −65535 … +65536, 20 bits
// −524287 … +524288. The reader (`xorIterator.Next`) takes the n raw bits and subtracts 2^n
// when they exceed 2^(n-1): +8192 is stored as 0x2000 and must read back as +8192 (not −8192,
// which is why −8192 itself does not fit 14 bits and goes to the 17-bit bucket). Bits are
// written MSB first (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/docs/bstream.md).
// So the edges to test on each side of every bucket are:
//   14-bit: −8191, +8192 (last in),  −8192, +8193 (first of the 17-bit bucket)
//   17-bit: −65535, +65536 (last in), −65536, +65537 (first of the 20-bit bucket)
//   20-bit: −524287, +524288 (last in), −524288, +524289 (first of the 64-bit bucket)
// plus ±1 next to the '0' case.

/** Independent reference encoding of a chunk of timestamps with a constant value, per the
 * rules above (written bit by bit here, not with XorAppender). */
function referenceChunk(ts: number[], v: number): { bytes: Uint8Array; dodBits: number[] } {
  const w = new BitWriter();
  w.writeBits(ts.length, 16);
  const uvarint = (u: number) => {
    while (u >= 0x80) {
      w.writeBits((u % 128) | 0x80, 8);
      u = Math.floor(u / 128);
    }
    w.writeBits(u, 8);
  };
  const dodBits: number[] = [];
  let prevDelta = 0;
  for (let i = 0; i < ts.length; i++) {
    if (i === 0) {
      uvarint(ts[0] >= 0 ? ts[0] * 2 : -ts[0] * 2 - 1); // zig-zag varint
      f64[0] = v;
      w.writeBits(LE ? u32[1] : u32[0], 32);
      w.writeBits(LE ? u32[0] : u32[1], 32);
      continue;
    }
    const delta = ts[i] - ts[i - 1];
    if (i === 1) {
      uvarint(delta);
    } else {
      const dod = delta - prevDelta;
      const fits = (n: number) => -(2 ** (n - 1) - 1) <= dod && dod <= 2 ** (n - 1);
      if (dod === 0) {
        w.writeBits(0, 1);
        dodBits.push(0);
      } else if (fits(14)) {
        w.writeBits(0b10, 2);
        w.writeBits(dod < 0 ? dod + 2 ** 14 : dod, 14);
        dodBits.push(14);
      } else if (fits(17)) {
        w.writeBits(0b110, 3);
        w.writeBits(dod < 0 ? dod + 2 ** 17 : dod, 17);
        dodBits.push(17);
      } else if (fits(20)) {
        w.writeBits(0b1110, 4);
        w.writeBits(dod < 0 ? dod + 2 ** 20 : dod, 20);
        dodBits.push(20);
      } else {
        w.writeBits(0b1111, 4);
        const u = BigInt.asUintN(64, BigInt(dod));
        w.writeBits(Number(u >> 32n), 32);
        w.writeBits(Number(u & 0xffffffffn), 32);
        dodBits.push(64);
      }
    }
    prevDelta = delta;
    w.writeBits(0, 1); // value unchanged
  }
  return { bytes: w.bytes(), dodBits };
}

/** Timestamps 0, D, then one sample per dod (each relative to the previous delta). */
function timestampsForDods(first: number, firstDelta: number, dods: number[]): number[] {
  const ts = [first, first + firstDelta];
  let delta = firstDelta;
  for (const dod of dods) {
    delta += dod;
    ts.push(ts[ts.length - 1] + delta);
  }
  return ts;
}

const BUCKET_EDGES: { dod: number; bits: number }[] = [
  { dod: 1, bits: 14 },
  { dod: -1, bits: 14 },
  { dod: 8192, bits: 14 },
  { dod: -8191, bits: 14 },
  { dod: 8193, bits: 17 },
  { dod: -8192, bits: 17 },
  { dod: 65536, bits: 17 },
  { dod: -65535, bits: 17 },
  { dod: 65537, bits: 20 },
  { dod: -65536, bits: 20 },
  { dod: 524288, bits: 20 },
  { dod: -524287, bits: 20 },
  { dod: 524289, bits: 64 },
  { dod: -524288, bits: 64 },
];

function assertBothDecoders(bytes: Uint8Array, ts: number[], v: number, what: string): void {
  const bulk = decodeXorSamples(bytes);
  assertEquals(Array.from(bulk.ts), ts, `${what}: decodeXorSamples timestamps`);
  assertEquals(Array.from(bulk.vs), ts.map(() => v), `${what}: decodeXorSamples values`);
  const it = new XorIterator(bytes);
  const got: [number, number][] = [];
  while (it.next()) got.push([it.t, it.v]);
  assertEquals(got, ts.map((t) => [t, v]), `${what}: XorIterator samples`);
}

Deno.test("XOR: 0, 1000, 2000, 11192 ms (dod +8192, the 14-bit edge) decode exactly", () => {
  const ts = [0, 1000, 2000, 11192];
  const ref = referenceChunk(ts, 7);
  assertEquals(ref.dodBits, [0, 14]);
  assertEquals(toHex(encode(ts.map((t) => [t, 7]))), toHex(ref.bytes));
  assertBothDecoders(ref.bytes, ts, 7, "0,1000,2000,11192");
});

Deno.test("XOR: every delta-of-delta bucket edge (14/17/20/64 bits, both signs) round-trips", () => {
  // One chunk per edge (the dod is the third sample's), preceded by a first delta of 2^20 so
  // that every negative dod still leaves a positive delta.
  for (const { dod, bits } of BUCKET_EDGES) {
    const ts = timestampsForDods(5000, 2 ** 20, [dod]);
    const ref = referenceChunk(ts, -2.5);
    assertEquals(ref.dodBits, [bits], `dod ${dod} bucket`);
    assertEquals(toHex(encode(ts.map((t) => [t, -2.5]))), toHex(ref.bytes), `encode dod ${dod}`);
    assertBothDecoders(ref.bytes, ts, -2.5, `dod ${dod}`);
  }
  // All edges in one chunk, each followed by its negation (so the delta returns to 2^20) and
  // a repeated delta ('0'), so that the decoders carry the delta state across buckets.
  const dods: number[] = [];
  for (const { dod } of BUCKET_EDGES) dods.push(dod, -dod, 0);
  const ts = timestampsForDods(-123456, 2 ** 20, dods);
  const ref = referenceChunk(ts, 1e-300);
  assertEquals(toHex(encode(ts.map((t) => [t, 1e-300]))), toHex(ref.bytes));
  assertBothDecoders(ref.bytes, ts, 1e-300, "all edges");
});

Deno.test("XOR: varied values next to bucket-edge timestamps decode exactly in both decoders", () => {
  const dods: number[] = [];
  for (const { dod } of BUCKET_EDGES) dods.push(dod, -dod);
  const ts = timestampsForDods(0, 2 ** 20, dods);
  const samples: [number, number][] = ts.map((t, i) => [t, i % 3 === 0 ? i * 0.1 : -i * 1e6]);
  const data = encode(samples);
  assertEquals(decodeAll(data), samples);
  const bulk = decodeXorSamples(data);
  assertEquals(Array.from(bulk.ts), ts);
  assertEquals(Array.from(bulk.vs), samples.map(([, v]) => v));
});

Deno.test("decodeXorSamples with maxt stops at the last sample at or before it", () => {
  const samples: [number, number][] = [];
  for (let i = 0; i < 120; i++) samples.push([60000 * i, i * 1.5]);
  const data = encode(samples);
  const all = decodeXorSamples(data);
  const cases: [number, number][] = [[-1, 0], [0, 1], [59999, 1], [60000, 2], [90000, 2]];
  cases.push([60000 * 70 + 5, 71], [60000 * 119, 120], [Infinity, 120]);
  for (const [maxt, want] of cases) {
    const ts = new Float64Array(120);
    const vs = new Float64Array(120);
    const got = decodeXorSamples(data, ts, vs, maxt);
    assertEquals(got.ts.length, want, `maxt ${maxt}`);
    assertEquals([...got.ts], [...all.ts.subarray(0, want)]);
    assertEquals([...got.vs], [...all.vs.subarray(0, want)]);
  }
  // a chunk cut inside a timestamp past maxt is still reported as truncated
  assertThrows(
    () => decodeXorSamples(data.subarray(0, data.length - 40), undefined, undefined, 60000 * 118),
    CorruptionError,
  );
});

Deno.test("decodeRest with [mint, maxt] writes exactly the samples inside it, bit-exact, at k", () => {
  // 120 samples at 60 s with varied values and stale markers on and next to the window edges
  const app = new XorAppender();
  const want: { t: number; hi: number; lo: number }[] = [];
  for (let i = 0; i < 120; i++) {
    const t = 60000 * i + (i % 7 === 3 ? 17 : 0);
    if (i % 11 === 5 || i === 1 || i === 70) {
      app.appendStale(t);
      want.push({ t, hi: STALE_NAN_HI, lo: STALE_NAN_LO });
    } else {
      const v = i % 3 === 0 ? i * 0.1 : -i * 1e6 + 0.25;
      app.append(t, v);
      f64[0] = v;
      want.push({ t, hi: LE ? u32[1] : u32[0], lo: LE ? u32[0] : u32[1] });
    }
  }
  const data = app.bytes();
  const windows: [number, number][] = [
    [-Infinity, Infinity],
    [0, 0], // the first sample alone (varint head)
    [60000, 60000], // the second (head, a stale marker)
    [60000, 120000], // head and bulk
    [120000, 120000], // the first bulk sample
    [1, 59999], // between samples: nothing
    [60000 * 70, 60000 * 70], // exactly one sample, a stale marker
    [60000 * 65 - 1, 60000 * 70], // a 5 m lookback ending on a sample
    [60000 * 65, 60000 * 70 + 1], // starting on a sample
    [60000 * 100 + 17, 60000 * 119], // on a jittered timestamp, to the last sample
    [60000 * 119, Infinity],
    [60000 * 119 + 1, Infinity], // after the chunk
    [60000 * 80, 60000 * 70], // empty window
  ];
  const it = new XorIterator();
  const ts = new Float64Array(130);
  const vs = new Float64Array(130);
  const words = new Uint32Array(vs.buffer);
  for (const [mint, maxt] of windows) {
    ts.fill(-1);
    words.fill(7);
    it.reset(data);
    const k = it.decodeRest(ts, words, 3, maxt, mint);
    const inside = want.filter((s) => s.t >= mint && s.t <= maxt);
    assertEquals(k - 3, inside.length, `window [${mint}, ${maxt}]`);
    for (let j = 0; j < inside.length; j++) {
      assertEquals(ts[3 + j], inside[j].t);
      assertEquals(words[2 * (3 + j) + (LE ? 1 : 0)], inside[j].hi, `hi at ${inside[j].t}`);
      assertEquals(words[2 * (3 + j) + (LE ? 0 : 1)], inside[j].lo, `lo at ${inside[j].t}`);
    }
    // nothing before k's start nor after the last sample written
    assertEquals([ts[0], ts[1], ts[2], ts[k]], [-1, -1, -1, -1]);
    assertEquals([words[0], words[5], words[2 * k], words[2 * k + 1]], [7, 7, 7, 7]);
    assert(!it.next(), "the iterator is exhausted after decodeRest");
  }
});

Deno.test("decodeRest reads value bits from the timestamp's word exactly at every width", () => {
  // After a same delta ('0') or a 14-bit delta-of-delta the bulk decoder takes the value's
  // control and significant bits from the word it peeked for the timestamp when they fit, else
  // peeks again. Values whose XOR with the previous has 1…64 significant bits at every offset,
  // after each timestamp kind, must decode as the sample-by-sample iterator decodes them.
  const samples: [number, number][] = [];
  let t = 1_700_000_000_000;
  let delta = 15_000;
  let k = 0;
  for (let sig = 1; sig <= 64; sig++) {
    for (let shift = 0; shift + sig <= 64; shift += 7) {
      for (const dod of [0, 0, 3, -2, 8191, 0, 70_000]) {
        delta += dod;
        t += delta;
        // a value whose bits differ from the previous one's in a window of `sig` bits
        const prev = samples.length > 0 ? samples[samples.length - 1][1] : 1.5;
        f64[0] = prev;
        const hi = LE ? 1 : 0;
        const lo = 1 - hi;
        const ones = sig === 64 ? [0xffffffff, 0xffffffff] : windowBits(sig, shift);
        u32[hi] ^= ones[0];
        u32[lo] ^= ones[1];
        let v = f64[0];
        if (v !== v || !Number.isFinite(v)) v = k++; // keep NaN payloads out of the comparison
        samples.push([t, v]);
      }
    }
  }
  for (let from = 0; from < samples.length; from += 100) {
    const part = samples.slice(from, from + 100);
    const data = encode(part);
    const bulk = decodeXorSamples(data);
    const one = decodeAll(data);
    assertEquals(Array.from(bulk.ts), one.map(([ts]) => ts));
    for (let i = 0; i < one.length; i++) assertEquals(bitsOfArray(bulk.vs, i), bitsOf(one[i][1]));
    assertEquals(one, part);
  }
});

/** High and low words with `sig` one bits starting `shift` bits below the top of 64. */
function windowBits(sig: number, shift: number): [number, number] {
  let hi = 0;
  let lo = 0;
  for (let b = shift; b < shift + sig; b++) {
    if (b < 32) hi |= 1 << (31 - b);
    else lo |= 1 << (63 - b);
  }
  return [hi >>> 0, lo >>> 0];
}

/** Sample-by-sample reference for `decodeRest`: `next()` from where the iterator stands. */
function decodeWithNext(
  it: XorIterator,
  mint: number,
  maxt: number,
): { out: number[][]; err: Error | null } {
  const out: number[][] = [];
  try {
    while (it.next()) {
      if (it.t > maxt) break;
      if (it.t >= mint) out.push([it.t, it.vHi, it.vLo]);
    }
  } catch (e) {
    return { out, err: e as Error };
  }
  return { out, err: null };
}

/**
 * A chunk with runs of repeated samples ('0' same delta, '0' same value) between changes of
 * every kind, so that runs start at every bit alignment, right after the two head samples, at
 * the chunk's end, before stale markers, and with equal timestamps (delta 0).
 */
function chunkWithRuns(rand: () => number): { data: Uint8Array; ts: number[] } {
  const equal = rand() < 0.3;
  const app = new XorAppender(equal);
  const ts: number[] = [];
  const n = 3 + Math.floor(rand() * (rand() < 0.2 ? 900 : 250));
  let t = Math.floor((rand() - 0.3) * 2 ** 42);
  let delta = equal && rand() < 0.3 ? 0 : 1 + Math.floor(rand() * 30_000);
  let hi = 0x3ff00000;
  let lo = 0;
  let run = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      if (run === 0 && i > 1 && rand() < 0.5) {
        run = 1 + Math.floor(rand() * (rand() < 0.3 ? 200 : 40));
      }
      if (run > 0 && i > 1) {
        run--;
      } else {
        const r = rand();
        if (r < 0.15) delta += Math.floor(rand() * 20) - 10;
        else if (r < 0.2) delta += Math.floor(rand() * 2e6) - 1e6;
        else if (r < 0.22) delta = equal ? 0 : 1;
        if (delta < (equal ? 0 : 1)) delta = equal ? 0 : 1;
        const k = rand();
        if (k < 0.1) {
          hi = STALE_NAN_HI;
          lo = STALE_NAN_LO;
        } else if (k < 0.7) {
          // flip a window of `sig` bits: new and reused windows of every width
          const lead = Math.floor(rand() * 64);
          const sig = 1 + Math.floor(rand() * (64 - lead));
          const [fh, fl] = windowBits(sig, lead);
          const one = rand() < 0.5 ? 0 : 1;
          hi = (hi ^ (fh & (one ? 0xffffffff : Math.floor(rand() * 2 ** 32)))) >>> 0;
          lo = (lo ^ (fl & (one ? 0xffffffff : Math.floor(rand() * 2 ** 32)))) >>> 0;
        }
      }
      t += delta;
    }
    app.appendBits(t, hi, lo);
    ts.push(t);
  }
  return { data: app.bytes(), ts };
}

Deno.test("decodeRest over runs of repeated samples equals next() sample by sample", () => {
  const rand = rng(1919);
  const it = new XorIterator();
  const ref = new XorIterator();
  const outT = new Float64Array(2000);
  const outV = new Float64Array(2000);
  const words = new Uint32Array(outV.buffer);
  const alignments = new Set<number>();
  let windows = 0;
  let truncations = 0;
  for (let c = 0; c < 400; c++) {
    const { data, ts } = chunkWithRuns(rand);
    // where runs start (bit position mod 32, read from the reference's private cursor)
    ref.reset(data);
    let prevT = NaN;
    let prevDelta = NaN;
    for (let i = 0; i < ts.length; i++) {
      const pos = (ref as unknown as { pos: number }).pos;
      const hiBefore = ref.vHi;
      const loBefore = ref.vLo;
      ref.next();
      const d = ref.t - prevT;
      if (i >= 2 && d === prevDelta && ref.vHi === hiBefore && ref.vLo === loBefore) {
        alignments.add(pos & 31);
      }
      prevDelta = d;
      prevT = ref.t;
    }
    const pick = () => ts[Math.floor(rand() * ts.length)] + Math.floor(rand() * 3) - 1;
    const cases: [number, number, number][] = [[-Infinity, Infinity, 0]];
    for (let w = 0; w < 12; w++) {
      const a = pick();
      const b = pick();
      const skip = Math.floor(rand() * 4) === 0 ? Math.floor(rand() * ts.length) : 0;
      cases.push([Math.min(a, b), Math.max(a, b), skip]);
      if (w === 0) cases.push([Math.max(a, b) + 1, Math.min(a, b), 0]); // empty window
      if (w === 1) cases.push([a, Infinity, 0], [-Infinity, b, 0]);
    }
    for (const [mint, maxt, skip] of cases) {
      ref.reset(data);
      it.reset(data);
      for (let s = 0; s < skip; s++) {
        ref.next();
        it.next();
      }
      const want = decodeWithNext(ref, mint, maxt);
      outT.fill(-1);
      const k = it.decodeRest(outT, words, 5, maxt, mint);
      const got: number[][] = [];
      for (let j = 5; j < k; j++) {
        got.push([outT[j], words[2 * j + (LE ? 1 : 0)], words[2 * j + (LE ? 0 : 1)]]);
      }
      assertEquals(got, want.out, `chunk ${c} window [${mint}, ${maxt}] after ${skip}`);
      assertEquals(outT[k], -1);
      assert(!it.next(), "the iterator is exhausted after decodeRest");
      windows++;
    }
    // truncated: the same samples before the cut and the same error, window or not
    for (let cut = 0; cut < 4; cut++) {
      const len = 2 + Math.floor(rand() * (data.length - 2));
      const part = data.subarray(0, len);
      for (const [mint, maxt] of [[-Infinity, Infinity], [pick(), Infinity], [-Infinity, pick()]]) {
        ref.reset(part);
        const want = decodeWithNext(ref, mint, maxt);
        it.reset(part);
        let k = 5;
        let err: Error | null = null;
        try {
          k = it.decodeRest(outT, words, 5, maxt, mint);
        } catch (e) {
          err = e as Error;
        }
        const where = `chunk ${c} cut at ${len} window [${mint}, ${maxt}]`;
        if (maxt === Infinity || err !== null) {
          assertEquals(err?.message, want.err?.message, where);
          if (err !== null) assert(err instanceof CorruptionError, where);
        }
        // next() reads a sample's value before comparing its timestamp with maxt; decodeRest
        // stops at the timestamp, so a value cut after maxt is no error there
        if (err === null) {
          const got: number[][] = [];
          for (let j = 5; j < k; j++) {
            got.push([outT[j], words[2 * j + (LE ? 1 : 0)], words[2 * j + (LE ? 0 : 1)]]);
          }
          assertEquals(got, want.out, where);
        }
        if (want.err !== null) truncations++;
      }
    }
  }
  for (let a = 0; a < 32; a++) assert(alignments.has(a), `no run starts at bit ${a} of a word`);
  assert(windows > 4000 && truncations > 1000, `${windows} windows, ${truncations} truncations`);
});

Deno.test("a chunk of one repeated sample decodes in runs to the end, and stops at maxt", () => {
  // `up`: 120 samples at 15 s, all 1, the second to last a stale marker, the last 1 again
  const app = new XorAppender();
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < 120; i++) {
    if (i === 118) app.appendStale(t0 + i * 15_000);
    else app.append(t0 + i * 15_000, 1);
  }
  const data = app.bytes();
  assert(data.length < 70, `${data.length} bytes`); // two bits per repeated sample
  const it = new XorIterator();
  const ts = new Float64Array(120);
  const vs = new Float64Array(120);
  const words = new Uint32Array(vs.buffer);
  it.reset(data);
  assertEquals(it.decodeRest(ts, words, 0), 120);
  for (let i = 0; i < 120; i++) {
    assertEquals(ts[i], t0 + i * 15_000);
    if (i === 118) assertEquals(bitsOfArray(vs, i), "7ff0000000000002");
    else assertEquals(vs[i], 1);
  }
  // an instant query's 5 m window ending inside the run: 20 samples, none after
  it.reset(data);
  const maxt = t0 + 100 * 15_000 + 7;
  const k = it.decodeRest(ts, words, 0, maxt, maxt - 300_000);
  assertEquals(k, 20);
  assertEquals([ts[0], ts[19]], [t0 + 81 * 15_000, t0 + 100 * 15_000]);
  // the count promises more samples than the data holds: the zero padding is no run (the
  // last byte's unused bits do read as repeated samples, as in Prometheus)
  const cut = data.slice();
  cut[1] = 200;
  it.reset(cut);
  const e = assertThrows(
    () => it.decodeRest(new Float64Array(200), new Uint32Array(400), 0),
    CorruptionError,
  );
  it.reset(cut);
  assertEquals(e.message, decodeWithNext(it, -Infinity, Infinity).err?.message);
  assert(/ends inside sample 12\d of 200/.test(e.message), e.message);
});

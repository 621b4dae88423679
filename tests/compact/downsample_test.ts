// Downsampling (compact/downsample.ts) checked against a reference computed here directly from
// the raw samples: per window aligned to the resolution, count / sum / min / max of the non-stale
// samples, and a reset-corrected counter (a drop restarts from the new value). The aggregates
// are read back from real blocks (written, downsampled, re-opened), so the block writer's raw
// chunk passthrough and the AggrChunk encoding are exercised end to end.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { applyCounterResets } from "../../tsdb/chunkenc/aggr.ts";
import {
  currentWindow,
  downsampleAggr,
  downsampleBlock,
  downsampleBucket,
  downsampleCandidates,
  downsampleRaw,
  RES_1H,
  RES_5M,
} from "../../compact/downsample.ts";
import { Block } from "../../tsdb/block.ts";
import { type EncodedSeries, type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import {
  type AggrPart,
  AggrType,
  CHUNK_ENC_AGGR,
  encodeAggrChunk,
  parseAggrChunk,
} from "../../tsdb/chunkenc/aggr.ts";
import { decodeXorSamples, XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { allPostings } from "../../tsdb/index/postings_for_matchers.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";
import { type Chunk, ChunkEncoding } from "../../tsdb/series.ts";
import { setStaleAt } from "../../tsdb/value.ts";
import { InvalidInputError } from "../../tsdb/errors.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { markForNoDownsample } from "../../block/markers.ts";
import { Registry } from "../../metrics/registry.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { Logger } from "../../logging/log.ts";

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR); // hour aligned

/** Deterministic PRNG (mulberry32). */
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

interface GenOpts {
  kind: "counter" | "gauge";
  seed: number;
  hours: number;
  /** Scrape interval (ms) with ±jitter. */
  interval?: number;
}

/**
 * A series with jittered scrapes, gaps (whole missing hours and random missing scrapes), stale
 * markers after some gaps, and for counters resets to small values.
 */
function genSeries(name: string, o: GenOpts): RawSeries {
  const r = rng(o.seed);
  const ts: number[] = [];
  const vs: number[] = [];
  const stale: number[] = [];
  const iv = o.interval ?? 60_000;
  let v = o.kind === "counter" ? r() * 1000 : 0;
  let t = T0 + Math.floor(r() * iv);
  const end = T0 + o.hours * HOUR;
  while (t < end) {
    if (r() < 0.004) {
      // a gap of up to 3 hours, announced by a stale marker
      ts.push(t);
      vs.push(0);
      stale.push(ts.length - 1);
      t += Math.floor(r() * 3 * HOUR) + iv;
      continue;
    }
    if (r() < 0.03) {
      t += iv; // missed scrape
      continue;
    }
    if (o.kind === "counter") {
      v = r() < 0.003 ? Math.floor(r() * 5) : v + Math.floor(r() * 20);
    } else {
      v = Math.round((v + (r() - 0.5) * 50) * 100) / 100;
    }
    ts.push(t);
    vs.push(v);
    t += iv + Math.floor((r() - 0.5) * 2000);
  }
  const f = Float64Array.from(vs);
  for (const i of stale) setStaleAt(f, i);
  return { labels: ["__name__", name, "kind", o.kind], ts: Float64Array.from(ts), vs: f };
}

// ---------------------------------------------------------------------------------------------
// Reference computation (independent of the production code)

interface RefWindow {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Last raw sample time in the window. */
  lastT: number;
}

/** Non-stale samples of a raw series. */
function liveSamples(s: RawSeries): { ts: number[]; vs: number[] } {
  const ts: number[] = [];
  const vs: number[] = [];
  for (let i = 0; i < s.ts.length; i++) {
    if (Number.isNaN(s.vs[i])) continue;
    ts.push(s.ts[i]);
    vs.push(s.vs[i]);
  }
  return { ts, vs };
}

function refWindows(s: RawSeries, res: number): Map<number, RefWindow> {
  const out = new Map<number, RefWindow>();
  const { ts, vs } = liveSamples(s);
  for (let i = 0; i < ts.length; i++) {
    const w = Math.floor(ts[i] / res);
    const cur = out.get(w);
    if (!cur) {
      out.set(w, { count: 1, sum: vs[i], min: vs[i], max: vs[i], lastT: ts[i] });
    } else {
      cur.count++;
      cur.sum += vs[i];
      cur.min = Math.min(cur.min, vs[i]);
      cur.max = Math.max(cur.max, vs[i]);
      cur.lastT = ts[i];
    }
  }
  return out;
}

/** Reset-corrected counter value at each live sample: time → value. */
function refCounter(s: RawSeries): { ts: number[]; vs: number[] } {
  const { ts, vs } = liveSamples(s);
  const out: number[] = [];
  let acc = 0;
  for (let i = 0; i < vs.length; i++) {
    if (i === 0) acc = vs[0];
    else acc += vs[i] >= vs[i - 1] ? vs[i] - vs[i - 1] : vs[i];
    out.push(acc);
  }
  return { ts, vs: out };
}

/** Reference counter at time t: the value at the last live sample ≤ t. */
function counterAt(ref: { ts: number[]; vs: number[] }, t: number): number {
  let lo = 0;
  let hi = ref.ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ref.ts[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  assert(lo > 0, `no sample at or before ${t}`);
  return ref.vs[lo - 1];
}

function near(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

// ---------------------------------------------------------------------------------------------
// Reading aggregates back

interface Decoded {
  t: number[];
  v: number[];
}

function decodePart(p: AggrPart | null): Decoded {
  assert(p !== null, "aggregate missing");
  assertEquals(p.encoding, ChunkEncoding.XOR);
  const { ts, vs } = decodeXorSamples(p.data);
  return { t: [...ts], v: [...vs] };
}

/** Checks the aggregated chunks of one series against the reference; returns values checked. */
function checkSeries(raw: RawSeries, chunks: readonly Chunk[], res: number): number {
  const ref = refWindows(raw, res);
  const counter = refCounter(raw);
  const merged = new Map<number, RefWindow>();
  let checked = 0;
  let prevMax = -Infinity;
  for (const c of chunks) {
    assertEquals(c.encoding as number, CHUNK_ENC_AGGR);
    assert(c.minTime > prevMax, "chunks overlap");
    prevMax = c.maxTime;
    const parts = parseAggrChunk(c.data);
    const cnt = decodePart(parts[AggrType.Count]);
    const sum = decodePart(parts[AggrType.Sum]);
    const min = decodePart(parts[AggrType.Min]);
    const max = decodePart(parts[AggrType.Max]);
    for (const d of [sum, min, max]) assertEquals(d.t, cnt.t);
    assertEquals(c.minTime, cnt.t[0]);
    assertEquals(c.maxTime, cnt.t[cnt.t.length - 1]);
    for (let i = 0; i < cnt.t.length; i++) {
      const t = cnt.t[i];
      const w = Math.floor(t / res);
      const r = ref.get(w);
      assert(r, `aggregate at ${t} for a window without samples`);
      // stamped at the window's last ms, or (the chunk's last window) at its last input sample
      assert(
        t === w * res + res - 1 || i === cnt.t.length - 1,
        `window ${w} stamped at ${t} (${i}/${cnt.t.length}, last sample ${r.lastT})`,
      );
      const m = merged.get(w);
      if (!m) {
        merged.set(w, { count: cnt.v[i], sum: sum.v[i], min: min.v[i], max: max.v[i], lastT: t });
      } else {
        // a 1h window may be split between two chunks (chunk-aligned 5m → 1h)
        m.count += cnt.v[i];
        m.sum += sum.v[i];
        m.min = Math.min(m.min, min.v[i]);
        m.max = Math.max(m.max, max.v[i]);
      }
    }
    // counter sub-chunk layout: first raw value first, last raw value repeated at the end
    const ctr = decodePart(parts[AggrType.Counter]);
    const n = ctr.t.length;
    assert(n >= 3);
    assertEquals(ctr.t[n - 1], ctr.t[n - 2], "last raw value repeats the last timestamp");
    assertEquals(ctr.t[n - 1], cnt.t[cnt.t.length - 1]);
    const live = liveSamples(raw);
    const firstIdx = live.ts.indexOf(ctr.t[0]);
    assert(firstIdx >= 0, "counter starts at a raw sample");
    assertEquals(ctr.v[0], live.vs[firstIdx], "first raw value kept");
    const lastRaw = live.ts.findLastIndex((x) => x <= ctr.t[n - 1]);
    assertEquals(ctr.v[n - 1], live.vs[lastRaw], "last raw value kept");
    checked += 2;
  }
  assertEquals([...merged.keys()].sort((a, b) => a - b), [...ref.keys()].sort((a, b) => a - b));
  for (const [w, m] of merged) {
    const r = ref.get(w)!;
    assertEquals(m.count, r.count, `count of window ${w}`);
    assert(near(m.sum, r.sum), `sum of window ${w}: ${m.sum} vs ${r.sum}`);
    assertEquals(m.min, r.min, `min of window ${w}`);
    assertEquals(m.max, r.max, `max of window ${w}`);
    checked += 4;
  }
  // the counter as the querier reads it: monotonic, equal to the reference counter everywhere
  // (only meaningful for counters: a gauge going negative looks like resets)
  if (raw.labels[3] !== "counter") return checked;
  const cs = applyCounterResets(
    chunks.map((c) => parseAggrChunk(c.data)[AggrType.Counter]!.data),
  );
  for (let i = 0; i < cs.ts.length; i++) {
    assert(i === 0 || cs.ts[i] > cs.ts[i - 1]);
    assert(
      near(cs.vs[i], counterAt(counter, cs.ts[i])),
      `counter at ${cs.ts[i]}: ${cs.vs[i]} vs ${
        counterAt(counter, cs.ts[i])
      } (res ${res}, ${raw.labels})`,
    );
    checked++;
  }
  // every window has its counter value
  const stamps = new Set(cs.ts.map((t) => Math.floor(t / res)));
  for (const w of ref.keys()) assert(stamps.has(w), `counter misses window ${w}`);
  const live = liveSamples(raw);
  assertEquals(cs.lastV, live.vs[live.vs.length - 1]);
  return checked;
}

async function readSeriesChunks(dir: string): Promise<Map<string, Chunk[]>> {
  const b = await Block.open(dir);
  try {
    const out = new Map<string, Chunk[]>();
    for await (const s of b.index.seriesMany(await allPostings(b.index))) {
      const chks: Chunk[] = [];
      for (const m of s.chunks) {
        const r = await b.chunks.chunk(m.ref);
        chks.push({ minTime: m.minTime, maxTime: m.maxTime, encoding: r.encoding, data: r.data });
      }
      out.set(s.labels.join(","), chks);
    }
    return out;
  } finally {
    await b.close();
  }
}

function dataSet(hours: number): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < 12; i++) {
    out.push(genSeries(`m${String(i).padStart(2, "0")}`, {
      kind: i % 3 === 2 ? "gauge" : "counter",
      seed: 1000 + i,
      hours,
      interval: i % 4 === 3 ? 15_000 : 60_000,
    }));
  }
  return out;
}

function blockRange(series: RawSeries[]): { minTime: number; maxTime: number } {
  let minTime = Infinity;
  let maxTime = -Infinity;
  for (const s of series) {
    minTime = Math.min(minTime, s.ts[0]);
    maxTime = Math.max(maxTime, s.ts[s.ts.length - 1] + 1);
  }
  return { minTime, maxTime };
}

Deno.test("downsample: 5m and 1h aggregates of a block match the raw samples", async () => {
  await withTempDir(async (dir) => {
    const series = dataSet(11 * 24);
    const thanos = { labels: { cluster: "a" }, downsample: { resolution: 0 }, source: "sidecar" };
    const raw = await writeBlock(dir, series, {
      ...blockRange(series),
      thanos,
      compaction: {
        level: 3,
        sources: ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW"],
      },
    });
    const m5 = await downsampleBlock(`${dir}/${raw.ulid}`, dir, RES_5M);
    assertEquals(m5.thanos?.downsample.resolution, 300_000);
    assertEquals(m5.thanos?.labels, { cluster: "a" });
    assertEquals(m5.thanos?.source, "compactor");
    assertEquals(m5.compaction, raw.compaction);
    assertEquals([m5.minTime, m5.maxTime], [raw.minTime, raw.maxTime]);
    assertEquals(m5.stats.numSeries, series.length);
    const h1 = await downsampleBlock(`${dir}/${m5.ulid}`, dir, RES_1H);
    assertEquals(h1.thanos?.downsample.resolution, 3_600_000);
    assertEquals(h1.compaction, raw.compaction);
    await assertRejects(() => downsampleBlock(`${dir}/${h1.ulid}`, dir, RES_5M));

    let checked5 = 0;
    let checked1 = 0;
    const c5 = await readSeriesChunks(`${dir}/${m5.ulid}`);
    const c1 = await readSeriesChunks(`${dir}/${h1.ulid}`);
    let windows5 = 0;
    for (const s of series) {
      const k = s.labels.join(",");
      checked5 += checkSeries(s, c5.get(k)!, RES_5M);
      checked1 += checkSeries(s, c1.get(k)!, RES_1H);
      windows5 += refWindows(s, RES_5M).size;
      // chunks hold at most ~140 windows like Thanos's
      for (const c of c5.get(k)!) {
        const n = decodeXorSamples(parseAggrChunk(c.data)[AggrType.Count]!.data).ts.length;
        assert(n <= 160, `5m chunk with ${n} windows`);
      }
    }
    let numSamples = 0;
    for (const chks of c5.values()) {
      for (const c of chks) {
        numSamples += decodeXorSamples(parseAggrChunk(c.data)[AggrType.Count]!.data).ts.length;
      }
    }
    assertEquals(m5.stats.numSamples, numSamples);
    assertEquals(numSamples, windows5);
    console.log(`checked ${checked5} 5m and ${checked1} 1h aggregate values`);
    assert(checked5 > 10_000 && checked1 > 1_000);
  });
});

Deno.test("downsample: counter resets inside a window, at chunk edges and single samples", () => {
  // a reset inside a window: 10, 20, 5 (reset), 8 → counter 10, 20, 25, 28
  const ts = [0, 60_000, 120_000, 180_000, 400_000];
  const vs = [10, 20, 5, 8, 2];
  const chks = downsampleRaw({ ts, vs }, RES_5M);
  assertEquals(chks.length, 1);
  const p = parseAggrChunk(chks[0].data);
  assertEquals(decodePart(p[AggrType.Count]), { t: [299_999, 400_000], v: [4, 1] });
  assertEquals(decodePart(p[AggrType.Sum]), { t: [299_999, 400_000], v: [43, 2] });
  assertEquals(decodePart(p[AggrType.Min]).v, [5, 2]);
  assertEquals(decodePart(p[AggrType.Max]).v, [20, 2]);
  // first raw, per-window counter (30 = 28 + reset to 2), last raw repeated at the last window
  assertEquals(decodePart(p[AggrType.Counter]), {
    t: [0, 299_999, 400_000, 400_000],
    v: [10, 28, 30, 2],
  });
  // a reset between two chunks is seen through the repeated last raw value
  const a = downsampleRaw({ ts: [0, 60_000], vs: [100, 110] }, RES_5M);
  const b = downsampleRaw({ ts: [600_000, 660_000], vs: [3, 4] }, RES_5M);
  const cs = applyCounterResets(
    [...a, ...b].map((c) => parseAggrChunk(c.data)[AggrType.Counter]!.data),
  );
  assertEquals(cs.ts, [0, 60_000, 600_000, 660_000]);
  assertEquals(cs.vs, [100, 110, 113, 114]);
  // aggregates of aggregates: counts add up, counter continues across the reset
  const [h] = downsampleAggr([...a, ...b], RES_5M, RES_1H);
  const hp = parseAggrChunk(h.data);
  assertEquals(decodePart(hp[AggrType.Count]), { t: [660_000], v: [4] });
  assertEquals(decodePart(hp[AggrType.Sum]).v, [217]);
  assertEquals(decodePart(hp[AggrType.Min]).v, [3]);
  assertEquals(decodePart(hp[AggrType.Max]).v, [110]);
  assertEquals(decodePart(hp[AggrType.Counter]), {
    t: [0, 660_000, 660_000],
    v: [100, 114, 4],
  });
  // one sample: every sub-chunk has it, the counter three times at the same timestamp
  const [one] = downsampleRaw({ ts: [1000], vs: [7] }, RES_5M);
  assertEquals(decodePart(parseAggrChunk(one.data)[AggrType.Counter]), {
    t: [1000, 1000, 1000],
    v: [7, 7, 7],
  });
  // NaNs and stale markers never reach an aggregate
  const [nan] = downsampleRaw({ ts: [0, 1000, 2000], vs: [1, NaN, 3] }, RES_5M);
  assertEquals(decodePart(parseAggrChunk(nan.data)[AggrType.Count]).v, [2]);
  assertEquals(currentWindow(0, RES_5M), 299_999);
  assertEquals(currentWindow(300_000, RES_5M), 599_999);
});

Deno.test("AggrChunk: byte layout of Thanos's format, built by hand from its description", () => {
  // https://github.com/thanos-io/thanos/blob/main/pkg/compact/downsample/aggr.go: for each of
  // count, sum, min, max, counter: uvarint(len(data)), encoding byte, data; absent = one 0 byte.
  // XOR chunk of one sample (t=1000, v=7): 2-byte count 0x0001, varint(1000) = zig-zag 2000 =
  // 0xd0 0x0f, then the 64 bits of 7.0 (0x401c000000000000).
  const one = [0x00, 0x01, 0xd0, 0x0f, 0x40, 0x1c, 0, 0, 0, 0, 0, 0];
  // the count aggregate holds 1.0 (0x3ff0000000000000)
  const count = [0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
  // the counter holds the same sample three times: count 3, a uvarint delta 0 (byte 0x00), then
  // bits 0 (value unchanged), 0 (delta-of-delta 0), 0 (value unchanged) padded to a byte.
  const three = [0x00, 0x03, 0xd0, 0x0f, 0x40, 0x1c, 0, 0, 0, 0, 0, 0, 0x00, 0x00];
  const expected = new Uint8Array([
    ...[12, 0x01, ...count],
    ...[12, 0x01, ...one],
    ...[12, 0x01, ...one],
    ...[12, 0x01, ...one],
    ...[14, 0x01, ...three],
  ]);
  const [chk] = downsampleRaw({ ts: [1000], vs: [7] }, RES_5M);
  assertEquals(chk.encoding as number, 0xff);
  assertEquals(chk.data, expected);
  // absent aggregates and a 2-byte uvarint length (200 bytes → 0xc8 0x01)
  const big = new Uint8Array(200).fill(7);
  const enc = encodeAggrChunk([null, { encoding: ChunkEncoding.XOR, data: big }]);
  assertEquals([...enc.subarray(0, 4)], [0x00, 0xc8, 0x01, 0x01]);
  assertEquals([...enc.subarray(204)], [0, 0, 0]);
  assertEquals(parseAggrChunk(enc)[AggrType.Sum]?.data, big);
});

Deno.test("block writer: pre-encoded chunks are written byte for byte", async () => {
  await withTempDir(async (dir) => {
    const app = new XorAppender();
    app.append(1000, 1);
    app.append(2000, 2);
    const xor: Chunk = {
      minTime: 1000,
      maxTime: 2000,
      encoding: ChunkEncoding.XOR,
      data: app.bytes(),
    };
    const aggr: Chunk = {
      minTime: 5000,
      maxTime: 6000,
      encoding: 0xff as ChunkEncoding,
      data: new Uint8Array([3, 1, 9, 9, 9, 0, 0, 0, 0]),
    };
    const series: EncodedSeries[] = [
      { labels: ["__name__", "a"], chunks: [xor, aggr], numSamples: 5 },
      { labels: ["__name__", "b"], chunks: [], numSamples: 0 },
    ];
    const meta = await writeBlock(dir, series, {
      minTime: 0,
      maxTime: 10_000,
      compaction: { level: 2, sources: ["01ARZ3NDEKTSV4RRFFQ69G5FAV"] },
    });
    assertEquals(meta.stats, { numSamples: 5, numSeries: 1, numChunks: 2 });
    assertEquals(meta.compaction, { level: 2, sources: ["01ARZ3NDEKTSV4RRFFQ69G5FAV"] });
    const got = await readSeriesChunks(`${dir}/${meta.ulid}`);
    assertEquals(got.get("__name__,a"), [xor, aggr]);
    // overlapping or out-of-range chunks are refused
    await assertRejects(
      () =>
        writeBlock(dir, [{ labels: ["__name__", "a"], chunks: [aggr, aggr], numSamples: 2 }], {
          minTime: 0,
          maxTime: 10_000,
        }),
      InvalidInputError,
    );
    await assertRejects(
      () =>
        writeBlock(dir, [{ labels: ["__name__", "a"], chunks: [aggr], numSamples: 1 }], {
          minTime: 0,
          maxTime: 6000,
        }),
      InvalidInputError,
    );
  });
});

Deno.test("XorAppender: equal timestamps only when allowed", () => {
  const strict = new XorAppender();
  strict.append(5, 1);
  assertThrows(() => strict.append(5, 2), InvalidInputError);
  const loose = new XorAppender(true);
  loose.append(5, 1);
  loose.append(5, 2);
  loose.append(6, 3);
  const { ts, vs } = decodeXorSamples(loose.bytes());
  assertEquals([...ts], [5, 5, 6]);
  assertEquals([...vs], [1, 2, 3]);
});

function meta(
  ulid: string,
  minTime: number,
  maxTime: number,
  res: number,
  sources: string[],
): BlockMeta {
  return {
    ulid,
    minTime,
    maxTime,
    stats: {},
    compaction: { level: 1, sources },
    version: 1,
    thanos: { labels: { a: "1" }, downsample: { resolution: res }, source: "compactor" },
  };
}

Deno.test("downsampleCandidates: Thanos's selection by span and covered sources", () => {
  const A = "01ARZ3NDEKTSV4RRFFQ69G5FA1";
  const B = "01ARZ3NDEKTSV4RRFFQ69G5FA2";
  const C = "01ARZ3NDEKTSV4RRFFQ69G5FA3";
  const D = "01ARZ3NDEKTSV4RRFFQ69G5FA4";
  const E = "01ARZ3NDEKTSV4RRFFQ69G5FA5";
  const metas = new Map<string, BlockMeta>([
    [A, meta(A, 0, 40 * HOUR, 0, [A])], // ≥ 40h raw, not covered → 5m
    [B, meta(B, 0, 40 * HOUR - 1, 0, [B])], // too short
    [C, meta(C, 0, 48 * HOUR, 0, [C])], // covered by D
    [D, meta(D, 0, 48 * HOUR, RES_5M, [C])], // 5m but < 10d
    [E, meta(E, 0, 240 * HOUR, RES_5M, [E])], // 10d 5m → 1h
  ]);
  assertEquals(downsampleCandidates(metas).map((m) => m.ulid), [A, E]);
});

Deno.test("downsampleBucket: raw → 5m → 1h through a bucket, marks and metrics honoured", async () => {
  await withTempDir(async (dir) => {
    const series = dataSet(10 * 24 + 2).slice(0, 4);
    const thanos = { labels: { cluster: "a" }, downsample: { resolution: 0 }, source: "sidecar" };
    const b1 = await writeBlock(`${dir}/local`, series, { ...blockRange(series), thanos });
    const short = series.map((s) => ({
      labels: s.labels,
      ts: s.ts.subarray(0, 100),
      vs: s.vs.subarray(0, 100),
    }));
    const b2 = await writeBlock(`${dir}/local`, short, {
      ...blockRange(short),
      thanos: { ...thanos, labels: { cluster: "b" } },
    });
    const b3 = await writeBlock(`${dir}/local`, series, {
      ...blockRange(series),
      thanos: { ...thanos, labels: { cluster: "c" } },
    });
    const bucket = new FilesystemBucket(`${dir}/bucket`);
    for (const b of [b1, b2, b3]) await uploadBlock(bucket, `${dir}/local/${b.ulid}`);
    assert(await markForNoDownsample(bucket, b3.ulid, "manual", "test"));
    const reg = new Registry();
    const lines: string[] = [];
    const logger = new Logger("info", "logfmt", {}, (l) => lines.push(l));
    const res = await downsampleBucket(bucket, { dir: `${dir}/work`, registry: reg, logger });
    assertEquals(res.created.length, 2);
    assertEquals(res.created.map((m) => m.thanos?.downsample.resolution), [RES_5M, RES_1H]);
    for (const m of res.created) {
      assertEquals(m.compaction.sources, [b1.ulid]);
      assertEquals(m.thanos?.labels, { cluster: "a" });
      assert(await bucket.exists(`${m.ulid}/meta.json`));
      assert(await bucket.exists(`${m.ulid}/index`));
    }
    // a second run has nothing left to do
    assertEquals(
      (await downsampleBucket(bucket, { dir: `${dir}/work`, registry: reg })).created,
      [],
    );
    const metrics = await reg.expose();
    assert(metrics.includes('thanos_compact_downsample_total{resolution="0"} 1'), metrics);
    assert(metrics.includes('thanos_compact_downsample_total{resolution="300000"} 1'));
    assert(metrics.includes("thanos_compact_downsample_duration_seconds_count"));
    assert(lines.some((l) => l.includes("downsampled block")), lines.join("\n"));
    assert(lines.some((l) => l.includes("skipping block marked for no downsample")));
    await bucket.close();
  });
});

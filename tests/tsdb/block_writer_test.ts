import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { Block, openBlocks } from "../../tsdb/block.ts";
import { createBlocksFromSeries, cutChunks, writeBlock } from "../../tsdb/block_writer.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { InvalidInputError } from "../../tsdb/errors.ts";
import { labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { BlockQuerier, BlocksQuerier } from "../../tsdb/querier.ts";
import type { SeriesWithChunks } from "../../tsdb/series.ts";
import { float64Hi, isStaleAt } from "../../tsdb/value.ts";

const H = 3_600_000;
const ALL = [new Matcher(MatchType.Regexp, "__name__", ".+")];

async function collect(set: AsyncIterable<SeriesWithChunks>): Promise<SeriesWithChunks[]> {
  const out: SeriesWithChunks[] = [];
  for await (const s of set) out.push(s);
  return out;
}

function decodeAll(s: SeriesWithChunks): { ts: Float64Array; vs: Float64Array } {
  let n = 0;
  const parts = s.chunks.map((c) => decodeXorSamples(c.data));
  for (const p of parts) n += p.ts.length;
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  let k = 0;
  for (const p of parts) {
    ts.set(p.ts, k);
    vs.set(p.vs, k);
    k += p.ts.length;
  }
  return { ts, vs };
}

/** Compares values by their bits, so NaN payloads (stale markers) and -0 count. */
function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length * 2);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) return false;
  }
  return true;
}

Deno.test("writeBlock output reopens with the same series and sample bits", async () => {
  await withTempDir(async (dir) => {
    const ds = generateDataset({
      series: 60,
      start: 0,
      end: 2 * H,
      stepMs: 15_000,
      seed: 3,
      jitterMs: 900,
    });
    const meta = await writeBlock(dir, ds.series, { minTime: 0, maxTime: 2 * H });
    const block = await Block.open(`${dir}/${meta.ulid}`);
    try {
      const got = await collect(new BlockQuerier(block).select(ALL, { start: 0, end: 2 * H }));
      const want = ds.series.filter((s) => s.ts.length > 0);
      assertEquals(
        got.map((s) => labelsToString(s.labels)),
        want.map((s) => labelsToString(s.labels)),
      );
      let samples = 0;
      let chunks = 0;
      for (let i = 0; i < got.length; i++) {
        const { ts, vs } = decodeAll(got[i]);
        assertEquals(Array.from(ts), Array.from(want[i].ts), labelsToString(want[i].labels));
        assert(sameBits(vs, want[i].vs), `values of ${labelsToString(want[i].labels)}`);
        for (const c of got[i].chunks) {
          const d = decodeXorSamples(c.data);
          assertEquals([c.minTime, c.maxTime], [d.ts[0], d.ts[d.ts.length - 1]]);
        }
        samples += ts.length;
        chunks += got[i].chunks.length;
      }
      assertEquals(meta.stats, { numSamples: samples, numSeries: got.length, numChunks: chunks });
      assertEquals(block.meta.compaction, { level: 1, sources: [meta.ulid] });
      assertEquals(block.meta.version, 1);
    } finally {
      await block.close();
    }
  });
});

Deno.test("writeBlock leaves only the final block dir with chunks, index, tombstones and meta.json", async () => {
  await withTempDir(async (dir) => {
    const s = {
      labels: labelsFromObject({ __name__: "x" }),
      ts: new Float64Array([1, 2]),
      vs: new Float64Array([1, 2]),
    };
    const meta = await writeBlock(dir, [s], {
      minTime: 0,
      maxTime: 10,
      ulid: "01HZZZZZZZZZZZZZZZZZZZZZZZ",
    });
    const entries = [];
    for await (const e of Deno.readDir(dir)) entries.push(e.name);
    assertEquals(entries, [meta.ulid]);
    const files = [];
    for await (const e of Deno.readDir(`${dir}/${meta.ulid}`)) files.push(e.name);
    assertEquals(files.sort(), ["chunks", "index", "meta.json", "tombstones"]);
    assertEquals(
      Array.from(await Deno.readFile(`${dir}/${meta.ulid}/tombstones`)),
      [0x01, 0x30, 0xba, 0x30, 0x01, 0, 0, 0, 0],
    );
    const chunkFiles = [];
    for await (const e of Deno.readDir(`${dir}/${meta.ulid}/chunks`)) chunkFiles.push(e.name);
    assertEquals(chunkFiles, ["000001"]);
  });
});

Deno.test("writeBlock keeps the stale marker bits", async () => {
  await withTempDir(async (dir) => {
    const vs = new Float64Array([1, 0, 2, NaN]);
    // plain JS arrays canonicalise NaN payloads: put the stale marker in through its words
    const iw = new Uint32Array(vs.buffer);
    const littleEndian = float64Hi(1) === new Uint32Array(new Float64Array([1]).buffer)[1];
    iw[littleEndian ? 3 : 2] = 0x7ff00000;
    iw[littleEndian ? 2 : 3] = 2;
    assert(isStaleAt(vs, 1));
    const s = {
      labels: labelsFromObject({ __name__: "x" }),
      ts: new Float64Array([10, 20, 30, 40]),
      vs,
    };
    const meta = await writeBlock(dir, [s], { minTime: 0, maxTime: 100 });
    const block = await Block.open(`${dir}/${meta.ulid}`);
    try {
      const [got] = await collect(new BlockQuerier(block).select(ALL, { start: 0, end: 100 }));
      const d = decodeAll(got);
      // read the words straight from the array: a NaN held in a JS number may lose its payload
      const words = new Uint32Array(d.vs.buffer, d.vs.byteOffset, d.vs.length * 2);
      assertEquals([words[littleEndian ? 3 : 2], words[littleEndian ? 2 : 3]], [0x7ff00000, 2]);
      assert(sameBits(d.vs, vs));
    } finally {
      await block.close();
    }
  });
});

Deno.test("writeBlock rejects unsorted series and samples outside the block with InvalidInputError", async () => {
  await withTempDir(async (dir) => {
    const a = {
      labels: labelsFromObject({ __name__: "a" }),
      ts: new Float64Array([1]),
      vs: new Float64Array([1]),
    };
    const b = {
      labels: labelsFromObject({ __name__: "b" }),
      ts: new Float64Array([1]),
      vs: new Float64Array([1]),
    };
    await assertRejects(
      () => writeBlock(dir, [b, a], { minTime: 0, maxTime: 10 }),
      InvalidInputError,
      "series a is not after b",
    );
    await assertRejects(
      () => writeBlock(dir, [a, a], { minTime: 0, maxTime: 10 }),
      InvalidInputError,
    );
    const late = { ...a, ts: new Float64Array([10]) };
    await assertRejects(
      () => writeBlock(dir, [late], { minTime: 0, maxTime: 10 }),
      InvalidInputError,
      "[0, 10)",
    );
    const unordered = { ...a, ts: new Float64Array([5, 5]), vs: new Float64Array([1, 2]) };
    await assertRejects(
      () => writeBlock(dir, [unordered], { minTime: 0, maxTime: 10 }),
      InvalidInputError,
    );
    // nothing half-written is left behind
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assertEquals(left, []);
  });
});

async function cut(ts: number[], range: number): Promise<number[][]> {
  const t = new Float64Array(ts);
  const out: number[][] = [];
  await cutChunks(t, new Float64Array(ts.length), 0, ts.length, range, (minT, maxT, data) => {
    const d = decodeXorSamples(data);
    assertEquals([d.ts[0], d.ts[d.ts.length - 1]], [minT, maxT]);
    out.push([minT, maxT, d.ts.length]);
    return Promise.resolve();
  });
  return out;
}

Deno.test("chunks are cut like Prometheus 2.42: 120 samples for a 15s series over 2h", async () => {
  const ts = Array.from({ length: 480 }, (_, i) => i * 15_000);
  assertEquals(await cut(ts, 2 * H), [
    [0, 1_785_000, 120],
    [1_800_000, 3_585_000, 120],
    [3_600_000, 5_385_000, 120],
    [5_400_000, 7_185_000, 120],
  ]);
});

Deno.test("chunks are cut at the chunk range boundary and at 240 samples", async () => {
  // 1 min spacing: the prediction at 30 samples gives the range end (2h) → cut at the boundary
  const slow = Array.from({ length: 200 }, (_, i) => i * 60_000);
  const c = await cut(slow, 2 * H);
  assertEquals(c[0], [0, 7_140_000, 120]);
  assertEquals(c[1][0], 7_200_000);
  // 30 sparse samples then a dense burst: the predicted end lies far away, so the 240 cap cuts
  const burst = [
    ...Array.from({ length: 30 }, (_, i) => i * 60_000),
    ...Array.from({ length: 400 }, (_, i) => 1_800_000 + i),
  ];
  const b = await cut(burst, 2 * H);
  // after the cap the next chunk predicts its end from its own (dense) rate: 120 samples
  assertEquals(b.map((x) => x[2]), [240, 120, 70]);
});

Deno.test("createBlocksFromSeries splits samples on multiples of the block duration like promtool", async () => {
  await withTempDir(async (dir) => {
    const start = 30 * 60_000; // 00:30
    const ds = generateDataset({ series: 50, start, end: start + 5 * H, stepMs: 30_000, seed: 9 });
    const metas = await createBlocksFromSeries(dir, ds.series, 2 * H);
    assertEquals(metas.length, 3);
    const windows = [[0, 2 * H], [2 * H, 4 * H], [4 * H, 6 * H]];
    for (let i = 0; i < 3; i++) {
      const [lo, hi] = windows[i];
      let first = Infinity;
      let last = -Infinity;
      for (const s of ds.series) {
        for (const t of s.ts) {
          if (t >= lo && t < hi) {
            first = Math.min(first, t);
            last = Math.max(last, t);
          }
        }
      }
      assertEquals([metas[i].minTime, metas[i].maxTime], [first, last + 1]);
    }
    const blocks = await openBlocks(dir);
    try {
      const merged = await collect(new BlocksQuerier(blocks).select(ALL, { start: 0, end: 6 * H }));
      const want = ds.series.filter((s) => s.ts.length > 0);
      assertEquals(merged.length, want.length);
      for (let i = 0; i < merged.length; i++) {
        const { ts, vs } = decodeAll(merged[i]);
        assertEquals(Array.from(ts), Array.from(want[i].ts));
        assert(sameBits(vs, want[i].vs));
      }
    } finally {
      for (const b of blocks) await b.close();
    }
  });
});

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { Block, openBlocks } from "../../tsdb/block.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { CorruptionError, InvalidMetaError, MissingFileError } from "../../tsdb/errors.ts";
import { compareLabels, getLabel, labelsFromObject, labelsToString } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import {
  BlockQuerier,
  BlocksQuerier,
  mergeSeriesBatches,
  mergeSeriesSets,
  postingsForMatchers,
} from "../../tsdb/querier.ts";
import type { Labels, SeriesWithChunks } from "../../tsdb/series.ts";
import { writeTombstones } from "../../tsdb/tombstones.ts";

const H = 3_600_000;

interface Fixture {
  labels: Labels;
  ts: Float64Array;
  vs: Float64Array;
}

/** Regular series over [0, 2h) every 15 s with values i + offset. */
function series(
  o: Record<string, string>,
  offset = 0,
  from = 0,
  to = 2 * H,
  step = 15_000,
): Fixture {
  const n = Math.ceil((to - from) / step);
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ts[i] = from + i * step;
    vs[i] = i + offset;
  }
  return { labels: labelsFromObject(o), ts, vs };
}

function fixture(): Fixture[] {
  return [
    series({ __name__: "a", job: "x", env: "prod" }, 0),
    series({ __name__: "a", job: "y" }, 1),
    series({ __name__: "a", job: "x", env: "dev", instance: "i1" }, 2),
    series({ __name__: "b", job: "x", env: "dev" }, 3),
    series({ __name__: "b", job: "z" }, 4),
    series({ __name__: "b", job: "zz", env: "" }, 5),
    series({ __name__: "c" }, 6),
    series({ __name__: "c", env: "prod", path: "/x|y" }, 7),
  ].sort((p, q) => compareLabels(p.labels, q.labels));
}

async function withBlock(
  fn: (b: Block, dir: string, fx: Fixture[]) => Promise<void>,
  fx = fixture(),
): Promise<void> {
  await withTempDir(async (dir) => {
    const meta = await writeBlock(dir, fx, { minTime: 0, maxTime: 2 * H });
    const block = await Block.open(`${dir}/${meta.ulid}`);
    try {
      await fn(block, `${dir}/${meta.ulid}`, fx);
    } finally {
      await block.close();
    }
  });
}

async function collect(set: AsyncIterable<SeriesWithChunks>): Promise<SeriesWithChunks[]> {
  const out: SeriesWithChunks[] = [];
  for await (const s of set) out.push(s);
  return out;
}

function samplesOf(s: SeriesWithChunks): { ts: number[]; vs: number[] } {
  const ts: number[] = [];
  const vs: number[] = [];
  for (const c of s.chunks) {
    const d = decodeXorSamples(c.data);
    ts.push(...d.ts);
    vs.push(...d.vs);
  }
  return { ts, vs };
}

/** Prometheus semantics, brute force: every matcher must accept the label's value ("" if unset). */
function bruteForce(fx: Fixture[], ms: Matcher[]): string[] {
  return fx.filter((f) => ms.every((m) => m.matches(getLabel(f.labels, m.name))))
    .map((f) => labelsToString(f.labels));
}

const M = (type: MatchType, name: string, value: string) => new Matcher(type, name, value);

Deno.test("select with each matcher type returns the series Prometheus semantics select, sorted", async () => {
  await withBlock(async (block, _dir, fx) => {
    const q = new BlockQuerier(block);
    const cases: Matcher[][] = [
      [M(MatchType.Equal, "__name__", "a")],
      [M(MatchType.Equal, "job", "x")],
      [M(MatchType.NotEqual, "job", "x")],
      [M(MatchType.Regexp, "job", "x|z")],
      [M(MatchType.Regexp, "job", "z.*")],
      [M(MatchType.NotRegexp, "job", "x|y")],
      [M(MatchType.Equal, "env", "")],
      [M(MatchType.NotEqual, "env", "")],
      [M(MatchType.Regexp, "env", "prod|")],
      [M(MatchType.Regexp, "env", ".+")],
      [M(MatchType.NotRegexp, "env", ".*")],
      [M(MatchType.Regexp, "env", ".*")],
      [M(MatchType.Equal, "__name__", "a"), M(MatchType.NotEqual, "env", "prod")],
      [M(MatchType.Regexp, "env", ".+"), M(MatchType.NotEqual, "env", "prod")],
      [M(MatchType.Equal, "__name__", "b"), M(MatchType.NotRegexp, "job", "z+")],
      [M(MatchType.Equal, "job", "nope")],
      [M(MatchType.Equal, "nolabel", "")],
      [M(MatchType.Equal, "path", "/x|y")],
      [M(MatchType.Regexp, "path", "/x\\|y")],
      [M(MatchType.Equal, "__name__", "c"), M(MatchType.Equal, "instance", "")],
    ];
    for (const ms of cases) {
      const got = (await collect(q.select(ms, { start: 0, end: 2 * H })))
        .map((s) => labelsToString(s.labels));
      assertEquals(got, bruteForce(fx, ms), `matchers ${ms.join(",")}`);
    }
  });
});

Deno.test("postingsForMatchers agrees with brute force on random matcher combinations", async () => {
  await withBlock(async (block, _dir, fx) => {
    const names = ["__name__", "job", "env", "instance", "path", "nolabel"];
    const values = ["", "a", "b", "x", "y", "z", "prod", "dev", "i1", ".*", ".+", "x|y", "d.*"];
    const types = [MatchType.Equal, MatchType.NotEqual, MatchType.Regexp, MatchType.NotRegexp];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const q = new BlockQuerier(block);
    for (let k = 0; k < 150; k++) {
      const ms: Matcher[] = [];
      const n = 1 + rnd(3);
      for (let j = 0; j < n; j++) {
        ms.push(M(types[rnd(4)], names[rnd(names.length)], values[rnd(values.length)]));
      }
      const refs = await postingsForMatchers(block.index, ms);
      const got = (await collect(q.select(ms, { start: 0, end: 2 * H, skipChunks: true })))
        .map((s) => labelsToString(s.labels));
      const want = bruteForce(fx, ms);
      // a selector where every matcher accepts "" selects series by subtraction from all
      assertEquals(got, want, `matchers ${ms.join(",")}`);
      assertEquals(refs.length, want.length);
    }
  });
});

Deno.test("select returns only chunks overlapping the inclusive time range, untrimmed", async () => {
  await withBlock(async (block) => {
    const q = new BlockQuerier(block);
    const ms = [M(MatchType.Equal, "__name__", "c"), M(MatchType.Equal, "env", "")];
    const all = (await collect(q.select(ms, { start: 0, end: 2 * H })))[0];
    assertEquals(all.chunks.length, 4); // 480 samples at 15 s over 2h → 4 × 120
    const second = all.chunks[1];
    // a range touching only the second chunk's last sample selects exactly that chunk
    const one = (await collect(q.select(ms, { start: second.maxTime, end: second.maxTime })))[0];
    assertEquals(one.chunks.map((c) => c.minTime), [second.minTime]);
    // a range ending at the third chunk's first sample includes it (inclusive end)
    const third = all.chunks[2];
    const two = (await collect(q.select(ms, { start: second.maxTime, end: third.minTime })))[0];
    assertEquals(two.chunks.length, 2);
    // out-of-range selections yield no series at all
    assertEquals((await collect(q.select(ms, { start: 2 * H, end: 3 * H }))).length, 0);
    assertEquals((await collect(q.select(ms, { start: -5, end: -1 }))).length, 0);
    // chunks are returned whole: samples of the first chunk before the range are still there
    const mid = (await collect(q.select(ms, { start: 100_000, end: 200_000 })))[0];
    assertEquals(samplesOf(mid).ts[0], 0);
  });
});

Deno.test("tombstones remove whole series, whole chunks and re-encode partially deleted chunks", async () => {
  await withBlock(async (block, dir, fx) => {
    const ix = block.index;
    const refA = (await ix.postings("job", ["y"]))[0];
    const refC = (await postingsForMatchers(ix, [
      M(MatchType.Equal, "__name__", "c"),
      M(MatchType.Equal, "env", ""),
    ]))[0];
    await block.close();
    await writeTombstones(
      dir,
      new Map([
        [refA, [{ mint: -1000, maxt: 3 * H }]], // the whole series
        [refC, [{ mint: 0, maxt: 1_799_999 }, { mint: 2_000_000, maxt: 2_100_000 }]],
      ]),
    );
    const b2 = await Block.open(dir);
    try {
      const q = new BlockQuerier(b2);
      const got = await collect(q.select([M(MatchType.Regexp, "__name__", ".+")], {
        start: 0,
        end: 2 * H,
      }));
      const names = got.map((s) => labelsToString(s.labels));
      assertEquals(names, bruteForce(fx, []).filter((n) => !n.includes('job="y"')));
      const c = got.find((s) => labelsToString(s.labels) === "c")!;
      // first chunk [0, 1785000] entirely deleted; second chunk loses 2000000..2100000
      assertEquals(c.chunks.length, 3);
      const { ts, vs } = samplesOf(c);
      assertEquals(ts[0], 1_800_000);
      assert(!ts.some((t) => t >= 2_000_000 && t <= 2_100_000));
      assertEquals(ts.length, 480 - 120 - 7);
      for (let i = 0; i < ts.length; i++) assertEquals(vs[i], ts[i] / 15_000 + 6);
      assertEquals(c.chunks[0].minTime, 1_800_000);
    } finally {
      await b2.close();
    }
  });
});

Deno.test("labelNames and labelValues honour matchers", async () => {
  await withBlock(async (block) => {
    const q = new BlockQuerier(block);
    assertEquals(await q.labelNames([], 0, 2 * H), ["__name__", "env", "instance", "job", "path"]);
    assertEquals(await q.labelNames([M(MatchType.Equal, "__name__", "b")], 0, 2 * H), [
      "__name__",
      "env",
      "job",
    ]);
    assertEquals(await q.labelValues("job", [], 0, 2 * H), ["x", "y", "z", "zz"]);
    assertEquals(
      await q.labelValues("job", [M(MatchType.Equal, "env", "dev")], 0, 2 * H),
      ["x"],
    );
    assertEquals(await q.labelValues("env", [M(MatchType.Equal, "__name__", "c")], 0, 2 * H), [
      "prod",
    ]);
  });
});

Deno.test("mergeSeriesSets merges blocks by labels and concatenates chunks by minTime", async () => {
  await withTempDir(async (dir) => {
    const first = [
      series({ __name__: "m", k: "1" }, 0, 0, H),
      series({ __name__: "m", k: "3" }, 0, 0, H),
    ];
    const second = [
      series({ __name__: "m", k: "1" }, 0, H, 2 * H),
      series({ __name__: "m", k: "2" }, 0, H, 2 * H),
    ];
    await writeBlock(dir, first, { minTime: 0, maxTime: H });
    await writeBlock(dir, second, { minTime: H, maxTime: 2 * H });
    const blocks = await openBlocks(dir);
    try {
      assertEquals(blocks.length, 2);
      const ms = [M(MatchType.Equal, "__name__", "m")];
      const hints = { start: 0, end: 2 * H };
      const sets = blocks.map((b) => new BlockQuerier(b).select(ms, hints));
      // reversed order of the sets must not change the result: chunks sort by minTime
      const merged = await collect(mergeSeriesSets(sets.reverse()));
      assertEquals(merged.map((s) => getLabel(s.labels, "k")), ["1", "2", "3"]);
      const s1 = merged[0];
      for (let i = 1; i < s1.chunks.length; i++) {
        assert(s1.chunks[i].minTime > s1.chunks[i - 1].maxTime);
      }
      assertEquals(samplesOf(s1).ts.length, 480);
      const viaQuerier = await collect(
        new BlocksQuerier(blocks).select(ms, { start: H, end: 2 * H }),
      );
      assertEquals(viaQuerier.map((s) => getLabel(s.labels, "k")), ["1", "2"]);
      assertEquals(
        await new BlocksQuerier(blocks).labelValues("k", [], 0, 2 * H),
        ["1", "2", "3"],
      );
    } finally {
      for (const b of blocks) await b.close();
    }
  });
});

async function corruptCase(
  mutate: (blockDir: string) => Promise<void>,
  check: (open: () => Promise<void>) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const meta = await writeBlock(dir, fixture(), { minTime: 0, maxTime: 2 * H });
    const bd = `${dir}/${meta.ulid}`;
    await mutate(bd);
    await check(async () => {
      const b = await Block.open(bd);
      try {
        await collect(new BlockQuerier(b).select([M(MatchType.Regexp, "__name__", ".+")], {
          start: 0,
          end: 2 * H,
        }));
      } finally {
        await b.close();
      }
    });
  });
}

async function flipByte(path: string, offset: number): Promise<void> {
  const b = await Deno.readFile(path);
  b[offset < 0 ? b.length + offset : offset] ^= 0xff;
  await Deno.writeFile(path, b);
}

Deno.test("a truncated index fails with CorruptionError naming the index file", async () => {
  await corruptCase(async (bd) => {
    const b = await Deno.readFile(`${bd}/index`);
    await Deno.writeFile(`${bd}/index`, b.subarray(0, b.length - 30));
  }, async (open) => {
    const e = await assertRejects(open, CorruptionError);
    assert(e.message.includes("/index"), e.message);
  });
});

Deno.test("an index with the wrong magic fails with CorruptionError naming the file", async () => {
  await corruptCase((bd) => flipByte(`${bd}/index`, 0), async (open) => {
    const e = await assertRejects(open, CorruptionError, "magic");
    assert(e.message.includes("/index"), e.message);
  });
});

Deno.test("an index CRC mismatch fails with CorruptionError naming the file", async () => {
  // byte 12 lies inside the first symbol of the symbol table
  await corruptCase((bd) => flipByte(`${bd}/index`, 12), async (open) => {
    const e = await assertRejects(open, CorruptionError);
    assert(e.message.includes("/index"), e.message);
  });
});

Deno.test("a chunk CRC mismatch fails the select with CorruptionError naming the segment", async () => {
  await corruptCase((bd) => flipByte(`${bd}/chunks/000001`, 20), async (open) => {
    const e = await assertRejects(open, CorruptionError);
    assert(e.message.includes("chunks/000001"), e.message);
  });
});

Deno.test("a missing chunk segment fails with MissingFileError naming it", async () => {
  await corruptCase((bd) => Deno.remove(`${bd}/chunks/000001`), async (open) => {
    const e = await assertRejects(open, MissingFileError);
    assert(e.message.includes("000001") || e.message.includes("chunks"), e.message);
  });
});

Deno.test("a missing index fails with MissingFileError naming it", async () => {
  await corruptCase((bd) => Deno.remove(`${bd}/index`), async (open) => {
    const e = await assertRejects(open, MissingFileError);
    assert(e.message.includes("/index"), e.message);
  });
});

Deno.test("a malformed or missing meta.json fails with InvalidMetaError / MissingFileError", async () => {
  await corruptCase(
    (bd) => Deno.writeTextFile(`${bd}/meta.json`, '{"ulid": "x", "version": 1'),
    async (open) => {
      const e = await assertRejects(open, InvalidMetaError);
      assert(e.message.includes("meta.json"), e.message);
    },
  );
  await corruptCase((bd) => Deno.remove(`${bd}/meta.json`), async (open) => {
    const e = await assertRejects(open, MissingFileError);
    assert(e.message.includes("meta.json"), e.message);
  });
});

Deno.test("corrupt tombstones fail with CorruptionError naming the file", async () => {
  await corruptCase((bd) => flipByte(`${bd}/tombstones`, 0), async (open) => {
    const e = await assertRejects(open, CorruptionError);
    assert(e.message.includes("tombstones"), e.message);
  });
});

Deno.test("mergeSeriesSets: a series in many sets comes once, its chunks in set order on ties", async () => {
  // set i holds series a (chunk at minTime 0, tagged i) unless i is 2, and b in every set; the
  // sets holding a are not all adjacent, so equal heads are found in more than one run
  const chunk = (tag: number) => ({
    minTime: 0,
    maxTime: 10,
    encoding: 1,
    data: new Uint8Array([tag]),
  });
  const a = labelsFromObject({ __name__: "a" });
  const b = labelsFromObject({ __name__: "b" });
  async function* set(i: number): AsyncGenerator<SeriesWithChunks> {
    await Promise.resolve();
    if (i !== 2) yield { labels: a, chunks: [chunk(i)] };
    yield { labels: labelsFromObject({ __name__: i === 2 ? "a0" : "a1" }), chunks: [chunk(i)] };
    yield { labels: b, chunks: [chunk(i)] };
  }
  const merged = await collect(mergeSeriesSets([0, 1, 2, 3, 4, 5].map(set)));
  assertEquals(merged.map((s) => getLabel(s.labels, "__name__")), ["a", "a0", "a1", "b"]);
  assertEquals(merged[0].chunks.map((c) => c.data[0]), [0, 1, 3, 4, 5]);
  assertEquals(merged[1].chunks.map((c) => c.data[0]), [2]);
  assertEquals(merged[2].chunks.map((c) => c.data[0]), [0, 1, 3, 4, 5]);
  assertEquals(merged[3].chunks.map((c) => c.data[0]), [0, 1, 2, 3, 4, 5]);
});

Deno.test("mergeSeriesBatches: sets read in batches of any size (empty too) merge like mergeSeriesSets", async () => {
  // 5 sets of sorted series; set k holds every series whose number is not a multiple of k + 2,
  // cut into batches of k + 1 with an empty batch after each
  const name = (n: number) => labelsFromObject({ __name__: `m${String(n).padStart(3, "0")}` });
  const series = (k: number) => {
    const out: SeriesWithChunks[] = [];
    for (let n = 0; n < 60; n++) {
      if (n % (k + 2) === 0) continue;
      out.push({
        labels: name(n),
        chunks: [{ minTime: n, maxTime: n + 1, encoding: 1, data: new Uint8Array([k]) }],
      });
    }
    return out;
  };
  async function* batches(k: number): AsyncGenerator<SeriesWithChunks[]> {
    const all = series(k);
    for (let i = 0; i < all.length; i += k + 1) {
      await Promise.resolve();
      yield all.slice(i, i + k + 1);
      yield [];
    }
  }
  async function* one(k: number): AsyncGenerator<SeriesWithChunks> {
    yield* series(k);
  }
  const sets = [0, 1, 2, 3, 4];
  const got: SeriesWithChunks[] = [];
  for await (const b of mergeSeriesBatches(sets.map(batches))) got.push(...b);
  const want = await collect(mergeSeriesSets(sets.map(one)));
  assertEquals(want.length, 59);
  assertEquals(
    got.map((s) => [labelsToString(s.labels), s.chunks.map((c) => c.data[0])]),
    want.map((s) => [labelsToString(s.labels), s.chunks.map((c) => c.data[0])]),
  );
});

Deno.test("mergeSeriesBatches: sets sharing a series split again when their next series differ", async () => {
  // whole sets in one batch each: after a shared series the sets' next series differ (b, c)
  // without a batch running out, so their cursors must part in the merge
  const s = (name: string, tag: number): SeriesWithChunks => ({
    labels: labelsFromObject({ __name__: name }),
    chunks: [{ minTime: tag, maxTime: tag + 1, encoding: 1, data: new Uint8Array([tag]) }],
  });
  async function* one(batch: SeriesWithChunks[]): AsyncGenerator<SeriesWithChunks[]> {
    await Promise.resolve();
    yield batch;
  }
  const got: SeriesWithChunks[] = [];
  const sets = [
    [s("a", 0), s("b", 1), s("d", 2), s("e", 3)],
    [s("a", 10), s("c", 11), s("d", 12), s("e", 13)],
    [s("a", 20), s("b", 21), s("e", 23)],
  ];
  for await (const b of mergeSeriesBatches(sets.map(one))) got.push(...b);
  assertEquals(
    got.map((x) => [getLabel(x.labels, "__name__"), x.chunks.map((c) => c.data[0])]),
    [["a", [0, 10, 20]], ["b", [1, 21]], ["c", [11]], ["d", [2, 12]], ["e", [3, 13, 23]]],
  );
});

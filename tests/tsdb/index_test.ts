import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { type ByteSource, FileByteSource, MemoryByteSource } from "../../tsdb/bytesource.ts";
import { crc32c } from "../../tsdb/crc32c.ts";
import { Decbuf, Encbuf } from "../../tsdb/encoding.ts";
import { CorruptionError, InvalidInputError } from "../../tsdb/errors.ts";
import { compareLabels, compareStrings, labelsFromObject } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import { type ChunkMeta, IndexWriter } from "../../tsdb/index/writer.ts";
import { IndexReader, type IndexSeries } from "../../tsdb/index/reader.ts";
import { mergePostings } from "../../tsdb/index/postings.ts";

// ---- fixtures ----

/** Deterministic PRNG (mulberry32) so failures reproduce. */
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

interface Fixture {
  series: { labels: Labels; chunks: ChunkMeta[] }[];
  symbols: string[];
}

const NAME_POOL = ["__name__", "job", "instance", "path", "zone", "名前", "ünï", "le", "a_b"];
const VALUE_POOL = [
  "api",
  "db",
  "10.0.0.1:9100",
  "/ü/päth",
  "日本語",
  "emoji 😀",
  "\u{1F600}x",
  "\uE000 private",
  "a\nb",
  "x".repeat(300),
  "y".repeat(3000), // longer than the reader's table peek window
];

/** Random series with unicode names/values, several chunks with large refs and negative times. */
function makeFixture(seed: number, n: number): Fixture {
  const r = rng(seed);
  const seen = new Set<string>();
  const series: Fixture["series"] = [];
  for (let i = 0; series.length < n && i < n * 10; i++) {
    const o: Record<string, string> = { __name__: `metric_${Math.floor(r() * 20)}` };
    for (const name of NAME_POOL.slice(1)) {
      if (r() < 0.4) {
        o[name] = r() < 0.5
          ? VALUE_POOL[Math.floor(r() * VALUE_POOL.length)]
          : `v${Math.floor(r() * 200)}`;
      }
    }
    const ls = labelsFromObject(o);
    const key = ls.join("\xff");
    if (seen.has(key)) continue;
    seen.add(key);
    series.push({ labels: ls, chunks: [] });
  }
  series.sort((a, b) => compareLabels(a.labels, b.labels));
  // Chunk refs non-decreasing across series, segment index > 0 and offsets above 2^31.
  let seg = 0;
  let off = 8;
  for (const s of series) {
    const nChunks = Math.floor(r() * 5);
    let t = -50_000_000 + Math.floor(r() * 100_000_000);
    for (let c = 0; c < nChunks; c++) {
      const minTime = t + 1 + Math.floor(r() * 1000);
      const maxTime = minTime + Math.floor(r() * 7_200_000);
      t = maxTime;
      if (r() < 0.1) {
        seg++;
        off = 8;
      } else {
        off += Math.floor(r() * 2 ** 30);
        if (off >= 2 ** 32) {
          seg++;
          off = 2 ** 31 + Math.floor(r() * 1000);
        }
      }
      s.chunks.push({ minTime, maxTime, ref: seg * 2 ** 32 + off });
    }
  }
  const symbols: string[] = [];
  for (const s of series) symbols.push(...s.labels);
  symbols.push("unused-symbol");
  return { series, symbols };
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "index_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes the fixture and returns the file path and the ref of each series. */
async function writeFixture(path: string, fx: Fixture): Promise<number[]> {
  const w = await IndexWriter.create(path, fx.symbols);
  const refs: number[] = [];
  for (const s of fx.series) refs.push(await w.addSeries(s.labels, s.chunks));
  await w.close();
  return refs;
}

/** A ByteSource that counts reads (a bucket object would pay one request per read). */
class CountingSource implements ByteSource {
  reads = 0;
  bytes = 0;
  constructor(private readonly inner: ByteSource) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    const b = await this.inner.read(offset, length);
    this.bytes += b.length;
    return b;
  }
}

/** Expected label names, values and postings derived from the fixture. */
function expectations(fx: Fixture, refs: number[]) {
  const postings = new Map<string, Map<string, number[]>>();
  for (let i = 0; i < fx.series.length; i++) {
    const ls = fx.series[i].labels;
    for (let k = 0; k < ls.length; k += 2) {
      let m = postings.get(ls[k]);
      if (!m) postings.set(ls[k], m = new Map());
      const l = m.get(ls[k + 1]) ?? [];
      l.push(refs[i]);
      m.set(ls[k + 1], l);
    }
  }
  const names = [...postings.keys()].sort(compareStrings);
  return { postings, names };
}

async function collect(it: AsyncIterable<IndexSeries>): Promise<IndexSeries[]> {
  const out: IndexSeries[] = [];
  for await (const s of it) out.push(s);
  return out;
}

// ---- round trip ----

async function checkRoundTrip(reader: IndexReader, fx: Fixture, refs: number[]): Promise<void> {
  const { postings, names } = expectations(fx, refs);
  assertEquals(reader.version, 2);
  assertEquals(reader.labelNames(), names);
  for (const name of names) {
    const values = [...postings.get(name)!.keys()].sort(compareStrings);
    assertEquals(await reader.labelValues(name), values, `values of ${name}`);
    for (const v of values) {
      assertEquals(
        await reader.postings(name, [v]),
        Uint32Array.from(postings.get(name)!.get(v)!),
        `postings of ${name}=${v}`,
      );
    }
    // Several values at once, unsorted, with duplicates and missing ones.
    const pick = [values[values.length - 1], "zz-missing", values[0], "", values[0]];
    const want = mergePostings(
      pick.filter((v) => postings.get(name)!.has(v)).map((v) =>
        Uint32Array.from(postings.get(name)!.get(v)!)
      ),
    );
    assertEquals(await reader.postings(name, pick), want, `multi-value postings of ${name}`);
    // Every other value: spans many 32-value sample blocks of the table.
    const half = values.filter((_, i) => i % 2 === 0);
    assertEquals(
      await reader.postings(name, half),
      mergePostings(half.map((v) => Uint32Array.from(postings.get(name)!.get(v)!))),
      `half the values of ${name}`,
    );
    const pred = (v: string) => v.length % 2 === 0;
    const wantMatch = mergePostings(
      values.filter(pred).map((v) => Uint32Array.from(postings.get(name)!.get(v)!)),
    );
    assertEquals(await reader.postingsForLabelMatching(name, pred), wantMatch);
  }
  assertEquals(await reader.labelValues("no_such_name"), []);
  assertEquals((await reader.postings("no_such_name", ["x"])).length, 0);
  assertEquals(await reader.allPostings(), Uint32Array.from(refs));

  for (let i = 0; i < fx.series.length; i++) {
    const s = await reader.series(refs[i]);
    assertEquals(s, {
      ref: refs[i],
      labels: [...fx.series[i].labels],
      chunks: fx.series[i].chunks,
    });
  }
  const many = await collect(reader.seriesMany(Uint32Array.from(refs), { maxReadBytes: 4096 }));
  assertEquals(many.map((s) => s.labels), fx.series.map((s) => [...s.labels]));
  assertEquals(many.map((s) => s.chunks), fx.series.map((s) => s.chunks));
  const sparse = refs.filter((_, i) => i % 7 === 3);
  const few = await collect(reader.seriesMany(sparse));
  assertEquals(few.map((s) => s.ref), sparse);
  // each entry's body (what the store's index cache keeps) decodes to the same series
  const bodies = new Map<number, Uint8Array>();
  const withBodies = await collect(
    reader.seriesMany(Uint32Array.from(refs), {
      maxReadBytes: 4096,
      onBody: (ref, body) => bodies.set(ref, body.slice()),
    }),
  );
  assertEquals(withBodies, many);
  assertEquals(bodies.size, refs.length);
  for (const s of many) assertEquals(reader.decodeSeriesBody(s.ref, bodies.get(s.ref)!), s);
  // with a time window: only the chunk metas overlapping it, bounds inclusive; none when empty
  for (const s of many) {
    const body = bodies.get(s.ref)!;
    const overlapping = (mint: number, maxt: number) =>
      s.chunks.filter((c) => c.maxTime >= mint && c.minTime <= maxt);
    assertEquals(reader.decodeSeriesBody(s.ref, body, Infinity, -Infinity).chunks, []);
    if (s.chunks.length === 0) continue;
    const first = s.chunks[0];
    const last = s.chunks[s.chunks.length - 1];
    for (const [mint, maxt] of [[first.maxTime, first.maxTime], [last.minTime, last.minTime]]) {
      const got = reader.decodeSeriesBody(s.ref, body, mint, maxt);
      assertEquals(got.labels, s.labels);
      assertEquals(got.chunks, overlapping(mint, maxt));
      assert(got.chunks.length > 0, `window [${mint}, ${maxt}] of series ${s.ref}`);
    }
  }

  const wantSymbols = [...new Set(["", ...fx.symbols])].sort(compareStrings);
  assertEquals([...reader.symbols()], wantSymbols);
  for (let i = 0; i < wantSymbols.length; i += 13) assertEquals(reader.symbol(i), wantSymbols[i]);
}

Deno.test("index writer → reader round trip: names, values, postings, series, symbols", async () => {
  await withTempDir(async (dir) => {
    const fx = makeFixture(1, 600);
    const path = `${dir}/index`;
    const refs = await writeFixture(path, fx);
    const src = await FileByteSource.open(path);
    const reader = await IndexReader.open(src);
    try {
      await checkRoundTrip(reader, fx, refs);
    } finally {
      await reader.close();
    }
  });
});

Deno.test("readers of blocks sharing symbols each decode their own series correctly", async () => {
  // symbols are shared between readers (one string per symbol): two blocks with overlapping but
  // differently numbered symbols, read interleaved, still give each block's own labels
  await withTempDir(async (dir) => {
    const a = makeFixture(3, 200);
    const b = makeFixture(4, 200);
    const refsA = await writeFixture(`${dir}/a`, a);
    const refsB = await writeFixture(`${dir}/b`, b);
    const ra = await IndexReader.open(await FileByteSource.open(`${dir}/a`));
    const rb = await IndexReader.open(await FileByteSource.open(`${dir}/b`));
    try {
      for (let i = 0; i < Math.max(refsA.length, refsB.length); i++) {
        if (i < refsA.length) assertEquals((await ra.series(refsA[i])).labels, a.series[i].labels);
        if (i < refsB.length) assertEquals((await rb.series(refsB[i])).labels, b.series[i].labels);
      }
      await checkRoundTrip(ra, a, refsA);
      await checkRoundTrip(rb, b, refsB);
    } finally {
      await ra.close();
      await rb.close();
    }
  });
});

Deno.test("index reader without the in-memory postings table gives the same answers", async () => {
  await withTempDir(async (dir) => {
    const fx = makeFixture(2, 400);
    const path = `${dir}/index`;
    const refs = await writeFixture(path, fx);
    const bytes = await Deno.readFile(path);
    const src = new CountingSource(new MemoryByteSource(bytes, "mem/index"));
    const reader = await IndexReader.open(src, { keepPostingsTable: false });
    await checkRoundTrip(reader, fx, refs);
  });
});

Deno.test("index reader opens with 4 reads and fetches postings and series with few reads", async () => {
  await withTempDir(async (dir) => {
    const fx = makeFixture(3, 800);
    const path = `${dir}/index`;
    const refs = await writeFixture(path, fx);
    const src = new CountingSource(new MemoryByteSource(await Deno.readFile(path), "b/index"));
    const reader = await IndexReader.open(src);
    assertEquals(src.reads, 4, "header, TOC, symbol table, postings offset table");
    src.reads = 0;
    const values = await reader.labelValues("job");
    assertEquals(src.reads, 0, "label values come from memory");
    await reader.postings("job", values);
    assertEquals(src.reads, 1, "nearby postings lists are fetched in one read");
    src.reads = 0;
    const all = await collect(reader.seriesMany(Uint32Array.from(refs)));
    assertEquals(all.length, refs.length);
    assert(src.reads <= 3, `seriesMany used ${src.reads} reads for ${refs.length} series`);
  });
});

Deno.test("index with no series still has symbols, an empty all-postings list and a TOC", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/index`;
    const w = await IndexWriter.create(path, ["b", "a", "b", ""]);
    await w.close();
    const reader = await IndexReader.open(new MemoryByteSource(await Deno.readFile(path)));
    assertEquals([...reader.symbols()], ["", "a", "b"]);
    assertEquals(reader.labelNames(), []);
    assertEquals(await reader.allPostings(), new Uint32Array(0));
  });
});

Deno.test("long series entries and long postings lists are completed with a second read", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/index`;
    // The first series has > 512 bytes of labels, and its label "bz" has a value longer than
    // the table peek window, right after the 1200-entry list of big="a" in the table.
    const wide = ["__name__", "m", "big", "0", "bz", "y".repeat(3000)];
    for (let k = 0; k < 150; k++) wide.push(`l${String(k).padStart(3, "0")}`, "v");
    const series: Labels[] = [wide];
    for (let i = 0; i < 1200; i++) {
      series.push(["__name__", "m", "big", "a", "id", String(i).padStart(4, "0")]);
    }
    const w = await IndexWriter.create(path, series.flat());
    const refs: number[] = [];
    for (const ls of series) refs.push(await w.addSeries(ls, [{ minTime: 0, maxTime: 1, ref: 8 }]));
    await w.close();
    for (const keep of [true, false]) {
      const src = new CountingSource(new MemoryByteSource(await Deno.readFile(path), "x/index"));
      const r = await IndexReader.open(src, { keepPostingsTable: keep });
      assertEquals(await r.postings("big", ["a"]), Uint32Array.from(refs.slice(1)));
      assertEquals((await r.series(refs[0])).labels, wide);
      const got = await collect(r.seriesMany(Uint32Array.from(refs), { maxReadBytes: 1 << 14 }));
      assertEquals(got.map((s) => s.labels), series);
    }
  });
});

// ---- byte-level layout ----

Deno.test("index bytes: header, TOC CRC, 16-byte series, 4-byte postings, ('','') first", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/index`;
    const w = await IndexWriter.create(path, ["__name__", "up", "job", "a", "b", "long".repeat(9)]);
    const r1 = await w.addSeries(["__name__", "up", "job", "a"], [{
      minTime: 1,
      maxTime: 2,
      ref: 8,
    }]);
    const r2 = await w.addSeries(["__name__", "up", "job", "b"], []);
    const r3 = await w.addSeries(["__name__", "up", "job", "long".repeat(9)], [
      { minTime: -5, maxTime: -1, ref: 30 },
      { minTime: 0, maxTime: 10, ref: 2 ** 32 + 8 },
    ]);
    await w.close();
    const b = await Deno.readFile(path);
    const dv = new DataView(b.buffer);
    assertEquals([...b.subarray(0, 5)], [0xba, 0xaa, 0xd7, 0x00, 0x02]);
    const tocAt = b.length - 52;
    assertEquals(dv.getUint32(tocAt + 48), crc32c(b, tocAt, tocAt + 48));
    const toc = new Decbuf(b, path, 0, tocAt);
    const [symbols, series, labelIndices, labelIndicesTable, postings, postingsTable] = [
      toc.be64(),
      toc.be64(),
      toc.be64(),
      toc.be64(),
      toc.be64(),
      toc.be64(),
    ];
    assertEquals(symbols, 5);
    // Symbol table: len, count, sorted symbols, CRC over count+entries; series right after.
    const symLen = dv.getUint32(5);
    assertEquals(dv.getUint32(9), 7);
    assertEquals(dv.getUint32(5 + 4 + symLen), crc32c(b, 9, 9 + symLen));
    assertEquals(series, 5 + 4 + symLen + 4);
    const sd = new Decbuf(b, path, 0, 13);
    const syms: string[] = [];
    for (let i = 0; i < 7; i++) syms.push(sd.uvarintStr());
    assertEquals(syms, ["", "__name__", "a", "b", "job", "long".repeat(9), "up"]);
    // Series: 16-byte aligned, zero padding before each, first at the first multiple of 16.
    assertEquals(r1 * 16, Math.ceil(series / 16) * 16);
    assert(r2 > r1 && r3 > r2);
    for (let p = series; p < r1 * 16; p++) assertEquals(b[p], 0);
    // Series 1 body: 2 labels (1,6),(4,2); 1 chunk: varint(1)=2, uvarint(1), uvarint(8).
    const body1 = [2, 1, 6, 4, 2, 1, 2, 1, 8];
    assertEquals([...b.subarray(r1 * 16, r1 * 16 + 10)], [body1.length, ...body1]);
    assertEquals(
      dv.getUint32(r1 * 16 + 10),
      crc32c(Uint8Array.from(body1)),
    );
    // 3.8+ layout: legacy offsets point at the next section.
    assertEquals(labelIndices, postings);
    assertEquals(labelIndicesTable, postingsTable);
    const afterSeries = postings;
    const firstList = Math.ceil(afterSeries / 4) * 4;
    for (let p = afterSeries; p < firstList; p++) assertEquals(b[p], 0);
    // Postings offset table: ("","") first pointing at the all-postings list.
    const td = new Decbuf(b, path, 0, postingsTable);
    const tlen = td.be32();
    assertEquals(
      dv.getUint32(postingsTable + 4 + tlen),
      crc32c(b, postingsTable + 4, postingsTable + 4 + tlen),
    );
    const count = td.be32();
    const entries: [string, string, number][] = [];
    for (let i = 0; i < count; i++) {
      assertEquals(td.uvarint(), 2);
      entries.push([td.uvarintStr(), td.uvarintStr(), td.uvarint()]);
    }
    assertEquals(td.pos, postingsTable + 4 + tlen);
    assertEquals(td.pos + 4, tocAt);
    assertEquals(entries.map((e) => [e[0], e[1]]), [
      ["", ""],
      ["__name__", "up"],
      ["job", "a"],
      ["job", "b"],
      ["job", "long".repeat(9)],
    ]);
    assertEquals(entries[0][2], firstList);
    for (const [, , off] of entries) {
      assertEquals(off % 4, 0);
      const len = dv.getUint32(off);
      assertEquals(dv.getUint32(off + 4 + len), crc32c(b, off + 4, off + 4 + len));
    }
    // All postings list: len 4+4n, n, refs ascending.
    assertEquals(dv.getUint32(firstList), 16);
    assertEquals(dv.getUint32(firstList + 4), 3);
    assertEquals(
      [dv.getUint32(firstList + 8), dv.getUint32(firstList + 12), dv.getUint32(firstList + 16)],
      [r1, r2, r3],
    );
    // Lists follow each other with no gaps, the table follows the last list.
    assertEquals(entries[1][2], firstList + 24);
    assertEquals(postingsTable, entries[4][2] + 16);
  });
});

// ---- writer validation ----

Deno.test("index writer rejects unsorted series, bad chunks and unknown symbols", async () => {
  await withTempDir(async (dir) => {
    const w = await IndexWriter.create(`${dir}/index`, ["a", "b", "c"]);
    await w.addSeries(["a", "b"], []);
    await assertRejects(() => w.addSeries(["a", "b"], []), InvalidInputError, "out-of-order");
    await assertRejects(() => w.addSeries(["a", "a"], []), InvalidInputError, "out-of-order");
    await assertRejects(() => w.addSeries(["b", "a", "a", "c"], []), InvalidInputError, "sorted");
    await assertRejects(() => w.addSeries(["a", "zz"], []), InvalidInputError, "symbol table");
    await assertRejects(
      () => w.addSeries(["a", "c"], [{ minTime: 5, maxTime: 4, ref: 1 }]),
      InvalidInputError,
      "below minTime",
    );
    await assertRejects(
      () =>
        w.addSeries(["a", "c"], [{ minTime: 1, maxTime: 4, ref: 1 }, {
          minTime: 4,
          maxTime: 6,
          ref: 2,
        }]),
      InvalidInputError,
      "previous chunk's maxTime",
    );
    await assertRejects(
      () =>
        w.addSeries(["a", "c"], [{ minTime: 1, maxTime: 4, ref: 9 }, {
          minTime: 5,
          maxTime: 6,
          ref: 2,
        }]),
      InvalidInputError,
      "previous chunk's ref",
    );
    // The writer is still usable after rejected input.
    await w.addSeries(["a", "c"], [{ minTime: 1, maxTime: 4, ref: 9 }]);
    await w.close();
    const r = await IndexReader.open(await FileByteSource.open(`${dir}/index`));
    assertEquals(await r.labelValues("a"), ["b", "c"]);
    await r.close();
  });
});

// ---- corruption ----

async function corruptAndOpen(
  bytes: Uint8Array,
  mutate: (b: Uint8Array) => Uint8Array,
): Promise<IndexReader> {
  return await IndexReader.open(new MemoryByteSource(mutate(bytes.slice()), "blk/index"));
}

function expectCorruption(e: Error, atLeast: number, atMost: number): void {
  assert(e instanceof CorruptionError);
  assertEquals(e.file, "blk/index");
  assert(
    e.offset >= atLeast && e.offset <= atMost,
    `offset ${e.offset} not in [${atLeast}, ${atMost}]: ${e.message}`,
  );
  assert(e.message.startsWith("blk/index at offset "), e.message);
}

Deno.test("corrupt index: truncation, magic, flipped bytes → CorruptionError with offset", async () => {
  await withTempDir(async (dir) => {
    const fx = makeFixture(4, 100);
    const path = `${dir}/index`;
    const refs = await writeFixture(path, fx);
    const good = await Deno.readFile(path);
    const ok = await IndexReader.open(new MemoryByteSource(good, "blk/index"));
    const toc = ok.toc;

    // Truncated at various points.
    for (const cut of [0, 10, 60, good.length >> 1, good.length - 1]) {
      const e = await assertRejects(
        () => corruptAndOpen(good, (b) => b.subarray(0, cut)),
        CorruptionError,
      );
      expectCorruption(e, 0, good.length);
    }
    // Wrong magic.
    let e = await assertRejects(
      () =>
        corruptAndOpen(good, (b) => {
          b[1] ^= 0xff;
          return b;
        }),
      CorruptionError,
      "bad magic",
    );
    expectCorruption(e, 0, 0);
    // Flipped byte in the TOC.
    e = await assertRejects(
      () =>
        corruptAndOpen(good, (b) => {
          b[b.length - 30] ^= 0x10;
          return b;
        }),
      CorruptionError,
      "TOC",
    );
    expectCorruption(e, good.length - 52, good.length - 52);
    // Flipped byte in the symbol table.
    e = await assertRejects(
      () =>
        corruptAndOpen(good, (b) => {
          b[toc.symbols + 20] ^= 0x01;
          return b;
        }),
      CorruptionError,
      "symbol table",
    );
    expectCorruption(e, toc.symbols, toc.symbols);
    // Flipped byte in the postings offset table.
    e = await assertRejects(
      () =>
        corruptAndOpen(good, (b) => {
          b[toc.postingsTable + 30] ^= 0x01;
          return b;
        }),
      CorruptionError,
      "postings offset table",
    );
    expectCorruption(e, toc.postingsTable, toc.postingsTable);

    // Flipped byte in a series: open succeeds, decoding that series fails.
    const victim = refs[5] * 16;
    const r1 = await corruptAndOpen(good, (b) => {
      b[victim + 3] ^= 0x04;
      return b;
    });
    e = await assertRejects(() => r1.series(refs[5]), CorruptionError, "CRC mismatch in series");
    expectCorruption(e, victim, victim);
    e = await assertRejects(() => collect(r1.seriesMany(Uint32Array.from(refs))), CorruptionError);
    expectCorruption(e, victim, victim);
    // Neighbouring series still decode.
    assertEquals((await r1.series(refs[6])).labels, [...fx.series[6].labels]);

    // Flipped byte inside the all-postings list.
    const allOff = Math.ceil(toc.postings / 4) * 4;
    const r2 = await corruptAndOpen(good, (b) => {
      b[allOff + 9] ^= 0x01;
      return b;
    });
    e = await assertRejects(() => r2.allPostings(), CorruptionError, "postings list");
    expectCorruption(e, allOff, allOff);
    // A series ref pointing outside the series section.
    e = await assertRejects(() => ok.series(0), CorruptionError, "outside the series section");
    expectCorruption(e, 0, 0);
  });
});

// ---- index v1 ----

/**
 * Builds a small v1 index by hand (the `FormatV1` layout that
 * https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/index/index.go still reads): symbol
 * refs and series refs are file offsets, series are not aligned and the postings offset table is
 * unsorted.
 */
function buildV1(series: { labels: string[]; chunks: ChunkMeta[] }[]): Uint8Array {
  const e = new Encbuf(1024);
  e.putBE32(0xbaaad700);
  e.putByte(1);
  const symbols = [...new Set(series.flatMap((s) => s.labels))].sort(compareStrings);
  const symOff = new Map<string, number>();
  const tocSymbols = e.len;
  const symStart = e.len;
  e.putBE32(0);
  e.putBE32(symbols.length);
  for (const sym of symbols) {
    symOff.set(sym, e.len);
    e.putUvarintStr(sym);
  }
  e.setBE32At(symStart, e.len - symStart - 4);
  e.putBE32(crc32c(e.bytes(), symStart + 4, e.len));
  const tocSeries = e.len;
  const refs: number[] = [];
  for (const s of series) {
    const body = new Encbuf(64);
    body.putUvarint(s.labels.length / 2);
    for (const l of s.labels) body.putUvarint(symOff.get(l)!);
    body.putUvarint(s.chunks.length);
    let prev: ChunkMeta | null = null;
    for (const c of s.chunks) {
      if (prev === null) {
        body.putVarint(c.minTime);
        body.putUvarint(c.maxTime - c.minTime);
        body.putUvarint(c.ref);
      } else {
        body.putUvarint(c.minTime - prev.maxTime);
        body.putUvarint(c.maxTime - c.minTime);
        body.putVarint(c.ref - prev.ref);
      }
      prev = c;
    }
    refs.push(e.len);
    e.putUvarint(body.len);
    const crc = crc32c(body.bytes());
    e.putBytes(body.bytes());
    e.putBE32(crc);
  }
  while (e.len % 4 !== 0) e.putByte(0);
  const tocPostings = e.len;
  const pairs = new Map<string, number[]>();
  pairs.set("\xff", refs);
  series.forEach((s, i) => {
    for (let k = 0; k < s.labels.length; k += 2) {
      const key = `${s.labels[k]}\xff${s.labels[k + 1]}`;
      pairs.set(key, [...(pairs.get(key) ?? []), refs[i]]);
    }
  });
  const table: [string, string, number][] = [];
  for (const [key, list] of pairs) {
    const [n, v] = key.split("\xff");
    while (e.len % 4 !== 0) e.putByte(0);
    table.push([n, v, e.len]);
    const start = e.len;
    e.putBE32(4 + 4 * list.length);
    e.putBE32(list.length);
    for (const r of list) e.putBE32(r);
    e.putBE32(crc32c(e.bytes(), start + 4, e.len));
  }
  table.reverse(); // unsorted, ("","") last
  const tocTable = e.len;
  e.putBE32(0);
  e.putBE32(table.length);
  for (const [n, v, off] of table) {
    e.putUvarint(2);
    e.putUvarintStr(n);
    e.putUvarintStr(v);
    e.putUvarint(off);
  }
  e.setBE32At(tocTable, e.len - tocTable - 4);
  e.putBE32(crc32c(e.bytes(), tocTable + 4, e.len));
  const tocAt = e.len;
  for (const v of [tocSymbols, tocSeries, 0, 0, tocPostings, tocTable]) e.putBE64(v);
  e.putBE32(crc32c(e.bytes(), tocAt, e.len));
  return e.bytes().slice();
}

Deno.test("index v1 (offset refs, unsorted postings table) is read like v2", async () => {
  const series = [
    { labels: ["__name__", "up", "job", "api"], chunks: [{ minTime: -10, maxTime: 5, ref: 8 }] },
    {
      labels: ["__name__", "up", "job", "db"],
      chunks: [{ minTime: 1, maxTime: 2, ref: 40 }, { minTime: 3, maxTime: 9, ref: 2 ** 32 + 8 }],
    },
    { labels: ["__name__", "x", "zone", "ü"], chunks: [] },
  ];
  const r = await IndexReader.open(new MemoryByteSource(buildV1(series), "v1/index"));
  assertEquals(r.version, 1);
  assertEquals(r.labelNames(), ["__name__", "job", "zone"]);
  assertEquals(await r.labelValues("job"), ["api", "db"]);
  const all = await r.allPostings();
  assertEquals(all.length, 3);
  const got = await collect(r.seriesMany(all));
  assertEquals(got.map((s) => s.labels), series.map((s) => s.labels));
  assertEquals(got.map((s) => s.chunks), series.map((s) => s.chunks));
  assertEquals(await r.postings("job", ["db"]), Uint32Array.of(all[1]));
  assertEquals((await r.series(all[2])).labels, ["__name__", "x", "zone", "ü"]);
});

// ---- real Prometheus index (promtool) ----

function findOnPath(cmd: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${cmd}`);
      if (st.isFile) return `${dir}/${cmd}`;
    } catch {
      // not in this directory
    }
  }
  return null;
}

const PROMTOOL = findOnPath("promtool");
const REQUIRE_E2E = Deno.env.get("REQUIRE_E2E") === "1";
if (!PROMTOOL && !REQUIRE_E2E) {
  console.warn("index_test: promtool not on PATH, skipping the real-Prometheus index tests");
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

function escapeOM(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** A small OpenMetrics file; returns the text and each series' labels and sample times (ms). */
function makeOpenMetrics(): { text: string; series: { labels: Labels; times: number[] }[] } {
  const r = rng(7);
  const start = 1699999200 + 60; // inside one 2h block
  const out: string[] = [];
  const series: { labels: Labels; times: number[] }[] = [];
  for (let m = 0; m < 6; m++) {
    const metric = `test_metric_${m}`;
    out.push(`# TYPE ${metric} gauge`);
    const seen = new Set<string>();
    for (let k = 0; k < 60; k++) {
      const o: Record<string, string> = {
        __name__: metric,
        instance: `host-${Math.floor(r() * 40)}:9100`,
        job: ["api", "db", "cache", "ünïcödé", "日本"][Math.floor(r() * 5)],
      };
      if (r() < 0.3) o.path = `/p/${Math.floor(r() * 10)}/"q"`;
      const ls = labelsFromObject(o);
      if (seen.has(ls.join("\xff"))) continue;
      seen.add(ls.join("\xff"));
      const inner = [];
      for (let i = 0; i < ls.length; i += 2) {
        if (ls[i] !== "__name__") inner.push(`${ls[i]}="${escapeOM(ls[i + 1])}"`);
      }
      const times: number[] = [];
      const n = 3 + Math.floor(r() * 8);
      for (let i = 0; i < n; i++) {
        const t = start + i * 15;
        times.push(t * 1000);
        out.push(`${metric}{${inner.join(",")}} ${(r() * 100).toFixed(3)} ${t}`);
      }
      series.push({ labels: ls, times });
    }
  }
  out.push("# EOF");
  series.sort((a, b) => compareLabels(a.labels, b.labels));
  return { text: out.join("\n") + "\n", series };
}

async function blockDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) out.push(`${dir}/${e.name}`);
  return out.sort();
}

Deno.test({
  name: "reads the index of a block written by promtool (Prometheus) and rewrites it byte-exact",
  ignore: !PROMTOOL && !REQUIRE_E2E,
  fn: async () => {
    if (!PROMTOOL) {
      throw new Error("REQUIRE_E2E=1 but promtool is not on PATH (Debian package: prometheus)");
    }
    await withTempDir(async (dir) => {
      const om = makeOpenMetrics();
      await Deno.writeTextFile(`${dir}/input.om`, om.text);
      await run(PROMTOOL, [
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        `${dir}/input.om`,
        `${dir}/data`,
      ]);
      const blocks = await blockDirs(`${dir}/data`);
      assertEquals(blocks.length, 1, "all samples fall into one 2h block");
      const block = blocks[0];
      const reader = await IndexReader.open(await FileByteSource.open(`${block}/index`));
      try {
        assert(reader.version === 2);
        const want = expectations(
          { series: om.series.map((s) => ({ labels: s.labels, chunks: [] })), symbols: [] },
          om.series.map((_, i) => i),
        );
        assertEquals(reader.labelNames(), want.names);
        for (const name of want.names) {
          assertEquals(
            await reader.labelValues(name),
            [...want.postings.get(name)!.keys()].sort(compareStrings),
          );
        }
        const all = await reader.allPostings();
        assertEquals(all.length, om.series.length);
        const got = await collect(reader.seriesMany(all));
        for (let i = 0; i < got.length; i++) {
          assertEquals(got[i].labels, [...om.series[i].labels]);
          assertEquals(got[i].chunks.length, 1);
          assertEquals(got[i].chunks[0].minTime, om.series[i].times[0]);
          assertEquals(got[i].chunks[0].maxTime, om.series[i].times.at(-1));
        }
        // Postings of each pair point at the series carrying it.
        for (const name of want.names) {
          for (const v of await reader.labelValues(name)) {
            const p = await reader.postings(name, [v]);
            const idx = want.postings.get(name)!.get(v)!;
            assertEquals([...p], idx.map((i) => all[i]));
          }
        }

        // Rewrite with our writer: everything up to the end of the series section must be
        // byte-identical (2.42 then writes legacy label indices; 3.8+ does not), and every
        // postings list and table entry identical.
        const mine = `${dir}/index.mine`;
        const w = await IndexWriter.create(mine, reader.symbols());
        for (const s of got) await w.addSeries(s.labels, s.chunks);
        await w.close();
        const orig = await Deno.readFile(`${block}/index`);
        const ours = await Deno.readFile(mine);
        const seriesEnd = reader.toc.labelIndices;
        assertEquals(ours.subarray(0, seriesEnd), orig.subarray(0, seriesEnd));
        const r2 = await IndexReader.open(new MemoryByteSource(ours, mine));
        assertEquals(r2.toc.postings, seriesEnd);
        const lists = (r: IndexReader, bytes: Uint8Array) => {
          const out: Uint8Array[] = [];
          const t = r.toc.postingsTable;
          const d = new Decbuf(bytes, "x", 0, t + 4);
          const n = d.be32();
          for (let i = 0; i < n; i++) {
            d.uvarint();
            const name = d.uvarintStr();
            const value = d.uvarintStr();
            const off = d.uvarint();
            const len = new DataView(bytes.buffer).getUint32(off);
            out.push(new TextEncoder().encode(`${name}=${value}`));
            out.push(bytes.subarray(off, off + 8 + len));
          }
          return out;
        };
        assertEquals(lists(r2, ours), lists(reader, orig));

        // Real Prometheus reads our index: dump the block with it swapped in (2.42's dump
        // insists on a WAL directory).
        await Deno.mkdir(`${dir}/data/wal`);
        const before = await run(PROMTOOL, ["tsdb", "dump", `${dir}/data`]);
        await Deno.copyFile(mine, `${block}/index`);
        const after = await run(PROMTOOL, ["tsdb", "dump", `${dir}/data`]);
        const samples = om.series.reduce((n, s) => n + s.times.length, 0);
        assertEquals(before.trimEnd().split("\n").length, samples);
        assertEquals(after, before);
      } finally {
        await reader.close();
      }
    });
  },
});

Deno.test("postings estimates from the offset table match the lists' lengths, with nothing fetched", async () => {
  await withTempDir(async (dir) => {
    const fx = makeFixture(3, 500);
    const path = `${dir}/index`;
    await writeFixture(path, fx);
    const bytes = await Deno.readFile(path);
    for (const keep of [true, false]) {
      const mem = new MemoryByteSource(bytes, "mem/index");
      const offsets: number[] = [];
      const src: ByteSource = {
        name: mem.name,
        size: mem.size,
        read: (offset, length) => {
          offsets.push(offset);
          return mem.read(offset, length);
        },
      };
      const reader = await IndexReader.open(src, { keepPostingsTable: keep });
      for (const name of reader.labelNames()) {
        const values = await reader.labelValues(name);
        const some = values.filter((_, i) => i % 3 === 0);
        const reads = offsets.length;
        const byValues = await reader.estimatePostings(name, [...some, "not-a-value"]);
        const byPred = await reader.estimatePostings(name, (v) => some.includes(v));
        // only the offset table is read (from memory, or from the source), never a list
        for (const o of offsets.slice(reads)) assert(o >= reader.toc.postingsTable, name);
        let want = 0;
        for (const v of some) want += (await reader.postings(name, [v])).length;
        assertEquals(byValues, { keys: some.length, refs: want }, name);
        assertEquals(byPred, { keys: some.length, refs: want }, name);
      }
      assertEquals(await reader.estimatePostings("no-such-label", ["x"]), { keys: 0, refs: 0 });
      await reader.close();
    }
  });
});

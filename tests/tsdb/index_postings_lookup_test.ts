// Postings lookups by value in the postings offset table, kept in memory or read from the
// source: ASCII and non-ASCII values, values between table entries and outside them, one value
// or several, compared in Go's byte order of UTF-8 (as Prometheus writes the table).

import { assertEquals } from "../helpers/assert.ts";
import { MemoryByteSource } from "../../tsdb/bytesource.ts";
import { compareLabels, compareStrings } from "../../tsdb/labels.ts";
import type { Labels } from "../../tsdb/series.ts";
import { IndexWriter } from "../../tsdb/index/writer.ts";
import { IndexReader } from "../../tsdb/index/reader.ts";

Deno.test("postings of ASCII and non-ASCII values are found in Go byte order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "index_lookup_test_" });
  try {
    // more than 32 values per name: several sample blocks of the table
    const values: string[] = [];
    for (let i = 0; i < 90; i++) values.push(`a${String(i).padStart(2, "0")}`);
    values.push("a5\u00e9", "\u00e9", "\u00e9t\u00e9", "z\u00e4", "\u00ff", "\u{1f600}", "a~");
    const series: Labels[] = values.map((v) => ["__name__", "m", "v", v]);
    series.sort(compareLabels);
    const path = `${dir}/index`;
    const w = await IndexWriter.create(path, series.flat());
    const refOf = new Map<string, number>();
    for (const ls of series) {
      refOf.set(ls[3], await w.addSeries(ls, [{ minTime: 0, maxTime: 1, ref: 8 }]));
    }
    await w.close();
    const bytes = await Deno.readFile(path);
    const missing = ["", "a", "a00x", "a5", "a89\u00e9", "\u00e8", "\u00e9u", "zz", "\u{1f601}"];
    for (const keep of [true, false]) {
      const r = await IndexReader.open(new MemoryByteSource(bytes, "x/index"), {
        keepPostingsTable: keep,
      });
      for (const v of values) {
        assertEquals(await r.postings("v", [v]), Uint32Array.of(refOf.get(v)!), `${keep} ${v}`);
      }
      for (const v of missing) assertEquals(await r.postings("v", [v]), new Uint32Array(0), v);
      // several values at once, unsorted and repeated, found and not
      const some = ["\u00ff", "a07", "zz", "a5\u00e9", "a07", "a~", "a70", "\u00e8"];
      const want = ["\u00ff", "a07", "a5\u00e9", "a~", "a70"].sort(compareStrings)
        .map((v) => refOf.get(v)!).sort((x, y) => x - y);
      assertEquals(await r.postings("v", some), Uint32Array.from(want), `${keep}`);
      const two = [refOf.get("a70")!, refOf.get("a07")!].sort((x, y) => x - y);
      assertEquals(await r.postings("v", ["a70", "a07"]), Uint32Array.from(two), `${keep}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

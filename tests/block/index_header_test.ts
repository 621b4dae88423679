// The store gateway's index-header (block/index_header.ts): built from the bucket's index with
// range reads and written piece by piece, it holds exactly the index's bytes of its ranges, and a
// reader over it (from the file, or in memory) answers like a reader over the index itself.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { decodeIndexHeader, INDEX_HEADER_FILE, openIndexHeader } from "../../block/index_header.ts";
import { FileByteSource } from "../../tsdb/bytesource.ts";
import { IndexReader } from "../../tsdb/index/reader.ts";
import { type RawSeries, writeBlock } from "../../tsdb/block_writer.ts";
import { compareLabels, labelsFromObject } from "../../tsdb/labels.ts";

function series(n: number): RawSeries[] {
  const out: RawSeries[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      labels: labelsFromObject({
        __name__: `m${i % 7}`,
        id: String(i).padStart(5, "0"),
        job: i % 2 ? "a" : "b",
      }),
      ts: Float64Array.of(1000, 2000),
      vs: Float64Array.of(i, i + 1),
    });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

async function answers(ix: IndexReader) {
  const refs = await ix.postings("__name__", ["m3"]);
  const out = [];
  for await (const s of ix.seriesMany(refs)) out.push(s);
  return {
    names: ix.labelNames(),
    ids: (await ix.labelValues("id")).length,
    m3: out,
    all: (await ix.allPostings()).length,
  };
}

Deno.test("a built index-header holds the index's bytes of its ranges and answers like the index", async () => {
  const dirs = new TempDirs();
  try {
    const root = await dirs.make();
    const meta = await writeBlock(root, series(3000), { minTime: 0, maxTime: 3000 });
    const indexPath = `${root}/${meta.ulid}/index`;
    const index = await Deno.readFile(indexPath);
    const direct = await IndexReader.open(await FileByteSource.open(indexPath));
    const want = await answers(direct);
    await direct.close();

    const blockDir = `${root}/header/${meta.ulid}`;
    const built = await openIndexHeader(await FileByteSource.open(indexPath), { blockDir });
    assertEquals(built.origin, "built");
    assertEquals(await answers(built.index), want);
    await built.index.close();

    const file = await Deno.readFile(`${blockDir}/${INDEX_HEADER_FILE}`);
    const { ranges, dataStart, indexSize } = decodeIndexHeader(file, "header", file.length);
    assertEquals(indexSize, index.length);
    let at = dataStart;
    let prevEnd = -1;
    for (const r of ranges) {
      assert(r.offset > prevEnd, "ranges are sorted and apart");
      assertEquals(file.subarray(at, at + r.length), index.subarray(r.offset, r.offset + r.length));
      at += r.length;
      prevEnd = r.offset + r.length;
    }
    assert(file.length < index.length, "the header is a part of the index");

    // reopened from the file, and kept in memory only: the same answers
    const disk = await openIndexHeader(await FileByteSource.open(indexPath), { blockDir });
    assertEquals(disk.origin, "disk");
    assertEquals(await answers(disk.index), want);
    await disk.index.close();
    const mem = await openIndexHeader(await FileByteSource.open(indexPath));
    assertEquals(mem.origin, "built");
    assertEquals(await answers(mem.index), want);
    await mem.index.close();
  } finally {
    await dirs.cleanup();
  }
});

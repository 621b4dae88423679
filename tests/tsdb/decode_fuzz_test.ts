// Corrupt block data (tests/helpers/fuzz.ts): XOR and downsampled (aggr) chunks with flipped,
// cut or inserted bytes must decode or fail with a CorruptionError, and an index with bytes
// changed anywhere must open and answer every lookup or fail with a CorruptionError (or the
// reader's InvalidInputError) — never a JavaScript error, never a hang.

import { assert } from "../helpers/assert.ts";
import { below, decodeEach, fuzz, hex, isCrash, mutateBytes, pick } from "../helpers/fuzz.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { decodeXorSamples, XorAppender, XorIterator } from "../../tsdb/chunkenc/xor.ts";
import { type AggrPart, encodeAggrChunk, parseAggrChunk } from "../../tsdb/chunkenc/aggr.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import { CorruptionError, InvalidInputError } from "../../tsdb/errors.ts";
import { IndexWriter } from "../../tsdb/index/writer.ts";
import { IndexReader } from "../../tsdb/index/reader.ts";
import { MemoryByteSource } from "../../tsdb/bytesource.ts";
import { compareLabels, labelsFromObject } from "../../tsdb/labels.ts";

function xorChunk(r: () => number): Uint8Array {
  const a = new XorAppender();
  let t = below(r, 1_000_000) - 500_000;
  for (let i = 1 + below(r, 150); i > 0; i--) {
    t += below(r, 3) === 0 ? 1 + below(r, 100_000) : 15_000;
    a.append(t, pick(r, [r(), 1, NaN, i, 1e300, -0, -Infinity]));
  }
  return a.bytes();
}

const part = (r: () => number): AggrPart => ({ encoding: ChunkEncoding.XOR, data: xorChunk(r) });

Deno.test("fuzz: corrupt XOR and aggr chunks decode or fail with a CorruptionError", async () => {
  const it = new XorIterator();
  await fuzz(
    "chunks",
    7,
    20_000,
    (r) => {
      const valid = below(r, 3) === 0
        ? encodeAggrChunk([part(r), part(r), null, part(r), part(r)])
        : xorChunk(r);
      return mutateBytes(r, valid);
    },
    (bytes) => {
      decodeEach(
        {
          "decodeXorSamples": decodeXorSamples,
          "XorIterator": (b: Uint8Array) => {
            it.reset(b);
            let n = 0;
            while (it.next()) if (++n > 65_535) throw new Error("more samples than a chunk holds");
          },
          "parseAggrChunk": (b: Uint8Array) => parseAggrChunk(b),
        },
        bytes,
        (e) => e instanceof CorruptionError,
      );
    },
    hex,
  );
});

Deno.test("fuzz: a corrupt index opens and answers lookups or fails with a CorruptionError", async () => {
  await withTempDir(async (dir) => {
    const names = ["__name__", "instance", "job", "zone"];
    const series = [];
    for (let i = 0; i < 60; i++) {
      series.push(labelsFromObject({
        __name__: `m${i % 5}`,
        instance: `host-${i}:9100`,
        job: `j${i % 3}`,
        zone: `z${i % 7}`,
      }));
    }
    series.sort(compareLabels);
    const symbols = new Set<string>(names);
    for (const ls of series) for (const s of ls) symbols.add(s);
    const w = await IndexWriter.create(`${dir}/index`, [...symbols].sort());
    let ref = 8;
    for (const ls of series) {
      await w.addSeries(ls, [{ minTime: 0, maxTime: 1000, ref }, {
        minTime: 1001,
        maxTime: 2000,
        ref: ref + 100,
      }]);
      ref += 200;
    }
    await w.close();
    const good = await Deno.readFile(`${dir}/index`);
    let opened = 0;
    await fuzz(
      "index",
      8,
      6_000,
      (r) => {
        const b = good.slice();
        for (let k = 1 + below(r, 3); k > 0; k--) b[below(r, b.length)] = below(r, 256);
        return below(r, 20) === 0 ? mutateBytes(r, b) : b;
      },
      async (bytes) => {
        try {
          const reader = await IndexReader.open(new MemoryByteSource(bytes, "blk/index"));
          opened++;
          for (const name of reader.labelNames()) {
            const postings = await reader.postings(name, await reader.labelValues(name));
            for await (const _ of reader.seriesMany(postings)) { /* decoded */ }
          }
          for (const ref of await reader.allPostings()) await reader.series(ref);
          await reader.close();
        } catch (e) {
          const clear = e instanceof CorruptionError || e instanceof InvalidInputError;
          assert(clear && !isCrash(e), `${e}`);
        }
      },
      (b) => `${b.length} bytes`,
    );
    assert(opened > 500, `only ${opened} corrupt indexes opened: the lookups went untested`);
  });
});

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  ChunkReader,
  chunkRecordLength,
  chunkRef,
  ChunkSegmentWriter,
  parseChunkRecord,
  unpackChunkRef,
} from "../../tsdb/chunks/segment.ts";
import { MemoryByteSource } from "../../tsdb/bytesource.ts";
import { CorruptionError, MissingFileError } from "../../tsdb/errors.ts";
import { XorAppender } from "../../tsdb/chunkenc/xor.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chunks_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Deterministic payloads of varying sizes (1…300 bytes). */
function payload(i: number): Uint8Array {
  const n = 1 + ((i * 37) % 300);
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}

Deno.test("a chunk record is laid out as Prometheus writes it (2.x test block vector)", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    const data = new Uint8Array([0x00, 0x01, 0x02, 0x40, 0, 0, 0, 0, 0, 0, 0, 0]);
    const ref = await w.writeChunk(1, data);
    await w.close();
    assertEquals(ref, 8);
    const file = await Deno.readFile(`${dir}/chunks/000001`);
    assertEquals(hex(file), "85bd40dd01000000" + "0c01" + hex(data) + "597ad276");
  });
});

Deno.test("no segment file is created until the first chunk is written", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    await w.close();
    const names = [];
    for await (const e of Deno.readDir(`${dir}/chunks`)) names.push(e.name);
    assertEquals(names, []);
    const r = await ChunkReader.open(`${dir}/chunks`);
    assertEquals(r.segmentCount, 0);
    await r.close();
  });
});

Deno.test("many chunks across small segments read back by ref", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`, { maxSegmentSize: 2000 });
    const refs: number[] = [];
    for (let i = 0; i < 200; i++) refs.push(await w.writeChunk(1 + (i % 3), payload(i)));
    // a series with several chunks at once
    const batch = await w.writeChunks([0, 1, 2, 3, 4].map((k) => ({
      encoding: 1,
      data: payload(1000 + k),
    })));
    refs.push(...batch);
    await w.close();
    assert(w.segmentCount > 10, `segments: ${w.segmentCount}`);

    const files: string[] = [];
    for await (const e of Deno.readDir(`${dir}/chunks`)) files.push(e.name);
    files.sort();
    assertEquals(files.length, w.segmentCount);
    assertEquals(files[0], "000001");
    for (const f of files) {
      const st = await Deno.stat(`${dir}/chunks/${f}`);
      assert(st.size <= 2000, `${f} has ${st.size} bytes`);
    }

    const r = await ChunkReader.open(`${dir}/chunks`);
    try {
      for (let i = 0; i < refs.length; i++) {
        const k = i < 200 ? i : 1000 + (i - 200);
        const c = await r.chunk(refs[i]);
        assertEquals(c.encoding, i < 200 ? 1 + (i % 3) : 1);
        assertEquals(c.data, payload(k));
      }
      const last = unpackChunkRef(refs[refs.length - 1]);
      assertEquals(last.segment, w.segmentCount - 1);
      assertEquals(chunkRef(last.segment, last.offset), refs[refs.length - 1]);
      // segments are numbered by position: the first chunk of file 2 is at offset 8
      assert(refs.some((x) => x === chunkRef(1, 8)));
    } finally {
      await r.close();
    }
  });
});

Deno.test("a reader over in-memory sources reads the same chunks (bucket path)", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`, { maxSegmentSize: 1024 });
    const app = new XorAppender();
    for (let i = 0; i < 120; i++) app.append(i * 15000, i);
    const xor = app.bytes();
    const refs: number[] = [];
    for (let i = 0; i < 10; i++) refs.push(await w.writeChunk(1, xor));
    await w.close();
    const sources = [];
    for (let s = 1; s <= w.segmentCount; s++) {
      const name = `${dir}/chunks/${String(s).padStart(6, "0")}`;
      sources.push(new MemoryByteSource(await Deno.readFile(name), name));
    }
    const r = ChunkReader.fromSources(sources);
    for (const ref of refs) assertEquals((await r.chunk(ref)).data, xor);
    await r.close();
  });
});

Deno.test("parseChunkRecord parses records inside a range read, or asks for more", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    const small = await w.writeChunk(1, payload(1)); // 38 bytes: a one-byte length field
    const big = await w.writeChunk(2, payload(4)); // 149 bytes: a two-byte length field
    await w.close();
    const file = await Deno.readFile(`${dir}/chunks/000001`);
    const obj = "blk/chunks/000001";
    // a range starting at `small` holds both records
    const r1 = parseChunkRecord(file, small, true, obj, small)!;
    assertEquals([r1.encoding, Array.from(r1.data)], [1, Array.from(payload(1))]);
    const r2 = parseChunkRecord(file.subarray(small), big - small, true, obj, big)!;
    assertEquals([r2.encoding, Array.from(r2.data)], [2, Array.from(payload(4))]);
    assertEquals(chunkRecordLength(file.subarray(big, big + 10), obj, big), 2 + 1 + 149 + 4);
    assertEquals(chunkRecordLength(file.subarray(small), obj, small), big - small);
    // a range ending inside the record (or its length field) needs more bytes unless at EOF
    for (const end of [big + 1, big + 10, file.length - 1]) {
      const part = file.subarray(0, end);
      assertEquals(parseChunkRecord(part, big, false, obj, big), null);
      const err = assertThrows(
        () => parseChunkRecord(part, big, true, obj, big),
        CorruptionError,
        "runs past the end",
      ) as CorruptionError;
      assertEquals([err.file, err.offset], [obj, big]);
    }
    // a length field longer than 5 bytes and a bad CRC are corruption whatever follows
    const bad = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0]);
    assertThrows(() => parseChunkRecord(bad, 0, false, obj, 7), CorruptionError, "uvarint");
    assertThrows(() => chunkRecordLength(bad, obj, 7), CorruptionError, "uvarint");
    const flipped = file.slice();
    flipped[big + 4] ^= 1;
    const err = assertThrows(
      () => parseChunkRecord(flipped, big, false, obj, big),
      CorruptionError,
      "checksum",
    ) as CorruptionError;
    assertEquals([err.file, err.offset], [obj, big]);
  });
});

Deno.test("a flipped byte fails the CRC with a CorruptionError naming file and offset", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    await w.writeChunk(1, payload(1));
    const ref = await w.writeChunk(1, payload(2));
    await w.close();
    const path = `${dir}/chunks/000001`;
    const b = await Deno.readFile(path);
    b[ref + 5] ^= 0x10;
    await Deno.writeFile(path, b);
    const r = await ChunkReader.open(`${dir}/chunks`);
    try {
      const err = await assertRejects(() => r.chunk(ref), CorruptionError);
      assertEquals((err as CorruptionError).file, path);
      assertEquals((err as CorruptionError).offset, ref);
      assert(err.message.includes("checksum"), err.message);
      // the untouched first chunk still reads
      assertEquals((await r.chunk(8)).data, payload(1));
    } finally {
      await r.close();
    }
  });
});

Deno.test("a wrong segment magic is a CorruptionError", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    const ref = await w.writeChunk(1, payload(3));
    await w.close();
    const path = `${dir}/chunks/000001`;
    const b = await Deno.readFile(path);
    b[0] = 0x00;
    await Deno.writeFile(path, b);
    const r = await ChunkReader.open(`${dir}/chunks`);
    try {
      const err = await assertRejects(() => r.chunk(ref), CorruptionError, "magic");
      assertEquals((err as CorruptionError).file, path);
    } finally {
      await r.close();
    }
  });
});

Deno.test("a gap in segment numbering or a ref to a missing segment is MissingFileError", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`, { maxSegmentSize: 200 });
    const refs: number[] = [];
    for (let i = 0; i < 6; i++) refs.push(await w.writeChunk(1, new Uint8Array(150).fill(i)));
    await w.close();
    assertEquals(w.segmentCount, 6);
    const r = await ChunkReader.open(`${dir}/chunks`);
    try {
      await assertRejects(() => r.chunk(chunkRef(6, 8)), MissingFileError, "chunks/000007");
    } finally {
      await r.close();
    }
    await Deno.remove(`${dir}/chunks/000003`);
    await assertRejects(
      () => ChunkReader.open(`${dir}/chunks`),
      MissingFileError,
      "chunks/000003",
    );
    await assertRejects(() => ChunkReader.open(`${dir}/nope`), MissingFileError, "nope");
  });
});

Deno.test("a truncated segment file is a CorruptionError, not a short chunk", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    const ref = await w.writeChunk(1, payload(299));
    await w.close();
    const path = `${dir}/chunks/000001`;
    const b = await Deno.readFile(path);
    for (const keep of [b.length - 1, b.length - 20, ref + 3, 4]) {
      await Deno.writeFile(path, b.subarray(0, keep));
      const r = await ChunkReader.open(`${dir}/chunks`);
      try {
        const err = await assertRejects(() => r.chunk(ref), CorruptionError);
        assertEquals((err as CorruptionError).file, path);
      } finally {
        await r.close();
      }
    }
  });
});

Deno.test("segments are cut with Prometheus's batch rule (5-byte length estimate)", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`, { maxSegmentSize: 64 });
    const c = { encoding: 1, data: new Uint8Array(20) }; // estimated 30 bytes, written 26
    const refs = await w.writeChunks([c, c, c]);
    assertEquals(refs, [chunkRef(0, 8), chunkRef(1, 8), chunkRef(2, 8)]);
    // 34 bytes used + 30 estimated = 64: still fits the third segment
    assertEquals(await w.writeChunk(1, c.data), chunkRef(2, 34));
    assertEquals(await w.writeChunk(1, c.data), chunkRef(3, 8));
    await w.close();
    assertEquals(w.segmentCount, 4);
  });
});

Deno.test("a 1.5 MiB chunk bypasses the write buffer and is read with a second range read", async () => {
  await withTempDir(async (dir) => {
    const w = await ChunkSegmentWriter.create(`${dir}/chunks`);
    const big = new Uint8Array(1536 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    const a = await w.writeChunk(1, payload(5));
    const b = await w.writeChunk(2, big);
    const c = await w.writeChunk(1, payload(6));
    await w.close();
    const r = await ChunkReader.open(`${dir}/chunks`);
    try {
      assertEquals((await r.chunk(a)).data, payload(5));
      assertEquals((await r.chunk(b)).data, big);
      assertEquals((await r.chunk(c)).data, payload(6));
    } finally {
      await r.close();
    }
  });
});

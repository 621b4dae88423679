// A persisted block (https://prometheus.io/docs/prometheus/latest/storage/#on-disk-layout):
// meta.json, index, chunk segments and tombstones, opened from a local directory or assembled
// from readers over bucket objects (store gateway).

import { type ByteSource, FileByteSource } from "./bytesource.ts";
import { ChunkReader, segmentFileName } from "./chunks/segment.ts";
import { MissingFileError } from "./errors.ts";
import { IndexReader } from "./index/reader.ts";
import { type BlockMeta, readBlockMeta } from "./meta.ts";
import { type Interval, readTombstones } from "./tombstones.ts";
import { isULID } from "./ulid.ts";

/** Everything needed to read one block, wherever its files live. */
export interface BlockParts {
  /** Name for messages: the block directory or `<bucket>/<ulid>`. */
  name: string;
  meta: BlockMeta;
  index: IndexReader;
  chunks: ChunkReader;
  /** Deleted intervals per series ref (inclusive); empty when the block has none. */
  tombstones?: Map<number, Interval[]>;
}

/** An open block. Close it to release file handles. */
export class Block {
  /** Block directory (or bucket name) used in messages. */
  readonly name: string;
  readonly meta: BlockMeta;
  readonly index: IndexReader;
  readonly chunks: ChunkReader;
  readonly tombstones: Map<number, Interval[]>;
  /** Sources this block opened itself and must close (segment files). */
  private readonly owned: ByteSource[];

  private constructor(parts: BlockParts, owned: ByteSource[] = []) {
    this.name = parts.name;
    this.meta = parts.meta;
    this.index = parts.index;
    this.chunks = parts.chunks;
    this.tombstones = parts.tombstones ?? new Map();
    this.owned = owned;
  }

  /**
   * Opens the block in `dir`. Throws MissingFileError (meta.json, index, chunks/…),
   * InvalidMetaError (meta.json) or CorruptionError (index, tombstones), each naming the file.
   */
  static async open(dir: string): Promise<Block> {
    const meta = await readBlockMeta(dir);
    const indexPath = `${dir}/index`;
    let src: FileByteSource;
    try {
      src = await FileByteSource.open(indexPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new MissingFileError(indexPath, "index file is missing: the block is incomplete");
      }
      throw e;
    }
    let index: IndexReader | undefined;
    const segments: ByteSource[] = [];
    try {
      index = await IndexReader.open(src);
      await openSegments(`${dir}/chunks`, meta, segments);
      const chunks = ChunkReader.fromSources(segments);
      const tombstones = await readTombstones(dir);
      return new Block({ name: dir, meta, index, chunks, tombstones }, segments);
    } catch (e) {
      if (index) await index.close();
      else src.close();
      for (const s of segments) await s.close?.();
      throw e;
    }
  }

  /** A block over readers the caller opened (e.g. over bucket range reads). */
  static fromParts(parts: BlockParts): Block {
    return new Block(parts);
  }

  private closed = false;

  /** Closes the index and chunk readers (a second call does nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.index.close();
    await this.chunks.close();
    for (const s of this.owned) await s.close?.();
  }
}

/**
 * Opens the segment files of `chunksDir` into `out` (each behind a read-ahead window). Throws
 * MissingFileError when the directory is missing although the block has chunks, or when the
 * numbering has a gap (refs address segments by position, so a hole would shift the rest).
 */
async function openSegments(chunksDir: string, meta: BlockMeta, out: ByteSource[]): Promise<void> {
  const seqs: number[] = [];
  try {
    for await (const e of Deno.readDir(chunksDir)) {
      if (e.isFile && /^\d+$/.test(e.name)) seqs.push(Number(e.name));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    if ((meta.stats?.numChunks ?? 0) > 0) {
      throw new MissingFileError(chunksDir, "chunks directory is missing: the block is incomplete");
    }
    return;
  }
  seqs.sort((a, b) => a - b);
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i] !== i + 1) {
      throw new MissingFileError(
        `${chunksDir}/${segmentFileName(i + 1)}`,
        "chunk segment file is missing: segment numbering must be contiguous from 000001",
      );
    }
  }
  if (seqs.length === 0 && (meta.stats?.numChunks ?? 0) > 0) {
    throw new MissingFileError(
      `${chunksDir}/${segmentFileName(1)}`,
      `chunk segment file is missing: meta.json counts ${meta.stats?.numChunks} chunks`,
    );
  }
  for (const s of seqs) {
    out.push(
      new ReadAheadByteSource(await FileByteSource.open(`${chunksDir}/${segmentFileName(s)}`)),
    );
  }
}

/** Default read-ahead window: a few hundred chunks. */
const READ_AHEAD_BYTES = 256 * 1024;
/** Windows kept (concurrent readers of one batch may straddle windows). */
const READ_AHEAD_WINDOWS = 4;

/**
 * A ByteSource that serves small reads from a window read ahead of them. The querier reads
 * the chunks of consecutive series, which lie back to back in the segment files, so one
 * positioned read per window replaces one per chunk. Windows are never mutated after being
 * read, so returned views stay valid. Reads larger than the window go straight through.
 */
export class ReadAheadByteSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private windows: { start: number; end: number; bytes: Promise<Uint8Array> }[] = [];

  constructor(private readonly src: ByteSource, private readonly windowBytes = READ_AHEAD_BYTES) {
    this.name = src.name;
    this.size = src.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    for (const w of this.windows) {
      if (offset >= w.start && end <= w.end) {
        const b = await w.bytes;
        return b.subarray(offset - w.start, Math.min(b.length, end - w.start));
      }
    }
    if (length >= this.windowBytes) return this.src.read(offset, length);
    const wEnd = Math.min(this.size, offset + this.windowBytes);
    const w = { start: offset, end: wEnd, bytes: this.src.read(offset, wEnd - offset) };
    // a failed read must not stay cached
    w.bytes.catch(() => {
      this.windows = this.windows.filter((x) => x !== w);
    });
    this.windows.push(w);
    if (this.windows.length > READ_AHEAD_WINDOWS) this.windows.shift();
    const b = await w.bytes;
    return b.subarray(0, Math.min(b.length, end - offset));
  }

  close(): void | Promise<void> {
    this.windows = [];
    return this.src.close?.();
  }
}

/**
 * Opens every block directory in a data dir (names that are ULIDs; `wal/`, `chunks_head/`,
 * `*.tmp*` and other entries are skipped), sorted by minTime. On a failure the blocks already
 * opened are closed and the error (naming the file) is thrown.
 */
export async function openBlocks(dataDir: string): Promise<Block[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dataDir)) {
    if (e.isDirectory && isULID(e.name)) names.push(e.name);
  }
  names.sort();
  const blocks: Block[] = [];
  try {
    for (const n of names) blocks.push(await Block.open(`${dataDir}/${n}`));
  } catch (e) {
    for (const b of blocks) await b.close();
    throw e;
  }
  blocks.sort((a, b) => a.meta.minTime - b.meta.minTime);
  return blocks;
}

/** True when `dir` looks like a block directory (has a meta.json). */
export async function isBlockDir(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${dir}/meta.json`)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

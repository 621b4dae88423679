// Random-access byte sources: the same index and chunk readers serve a local file, bytes in
// memory, or an object in a bucket read with range requests (store gateway).

/** Random access to the bytes of one file or object. */
export interface ByteSource {
  /** Name used in error messages (file path or object name). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads `length` bytes at `offset`; may return fewer only at end of file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases resources (file handles). */
  close?(): void | Promise<void>;
}

/** A byte source over bytes already in memory. */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(readonly data: Uint8Array, readonly name = "<memory>") {
    this.size = data.length;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(
      this.data.subarray(offset, Math.min(this.size, offset + length)),
    );
  }
}

/**
 * Reads up to this long from a local file are made with synchronous calls: each asynchronous
 * file call (seek, read) is a hop to Deno's blocking thread pool and back, which cost more than
 * a small read from the page cache itself (the store gateway's index-header lookups, issue 19).
 * Longer reads stay asynchronous so that a slow disk does not hold up the event loop for long.
 */
const FILE_SYNC_READ_MAX = 64 * 1024;

/** A byte source over a local file, read with positioned reads. */
export class FileByteSource implements ByteSource {
  private constructor(
    private readonly file: Deno.FsFile,
    readonly name: string,
    readonly size: number,
  ) {}

  /** Opens `path` for reading. Throws Deno.errors.NotFound if it does not exist. */
  static async open(path: string): Promise<FileByteSource> {
    const file = await Deno.open(path, { read: true });
    const st = await file.stat();
    return new FileByteSource(file, path, st.size);
  }

  // seek + read is not atomic, so concurrent reads are serialised through this chain.
  private chain: Promise<unknown> = Promise.resolve();
  /** Asynchronous reads queued or running (they own the file position). */
  private inFlight = 0;

  read(offset: number, length: number): Promise<Uint8Array> {
    // a small read while no asynchronous one holds the file position: done here, in one turn
    if (this.inFlight === 0 && length <= FILE_SYNC_READ_MAX) {
      try {
        return Promise.resolve(this.readAtSync(offset, length));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    this.inFlight++;
    const p = this.chain.then(() => this.readAt(offset, length)).finally(() => this.inFlight--);
    this.chain = p.then(() => undefined, () => undefined);
    return p;
  }

  private readAtSync(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    if (n === 0) return out;
    let got = 0;
    this.file.seekSync(offset, Deno.SeekMode.Start);
    while (got < n) {
      const r = this.file.readSync(out.subarray(got));
      if (r === null) break;
      got += r;
    }
    return got === n ? out : out.subarray(0, got);
  }

  private async readAt(offset: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    let got = 0;
    await this.file.seek(offset, Deno.SeekMode.Start);
    while (got < n) {
      const r = await this.file.read(out.subarray(got));
      if (r === null) break;
      got += r;
    }
    return got === n ? out : out.subarray(0, got);
  }

  close(): void {
    this.file.close();
  }
}

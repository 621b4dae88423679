// The active query log of `--query.active-query-path` (Prometheus's ActiveQueryTracker,
// https://github.com/prometheus/prometheus/blob/v0.309.1/promql/query_logger.go, which Thanos's
// querier uses): `<dir>/queries.active` is a fixed-size file of 1 + max-concurrent × 1000 bytes,
// "[" then one 1000-byte slot per running query holding `{"query":…,"timestamp_sec":…}` and a
// "," at the slot's end, zero bytes when free. Prometheus maps the file into memory; here each
// slot is written in place through an open handle (serialized, so writes never interleave), so
// after a crash the file still lists the queries that were running. At start the previous
// file's queries are logged ("These queries didn't finish in prometheus' last run:") and the
// file is created afresh (runutil/atomic_file.ts).

import type { Logger } from "../logging/log.ts";
import { writeAll, writeFileAtomic } from "../runutil/atomic_file.ts";
import { goJSONString } from "../strconv/json.ts";

/** Bytes per query slot (Prometheus's entrySize). */
export const ACTIVE_QUERY_ENTRY_SIZE = 1000;

/** The file's name inside `--query.active-query-path`. */
export const ACTIVE_QUERY_FILE = "queries.active";

const utf8 = new TextEncoder();

/**
 * The JSON array of the queries left in an old file (zero bytes dropped, the last "," turned
 * into "]"), or null when there were none (Prometheus's parseBrokenJSON).
 */
export function unfinishedQueries(bytes: Uint8Array): string | null {
  let s = new TextDecoder().decode(bytes).replaceAll("\0", "");
  if (s.length > 0) s = s.slice(0, -1) + "]";
  return s.length <= 1 ? null : s;
}

/** One slot's JSON entry: the query cut at a UTF-8 character start to fit the slot. */
export function activeQueryEntry(query: string, timestampSec: number): Uint8Array {
  const minLen = utf8.encode(`{"query":"","timestamp_sec":${timestampSec}}`).length;
  const bytes = utf8.encode(query);
  let size = ACTIVE_QUERY_ENTRY_SIZE - (minLen + 1);
  if (size < bytes.length) {
    while (size > 0 && (bytes[size] & 0xc0) === 0x80) size--;
    query = new TextDecoder().decode(bytes.subarray(0, size));
  }
  const entry = utf8.encode(`{"query":${goJSONString(query)},"timestamp_sec":${timestampSec}}`);
  // escaping may lengthen it: never write past the slot's "," (Prometheus would overrun)
  return entry.subarray(0, ACTIVE_QUERY_ENTRY_SIZE - 1);
}

/** The tracker of one querier: a slot per concurrent query in `<dir>/queries.active`. */
export class ActiveQueryTracker {
  private readonly free: number[] = [];
  private readonly waiters: ((offset: number) => void)[] = [];
  /** Every write goes through this chain: seek-and-write pairs must not interleave. */
  private writes: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly file: Deno.FsFile, maxConcurrent: number) {
    for (let i = 0; i < maxConcurrent; i++) this.free.push(1 + i * ACTIVE_QUERY_ENTRY_SIZE);
  }

  /**
   * Creates `dir` if needed, logs the queries an earlier run left unfinished and starts a fresh
   * file with `maxConcurrent` free slots.
   */
  static async open(
    dir: string,
    maxConcurrent: number,
    logger: Logger,
  ): Promise<ActiveQueryTracker> {
    const slots = Math.max(1, maxConcurrent);
    const size = 1 + slots * ACTIVE_QUERY_ENTRY_SIZE;
    await Deno.mkdir(dir, { recursive: true });
    const path = `${dir.replace(/\/+$/, "") || "/"}/${ACTIVE_QUERY_FILE}`;
    let old: Uint8Array | null = null;
    try {
      old = await Deno.readFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        logger.error("Failed to read query log file", { err: String(e) });
      }
    }
    if (old !== null) {
      const queries = unfinishedQueries(old.subarray(0, size));
      if (queries !== null) {
        logger.info("These queries didn't finish in prometheus' last run:", { queries });
      }
    }
    const fresh = new Uint8Array(size);
    fresh[0] = 0x5b; // "["
    await writeFileAtomic(path, fresh);
    const file = await Deno.open(path, { read: true, write: true });
    return new ActiveQueryTracker(file, slots);
  }

  /** Records `query` as running; resolves to its slot (waits while every slot is taken). */
  async insert(query: string): Promise<number> {
    const offset = this.free.shift() ??
      await new Promise<number>((resolve) => this.waiters.push(resolve));
    const entry = activeQueryEntry(query, Math.floor(Date.now() / 1000));
    const slot = new Uint8Array(ACTIVE_QUERY_ENTRY_SIZE);
    slot.set(entry);
    slot[ACTIVE_QUERY_ENTRY_SIZE - 1] = 0x2c; // ","
    await this.write(offset, slot);
    return offset;
  }

  /** The query in `offset` finished: its slot is zeroed and free again. */
  async delete(offset: number): Promise<void> {
    await this.write(offset, new Uint8Array(ACTIVE_QUERY_ENTRY_SIZE));
    const next = this.waiters.shift();
    if (next) next(offset);
    else this.free.push(offset);
  }

  /** Runs `fn` as an active query `query`. */
  async track<T>(query: string, fn: () => Promise<T>): Promise<T> {
    const offset = await this.insert(query);
    try {
      return await fn();
    } finally {
      await this.delete(offset);
    }
  }

  private write(offset: number, bytes: Uint8Array): Promise<void> {
    const run = async () => {
      if (this.closed) return;
      await this.file.seek(offset, Deno.SeekMode.Start);
      await writeAll(this.file, bytes);
    };
    const p = this.writes.then(run, run);
    this.writes = p.catch(() => {});
    return p;
  }

  /** Closes the file once pending writes are done (its content stays, as Prometheus leaves it). */
  async close(): Promise<void> {
    await this.writes;
    if (this.closed) return;
    this.closed = true;
    this.file.close();
  }
}

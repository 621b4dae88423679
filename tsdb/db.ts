// A local TSDB: the head (tsdb/head.ts, with its WAL in `<dir>/wal`) plus the blocks cut from
// it in `<dir>/<ulid>/`, read as one Queryable. Compaction and retention follow Prometheus
// 2.42's DB (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/db.go):
// - when the head spans more than 1.5 block ranges, its oldest range
//   [head.minTime, rangeForTimestamp(head.minTime)) is written as a level-1 block with
//   `writeBlock`, the head is truncated to the block's end, and (once per compaction) the WAL
//   is checkpointed and truncated (`Compact`, `compactHead`, `truncateWAL`);
// - time retention deletes blocks whose maxTime is more than `retentionMs` behind the newest
//   block's maxTime; the newest block is never deleted (`BeyondTimeRetention`);
// - size retention (`maxBytes`): starting from the bytes of the WAL (with its checkpoints), the
//   WBL and `chunks_head`, newest block first, the block whose size makes the sum exceed
//   `maxBytes` and every older one are deleted, the newest included (`BeyondSizeRetention`); an
//   optional `blocksToDelete` hook may keep some of them (Thanos receive keeps blocks not shipped
//   yet);
// - a block is deleted by renaming it to `<ulid>.tmp-for-deletion` first, so a crash never leaves
//   a partial block (Prometheus's `deleteBlocks`);
// - on open, leftover `*.tmp-for-creation` and `*.tmp-for-deletion` dirs are removed
//   (Prometheus's `removeBestEffortTmpDirs`), blocks are opened, retention is
//   applied and the head replays its WAL with the newest block's maxTime as min valid time
//   (blocks made of out-of-order samples are not counted: the WAL holds the in-order samples of
//   their range, Prometheus's `DB.reloadBlocks`);
// - with an out-of-order window, each compaction that cut in-order blocks then writes the
//   head's out-of-order samples as separate level-1 blocks, one per block range they touch,
//   marked with the compaction hint `from-out-of-order` (Prometheus `compactOOOHead`); those
//   blocks may overlap in-order ones: Thanos's compactor merges them with vertical compaction.
//   Unlike Prometheus, where a crash between writing those blocks and truncating the WBL makes
//   the next run replay the samples and write them a second time, the blocks are written into
//   the staging dir `ooo-compaction.tmp-for-creation/` next to a `commit.json` naming the last
//   WBL segment they cover, and committed together by renaming it to `ooo-compaction.committed/`;
//   then they are moved into place, the WBL is truncated and only then the dir removed (its
//   commit.json first). On open a committed dir is finished first (its blocks moved in, its WBL
//   segments deleted before the replay), a staging dir is removed like any `*.tmp-for-creation`
//   dir (the WBL still holds its samples): each sample is in a block or in the WBL, never both.

import type { Logger } from "../logging/log.ts";
import { Block, openBlocks } from "./block.ts";
import { isULID, newULID } from "./ulid.ts";
import { type BlockThanosMeta, writeBlock } from "./block_writer.ts";
import {
  removeDirAtomic,
  renameDirAtomic,
  TMP_FOR_CREATION,
  TMP_FOR_DELETION,
  writeFileAtomic,
} from "../runutil/atomic_file.ts";
import { deleteSegmentsBelow } from "./wal/wal.ts";
import {
  type CommitStats,
  Head,
  type HeadAppender,
  type HeadOptions,
  HeadQuerier,
  rangeForTimestamp,
  type SeriesHint,
} from "./head.ts";
import type { Matcher } from "./matchers.ts";
import type { BlockMeta } from "./meta.ts";
import { BlocksQuerier, emptySeriesSet, mergeSeriesSets } from "./querier.ts";
import type { Labels, Queryable, SelectHints, SeriesSet, SeriesWithChunks } from "./series.ts";
import { compareStrings } from "./labels.ts";

/** Options of {@link DB.open}. */
export interface DBOptions extends HeadOptions {
  /** Delete blocks more than this many ms behind the newest block (0 = keep all). */
  retentionMs?: number;
  /** Size retention: blocks + WAL + head chunks above this many bytes (0 = no limit). */
  maxBytes?: number;
  /**
   * Of the blocks retention would delete, those that may go (default: all); Thanos's
   * `tsdb.Options.BlocksToDelete`.
   */
  blocksToDelete?: (deletable: Block[]) => Promise<Block[]>;
  /** Cut blocks automatically after commits that made the head compactable (default true). */
  autoCompact?: boolean;
  /** `thanos` section written into the meta.json of cut blocks. */
  blockThanosMeta?: BlockThanosMeta;
}

/** Head + local blocks of one data directory. */
export class DB {
  private blocksList: Block[];
  private compacting: Promise<BlockMeta[]> | null = null;
  private readers = 0;
  private readonly retired: Block[] = [];
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly head: Head,
    blocks: Block[],
    private readonly opts: DBOptions,
    private readonly logger?: Logger,
  ) {
    this.blocksList = blocks;
  }

  /** Opens (creating) the TSDB in `dir`; see the file comment for what happens. */
  static async open(dir: string, opts: DBOptions = {}): Promise<DB> {
    await Deno.mkdir(dir, { recursive: true });
    await finishOooCommitOnOpen(dir, opts.logger);
    for await (const e of Deno.readDir(dir)) {
      const n = e.name;
      if (e.isDirectory && (n.endsWith(TMP_FOR_CREATION) || n.endsWith(TMP_FOR_DELETION))) {
        await Deno.remove(`${dir}/${e.name}`, { recursive: true });
      }
    }
    let blocks = await openBlocks(dir);
    const doomed = await retentionDeletable(dir, blocks, opts);
    if (doomed.size > 0) {
      for (const b of blocks) if (doomed.has(b)) await deleteBlock(b, opts.logger);
      blocks = blocks.filter((b) => !doomed.has(b));
    }
    let minValidTime = opts.minValidTime ?? -Infinity;
    for (const b of blocks) {
      if (isOutOfOrderBlock(b.meta)) continue;
      if (b.meta.maxTime > minValidTime) minValidTime = b.meta.maxTime;
    }
    let head: Head;
    try {
      head = await Head.open(dir, { ...opts, minValidTime });
    } catch (e) {
      for (const b of blocks) await b.close();
      throw e;
    }
    return new DB(dir, head, blocks, opts, opts.logger);
  }

  /** Open blocks, oldest first. */
  get blocks(): readonly Block[] {
    return this.blocksList;
  }

  /**
   * An appender whose commit triggers compaction when the head became compactable; `capacity`:
   * samples expected (sizes its buffers, no limit).
   */
  appender(capacity?: number): DBAppender {
    return new DBAppender(this, this.head.appender(capacity));
  }

  /** @internal */
  afterCommit(): void {
    if ((this.opts.autoCompact ?? true) && this.head.compactable() && !this.closed) {
      this.compact().catch((e) => this.logger?.error("compaction failed", { err: e }));
    }
  }

  /**
   * Cuts blocks from the head while it is compactable, truncates head and WAL, applies
   * retention. Concurrent calls share one run. Returns the metas of the blocks written.
   */
  compact(): Promise<BlockMeta[]> {
    this.compacting ??= this.doCompact().finally(() => {
      this.compacting = null;
    });
    return this.compacting;
  }

  /**
   * Writes the head's samples in [mint, maxt) as a block in the DB directory (not yet opened
   * or listed); null when the range holds no samples, as Prometheus writes no block for an
   * empty range (LeveledCompactor.Write). Every acknowledged commit is applied first.
   */
  async writeHeadBlock(mint: number, maxt: number): Promise<BlockMeta | null> {
    const head = this.head;
    await head.flush();
    const src = head.seriesForBlock(mint, maxt);
    const first = await src.next();
    if (first.done) return null;
    const all = (async function* () {
      yield first.value;
      yield* src;
    })();
    return await writeBlock(this.dir, all, {
      minTime: mint,
      maxTime: maxt,
      chunkRangeMs: head.chunkRange,
      thanos: this.opts.blockThanosMeta,
    });
  }

  private async doCompact(): Promise<BlockMeta[]> {
    const head = this.head;
    const written: BlockMeta[] = [];
    let lastBlockMaxt = -Infinity;
    try {
      while (head.compactable() && !this.closed) {
        const mint = head.minTime;
        const maxt = rangeForTimestamp(mint, head.chunkRange);
        const t0 = performance.now();
        const meta = await this.writeHeadBlock(mint, maxt);
        if (meta !== null) {
          this.addBlocks([await Block.open(`${this.dir}/${meta.ulid}`)]);
          written.push(meta);
          this.logger?.info("write block", {
            mint,
            maxt,
            ulid: meta.ulid,
            series: meta.stats?.numSeries,
            samples: meta.stats?.numSamples,
            duration_ms: Math.round(performance.now() - t0),
          });
        }
        await head.truncateMemory(maxt);
        lastBlockMaxt = maxt;
      }
    } finally {
      if (lastBlockMaxt !== -Infinity) await head.truncateWal(lastBlockMaxt);
    }
    // Prometheus compacts the out-of-order head after the in-order head was compacted
    if (lastBlockMaxt !== -Infinity && !this.closed) written.push(...await this.compactOoo());
    await this.applyRetention();
    return written;
  }

  /**
   * Writes every out-of-order sample of the head into out-of-order blocks (one per block range
   * they touch), commits them together, loads them, then drops those samples from the head and
   * their WBL segments (see the file comment). Returns the metas of the blocks written.
   */
  async compactOoo(): Promise<BlockMeta[]> {
    const head = this.head;
    if (head.oooWindow === 0 && head.wbl === null) return [];
    // a commit whose blocks could not all be moved into place last time
    const leftMoved: string[] = [];
    try {
      const left = await moveOooCommitBlocks(this.dir, leftMoved);
      if (left !== null) {
        if (head.wbl !== null) await head.wbl.truncate(left.lastWblSegment + 1);
        await removeOooCommit(this.dir);
      }
    } finally {
      await this.openBlocks(leftMoved);
    }
    const job = await head.startOooCompaction();
    if (job === null) return [];
    const range = head.chunkRange;
    const metas: BlockMeta[] = [];
    const staging = `${this.dir}/${OOO_STAGING}`;
    try {
      await Deno.remove(staging, { recursive: true }).catch(() => undefined);
      await Deno.mkdir(staging);
      for (let mint = Math.floor(job.mint / range) * range; mint <= job.maxt; mint += range) {
        const maxt = mint + range;
        const src = head.oooSeriesForBlock(mint, maxt);
        const first = await src.next();
        if (first.done) continue;
        const all = (async function* () {
          yield first.value;
          yield* src;
        })();
        const ulid = newULID();
        const meta = await writeBlock(staging, all, {
          minTime: mint,
          maxTime: maxt,
          ulid,
          compaction: { level: 1, sources: [ulid], hints: [FROM_OUT_OF_ORDER] },
          chunkRangeMs: range,
          thanos: this.opts.blockThanosMeta,
        });
        metas.push(meta);
        this.logger?.info("write out-of-order block", {
          mint,
          maxt,
          ulid,
          series: meta.stats?.numSeries,
          samples: meta.stats?.numSamples,
        });
      }
      const commit: OooCommit = { lastWblSegment: job.lastWblSegment };
      await writeFileAtomic(`${staging}/${OOO_COMMIT_FILE}`, JSON.stringify(commit) + "\n");
      await renameDirAtomic(staging, `${this.dir}/${OOO_COMMITTED}`);
    } catch (e) {
      // the samples stay in the head (and their WBL segments on disk); retried next time
      await Deno.remove(staging, { recursive: true }).catch(() => undefined);
      await head.endOooCompaction(-1, true);
      throw e;
    }
    // committed: the samples leave the head and the WBL whatever happens next; the commit is
    // removed only after the WBL's truncation (blocks that cannot be moved now are moved by the
    // next compaction or open)
    const moved: string[] = [];
    let failure: unknown = null;
    try {
      await moveOooCommitBlocks(this.dir, moved);
    } catch (e) {
      failure = e;
    }
    await head.endOooCompaction(job.lastWblSegment);
    await this.openBlocks(moved);
    if (failure !== null) throw failure;
    await removeOooCommit(this.dir);
    return metas;
  }

  /** Opens the blocks `ids` of the DB directory and lists them. */
  private async openBlocks(ids: string[]): Promise<void> {
    const blocks: Block[] = [];
    for (const id of ids) blocks.push(await Block.open(`${this.dir}/${id}`));
    this.addBlocks(blocks);
  }

  private addBlocks(blocks: Block[]): void {
    if (blocks.length === 0) return;
    this.blocksList = [...this.blocksList, ...blocks].sort((a, b) =>
      a.meta.minTime - b.meta.minTime
    );
  }

  /** Deletes blocks beyond the retention (see the file comment). */
  async applyRetention(): Promise<void> {
    const doomed = await retentionDeletable(this.dir, this.blocksList, this.opts);
    if (doomed.size === 0) return;
    this.blocksList = this.blocksList.filter((b) => !doomed.has(b));
    for (const b of doomed) {
      this.logger?.info("Deleting obsolete block (retention)", { block: b.meta.ulid });
      this.retired.push(b);
    }
    await this.releaseRetired();
  }

  private async releaseRetired(): Promise<void> {
    if (this.readers > 0) return;
    for (const b of this.retired.splice(0)) await deleteBlock(b, undefined);
  }

  /** Head + blocks as one Queryable (series merged by labels; chunks kept separate). */
  querier(): Queryable {
    return new DBQuerier(this);
  }

  /** @internal A reader started/stopped (retired blocks are deleted when none is left). */
  enter(): Block[] {
    this.readers++;
    return this.blocksList.slice();
  }

  /** @internal */
  leave(): void {
    this.readers--;
    if (this.readers === 0 && this.retired.length > 0) void this.releaseRetired();
  }

  /** Waits for a running compaction, closes the head (WAL fsynced) and the blocks. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.compacting?.catch(() => {});
    await this.head.close();
    for (const b of this.blocksList) await b.close();
    for (const b of this.retired.splice(0)) await b.close();
  }
}

/** Appender of a {@link DB}. */
export class DBAppender {
  constructor(private readonly db: DB, readonly inner: HeadAppender) {}

  append(labels: Labels, t: number, v: number, ref = 0): number {
    return this.inner.append(labels, t, v, ref);
  }

  appendStale(labels: Labels, t: number, ref = 0): number {
    return this.inner.appendStale(labels, t, ref);
  }

  /** See {@link HeadAppender.appendBits} (`hint`: a {@link SeriesHint} memo). */
  appendBits(
    labels: Labels,
    t: number,
    hi: number,
    lo: number,
    ref = 0,
    hint?: SeriesHint,
  ): number {
    return this.inner.appendBits(labels, t, hi, lo, ref, hint);
  }

  async commit(): Promise<CommitStats> {
    const st = await this.inner.commit();
    this.db.afterCommit();
    return st;
  }

  rollback(): Promise<void> {
    return this.inner.rollback();
  }
}

class DBQuerier implements Queryable {
  constructor(private readonly db: DB) {}

  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
    return this.selectGen(matchers, hints, signal);
  }

  private async *selectGen(
    matchers: Matcher[],
    hints: SelectHints,
    signal?: AbortSignal,
  ): AsyncGenerator<SeriesWithChunks> {
    const blocks = this.db.enter();
    try {
      const sets: SeriesSet[] = [];
      if (blocks.length > 0) sets.push(new BlocksQuerier(blocks).select(matchers, hints, signal));
      sets.push(new HeadQuerier(this.db.head).select(matchers, hints, signal));
      yield* sets.length === 0 ? emptySeriesSet() : mergeSeriesSets(sets);
    } finally {
      this.db.leave();
    }
  }

  async labelNames(matchers: Matcher[], start: number, end: number): Promise<string[]> {
    const blocks = this.db.enter();
    try {
      const parts = await Promise.all([
        new BlocksQuerier(blocks).labelNames(matchers, start, end),
        new HeadQuerier(this.db.head).labelNames(matchers, start, end),
      ]);
      return [...new Set(parts.flat())].sort(compareStrings);
    } finally {
      this.db.leave();
    }
  }

  async labelValues(
    name: string,
    matchers: Matcher[],
    start: number,
    end: number,
  ): Promise<string[]> {
    const blocks = this.db.enter();
    try {
      const parts = await Promise.all([
        new BlocksQuerier(blocks).labelValues(name, matchers, start, end),
        new HeadQuerier(this.db.head).labelValues(name, matchers, start, end),
      ]);
      return [...new Set(parts.flat())].sort(compareStrings);
    } finally {
      this.db.leave();
    }
  }
}

/**
 * Prometheus `BeyondTimeRetention`: newest block first; from the first block (not the newest)
 * whose maxTime is more than `retentionMs` behind the newest's, that block and all older ones.
 */
export function beyondRetention(blocks: readonly Block[], retentionMs: number): Set<Block> {
  const out = new Set<Block>();
  if (blocks.length === 0 || !(retentionMs > 0)) return out;
  const sorted = blocks.slice().sort((a, b) => b.meta.maxTime - a.meta.maxTime);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[0].meta.maxTime - sorted[i].meta.maxTime > retentionMs) {
      for (const b of sorted.slice(i)) out.add(b);
      break;
    }
  }
  return out;
}

/**
 * Prometheus `BeyondSizeRetention`: `blocks` with their sizes in bytes; newest (largest maxTime)
 * first, `headBytes` plus each block's size summed; from the block that makes the sum exceed
 * `maxBytes`, that block and all older ones.
 */
export function beyondSizeRetention(
  blocks: readonly { block: Block; bytes: number }[],
  maxBytes: number,
  headBytes: number,
): Set<Block> {
  const out = new Set<Block>();
  if (blocks.length === 0 || !(maxBytes > 0)) return out;
  const sorted = blocks.slice().sort((a, b) => b.block.meta.maxTime - a.block.meta.maxTime);
  let sum = headBytes;
  for (let i = 0; i < sorted.length; i++) {
    sum += sorted[i].bytes;
    if (sum > maxBytes) {
      for (const x of sorted.slice(i)) out.add(x.block);
      break;
    }
  }
  return out;
}

/** Bytes of the files under `path` (0 when it does not exist). */
export async function dirBytes(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(path)) {
      const p = `${path}/${e.name}`;
      if (e.isDirectory) n += await dirBytes(p);
      else {
        try {
          n += (await Deno.stat(p)).size;
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err; // removed meanwhile
        }
      }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return n;
}

/** The blocks time and size retention delete, after the `blocksToDelete` hook. */
async function retentionDeletable(
  dir: string,
  blocks: readonly Block[],
  opts: DBOptions,
): Promise<Set<Block>> {
  const doomed = beyondRetention(blocks, opts.retentionMs ?? 0);
  const maxBytes = opts.maxBytes ?? 0;
  if (maxBytes > 0 && blocks.length > 0) {
    // Prometheus's Head.Size counts the WBL with the WAL
    const head = await dirBytes(`${dir}/wal`) + await dirBytes(`${dir}/wbl`) +
      await dirBytes(`${dir}/chunks_head`);
    const sized = [];
    for (const b of blocks) sized.push({ block: b, bytes: await dirBytes(b.name) });
    const bySize = beyondSizeRetention(sized, maxBytes, head);
    if (bySize.size > 0) {
      opts.logger?.info("size retention: deleting blocks beyond --tsdb.max-retention-bytes", {
        blocks: bySize.size,
        max_bytes: maxBytes,
      });
    }
    for (const b of bySize) doomed.add(b);
  }
  if (doomed.size === 0 || !opts.blocksToDelete) return doomed;
  return new Set(await opts.blocksToDelete([...doomed]));
}

async function deleteBlock(b: Block, logger?: Logger): Promise<void> {
  await b.close();
  logger?.info("Deleting obsolete block", { block: b.meta.ulid });
  await removeDirAtomic(b.name);
}

/** Compaction hint of blocks written from out-of-order samples (Prometheus's). */
export const FROM_OUT_OF_ORDER = "from-out-of-order";

/** Out-of-order compaction's staging dir (removed on open like other unfinished blocks). */
const OOO_STAGING = `ooo-compaction${TMP_FOR_CREATION}`;
/** The staging dir once its blocks are committed. */
const OOO_COMMITTED = "ooo-compaction.committed";
/** File in the staging dir naming the last WBL segment its blocks cover. */
const OOO_COMMIT_FILE = "commit.json";

interface OooCommit {
  lastWblSegment: number;
}

/**
 * Moves the blocks of a committed out-of-order compaction in `dir` (if there is one) into `dir`,
 * adding each one's id to `moved` once it is in place; returns the commit (the last WBL segment
 * its blocks cover), or null when there is none. The commit stays until
 * {@link removeOooCommit}: the caller removes it once those WBL segments are gone, so that a
 * crash in between still finds it.
 */
async function moveOooCommitBlocks(
  dir: string,
  moved: string[],
): Promise<OooCommit | null> {
  const committed = `${dir}/${OOO_COMMITTED}`;
  let commit: OooCommit;
  try {
    commit = JSON.parse(await Deno.readTextFile(`${committed}/${OOO_COMMIT_FILE}`));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`${committed}/${OOO_COMMIT_FILE}: ${(e as Error).message}`);
    }
    // none, or its removal was cut short after commit.json (which goes first)
    await Deno.remove(committed, { recursive: true }).catch(() => undefined);
    return null;
  }
  const ids: string[] = [];
  for await (const e of Deno.readDir(committed)) {
    if (e.isDirectory && isULID(e.name)) ids.push(e.name);
  }
  ids.sort();
  for (const id of ids) {
    await renameDirAtomic(`${committed}/${id}`, `${dir}/${id}`);
    moved.push(id);
  }
  return commit;
}

/** Removes the committed out-of-order compaction's dir, its commit.json first. */
async function removeOooCommit(dir: string): Promise<void> {
  const committed = `${dir}/${OOO_COMMITTED}`;
  await Deno.remove(`${committed}/${OOO_COMMIT_FILE}`);
  await Deno.remove(committed, { recursive: true });
}

/**
 * On open, before the head replays the WBL: finishes a committed out-of-order compaction (its
 * blocks moved into `dir`, the WBL segments it covers deleted, the commit removed).
 */
async function finishOooCommitOnOpen(dir: string, logger: Logger | undefined): Promise<void> {
  const moved: string[] = [];
  const c = await moveOooCommitBlocks(dir, moved);
  if (c === null) return;
  if (c.lastWblSegment >= 0) {
    await deleteSegmentsBelow(`${dir}/wbl`, c.lastWblSegment + 1).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  await removeOooCommit(dir);
  logger?.info("finished an out-of-order compaction committed before a restart", {
    blocks: moved.length,
    last_wbl_segment: c.lastWblSegment,
  });
}

/** True when a block was written from out-of-order samples (its compaction hints say so). */
export function isOutOfOrderBlock(meta: BlockMeta): boolean {
  return meta.compaction.hints?.includes(FROM_OUT_OF_ORDER) ?? false;
}

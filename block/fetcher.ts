// Block discovery of the store gateway (Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/block/fetcher.go, with the filters
// https://github.com/thanos-io/thanos/blob/main/cmd/thanos/store.go installs): lists the bucket,
// reads each block's meta.json (cached under `<data-dir>/meta-syncer/`), and applies the
// reader-side filters in Thanos's order: time partition, selector relabel, consistency delay,
// deletion marks, duplicates. Partial uploads (no meta.json) are skipped; a corrupt meta.json is
// reported and skipped without failing the sync.

import { fullyCoveredConverted } from "./parquet_filter.ts";
import { type Bucket, isObjectNotFound } from "../objstore/bucket.ts";
import type { Counter, Gauge, Registry } from "../metrics/registry.ts";
import { type BlockMeta, encodeBlockMeta, parseBlockMeta } from "../tsdb/meta.ts";
import { InvalidMetaError } from "../tsdb/errors.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import { isULID, ulidTime } from "../tsdb/ulid.ts";
import type { Relabeler } from "../relabel/relabel.ts";
import { writeFileAtomic } from "../runutil/atomic_file.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { DELETION_MARK_FILENAME, type DeletionMark, readMarker } from "./markers.ts";

export { type DeletionMark, parseDeletionMark } from "./markers.ts";

/** Sources whose blocks are never "too fresh" (their writers upload atomically). */
const TRUSTED_SOURCES = new Set(["compactor", "compactor.repair", "bucket.repair"]);

/** Label carrying the block ULID during selector relabeling. */
export const BLOCK_ID_LABEL = "__block_id";

/** Why a block is not served. */
export type FilterReason =
  | "partial"
  | "corrupted-meta"
  | "time-excluded"
  | "label-excluded"
  | "too-fresh"
  | "marked-for-deletion"
  | "duplicate"
  | "parquet-converted";

/** Options of {@link MetaSyncer}. */
export interface MetaSyncerOptions {
  /** Local meta cache directory (`<data-dir>/meta-syncer`); none when absent. */
  cacheDir?: string;
  /** Concurrent meta.json fetches (`--block-meta-fetch-concurrency`). */
  concurrency?: number;
  /** `concurrent` (list + one request per block) or `recursive` (one recursive listing). */
  strategy?: "concurrent" | "recursive";
  /** Served time range (`--min-time`/`--max-time`), inclusive ms. */
  minTime?: number;
  maxTime?: number;
  relabel?: Relabeler;
  consistencyDelayMs?: number;
  ignoreDeletionMarksDelayMs?: number;
  /** Drop blocks whose sources another block of their group covers (default true). */
  filterDuplicates?: boolean;
  registry?: Registry;
  /** Current time in ms (tests). */
  now?: () => number;
  /** Receives one line per skipped corrupt block. */
  onCorrupt?: (ulid: string, err: Error) => void;
  /**
   * The store's `--objstore-parquet.config`: the ULIDs converted to parquet
   * (block/parquet_filter.ts); blocks whose every day they cover are left out, before the other
   * filters (as Thanos's store orders them). A failure fails the sync.
   */
  parquetConverted?: { ids(signal?: AbortSignal): Promise<Set<string>> };
}

/** Outcome of one sync. */
export interface SyncResult {
  /** Blocks to serve, by ULID. */
  metas: Map<string, BlockMeta>;
  /** Blocks not served and why. */
  filtered: Map<string, FilterReason>;
  /** Corrupt metas (also listed in `filtered`). */
  corrupt: Map<string, Error>;
}

interface SyncMetrics {
  syncs: Counter;
  failures: Counter;
  synced: Gauge;
}

const decoder = new TextDecoder();

/** Discovers and filters the blocks of a bucket. */
export class MetaSyncer {
  private readonly metrics?: SyncMetrics;
  private readonly now: () => number;

  constructor(private readonly bucket: Bucket, private readonly opts: MetaSyncerOptions = {}) {
    this.now = opts.now ?? Date.now;
    const reg = opts.registry;
    if (reg) {
      this.metrics = {
        syncs: reg.counter({
          name: "thanos_blocks_meta_syncs_total",
          help: "Total blocks metadata synchronization attempts",
        }),
        failures: reg.counter({
          name: "thanos_blocks_meta_sync_failures_total",
          help: "Total blocks metadata synchronization failures",
        }),
        synced: reg.gauge({
          name: "thanos_blocks_meta_synced",
          help: "Number of block metadata synced",
          labelNames: ["state"],
        }),
      };
    }
  }

  /**
   * Lists the bucket and returns the blocks to serve. Throws when the bucket cannot be listed
   * (the caller keeps serving what it has); per-block problems only filter that block.
   */
  async sync(signal?: AbortSignal): Promise<SyncResult> {
    this.metrics?.syncs.inc();
    try {
      const res = await this.fetch(signal);
      if (this.metrics) {
        this.metrics.synced.reset();
        this.metrics.synced.set({ state: "loaded" }, res.metas.size);
        const counts = new Map<string, number>();
        for (const r of res.filtered.values()) counts.set(r, (counts.get(r) ?? 0) + 1);
        for (const [r, n] of counts) this.metrics.synced.set({ state: r }, n);
      }
      return res;
    } catch (e) {
      this.metrics?.failures.inc();
      throw e;
    }
  }

  private async fetch(signal?: AbortSignal): Promise<SyncResult> {
    const o = this.opts;
    const filtered = new Map<string, FilterReason>();
    const corrupt = new Map<string, Error>();
    const metas = new Map<string, BlockMeta>();
    // ULID → has deletion-mark.json (known from a recursive listing), undefined when unknown
    const marked = new Map<string, boolean>();
    const withMeta = new Set<string>();
    let ids: string[] = [];

    if (o.strategy === "recursive") {
      const seen = new Set<string>();
      for await (const name of this.bucket.iter("", { recursive: true, signal })) {
        const slash = name.indexOf("/");
        if (slash < 0) continue;
        const id = name.slice(0, slash);
        if (!isULID(id)) continue;
        seen.add(id);
        const rest = name.slice(slash + 1);
        if (rest === "meta.json") withMeta.add(id);
        if (rest === "deletion-mark.json") marked.set(id, true);
      }
      ids = [...seen].sort();
      for (const id of ids) if (!marked.has(id)) marked.set(id, false);
    } else {
      for await (const name of this.bucket.iter("", { signal })) {
        const id = name.endsWith("/") ? name.slice(0, -1) : name;
        if (isULID(id)) ids.push(id);
      }
      ids.sort();
    }

    await forEachConcurrent(ids, o.concurrency ?? 32, async (id) => {
      signal?.throwIfAborted();
      if (o.strategy === "recursive" && !withMeta.has(id)) {
        filtered.set(id, "partial");
        return;
      }
      try {
        const meta = await this.loadMeta(id, o.strategy === "recursive", signal);
        if (meta === null) filtered.set(id, "partial");
        else metas.set(id, meta);
      } catch (e) {
        // bucket failures fail the whole sync; only a bad meta.json skips its block
        if (!(e instanceof InvalidMetaError)) throw e;
        corrupt.set(id, e as Error);
        filtered.set(id, "corrupted-meta");
        o.onCorrupt?.(id, e as Error);
      }
    });
    await this.cleanCache(ids);

    // blocks a parquet gateway serves instead (whole days only)
    if (o.parquetConverted) {
      const converted = await o.parquetConverted.ids(signal);
      for (const id of fullyCoveredConverted(converted, metas)) drop(id, "parquet-converted");
    }
    // time partition: blocks entirely outside [minTime, maxTime] are not served
    const minT = o.minTime ?? -Infinity;
    const maxT = o.maxTime ?? Infinity;
    for (const [id, m] of metas) {
      if (!(m.maxTime >= minT && m.minTime <= maxT)) drop(id, "time-excluded");
    }
    // selector relabel over external labels + __block_id
    if (o.relabel && !o.relabel.empty) {
      for (const [id, m] of metas) {
        const ls = labelsFromObject({ ...(m.thanos?.labels ?? {}), [BLOCK_ID_LABEL]: id });
        if (o.relabel.process(ls) === null) drop(id, "label-excluded");
      }
    }
    // consistency delay
    const delay = o.consistencyDelayMs ?? 0;
    if (delay > 0) {
      const now = this.now();
      for (const [id, m] of metas) {
        if (TRUSTED_SOURCES.has(m.thanos?.source ?? "")) continue;
        if (now - uploadTime(m) < delay) drop(id, "too-fresh");
      }
    }
    // deletion marks older than the delay
    const markDelay = o.ignoreDeletionMarksDelayMs ?? 24 * 3600e3;
    const candidates = [...metas.keys()].filter((id) => marked.get(id) !== false);
    await forEachConcurrent(candidates, o.concurrency ?? 32, async (id) => {
      const mark = await this.loadDeletionMark(id, signal);
      if (mark === null) return;
      if (this.now() - mark.deletion_time * 1000 > markDelay) drop(id, "marked-for-deletion");
    });
    // duplicates: a block whose sources are a subset of another block's in its group
    if (o.filterDuplicates !== false) {
      for (const id of findDuplicates(metas)) drop(id, "duplicate");
    }

    return { metas, filtered, corrupt };

    function drop(id: string, reason: FilterReason): void {
      metas.delete(id);
      filtered.set(id, reason);
    }
  }

  /** meta.json of `id` (cache first), or null when the block has none (partial upload). */
  private async loadMeta(
    id: string,
    knownToExist: boolean,
    signal?: AbortSignal,
  ): Promise<BlockMeta | null> {
    const name = `${id}/meta.json`;
    const cached = await this.readCached(id);
    if (cached !== null) {
      // the block may be going away: meta.json is deleted first
      if (knownToExist || await this.bucket.exists(name, signal)) return cached;
      return null;
    }
    let bytes: Uint8Array;
    try {
      bytes = await this.bucket.get(name, signal);
    } catch (e) {
      if (isObjectNotFound(e)) return null;
      throw e;
    }
    const meta = parseBlockMeta(decoder.decode(bytes), `${this.bucket.name}/${name}`);
    if (meta.ulid !== id) {
      throw new InvalidMetaError(`${this.bucket.name}/${name}`, `names block ${meta.ulid}`);
    }
    await this.writeCached(id, meta);
    return meta;
  }

  private async readCached(id: string): Promise<BlockMeta | null> {
    if (!this.opts.cacheDir) return null;
    const path = `${this.opts.cacheDir}/${id}/meta.json`;
    try {
      const meta = parseBlockMeta(await Deno.readTextFile(path), path);
      return meta.ulid === id ? meta : null;
    } catch {
      // missing or damaged cache entry: fetch from the bucket again
      return null;
    }
  }

  private async writeCached(id: string, meta: BlockMeta): Promise<void> {
    if (!this.opts.cacheDir) return;
    const dir = `${this.opts.cacheDir}/${id}`;
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(`${dir}/meta.json`, encodeBlockMeta(meta));
  }

  /** Removes cached metas of blocks no longer in the bucket. */
  private async cleanCache(ids: readonly string[]): Promise<void> {
    if (!this.opts.cacheDir) return;
    const keep = new Set(ids);
    try {
      for await (const e of Deno.readDir(this.opts.cacheDir)) {
        if (e.isDirectory && isULID(e.name) && !keep.has(e.name)) {
          await Deno.remove(`${this.opts.cacheDir}/${e.name}`, { recursive: true });
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  private loadDeletionMark(id: string, signal?: AbortSignal): Promise<DeletionMark | null> {
    // Thanos ignores unusable markers (treated as a partial upload of the marker)
    return readMarker(this.bucket, id, DELETION_MARK_FILENAME, signal);
  }
}

/** Upload time of a block (ms): `thanos.upload_time`, else the ULID's time. */
export function uploadTime(m: BlockMeta): number {
  const u = m.thanos?.upload_time;
  if (u && !u.startsWith("0001-01-01")) {
    const t = Date.parse(u);
    if (!Number.isNaN(t)) return t;
  }
  return ulidTime(m.ulid);
}

/** Group key of a block: resolution and external labels. */
export function groupKey(m: BlockMeta): string {
  const ls = labelsFromObject(m.thanos?.labels ?? {});
  return `${m.thanos?.downsample.resolution ?? 0}@${JSON.stringify(ls)}`;
}

/** ULIDs of blocks whose compaction sources are covered by another block of the same group. */
export function findDuplicates(metas: ReadonlyMap<string, BlockMeta>): string[] {
  const groups = new Map<string, BlockMeta[]>();
  for (const m of metas.values()) {
    const k = groupKey(m);
    let g = groups.get(k);
    if (!g) groups.set(k, g = []);
    g.push(m);
  }
  const dups: string[] = [];
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const sourcesOf = (m: BlockMeta) => m.compaction.sources ?? [m.ulid];
    g.sort((a, b) =>
      sourcesOf(b).length - sourcesOf(a).length || (a.ulid < b.ulid ? -1 : a.ulid > b.ulid ? 1 : 0)
    );
    const kept: Set<string>[] = [];
    for (const m of g) {
      const src = sourcesOf(m);
      if (kept.some((k) => src.every((s) => k.has(s)))) dups.push(m.ulid);
      else kept.push(new Set(src));
    }
  }
  return dups;
}

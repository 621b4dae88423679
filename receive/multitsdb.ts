// One TSDB per tenant, as Thanos receive's MultiTSDB
// (https://github.com/thanos-io/thanos/blob/main/pkg/receive/multitsdb.go, writer.go):
// - tenant `t` lives in `<dir>/<t>` (head + WAL + blocks, tsdb/db.ts); `open` replays every
//   tenant directory found; a tenant is created on its first write;
// - a tenant's external labels are `externalLabels` extended with `{tenantLabelName=t}` (the
//   tenant label wins, Thanos's `ExtendSortedLabels`); they are attached to its series in the
//   StoreAPI, advertised in Info, and stamped as `thanos.labels` (source "receive") on its blocks
//   when shipped;
// - a write appends every sample it can and commits once (acknowledged = the commit's WAL
//   records are written to the OS, see tsdb/head.ts); out-of-order, out-of-bounds and duplicate samples
//   are counted in the outcome, not thrown (the handler answers 409 for them, as Thanos's
//   `isConflict`); label validation happened at decode time (receive/remote_write.ts);
// - `pruneIdle` follows Thanos v0.41's `pruneTSDB`: a tenant whose newest sample is older than
//   the idle time (Thanos uses the retention) has its whole head flushed into blocks, is closed,
//   its blocks shipped (when a bucket is configured), and its directory removed; if shipping
//   fails the tenant is reopened (the WAL's samples already in blocks are skipped on replay);
// - `sync` cuts due blocks and runs each tenant's shipper.
// Durability is Thanos's (RECEIVE_FSYNC): Thanos receive appends through Prometheus's TSDB,
// whose WAL hands each commit's records to the OS and fsyncs a segment only when it is complete
// (https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/wlog/wlog.go `Log`/`flushPage`,
// `nextSegment`): an acknowledged write survives the receiver being killed (SIGKILL, OOM, a
// crash), not the machine losing power before the kernel writes it back — that is covered by
// replication to other receivers (`--receive.replication-factor`), as in Thanos.

import type { Logger } from "../logging/log.ts";
import type { Counter, Gauge, Registry } from "../metrics/registry.ts";
import type { Bucket } from "../objstore/bucket.ts";
import { DEFAULT_SHIPPER_META_FILE, readShipperMeta, Shipper } from "../block/shipper.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { removeDirAtomic, TMP_FOR_DELETION } from "../runutil/atomic_file.ts";
import type {
  LabelNamesRequest,
  LabelValuesRequest,
  SeriesRequest,
  StoreInfo,
  TsdbInfo,
} from "../storeapi/codec.ts";
import { INT64_MAX, INT64_MIN } from "../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../storeapi/server.ts";
import { dbMinTime, TsdbStore } from "../store/tsdb_store.ts";
import { DB } from "../tsdb/db.ts";
import { AppendError, type FsyncPolicy, rangeForTimestamp } from "../tsdb/head.ts";
import { compareStrings, labelsToObject, labelsToString, mergeLabels } from "../tsdb/labels.ts";
import type { BlockThanosMeta } from "../tsdb/block_writer.ts";
import { mergeSeriesSets } from "../tsdb/querier.ts";
import type { Labels, SeriesSet, SeriesWithChunks } from "../tsdb/series.ts";
import { HI_WORD, LO_WORD } from "../tsdb/value.ts";
import {
  countSamples,
  DecodedSeries,
  type PromExemplar,
  type PromSeries,
  RemoteWriteError,
} from "./remote_write.ts";
import { CircularExemplars } from "./exemplars.ts";
import type { Matcher } from "../tsdb/matchers.ts";

/** Options of {@link MultiTSDB.open}. */
export interface MultiTSDBOptions {
  /** `--tsdb.path`: tenant `t` lives in `<dir>/<t>`. */
  dir: string;
  /** `--receive.tenant-label-name` (default tenant_id). */
  tenantLabelName: string;
  /** `--receive.default-tenant-id`. */
  defaultTenant: string;
  /** `--label`s (sorted). */
  externalLabels: Labels;
  /** `--tsdb.retention` in ms (0 = keep everything). */
  retentionMs: number;
  /**
   * `--tsdb.max-retention-bytes` per tenant (0 = no limit): Prometheus's size retention over the
   * tenant's blocks, WAL and head chunks.
   */
  maxBytes?: number;
  /** `--tsdb.min-block-duration` in ms. */
  blockRangeMs: number;
  /** `--tsdb.wal-compression`. */
  walCompression: boolean;
  /** Bucket to ship blocks to (`--objstore.config`); none = no uploads. */
  bucket?: Bucket;
  /** `--shipper.upload-compacted`. */
  shipperUploadCompacted?: boolean;
  /** `--shipper.skip-corrupted-blocks` (Shipper's `skipCorruptedBlocks`; Thanos's default false). */
  shipperSkipCorruptedBlocks?: boolean;
  /** `--shipper.allow-out-of-order-uploads`. */
  shipperAllowOutOfOrderUploads?: boolean;
  /** `--hash-func`: "SHA256" records each shipped file's hash in meta.json (default none). */
  hashFunc?: string;
  logger: Logger;
  registry: Registry;
  /** Head series limit of a tenant (0 = none); see receive/limits.ts headSeriesLimitFor. */
  headSeriesLimit?: (tenant: string) => number;
  /** WAL durability of commits (default {@link RECEIVE_FSYNC}, Thanos's). */
  fsync?: FsyncPolicy;
  /** Tenants replayed concurrently by `open` (default 4). */
  openConcurrency?: number;
  /**
   * `--tsdb.too-far-in-future.time-window` in ms (0 = off): a sample newer than now + window is
   * refused as out of bounds (Thanos's ReceiveAppender), the rest of the request is stored.
   */
  tooFarInFutureMs?: number;
  /**
   * `--tsdb.out-of-order.time-window` in ms (0 = off): samples older than a series' newest (or
   * than the head's min valid time) but within the window of the head's max time are stored
   * (tsdb/head.ts); older ones are refused as `too old sample`.
   */
  oooWindowMs?: number;
  /** `--tsdb.out-of-order.cap-max` (≤ 0: 32 samples per out-of-order chunk). */
  oooCapMax?: number;
  /**
   * `--tsdb.max-exemplars` per tenant (0 = exemplars are not stored): the size of each tenant's
   * circular exemplar storage (receive/exemplars.ts).
   */
  maxExemplars?: number;
}

/**
 * The receiver's WAL durability: Prometheus's and so Thanos receive's (see the file comment) —
 * no fsync per commit; segments are fsynced when complete.
 */
export const RECEIVE_FSYNC: FsyncPolicy = { mode: "none" };

/** What one write did: samples appended and conflicts (samples refused by the head). */
export interface WriteOutcome {
  appended: number;
  outOfOrder: number;
  outOfBounds: number;
  duplicate: number;
  /** Samples refused as older than the out-of-order window (only with a window). */
  tooOld?: number;
  /** Exemplars refused as out of order / for too long labels (only when stored at all). */
  exemplarsOutOfOrder?: number;
  exemplarsLabelLength?: number;
}

interface Tenant {
  name: string;
  dir: string;
  ext: Labels;
  db: DB;
  store: TsdbStore;
  shipper: Shipper | null;
  /** `--tsdb.max-exemplars` > 0: the tenant's exemplars. */
  exemplars: CircularExemplars | null;
  /** Writes and reads in progress (pruning waits for none). */
  busy: number;
  closed: boolean;
}

interface Metrics {
  headSeries: Gauge;
  appended: Counter;
  outOfOrder: Counter;
  outOfBounds: Counter;
  duplicate: Counter;
  tooOld: Counter;
  oooAppended: Counter;
  tenants: Gauge;
  exemplarsAppended: Counter;
}

/**
 * A tenant name must be usable as one directory name (Thanos's `tenancy.IsTenantValid`:
 * the name equals its own `path.Base`). Throws RemoteWriteError 400.
 */
export function validateTenant(tenant: string): void {
  if (
    tenant === "" || tenant === "." || tenant === ".." || tenant.includes("/") ||
    tenant.includes("\\") || tenant.includes("\0")
  ) {
    throw new RemoteWriteError(400, `tenant name not valid: ${JSON.stringify(tenant)}`);
  }
}

/** An Exemplars query that cannot be answered (Thanos: InvalidArgument, wrapped per tenant). */
export class ExemplarsQueryError extends Error {
  override name = "ExemplarsQueryError";
}

/**
 * `ms` without its matchers on external labels, or null when one of those does not match them
 * (Thanos's `selectorsMatchesExternalLabels`).
 */
function externalLabelsMatch(ms: readonly Matcher[], ext: Labels): Matcher[] | null {
  const rest: Matcher[] = [];
  for (const m of ms) {
    let found = false;
    for (let i = 0; i < ext.length; i += 2) {
      if (ext[i] !== m.name) continue;
      found = true;
      if (!m.matches(ext[i + 1])) return null;
    }
    if (!found) rest.push(m);
  }
  return rest;
}

/** Directory names under `--tsdb.path` that are not tenants. */
const NOT_TENANTS = new Set(["lost+found"]);

/** A TSDB per tenant (see the file comment). */
export class MultiTSDB {
  private readonly ready = new Map<string, Tenant>();
  private readonly opening = new Map<string, Promise<Tenant>>();
  private readonly pruning = new Map<string, Promise<void>>();
  private closed = false;
  private readonly m: Metrics;
  private readonly log: Logger;
  private readonly backend: StoreBackend;

  private constructor(private readonly opts: MultiTSDBOptions) {
    this.log = opts.logger;
    const r = opts.registry;
    this.m = {
      headSeries: r.gauge({
        name: "prometheus_tsdb_head_series",
        help: "Total number of series in the head block.",
        labelNames: ["tenant"],
      }),
      appended: r.counter({
        name: "prometheus_tsdb_head_samples_appended_total",
        help: "Total number of appended samples.",
        labelNames: ["tenant"],
      }),
      outOfOrder: r.counter({
        name: "prometheus_tsdb_out_of_order_samples_total",
        help: "Total number of out of order samples ingestion failed attempts.",
        labelNames: ["tenant"],
      }),
      outOfBounds: r.counter({
        name: "prometheus_tsdb_out_of_bound_samples_total",
        help: "Total number of out of bound samples ingestion failed attempts.",
        labelNames: ["tenant"],
      }),
      duplicate: r.counter({
        name: "prometheus_tsdb_duplicate_samples_total",
        help: "Total number of samples refused as duplicate sample for timestamp.",
        labelNames: ["tenant"],
      }),
      tooOld: r.counter({
        name: "prometheus_tsdb_too_old_samples_total",
        help: "Total number of out of order samples ingestion failed attempts due to OOO being " +
          "enabled but the sample is too old.",
        labelNames: ["tenant"],
      }),
      oooAppended: r.counter({
        name: "prometheus_tsdb_head_out_of_order_samples_appended_total",
        help: "Total number of appended out of order samples.",
        labelNames: ["tenant"],
      }),
      tenants: r.gauge({
        name: "thanos_receive_multitsdb_tenants",
        help: "Number of tenants with an open TSDB in this receiver.",
      }),
      exemplarsAppended: r.counter({
        name: "prometheus_tsdb_exemplar_exemplars_appended_total",
        help: "Total number of appended exemplars.",
        labelNames: ["tenant"],
      }),
    };
    r.onCollect(() => {
      this.m.headSeries.reset();
      for (const t of this.ready.values()) {
        this.m.headSeries.labels(t.name).set(t.db.head.numSeries);
      }
      this.m.tenants.set(this.ready.size);
    });
    this.backend = new MultiTenantStore(this);
  }

  /** Opens the directory and replays every tenant found in it. */
  static async open(opts: MultiTSDBOptions): Promise<MultiTSDB> {
    await Deno.mkdir(opts.dir, { recursive: true });
    const m = new MultiTSDB(opts);
    const names: string[] = [];
    for await (const e of Deno.readDir(opts.dir)) {
      if (e.isDirectory && e.name.startsWith(".") && e.name.endsWith(TMP_FOR_DELETION)) {
        // a pruned tenant whose removal a crash cut short
        await Deno.remove(`${opts.dir}/${e.name}`, { recursive: true });
        continue;
      }
      if (!e.isDirectory || NOT_TENANTS.has(e.name) || e.name.startsWith(".")) continue;
      names.push(e.name);
    }
    names.sort(compareStrings);
    try {
      await forEachConcurrent(names, opts.openConcurrency ?? 4, async (n) => {
        m.release(await m.tenantFor(n));
      });
    } catch (e) {
      await m.close().catch(() => {});
      throw e;
    }
    return m;
  }

  /** Tenants with an open TSDB, sorted. */
  tenants(): string[] {
    return [...this.ready.keys()].sort(compareStrings);
  }

  /** External labels of `tenant`: the receiver's labels plus the tenant label. */
  tenantLabels(tenant: string): Labels {
    return mergeLabels(this.opts.externalLabels, [this.opts.tenantLabelName, tenant]);
  }

  /** @internal Open tenants not being pruned (for the store), marked busy; call `release`. */
  acquireAll(): Tenant[] {
    const out: Tenant[] = [];
    for (const t of this.ready.values()) {
      if (t.closed || this.pruning.has(t.name)) continue;
      t.busy++;
      out.push(t);
    }
    return out;
  }

  /** @internal */
  release(t: Tenant): void {
    t.busy--;
  }

  /** @internal Every open tenant (for Info). */
  openTenants(): Tenant[] {
    return [...this.ready.values()].filter((t) => !t.closed).sort((a, b) =>
      compareStrings(a.name, b.name)
    );
  }

  private async openTenant(name: string): Promise<Tenant> {
    const dir = `${this.opts.dir}/${name}`;
    const ext = this.tenantLabels(name);
    const log = this.log.with({ tenant: name });
    const thanos: BlockThanosMeta = {
      labels: labelsToObject(ext),
      downsample: { resolution: 0 },
      source: "receive",
    };
    const t0 = performance.now();
    log.info("opening TSDB");
    // Thanos's tenant.blocksToDelete: with a bucket, retention deletes only shipped blocks
    const shipperMetaPath = this.opts.bucket ? `${dir}/${DEFAULT_SHIPPER_META_FILE}` : null;
    const db = await DB.open(dir, {
      chunkRangeMs: this.opts.blockRangeMs,
      retentionMs: this.opts.retentionMs,
      maxBytes: this.opts.maxBytes,
      blocksToDelete: shipperMetaPath === null ? undefined : async (deletable) => {
        const shipped = new Set((await readShipperMeta(shipperMetaPath)).uploaded);
        return deletable.filter((b) => shipped.has(b.meta.ulid));
      },
      walCompression: this.opts.walCompression,
      oooWindowMs: this.opts.oooWindowMs,
      oooCapMax: this.opts.oooCapMax,
      fsync: this.opts.fsync ?? RECEIVE_FSYNC,
      blockThanosMeta: thanos,
      logger: log,
    });
    const shipper = this.opts.bucket
      ? new Shipper({
        dir,
        bucket: this.opts.bucket,
        labels: () => labelsToObject(ext),
        source: "receive",
        uploadCompacted: this.opts.shipperUploadCompacted,
        skipCorruptedBlocks: this.opts.shipperSkipCorruptedBlocks ?? false,
        allowOutOfOrderUploads: this.opts.shipperAllowOutOfOrderUploads,
        hashFunc: this.opts.hashFunc,
        registry: this.opts.registry,
        logger: log,
      })
      : null;
    const store = new TsdbStore(db.querier(), {
      externalLabels: ext,
      minTime: () => dbMinTime(db),
      componentType: "receive",
    });
    const rs = db.head.replayStats;
    log.info("TSDB is now ready", {
      duration_ms: Math.round(performance.now() - t0),
      series: rs?.series,
      samples: rs?.samples,
      blocks: db.blocks.length,
    });
    const maxEx = this.opts.maxExemplars ?? 0;
    const exemplars = maxEx > 0 ? new CircularExemplars(maxEx) : null;
    return { name, dir, ext, db, store, shipper, exemplars, busy: 0, closed: false };
  }

  /** The open tenant `name` (opening or creating it), marked busy; call `release`. */
  private async tenantFor(name: string): Promise<Tenant> {
    for (;;) {
      if (this.closed) throw new RemoteWriteError(503, "receiver TSDB is closed");
      const p = this.pruning.get(name);
      if (p) {
        await p.catch(() => {});
        continue;
      }
      const t = this.ready.get(name);
      if (t && !t.closed) {
        t.busy++;
        return t;
      }
      let o = this.opening.get(name);
      if (!o) {
        o = this.openTenant(name).then((nt) => {
          if (this.closed) {
            return nt.db.close().then(() => {
              throw new RemoteWriteError(503, "receiver TSDB is closed");
            });
          }
          this.ready.set(name, nt);
          return nt;
        }).finally(() => this.opening.delete(name));
        this.opening.set(name, o);
      }
      await o;
      // loop: re-check pruning/closed synchronously before marking busy
    }
  }

  /**
   * Appends the series of one request to `tenant`'s head and commits once. Samples the head
   * refuses as out of order, out of bounds or duplicate are counted, the rest is stored. Throws
   * RemoteWriteError 429 when the tenant is at its head series limit, 400 for an invalid tenant
   * name or sample the caller did not validate (nothing stored then), 503 once closed.
   */
  async write(tenant: string, series: readonly PromSeries[]): Promise<WriteOutcome> {
    validateTenant(tenant);
    const t = await this.tenantFor(tenant);
    try {
      const limit = this.opts.headSeriesLimit?.(tenant) ?? 0;
      if (limit > 0 && t.db.head.numSeries >= limit) {
        this.log.warn("tenant above head series limit", {
          tenant,
          series: t.db.head.numSeries,
          limit,
        });
        throw new RemoteWriteError(429, "tenant is above active series limit");
      }
      const out: WriteOutcome = { appended: 0, outOfOrder: 0, outOfBounds: 0, duplicate: 0 };
      const window = this.opts.tooFarInFutureMs ?? 0;
      const tooFar = window > 0 ? Date.now() + window : Infinity;
      let futureSamples = 0;
      let futureExample: { lset: Labels; timestamp: number } | null = null;
      const app = t.db.appender(countSamples(series));
      try {
        // the value words: one view per buffer (a decoded request keeps all its samples in one
        // arena, read in place)
        let buf: ArrayBufferLike | null = null;
        let words: Uint32Array = new Uint32Array(0);
        for (const s of series) {
          let ts: Float64Array;
          let i0: number;
          let n: number;
          let w0: number;
          if (s instanceof DecodedSeries) {
            ts = s.arenaTs;
            i0 = s.off;
            n = s.n;
            words = s.arenaWords;
            w0 = 0;
            buf = null;
          } else {
            const vs = s.values;
            ts = s.timestamps;
            i0 = 0;
            n = ts.length;
            if (vs.buffer !== buf) {
              buf = vs.buffer;
              words = new Uint32Array(buf, 0, buf.byteLength >>> 2);
            }
            w0 = vs.byteOffset >>> 2;
          }
          const hint = s.hint;
          let ref = 0;
          for (let i = i0; i < i0 + n; i++) {
            if (ts[i] > tooFar) {
              out.outOfBounds++;
              futureSamples++;
              futureExample ??= { lset: s.labels, timestamp: ts[i] };
              continue;
            }
            try {
              ref = app.appendBits(
                s.labels,
                ts[i],
                words[w0 + 2 * i + HI_WORD],
                words[w0 + 2 * i + LO_WORD],
                ref,
                hint,
              );
            } catch (e) {
              if (!(e instanceof AppendError)) throw e;
              if (e.kind === "out_of_order") out.outOfOrder++;
              else if (e.kind === "out_of_bounds") out.outOfBounds++;
              else if (e.kind === "duplicate") out.duplicate++;
              else if (e.kind === "too_old") out.tooOld = (out.tooOld ?? 0) + 1;
              else throw e;
            }
          }
        }
      } catch (e) {
        await app.rollback().catch(() => {});
        if (e instanceof AppendError) {
          const status = e.kind === "series_limit" || e.kind === "sample_limit" ? 429 : 400;
          throw new RemoteWriteError(status, e.message);
        }
        throw e;
      }
      const st = await app.commit();
      out.appended = st.appended;
      if (t.exemplars !== null) this.addExemplars(t, series, out);
      if (futureExample !== null) {
        // Thanos logs each such sample; one line per write names the first and the count
        this.log.warn("block metric too far in the future", {
          tenant,
          lset: labelsToString(futureExample.lset),
          timestamp: futureExample.timestamp,
          bound: tooFar,
          samples: futureSamples,
        });
      }
      if (out.appended > 0) this.m.appended.labels(tenant).inc(out.appended);
      if (out.outOfOrder > 0) this.m.outOfOrder.labels(tenant).inc(out.outOfOrder);
      if (out.outOfBounds > 0) this.m.outOfBounds.labels(tenant).inc(out.outOfBounds);
      if (out.duplicate > 0) this.m.duplicate.labels(tenant).inc(out.duplicate);
      if (out.tooOld) this.m.tooOld.labels(tenant).inc(out.tooOld);
      if (st.outOfOrder) this.m.oooAppended.labels(tenant).inc(st.outOfOrder);
      return out;
    } finally {
      t.busy--;
    }
  }

  /**
   * Stores the exemplars of `series` whose series the head has (Thanos's writer: exemplars of a
   * series that does not exist are dropped); refusals are counted in `out`.
   */
  private addExemplars(t: Tenant, series: readonly PromSeries[], out: WriteOutcome): void {
    for (const s of series) {
      if (s.exemplars === undefined || s.exemplars.length === 0) continue;
      if (!t.db.head.hasSeries(s.labels)) continue;
      for (const e of s.exemplars) {
        const r = t.exemplars!.add(s.labels, e);
        if (r === "out_of_order") out.exemplarsOutOfOrder = (out.exemplarsOutOfOrder ?? 0) + 1;
        else if (r === "label_length") {
          out.exemplarsLabelLength = (out.exemplarsLabelLength ?? 0) + 1;
        } else if (r === "ok") this.m.exemplarsAppended.labels(t.name).inc();
      }
    }
  }

  /**
   * Exemplars of every tenant in [start, end] matching one of `matcherSets`, series labels
   * extended with the tenant's external labels (Thanos's exemplars.TSDB over each tenant): a
   * matcher on an external label selects tenants and is not passed on.
   */
  exemplars(
    start: number,
    end: number,
    matcherSets: readonly Matcher[][],
  ): { seriesLabels: Labels; exemplars: PromExemplar[] }[] {
    const out: { seriesLabels: Labels; exemplars: PromExemplar[] }[] = [];
    for (const t of this.openTenants()) {
      if (t.exemplars === null) continue;
      const sets: Matcher[][] = [];
      let matched = false;
      for (const ms of matcherSets) {
        const rest = externalLabelsMatch(ms, t.ext);
        if (rest === null) continue;
        matched = true;
        if (rest.length > 0) sets.push(rest);
      }
      if (!matched) continue;
      if (sets.length === 0) {
        throw new ExemplarsQueryError(
          `get exemplars for tenant ${t.name}: no matchers specified (excluding external labels)`,
        );
      }
      for (const r of t.exemplars.select(start, end, sets)) {
        out.push({ seriesLabels: mergeLabels(r.seriesLabels, t.ext), exemplars: r.exemplars });
      }
    }
    return out;
  }

  /** StoreAPI over every tenant (see MultiTenantStore). */
  store(): StoreBackend {
    return this.backend;
  }

  /**
   * Cuts the blocks that are due in every tenant and ships them (when a bucket is set). Every
   * tenant is tried; the first failure is rethrown at the end.
   */
  async sync(): Promise<void> {
    let first: unknown = null;
    for (const t of this.acquireAll()) {
      try {
        if (t.db.head.compactable()) await t.db.compact();
        if (t.shipper) {
          const n = await t.shipper.sync();
          if (n > 0) this.log.debug("uploaded blocks for tenant", { tenant: t.name, blocks: n });
        }
        // Prometheus re-checks retention every minute (DB.run → reloadBlocks); size retention
        // also changes with the WAL, and blocks become deletable once shipped
        if ((this.opts.maxBytes ?? 0) > 0 || (t.shipper && this.opts.retentionMs > 0)) {
          await t.db.applyRetention();
        }
      } catch (e) {
        this.log.error("tenant sync failed", { tenant: t.name, err: e });
        first ??= e;
      } finally {
        t.busy--;
      }
    }
    if (first !== null) throw first;
  }

  /**
   * Prunes tenants whose newest sample is more than `idleMs` old (see the file comment). Busy
   * tenants are left for the next call. No-op when `idleMs` ≤ 0 (Thanos: retention 0).
   */
  async pruneIdle(idleMs: number): Promise<void> {
    if (!(idleMs > 0) || this.closed) return;
    const now = Date.now();
    let first: unknown = null;
    for (const t of [...this.ready.values()]) {
      const head = t.db.head;
      if (t.closed || t.busy > 0 || this.pruning.has(t.name)) continue;
      if (!Number.isFinite(head.maxTime)) continue; // empty head: Thanos skips too
      if (now - head.maxTime <= idleMs) continue;
      let done!: () => void;
      const p = new Promise<void>((r) => done = r);
      this.pruning.set(t.name, p);
      try {
        await this.pruneTenant(t);
      } catch (e) {
        this.log.error("pruning tenant failed", { tenant: t.name, err: e });
        first ??= e;
      } finally {
        this.pruning.delete(t.name);
        done();
      }
    }
    if (first !== null) throw first;
  }

  private async pruneTenant(t: Tenant): Promise<void> {
    const log = this.log.with({ tenant: t.name });
    log.info("pruning idle tenant", { head_max_time: t.db.head.maxTime });
    t.closed = true;
    this.ready.delete(t.name);
    try {
      try {
        await t.db.compact(); // joins a running compaction, cuts what is due
        await this.flushHead(t);
      } finally {
        await t.db.close();
      }
      if (t.shipper) await t.shipper.sync();
    } catch (e) {
      // keep the data: reopen (blocks written so far are loaded, the WAL's samples they hold
      // are skipped on replay) so that the next sync/prune retries
      log.warn("pruning failed; keeping tenant", { err: e });
      const nt = await this.openTenant(t.name);
      if (this.closed) await nt.db.close();
      else this.ready.set(t.name, nt);
      throw e;
    }
    // renamed away first: a crash never leaves part of a tenant to open at the next start
    await removeDirAtomic(t.dir, `${this.opts.dir}/.${t.name}${TMP_FOR_DELETION}`);
    log.info("tenant pruned");
  }

  /**
   * Writes the whole head as block-range-aligned blocks (Thanos's `flushHead`), its
   * out-of-order samples as out-of-order blocks.
   */
  private async flushHead(t: Tenant): Promise<void> {
    const head = t.db.head;
    await head.flush();
    for (const meta of await t.db.compactOoo()) {
      this.log.info("flushed out-of-order block", { tenant: t.name, ulid: meta.ulid });
    }
    if (!Number.isFinite(head.minTime) || !Number.isFinite(head.maxTime)) return;
    const range = head.chunkRange;
    let mint = head.minTime;
    const last = head.maxTime + 1;
    while (mint < last) {
      const maxt = Math.min(rangeForTimestamp(mint, range), last);
      const meta = await t.db.writeHeadBlock(mint, maxt);
      if (meta !== null) {
        this.log.info("flushed head block", { tenant: t.name, ulid: meta.ulid, mint, maxt });
      }
      mint = maxt;
    }
  }

  /** Closes every tenant (WAL synced). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.opening.values()]);
    await Promise.allSettled([...this.pruning.values()]);
    for (const t of this.ready.values()) {
      t.closed = true;
      await t.db.close().catch((e) =>
        this.log.error("closing tenant TSDB failed", { tenant: t.name, err: e })
      );
    }
    this.ready.clear();
  }
}

function seriesOnly(items: AsyncIterable<SeriesItem>, warnings: string[]): SeriesSet {
  return (async function* () {
    for await (const it of items) {
      if ("warning" in it) warnings.push(it.warning);
      else yield it as SeriesWithChunks;
    }
  })();
}

/**
 * The receiver's StoreAPI: each tenant's TsdbStore (its series carry the tenant's external
 * labels), merged in label order; Info lists one label set per tenant. With no tenant the time
 * range is [INT64_MIN, INT64_MAX] like Thanos's proxy over no stores.
 */
class MultiTenantStore implements StoreBackend {
  constructor(private readonly mt: MultiTSDB) {}

  info(): Promise<StoreInfo> {
    const tenants = this.mt.openTenants();
    const infos: TsdbInfo[] = [];
    let mint = INT64_MAX;
    let maxt = INT64_MIN;
    for (const t of tenants) {
      const r = t.store.timeRange();
      infos.push({ labels: t.ext, minTime: r.minTime, maxTime: r.maxTime });
      mint = Math.min(mint, r.minTime);
      maxt = Math.max(maxt, r.maxTime);
    }
    if (tenants.length === 0) {
      mint = INT64_MIN;
      maxt = INT64_MAX;
    }
    return Promise.resolve({
      componentType: "receive",
      labelSets: infos.map((i) => i.labels),
      minTime: mint,
      maxTime: maxt,
      storeApi: true,
      supportsSharding: true,
      supportsWithoutReplicaLabels: true,
      tsdbInfos: infos,
    });
  }

  async *series(req: SeriesRequest, signal: AbortSignal): AsyncIterable<SeriesItem> {
    const ts = this.mt.acquireAll();
    try {
      const warnings: string[] = [];
      const sets = ts.map((t) => seriesOnly(t.store.series(req, signal), warnings));
      const limit = req.limit ?? 0;
      let n = 0;
      if (sets.length > 0) {
        for await (const s of mergeSeriesSets(sets)) {
          yield s;
          if (limit > 0 && ++n >= limit) break;
        }
      }
      for (const w of warnings) yield { warning: w };
    } finally {
      for (const t of ts) this.mt.release(t);
    }
  }

  async labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
  ): Promise<{ names: string[]; warnings: string[] }> {
    const ts = this.mt.acquireAll();
    try {
      const parts = await Promise.all(ts.map((t) => t.store.labelNames(req, signal)));
      const names = new Set<string>();
      const warnings: string[] = [];
      for (const p of parts) {
        for (const n of p.names) names.add(n);
        warnings.push(...p.warnings);
      }
      return { names: [...names].sort(compareStrings), warnings };
    } finally {
      for (const t of ts) this.mt.release(t);
    }
  }

  async labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
  ): Promise<{ values: string[]; warnings: string[] }> {
    const ts = this.mt.acquireAll();
    try {
      const parts = await Promise.all(ts.map((t) => t.store.labelValues(req, signal)));
      const values = new Set<string>();
      const warnings: string[] = [];
      for (const p of parts) {
        for (const v of p.values) values.add(v);
        warnings.push(...p.warnings);
      }
      return { values: [...values].sort(compareStrings), warnings };
    } finally {
      for (const t of ts) this.mt.release(t);
    }
  }
}

// The stateless ruler's storage (https://thanos.io/tip/components/rule.md/#stateless-ruler-via-remote-write):
// rule results go to a WAL only (Prometheus's agent mode: series and samples records in
// Prometheus 2.42's WAL format, tsdb/wal/) and from there to every `remote_write` endpoint as
// remote write 1.0 requests (receive/remote_write.ts encodes them; snappy block compression;
// https://prometheus.io/docs/concepts/remote_write_spec/).
// - A commit is durable when it returns: its records are logged and fsynced.
// - Each endpoint has a queue that sends committed records in WAL order, one request at a time,
//   in batches of whole records up to `max_samples_per_send` samples (a batch waits at most
//   `batch_send_deadline` to fill). Series get the ruler's external labels (a series' own label
//   wins, as Prometheus's) and then the endpoint's `write_relabel_configs`.
// - Network errors, 5xx (and 429 with `retry_on_http_429`) are retried with exponential backoff
//   from `min_backoff` to `max_backoff`, for as long as it takes; other 4xx answers drop the
//   batch (counted in `prometheus_remote_storage_samples_failed_total`), as Prometheus does.
// - After each acknowledged (or dropped) batch, the queue's position in the WAL (segment, record
//   index) is written atomically to `<data-dir>/remote-write-<name>.json`. On start, the WAL is
//   replayed from the checkpoint and every record at or after that position is sent again, so a
//   kill -9 loses nothing that was committed (a batch sent but not yet recorded is sent twice;
//   receivers accept identical duplicates). A queue seen for the first time starts at the end of
//   the WAL.
// - A queue holds at most `maxPendingSamples` in memory; past that, records stay in the WAL
//   and are read back (from finished segments) as the queue drains.
// - Every `truncateIntervalMs`, when all queues have sent everything, the WAL moves to a new
//   segment; segments every queue is past are folded into a checkpoint of series records and
//   deleted (tsdb/wal/checkpoint.ts).
// Prometheus runs several shards per queue; this queue is one shard (the ruler's output is small
// and ordered sending keeps the position a single point).

import type { Logger } from "../logging/log.ts";
import type { Counter, CounterChild, Gauge, GaugeChild, Registry } from "../metrics/registry.ts";
import { type HttpClientConfig, httpClientFor } from "../promclient/client.ts";
import type { RemoteWriteConfig } from "../promclient/endpoints_config.ts";
import { Relabeler } from "../relabel/relabel.ts";
import { parseRelabelConfigs } from "../relabel/parse.ts";
import { writeFileAtomic } from "../runutil/atomic_file.ts";
import { sleepUnlessAborted } from "../runutil/sleep.ts";
import { snappyBlockCompress } from "../storeapi/snappy.ts";
import { labelsKey, mergeLabels } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { setStaleAt } from "../tsdb/value.ts";
import { checkpoint, lastCheckpoint } from "../tsdb/wal/checkpoint.ts";
import {
  decodeSamples,
  decodeSeries,
  encodeSamples,
  encodeSeries,
  RecordType,
  recordType,
  type RefSeries,
} from "../tsdb/wal/records.ts";
import { listSegments, readRecords, Wal } from "../tsdb/wal/wal.ts";
import { encodeWriteRequest, type PromSeries } from "./remote_write.ts";

/** A position in the WAL: the next record to send. */
interface Position {
  segment: number;
  record: number;
}

function before(a: Position, b: Position): boolean {
  return a.segment < b.segment || (a.segment === b.segment && a.record < b.record);
}

/** One committed samples record, as the queues hold it. */
interface PendingRecord {
  /** The position after this record. */
  next: Position;
  refs: Float64Array;
  ts: Float64Array;
  vs: Float64Array;
}

/** Options of {@link RemoteWriteStorage.open}. */
export interface RemoteWriteStorageOptions {
  /** `remote_write` entries (at least one). */
  configs: RemoteWriteConfig[];
  /** Their http client configs (auth, TLS), in the same order; files already read. */
  httpConfigs: HttpClientConfig[];
  /** The ruler's `--label`s: added to every series that lacks them. */
  externalLabels: Labels;
  /** `--tsdb.wal-compression`. */
  walCompression: boolean;
  logger: Logger;
  registry: Registry;
  /**
   * Samples a queue holds in memory (default 1,000,000); the rest wait in the WAL and are read
   * back as the queue drains (a long outage of the remote costs disk, not memory).
   */
  maxPendingSamples?: number;
  /** How often the WAL is checkpointed and truncated (default 2h, Prometheus agent's). */
  truncateIntervalMs?: number;
  userAgent?: string;
}

interface QueueMetrics {
  samples: CounterChild;
  failed: CounterChild;
  retried: CounterChild;
  pending: GaugeChild;
  highest: GaugeChild;
}

/** The queue of one remote write endpoint. */
class Queue {
  readonly records: PendingRecord[] = [];
  private pendingSamples = 0;
  private oldestAt = 0;
  private wake: (() => void) | null = null;
  private readonly relabel: Relabeler | null;
  /** Final (external + write-relabelled) labels by ref; null: dropped by relabelling. */
  private readonly finalLabels = new Map<number, Labels | null>();
  private readonly headers: Record<string, string>;
  private readonly client?: Deno.HttpClient;
  private readonly m: QueueMetrics;

  constructor(
    readonly cfg: RemoteWriteConfig,
    http: HttpClientConfig,
    public position: Position,
    private readonly store: RemoteWriteStorage,
    metrics: {
      samples: Counter;
      failed: Counter;
      retried: Counter;
      pending: Gauge;
      highest: Gauge;
    },
    userAgent: string,
  ) {
    const c = httpClientFor(http, userAgent);
    this.headers = {
      ...c.headers,
      ...cfg.headers,
      "content-encoding": "snappy",
      "content-type": "application/x-protobuf",
      "x-prometheus-remote-write-version": "0.1.0",
    };
    this.client = c.client;
    const configs = cfg.writeRelabelYaml === "" ? [] : parseRelabelConfigs(cfg.writeRelabelYaml);
    this.relabel = configs.length > 0 ? new Relabeler(configs) : null;
    const l = [cfg.name, cfg.url];
    this.m = {
      samples: metrics.samples.labels(...l),
      failed: metrics.failed.labels(...l),
      retried: metrics.retried.labels(...l),
      pending: metrics.pending.labels(...l),
      highest: metrics.highest.labels(...l),
    };
  }

  /**
   * The first record left in the WAL only (the queue held `maxPendingSamples` already); null
   * when every record after the position is in memory.
   */
  overflowFrom: Position | null = null;

  push(r: PendingRecord): void {
    if (this.overflowFrom !== null) return;
    if (
      this.pendingSamples + r.refs.length > this.store.maxPendingSamples && this.records.length > 0
    ) {
      this.overflowFrom = { segment: r.next.segment, record: r.next.record - 1 };
      return;
    }
    if (this.records.length === 0) this.oldestAt = performance.now();
    this.records.push(r);
    this.pendingSamples += r.refs.length;
    this.m.pending.set(this.pendingSamples);
    this.wake?.();
  }

  private labelsOf(ref: number): Labels | null {
    let ls = this.finalLabels.get(ref);
    if (ls !== undefined) return ls;
    const own = this.store.seriesLabels(ref);
    if (own === undefined) return null;
    ls = mergeLabels(own, this.store.externalLabels, false);
    if (this.relabel) {
      const r = this.relabel.process(ls);
      ls = r === null || r.length === 0 ? null : r;
    }
    this.finalLabels.set(ref, ls);
    return ls;
  }

  /** Forgets cached labels (after the series map was compacted). */
  forget(ref: number): void {
    this.finalLabels.delete(ref);
  }

  private waitForData(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = ms === Infinity ? undefined : setTimeout(done, ms);
      this.wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Sends until `signal`; a batch in flight is retried until acknowledged or aborted. */
  async run(signal: AbortSignal): Promise<void> {
    const q = this.cfg.queue;
    while (!signal.aborted) {
      if (this.records.length === 0 && this.overflowFrom !== null) {
        await this.store.reread(this); // the records that did not fit in memory
        continue;
      }
      if (this.records.length === 0) {
        await this.waitForData(Infinity, signal);
        continue;
      }
      const age = performance.now() - this.oldestAt;
      if (this.pendingSamples < q.maxSamplesPerSend && age < q.batchSendDeadlineMs) {
        await this.waitForData(q.batchSendDeadlineMs - age, signal);
        continue;
      }
      // whole records up to max_samples_per_send samples (at least one record)
      let n = 0;
      let samples = 0;
      while (
        n < this.records.length &&
        (n === 0 || samples + this.records[n].refs.length <= q.maxSamplesPerSend)
      ) {
        samples += this.records[n].refs.length;
        n++;
      }
      const batch = this.records.slice(0, n);
      const ok = await this.sendWithRetries(batch, signal);
      if (!ok) return; // aborted: the batch stays in the WAL for the next start
      this.records.splice(0, n);
      this.pendingSamples -= samples;
      this.oldestAt = performance.now();
      this.m.pending.set(this.pendingSamples);
      this.position = batch[batch.length - 1].next;
      await this.store.savePosition(this);
    }
  }

  /** The request body of a batch: one series per ref, samples in time order. */
  encode(batch: PendingRecord[]): { body: Uint8Array; samples: number; maxT: number } {
    // where each ref's samples are: (record, index) pairs in WAL order
    const byRef = new Map<number, number[]>();
    batch.forEach((r, k) => {
      for (let i = 0; i < r.refs.length; i++) {
        let at = byRef.get(r.refs[i]);
        if (!at) byRef.set(r.refs[i], at = []);
        at.push(k, i);
      }
    });
    let maxT = -Infinity;
    let count = 0;
    const series: PromSeries[] = [];
    for (const [ref, at] of byRef) {
      const ls = this.labelsOf(ref);
      if (ls === null) continue;
      const n = at.length / 2;
      const timestamps = new Float64Array(n);
      const values = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const r = batch[at[2 * j]];
        const i = at[2 * j + 1];
        timestamps[j] = r.ts[i];
        // a typed-array copy keeps the NaN payload of stale markers
        values.set(r.vs.subarray(i, i + 1), j);
        if (r.ts[i] > maxT) maxT = r.ts[i];
      }
      count += n;
      series.push({ labels: ls, timestamps, values });
    }
    return { body: snappyBlockCompress(encodeWriteRequest({ series })), samples: count, maxT };
  }

  private async sendWithRetries(
    batch: PendingRecord[],
    signal: AbortSignal,
  ): Promise<boolean> {
    const { body, samples, maxT } = this.encode(batch);
    if (samples === 0) return true;
    let backoff = this.cfg.queue.minBackoffMs;
    const log = this.store.logger;
    for (;;) {
      if (signal.aborted) return false;
      let status = 0;
      let detail = "";
      try {
        const sig = AbortSignal.any([signal, AbortSignal.timeout(this.cfg.remoteTimeoutMs)]);
        const res = await fetch(this.cfg.url, {
          method: "POST",
          headers: this.headers,
          body,
          signal: sig,
          client: this.client,
        } as RequestInit);
        status = res.status;
        detail = (await res.text()).slice(0, 256).trim();
      } catch (e) {
        if (signal.aborted) return false;
        detail = (e as Error).message;
      }
      if (status >= 200 && status < 300) {
        this.m.samples.inc(samples);
        if (maxT > -Infinity) {
          this.m.highest.set(maxT / 1000);
        }
        return true;
      }
      const recoverable = status === 0 || status >= 500 ||
        (status === 429 && this.cfg.queue.retryOnRateLimit);
      if (!recoverable) {
        this.m.failed.inc(samples);
        log.error("non-recoverable error while sending samples; dropping them", {
          remote_name: this.cfg.name,
          url: this.cfg.url,
          samples,
          status,
          err: detail,
        });
        return true;
      }
      this.m.retried.inc(samples);
      log.warn("failed to send batch, retrying", {
        remote_name: this.cfg.name,
        url: this.cfg.url,
        status,
        err: detail,
        backoff_ms: backoff,
      });
      await sleepUnlessAborted(backoff, signal);
      backoff = Math.min(backoff * 2, this.cfg.queue.maxBackoffMs);
    }
  }

  close(): void {
    this.client?.close();
  }
}

/** WAL-only storage whose commits are sent by remote write (the stateless ruler's). */
export class RemoteWriteStorage {
  private readonly labelsByRef = new Map<number, Labels>();
  private readonly refByKey = new Map<string, number>();
  private nextRef = 1;
  /** Records logged per segment (series and samples): positions count every record. */
  private readonly segmentRecords = new Map<number, number>();
  private queues: Queue[] = [];
  private lock: Promise<unknown> = Promise.resolve();
  readonly externalLabels: Labels;
  readonly logger: Logger;

  private constructor(
    private readonly dataDir: string,
    private readonly wal: Wal,
    private readonly opts: RemoteWriteStorageOptions,
  ) {
    this.externalLabels = opts.externalLabels;
    this.logger = opts.logger;
  }

  get maxPendingSamples(): number {
    return this.opts.maxPendingSamples ?? 1_000_000;
  }

  /**
   * Reads a queue's records from its `overflowFrom` on back into memory (up to the bound). A
   * non-empty active segment is closed first, so only finished segments are read (commits wait
   * for the lock meanwhile).
   */
  reread(q: Queue): Promise<void> {
    const p = this.lock.then(async () => {
      const from = q.overflowFrom;
      if (from === null) return;
      q.overflowFrom = null;
      if ((this.segmentRecords.get(this.wal.currentSegment) ?? 0) > 0) {
        await this.wal.nextSegment();
        this.segmentRecords.set(this.wal.currentSegment, 0);
      }
      const cur = this.wal.currentSegment;
      for (const seg of await listSegments(this.wal.dir)) {
        if (seg < from.segment || seg >= cur) continue;
        let idx = 0;
        for await (const rec of readRecords(this.wal.dir, seg, seg)) {
          const at = { segment: seg, record: idx };
          idx++;
          if (before(at, from) || recordType(rec) !== RecordType.Samples) continue;
          const b = decodeSamples(rec);
          q.push({
            next: { segment: seg, record: idx },
            refs: b.refs.subarray(0, b.n),
            ts: b.ts.subarray(0, b.n),
            vs: b.vs.subarray(0, b.n),
          });
          if (q.overflowFrom !== null) return; // full again: the rest stays in the WAL
        }
      }
    });
    this.lock = p.catch(() => {});
    return p;
  }

  /** Labels of a WAL series ref. */
  seriesLabels(ref: number): Labels | undefined {
    return this.labelsByRef.get(ref);
  }

  private progressFile(name: string): string {
    return `${this.dataDir}/remote-write-${name}.json`;
  }

  /**
   * Opens `<dataDir>/wal` (repairing a torn tail), replays it, and queues every committed
   * record each endpoint has not acknowledged yet.
   */
  static async open(dataDir: string, opts: RemoteWriteStorageOptions): Promise<RemoteWriteStorage> {
    const walDir = `${dataDir}/wal`;
    await Deno.mkdir(dataDir, { recursive: true });
    const wal = await Wal.open(walDir, { compress: opts.walCompression, logger: opts.logger });
    const s = new RemoteWriteStorage(dataDir, wal, opts);
    try {
      await s.replay();
    } catch (e) {
      await wal.close().catch(() => {});
      throw e;
    }
    return s;
  }

  private async replay(): Promise<void> {
    const walDir = this.wal.dir;
    const cur = this.wal.currentSegment;
    const r = this.opts.registry;
    const metrics = {
      samples: r.counter({
        name: "prometheus_remote_storage_samples_total",
        help: "Total number of samples sent to remote storage.",
        labelNames: ["remote_name", "url"],
      }),
      failed: r.counter({
        name: "prometheus_remote_storage_samples_failed_total",
        help: "Total number of samples which failed on send to remote storage, " +
          "non-recoverable errors.",
        labelNames: ["remote_name", "url"],
      }),
      retried: r.counter({
        name: "prometheus_remote_storage_samples_retried_total",
        help: "Total number of samples which failed on send to remote storage but were " +
          "retried because the send error was recoverable.",
        labelNames: ["remote_name", "url"],
      }),
      pending: r.gauge({
        name: "prometheus_remote_storage_samples_pending",
        help: "The number of samples pending in the queues shards to be sent to the remote " +
          "storage.",
        labelNames: ["remote_name", "url"],
      }),
      highest: r.gauge({
        name: "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        help: "Timestamp from a WAL sample, the highest timestamp successfully sent by this " +
          "queue, in seconds since epoch.",
        labelNames: ["remote_name", "url"],
      }),
    };
    this.opts.configs.forEach((cfg, i) => {
      this.queues.push(
        new Queue(
          cfg,
          this.opts.httpConfigs[i] ?? {},
          { segment: cur, record: 0 },
          this,
          metrics,
          this.opts.userAgent ?? "thanos-ts-rule",
        ),
      );
    });
    const fresh: Queue[] = [];
    for (const q of this.queues) {
      try {
        const p = JSON.parse(await Deno.readTextFile(this.progressFile(q.cfg.name)));
        if (!Number.isSafeInteger(p.segment) || !Number.isSafeInteger(p.record)) {
          throw new Error(`${this.progressFile(q.cfg.name)}: not a WAL position`);
        }
        q.position = { segment: p.segment, record: p.record };
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        fresh.push(q);
      }
    }
    const addSeries = (list: RefSeries[]) => {
      for (const s of list) {
        this.labelsByRef.set(s.ref, s.labels);
        this.refByKey.set(labelsKey(s.labels), s.ref);
        if (s.ref >= this.nextRef) this.nextRef = s.ref + 1;
      }
    };
    const cp = await lastCheckpoint(walDir);
    if (cp !== null) {
      for await (const rec of readRecords(cp.dir)) {
        if (recordType(rec) === RecordType.Series) addSeries(decodeSeries(rec));
      }
    }
    let replayed = 0;
    for (const seg of await listSegments(walDir)) {
      if (seg >= cur || (cp !== null && seg <= cp.index)) continue;
      let idx = 0;
      for await (const rec of readRecords(walDir, seg, seg)) {
        const type = recordType(rec);
        const at = { segment: seg, record: idx };
        idx++;
        if (type === RecordType.Series) addSeries(decodeSeries(rec));
        else if (type === RecordType.Samples) {
          const waiting = this.queues.filter((q) => !fresh.includes(q) && !before(at, q.position));
          if (waiting.length === 0) continue;
          const b = decodeSamples(rec);
          const pr: PendingRecord = {
            next: { segment: seg, record: idx },
            refs: b.refs.subarray(0, b.n),
            ts: b.ts.subarray(0, b.n),
            vs: b.vs.subarray(0, b.n),
          };
          for (const q of waiting) q.push(pr);
          replayed += b.n;
        }
      }
      this.segmentRecords.set(seg, idx);
    }
    for (const q of fresh) await this.savePosition(q);
    if (replayed > 0) {
      this.logger.info("replayed WAL samples not yet sent by remote write", { samples: replayed });
    }
  }

  /** Writes a queue's position (atomically). */
  async savePosition(q: Queue): Promise<void> {
    await writeFileAtomic(this.progressFile(q.cfg.name), JSON.stringify(q.position) + "\n");
  }

  /** An appender (the rule manager's `RuleAppendable`). */
  appender(): {
    append(labels: Labels, t: number, v: number): number;
    appendStale(labels: Labels, t: number): number;
    commit(): Promise<void>;
    rollback(): Promise<void>;
  } {
    const ls: Labels[] = [];
    const ts: number[] = [];
    const vs: number[] = [];
    const stale: boolean[] = [];
    return {
      append: (l, t, v) => {
        ls.push(l);
        ts.push(t);
        vs.push(v);
        stale.push(false);
        return 0;
      },
      appendStale: (l, t) => {
        ls.push(l);
        ts.push(t);
        vs.push(NaN);
        stale.push(true);
        return 0;
      },
      commit: () => this.commit(ls, ts, vs, stale),
      rollback: () => Promise.resolve(),
    };
  }

  private commit(ls: Labels[], ts: number[], vs: number[], stale: boolean[]): Promise<void> {
    if (ls.length === 0) return Promise.resolve();
    const p = this.lock.then(async () => {
      const newSeries: RefSeries[] = [];
      const refs = new Float64Array(ls.length);
      for (let i = 0; i < ls.length; i++) {
        const key = labelsKey(ls[i]);
        let ref = this.refByKey.get(key);
        if (ref === undefined) {
          ref = this.nextRef++;
          this.refByKey.set(key, ref);
          this.labelsByRef.set(ref, ls[i]);
          newSeries.push({ ref, labels: ls[i] });
        }
        refs[i] = ref;
      }
      const values = Float64Array.from(vs);
      stale.forEach((s, i) => {
        if (s) setStaleAt(values, i);
      });
      const times = Float64Array.from(ts);
      if (newSeries.length > 0) await this.logRecord(encodeSeries(newSeries));
      const at = await this.logRecord(
        encodeSamples({ n: ls.length, refs, ts: times, vs: values }),
      );
      await this.wal.sync();
      const pr: PendingRecord = { next: at, refs, ts: times, vs: values };
      for (const q of this.queues) q.push(pr);
    });
    this.lock = p.catch(() => {});
    return p;
  }

  /** Logs one record; returns the position after it. */
  private async logRecord(rec: Uint8Array): Promise<Position> {
    await this.wal.log(rec);
    const seg = this.wal.currentSegment;
    const n = (this.segmentRecords.get(seg) ?? 0) + 1;
    this.segmentRecords.set(seg, n);
    return { segment: seg, record: n };
  }

  /** The position a queue is at, moved past finished segments. */
  private normalized(p: Position): Position {
    let { segment, record } = p;
    while (segment < this.wal.currentSegment && record >= (this.segmentRecords.get(segment) ?? 0)) {
      segment++;
      record = 0;
    }
    return { segment, record };
  }

  /**
   * When every queue has sent everything: starts a new segment, folds the segments all queues
   * are past into a checkpoint of series records and deletes them.
   */
  async truncate(): Promise<void> {
    await (this.lock = this.lock.then(async () => {
      const cur = this.wal.currentSegment;
      const caughtUp = this.queues.every((q) => {
        const p = this.normalized(q.position);
        return p.segment === cur && p.record >= (this.segmentRecords.get(cur) ?? 0);
      });
      if (caughtUp && (this.segmentRecords.get(cur) ?? 0) > 0) {
        await this.wal.nextSegment();
        this.segmentRecords.set(this.wal.currentSegment, 0);
      }
      let min = Infinity;
      for (const q of this.queues) min = Math.min(min, this.normalized(q.position).segment);
      const { first } = await this.wal.segmentRange();
      if (first < 0 || !(min > first)) return;
      const to = Math.min(min, this.wal.currentSegment) - 1;
      if (to < first) return;
      await checkpoint(this.wal.dir, first, to, () => true, Number.MAX_SAFE_INTEGER, {
        compress: this.opts.walCompression,
      });
      await this.wal.truncate(to + 1);
      for (const s of [...this.segmentRecords.keys()]) if (s <= to) this.segmentRecords.delete(s);
      this.logger.info("WAL truncated after remote write", { segments_before: to + 1 });
    }).catch((e) => this.logger.error("WAL truncation failed", { err: (e as Error).message })));
  }

  /** Runs the queues (and the periodic truncation) until `signal`. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.opts.truncateIntervalMs ?? 2 * 3600_000;
    await Promise.all([
      ...this.queues.map((q) => q.run(signal)),
      (async () => {
        while (!signal.aborted) {
          await sleepUnlessAborted(every, signal);
          if (!signal.aborted) await this.truncate();
        }
      })(),
    ]);
  }

  /** Closes the WAL and the queues' HTTP clients (after `run` returned). */
  async close(): Promise<void> {
    await this.lock.catch(() => {});
    for (const q of this.queues) q.close();
    await this.wal.close();
  }
}

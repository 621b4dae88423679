// The one wrapper every provider goes through: retries with exponential backoff and jitter on
// transient errors, a per-operation timeout, cancellation through AbortSignal, and the Thanos
// `thanos_objstore_bucket_*` metrics. Providers only classify their errors (TransientBucketError).

import type { Registry } from "../metrics/registry.ts";
import type {
  Counter,
  CounterChild,
  Gauge,
  Histogram,
  HistogramChild,
} from "../metrics/registry.ts";
import { afterMs } from "../runutil/deadline.ts";
import {
  type Bucket,
  BucketTimeoutError,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
  type RangePieceSink,
  streamBucketRange,
  TransientBucketError,
  uploadFileByStream,
} from "./bucket.ts";

/** Structured logger used by the objstore layer. */
export type BucketLogger = (msg: string, fields?: Record<string, unknown>) => void;

/** Options of the shared retry/timeout/metrics layer. */
export interface InstrumentOptions {
  /** Where the `thanos_objstore_bucket_*` metrics are registered; none if absent. */
  registry?: Registry;
  /** Receives one line per retry and per abandoned operation. */
  logger?: BucketLogger;
  /** Deadline of one operation including its retries, in ms; 0 = none. Default 300000 (5m). */
  timeoutMs?: number;
  /** Retries after the first attempt for transient errors. Default 5. */
  maxRetries?: number;
  /** First backoff delay in ms (doubles per retry, with jitter). Default 100. */
  initialBackoffMs?: number;
  /** Largest backoff delay in ms. Default 5000. */
  maxBackoffMs?: number;
  /**
   * Errors that are an expected answer rather than a failure (not counted in
   * `thanos_objstore_bucket_operation_failures_total`). Default: object not found.
   */
  isOpFailureExpected?: (err: unknown) => boolean;
}

/** Operation label values, as Thanos names them. */
export const BUCKET_OPERATIONS = [
  "iter",
  "get",
  "get_range",
  "exists",
  "upload",
  "delete",
  "attributes",
] as const;

/** One of BUCKET_OPERATIONS. */
export type BucketOperation = typeof BUCKET_OPERATIONS[number];

// Thanos' bucket for objstore operation durations.
const DURATION_BUCKETS = [0.001, 0.01, 0.1, 0.3, 0.6, 1, 3, 6, 9, 20, 30, 60, 90, 120];

interface BucketMetrics {
  ops: Counter;
  fetchedBytes: Counter;
  failures: Counter;
  duration: Histogram;
  lastUpload: Gauge;
}

function bucketMetrics(reg: Registry): BucketMetrics {
  return {
    ops: reg.counter({
      name: "thanos_objstore_bucket_operations_total",
      help: "Total number of all attempted operations against a bucket.",
      labelNames: ["bucket", "operation"],
    }),
    // thanos-io/objstore's objstore.go: bytes of get and get_range answers
    fetchedBytes: reg.counter({
      name: "thanos_objstore_bucket_operation_fetched_bytes_total",
      help: "Total number of bytes fetched from bucket, per operation.",
      labelNames: ["bucket", "operation"],
    }),
    failures: reg.counter({
      name: "thanos_objstore_bucket_operation_failures_total",
      help: "Total number of operations against a bucket that failed, but were not expected to " +
        "fail in certain way from caller perspective. Those errors have to be investigated.",
      labelNames: ["bucket", "operation"],
    }),
    duration: reg.histogram({
      name: "thanos_objstore_bucket_operation_duration_seconds",
      help: "Duration of successful operations against the bucket",
      labelNames: ["bucket", "operation"],
      buckets: DURATION_BUCKETS,
    }),
    lastUpload: reg.gauge({
      name: "thanos_objstore_bucket_last_successful_upload_time",
      help: "Second timestamp of the last successful upload to the bucket.",
      labelNames: ["bucket"],
    }),
  };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("The operation was aborted", "AbortError");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal));
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A read the provider does not answer on the caller's thread (see `Bucket.getRangeNow`). */
const NOT_NOW: unique symbol = Symbol("not now");

/** What a read tried on the caller's thread threw (any value, `undefined` included). */
class FirstFailure {
  constructor(readonly err: unknown) {}
}

/**
 * An attempt function for `run` whose first attempt fails with `first`'s error when the read
 * tried on the thread threw, then runs `attempt` (retries, or the only attempt otherwise).
 */
function retryAfter<T>(
  first: FirstFailure | typeof NOT_NOW,
  attempt: (signal: AbortSignal) => Promise<T>,
): (signal: AbortSignal) => Promise<T> {
  if (first === NOT_NOW) return attempt;
  let failed: FirstFailure | null = first;
  return (signal) => {
    if (failed === null) return attempt(signal);
    const e = failed.err;
    failed = null;
    return Promise.reject(e);
  };
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Wraps `inner` with retries, timeouts, cancellation and metrics. */
export class InstrumentedBucket implements Bucket {
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly expected: (err: unknown) => boolean;
  private readonly m?: BucketMetrics;
  private readonly log?: BucketLogger;
  /** The get_range series of `m`, found once: the reads answered on the thread count there. */
  private readonly rangeMetrics?: {
    ops: CounterChild;
    duration: HistogramChild;
    fetchedBytes: CounterChild;
  };

  constructor(private readonly inner: Bucket, opts: InstrumentOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 300_000;
    this.maxRetries = opts.maxRetries ?? 5;
    this.initialBackoffMs = opts.initialBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5_000;
    this.expected = opts.isOpFailureExpected ?? ((e) => e instanceof ObjectNotFoundError);
    this.log = opts.logger;
    if (opts.registry) {
      this.m = bucketMetrics(opts.registry);
      // Expose every operation from the start, like Thanos, so rates work before first use.
      for (const op of BUCKET_OPERATIONS) {
        this.m.ops.labels(inner.name, op);
        this.m.failures.labels(inner.name, op);
        if (op === "get" || op === "get_range") this.m.fetchedBytes.labels(inner.name, op);
      }
      this.rangeMetrics = {
        ops: this.m.ops.labels(inner.name, "get_range"),
        duration: this.m.duration.labels(inner.name, "get_range"),
        fetchedBytes: this.m.fetchedBytes.labels(inner.name, "get_range"),
      };
    }
  }

  get name(): string {
    return this.inner.name;
  }

  /** The wrapped provider bucket. */
  get unwrapped(): Bucket {
    return this.inner;
  }

  private backoff(attempt: number): number {
    const d = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** attempt);
    return d / 2 + Math.random() * (d / 2);
  }

  // Starts an operation: counts it and arms its deadline.
  private begin(op: BucketOperation, object: string, userSignal: AbortSignal | undefined) {
    this.m?.ops.labels(this.inner.name, op).inc();
    const start = performance.now();
    // one controller aborted by the deadline or by the caller: per operation (several per
    // query in the store gateway) a runtime timer and AbortSignal.any cost more than a small
    // range read from the page cache (issue 19)
    const ctrl = new AbortController();
    const deadline = this.timeoutMs > 0
      ? afterMs(
        this.timeoutMs,
        () =>
          ctrl.abort(
            new BucketTimeoutError(
              `bucket ${this.inner.name}: ${op} ${JSON.stringify(object)} timed out after ` +
                `${this.timeoutMs}ms`,
            ),
          ),
      )
      : undefined;
    const onUserAbort = () => ctrl.abort(userSignal!.reason);
    if (userSignal?.aborted) ctrl.abort(userSignal.reason);
    else userSignal?.addEventListener("abort", onUserAbort, { once: true });
    return {
      signal: ctrl.signal,
      succeeded: () => {
        this.m?.duration.labels(this.inner.name, op).observe((performance.now() - start) / 1000);
      },
      failed: (e: unknown) => {
        if (!this.expected(e)) this.m?.failures.labels(this.inner.name, op).inc();
      },
      end: () => {
        deadline?.cancel();
        userSignal?.removeEventListener("abort", onUserAbort);
      },
    };
  }

  // After attempt `attempt` failed with `e`: waits the backoff delay when the error is worth
  // another attempt, otherwise throws the error the caller should see.
  private async retryOrThrow(
    op: BucketOperation,
    object: string,
    e: unknown,
    attempt: number,
    retryable: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const timedOut = (reason: BucketTimeoutError, last: unknown) =>
      new BucketTimeoutError(
        `${reason.message} (${attempt + 1} attempts; last error: ${errMessage(last)})`,
        { cause: last },
      );
    if (signal.aborted) {
      const reason = abortReason(signal);
      throw reason instanceof BucketTimeoutError ? timedOut(reason, e) : reason;
    }
    if (!retryable || !(e instanceof TransientBucketError)) throw e;
    if (attempt >= this.maxRetries) {
      throw new TransientBucketError(
        `bucket ${this.inner.name}: ${op} ${JSON.stringify(object)} failed after ` +
          `${attempt + 1} attempts: ${e.message}`,
        { cause: e },
      );
    }
    const delay = this.backoff(attempt);
    this.log?.("retrying bucket operation after transient error", {
      bucket: this.inner.name,
      operation: op,
      object,
      attempt: attempt + 1,
      delay_ms: Math.round(delay),
      err: e.message,
    });
    try {
      await sleep(delay, signal);
    } catch (abortErr) {
      throw abortErr instanceof BucketTimeoutError ? timedOut(abortErr, e) : abortErr;
    }
  }

  // Runs one operation: deadline, retries of transient errors, metrics.
  private async run<T>(
    op: BucketOperation,
    object: string,
    userSignal: AbortSignal | undefined,
    retryable: boolean,
    attemptFn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ctx = this.begin(op, object, userSignal);
    try {
      for (let attempt = 0;; attempt++) {
        try {
          if (ctx.signal.aborted) throw abortReason(ctx.signal);
          const r = await attemptFn(ctx.signal);
          ctx.succeeded();
          return r;
        } catch (e) {
          await this.retryOrThrow(op, object, e, attempt, retryable, ctx.signal);
        }
      }
    } catch (e) {
      ctx.failed(e);
      throw e;
    } finally {
      ctx.end();
    }
  }

  async get(name: string, signal?: AbortSignal): Promise<Uint8Array> {
    const b = await this.run("get", name, signal, true, (s) => this.inner.get(name, s));
    this.m?.fetchedBytes.labels(this.inner.name, "get").inc(b.length);
    return b;
  }

  /**
   * A get_range read tried first on this thread (`getRangeNow`, `streamRangeNow`): nothing to time
   * out or to cancel meanwhile. Its answer, counted as one operation of `bytes(answer)` bytes; or
   * {@link NOT_NOW} when the provider would wait (or has no such read); or its failure, which is
   * the first attempt's, retried (or not) as any other ({@link retryAfter}).
   */
  private rangeNow<T>(
    signal: AbortSignal | undefined,
    now: (() => T | null) | undefined,
    bytes: (answer: T) => number,
  ): T | typeof NOT_NOW | FirstFailure {
    if (now === undefined || signal?.aborted === true) return NOT_NOW;
    const start = performance.now();
    try {
      const answer = now();
      if (answer === null) return NOT_NOW;
      const m = this.rangeMetrics;
      if (m !== undefined) {
        m.ops.inc();
        m.duration.observe((performance.now() - start) / 1000);
        m.fetchedBytes.inc(bytes(answer));
      }
      return answer;
    } catch (e) {
      return new FirstFailure(e);
    }
  }

  async getRange(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const inner = this.inner;
    const now = this.rangeNow(
      signal,
      inner.getRangeNow && (() => inner.getRangeNow!(name, offset, length)),
      (b) => b.length,
    );
    if (now instanceof Uint8Array) return now;
    const b = await this.run(
      "get_range",
      name,
      signal,
      true,
      retryAfter(now, (s) => inner.getRange(name, offset, length, s)),
    );
    this.rangeMetrics?.fetchedBytes.inc(b.length);
    return b;
  }

  /**
   * `get_range` as one operation whose pieces stream through: a retried attempt resumes after
   * the bytes already handed to `sink`, so it never sees a byte twice.
   */
  async streamRange(
    name: string,
    offset: number,
    length: number,
    sink: RangePieceSink,
    signal?: AbortSignal,
  ): Promise<number> {
    let got = 0;
    const counted = (piece: Uint8Array) => {
      got += piece.length;
      sink(piece);
    };
    const inner = this.inner;
    const now = this.rangeNow(
      signal,
      inner.streamRangeNow && (() => inner.streamRangeNow!(name, offset, length, counted)),
      () => got,
    );
    if (typeof now === "number") return got;
    await this.run(
      "get_range",
      name,
      signal,
      true,
      retryAfter(now, (s) => {
        if (length >= 0 && got >= length) return Promise.resolve(0);
        const rest = length < 0 ? -1 : length - got;
        return streamBucketRange(inner, name, offset + got, rest, counted, s);
      }),
    );
    this.rangeMetrics?.fetchedBytes.inc(got);
    return got;
  }

  async upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    // A stream can be read once, so only byte arrays are retried.
    await this.run(
      "upload",
      name,
      signal,
      data instanceof Uint8Array,
      (s) => this.inner.upload(name, data, s),
    );
    this.m?.lastUpload.labels(this.inner.name).set(Date.now() / 1000);
  }

  async uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    await this.run("upload", name, signal, true, (s) => {
      if (this.inner.uploadFile) return this.inner.uploadFile(name, path, s);
      return uploadFileByStream(this.inner, name, path, s);
    });
    this.m?.lastUpload.labels(this.inner.name).set(Date.now() / 1000);
  }

  delete(name: string, signal?: AbortSignal): Promise<void> {
    return this.run("delete", name, signal, true, (s) => this.inner.delete(name, s));
  }

  exists(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.run("exists", name, signal, true, (s) => this.inner.exists(name, s));
  }

  attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    return this.run("attributes", name, signal, true, (s) => this.inner.attributes(name, s));
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    // One operation for the whole listing (the deadline includes the consumer's time). Listings
    // are sorted, so a retried listing resumes after the last name already yielded.
    const ctx = this.begin("iter", dir, opts?.signal);
    const recursive = opts?.recursive ?? false;
    let last: string | undefined;
    try {
      for (let attempt = 0;; attempt++) {
        try {
          for await (const n of this.inner.iter(dir, { recursive, signal: ctx.signal })) {
            if (last !== undefined && n <= last) continue;
            last = n;
            yield n;
          }
          ctx.succeeded();
          return;
        } catch (e) {
          await this.retryOrThrow("iter", dir, e, attempt, true, ctx.signal);
        }
      }
    } catch (e) {
      ctx.failed(e);
      throw e;
    } finally {
      ctx.end();
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

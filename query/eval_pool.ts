// PromQL evaluation off the querier's HTTP thread (issue 20): a pool of Workers (started by the
// launcher, reached through MessagePorts), each with its own StoreAPI clients, proxy and engine.
// The role's thread keeps serving probes, `/metrics`, Info checks and the HTTP API while queries
// evaluate, and concurrent queries use every core. Workers are started on demand (a query that
// finds none free starts one, up to `--query.eval-workers`) and stopped after they have been idle
// for a while, so an idle querier does not hold their memory (issue 19).
// A task carries everything one query needs as plain data (the query, the engine options, the
// per-request proxy options and a snapshot of the endpoints with their last Info); the worker
// answers with the result's `data` JSON already encoded (UTF-8 bytes, transferred, not cloned, so
// a large result costs the role's thread no encoding and no copy) and the warnings, or the PromQL
// error. `/api/v1/series`, `labels` and `label/<name>/values` go the same way ({@link LabelTask}:
// their fan-out and merge, query/label_api.ts). Aborting the caller's signal cancels the work and
// its store calls in the worker.

import type { RelabelConfig } from "../relabel/relabel.ts";
import type { StoreInfo } from "../storeapi/codec.ts";
import type { UnavailableEndpoint } from "../storeapi/proxy.ts";
import type { StoreClientOptions } from "../storeapi/client.ts";
import type { DedupFunc } from "../storeapi/dedup.ts";
import type { ShardInfo } from "../storeapi/codec.ts";
import type { MatchType } from "../tsdb/matchers.ts";
import type { Labels } from "../tsdb/series.ts";
import { PromQLError, type PromQLErrorType } from "../promql/errors.ts";
import type { EngineOptions } from "../promql/engine.ts";
import type { LabelApiKind } from "./label_api.ts";
import type { DistributedOptions } from "./distributed.ts";
import type { OtlpConfig } from "../tracing/config.ts";
import type { SeriesStats } from "./telemetry.ts";

/** A matcher as data: [type, name, value]. */
export type MatcherData = [MatchType, string, string];

/** One query's evaluation, as data. */
export interface EvalTask {
  kind: "instant" | "range";
  expr: string;
  /** ms; an instant query's time is `start`. */
  start: number;
  end: number;
  step: number;
  engine: EngineOptions;
  /** The W3C `traceparent` of the query's span on the role's thread ("" when untraced). */
  traceparent?: string;
  /**
   * Set: answer with the gRPC Query API's series frames of this batch size (query/grpc_api.ts)
   * instead of the HTTP API's `data` JSON.
   */
  grpcBatchSize?: number;
  /**
   * Set: the `data` JSON gets Prometheus's query statistics (the `stats` parameter); `queueMs` is
   * how long the query waited for its slot under `--query.max-concurrent`.
   */
  stats?: { queueMs: number };
  /** `--query.mode=distributed`: aggregations pushed down to leaf queriers (query/distributed.ts). */
  distributed?: DistributedOptions;
  queryable: {
    partialResponse: boolean;
    dedup: boolean;
    replicaLabels: string[];
    dedupFunc: DedupFunc;
    storeMatchers?: MatcherData[][];
    maxSourceResolutionMs?: number;
    maxConcurrentSelect?: number;
    shardInfo?: ShardInfo;
    /** The request's tenant, sent to the stores (query/queryable.ts). */
    tenant?: string;
  };
}

/** A metadata request (`/api/v1/series`, `labels`, `label/<name>/values`) as data. */
export interface LabelTask {
  kind: LabelApiKind;
  /** The `match[]` selector sets (none: every series). */
  matchers: MatcherData[][];
  /** label_values: the label. */
  name?: string;
  /** ms */
  start: number;
  end: number;
  traceparent?: string;
  queryable: EvalTask["queryable"];
}

/**
 * A worker's answer: the `data` JSON as UTF-8 bytes, or for a large one a byte stream whose
 * pieces the worker encodes as they are read (its cancel stops the worker's encoding), and the
 * warnings.
 */
export interface EvalAnswer {
  data: Uint8Array | ReadableStream<Uint8Array>;
  warnings: string[];
  /** What the stores sent for it (query telemetry). */
  stats?: SeriesStats;
  /**
   * `data`'s buffers (each piece's) were transferred from the Worker for this answer alone:
   * nothing else reads them, so their reader may detach each once done with it.
   */
  owned?: boolean;
}

/** What the pool adds to a task: the endpoints as the role's thread sees them now. */
export interface EvalEnvironment {
  /** `members`: an endpoint group's member addresses (query/endpoint_group.ts). */
  endpoints: { name: string; info: StoreInfo | null; members?: string[] }[];
  unavailable: UnavailableEndpoint[];
  responseTimeoutMs: number;
  selectorLabels?: Labels;
}

/** Messages to a worker (over its port; the launcher sends `{type: "port", port}` first). */
export type ToWorker =
  | {
    type: "init";
    client: StoreClientOptions;
    tracing?: OtlpConfig | null;
    /** `--selector.relabel-config` rules (storeapi/tsdb_selector.ts), if any. */
    tsdbSelector?: RelabelConfig[];
  }
  | { type: "eval"; id: number; task: EvalTask | LabelTask; env: EvalEnvironment }
  /** Cancels a query, or drops the rest of a streamed answer. */
  | { type: "cancel"; id: number }
  /** The next piece of answer `id`'s streamed `data`. */
  | { type: "more"; id: number };

/** Messages from a worker. */
export type FromWorker =
  | { type: "ready" }
  /** `more`: `data` is the first piece of a streamed answer, the rest comes on request. */
  | {
    type: "result";
    id: number;
    data: Uint8Array;
    warnings: string[];
    stats?: SeriesStats;
    more?: boolean;
  }
  /** A piece of a streamed answer; `done` with the last one. */
  | { type: "piece"; id: number; data: Uint8Array; done: boolean }
  | { type: "error"; id: number; errorType: PromQLErrorType; message: string }
  /** The Worker's idle-time warm-up starts (an attempt; query/eval_worker.ts). */
  | { type: "warming" }
  /** The Worker's idle-time warm-up is done (query/eval_worker.ts): `rounds` were run. */
  | { type: "warmed"; rounds: number };

/** The name of a query's PromQL evaluation span (in a Worker or on the role's thread). */
export function evalSpanName(kind: EvalTask["kind"]): string {
  return kind === "instant" ? "promql_instant_query" : "promql_range_query";
}

/**
 * Starts and stops evaluation Workers (query/eval_worker.ts). The launcher does
 * (components/eval_workers.ts): it starts them with the role's permissions (a role's Worker may
 * not load modules itself) and hands the role the other end of a MessageChannel to each.
 */
export interface EvalWorkerLauncher {
  /** Most Workers at once (`--query.eval-workers`). */
  readonly max: number;
  /** Starts a Worker; resolves with its id and the port to it once it has loaded. */
  start(): Promise<{ id: number; port: MessagePort }>;
  /** Stops Worker `id`. */
  stop(id: number): void;
}

/** An evaluation Worker idle this long is stopped (ms); the next query starts one again. */
export const EVAL_WORKER_IDLE_MS = 5 * 60_000;

/** Options of {@link EvalPool}. */
export interface EvalPoolOptions {
  workers: EvalWorkerLauncher;
  /** How long a Worker may stay idle before it is stopped (ms; {@link EVAL_WORKER_IDLE_MS}). */
  idleMs?: number;
  client: StoreClientOptions;
  /** The role's tracing config: each Worker exports its own spans (null: untraced). */
  tracing?: OtlpConfig | null;
  /** The endpoint snapshot for each task. */
  environment: () => EvalEnvironment;
  /** `--selector.relabel-config` rules, handed to each Worker's proxy. */
  tsdbSelector?: RelabelConfig[];
}

interface Slot {
  /** The Worker's id (0 while it starts). */
  id: number;
  /** Resolves with the port once the Worker has loaded; rejects when it failed to start. */
  ready: Promise<MessagePort>;
  /** Set once loaded. */
  port?: MessagePort;
  /** Tasks sent to it (or waiting for it to load) and not yet answered. */
  busy: number;
  /** Streamed answers it still holds. */
  streams: number;
  idle?: ReturnType<typeof setTimeout>;
  /** Why it is gone (it died, the pool stopped it); no new task goes to it. */
  gone?: string;
}

interface Pending {
  resolve: (r: EvalAnswer) => void;
  reject: (e: unknown) => void;
  /** The worker evaluating it. */
  slot: Slot;
}

/** A streamed answer waiting for its next piece from `slot`. */
interface Streaming {
  slot: Slot;
  /** Set while a piece was asked for and has not come. */
  wait?: {
    resolve: (p: { data: Uint8Array; done: boolean }) => void;
    reject: (e: unknown) => void;
  };
  /** Why the rest of the answer will never come (its worker died, the pool closed). */
  failed?: Error;
}

/** Extra time past the query timeout before a silent worker fails the query (ms). */
const WORKER_GRACE_MS = 10_000;

/**
 * The evaluation Workers, started on demand: each task goes to an idle Worker, or to a new one
 * while fewer than `max` run, or else to the least busy one. A Worker idle for `idleMs` is
 * stopped.
 */
export class EvalPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, Streaming>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: EvalPoolOptions) {}

  /** Workers running or starting. */
  get size(): number {
    return this.slots.length;
  }

  /** The Worker for the next task: an idle one, else a new one below `max`, else the least busy. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (best === undefined || s.busy < best.busy) best = s;
    if (best !== undefined && (best.busy === 0 || this.slots.length >= this.opts.workers.max)) {
      return best;
    }
    return this.startWorker();
  }

  private startWorker(): Slot {
    const slot = { id: 0, busy: 0, streams: 0 } as Slot;
    slot.ready = this.load(slot);
    // a start that fails with no query waiting is not an unhandled rejection
    slot.ready.catch(() => {});
    this.slots.push(slot);
    return slot;
  }

  /** Starts `slot`'s Worker and sends it the role's settings; resolves with its port. */
  private async load(slot: Slot): Promise<MessagePort> {
    let started: { id: number; port: MessagePort };
    try {
      started = await this.opts.workers.start();
    } catch (e) {
      // the next query tries again
      this.remove(slot, "failed to start");
      throw new PromQLError(
        "internal",
        `cannot start a query evaluation worker: ${(e as Error).message}`,
      );
    }
    const { id, port } = started;
    slot.id = id;
    if (this.closed) {
      port.close();
      this.opts.workers.stop(id);
      throw new PromQLError("internal", "query evaluation pool closed");
    }
    slot.port = port;
    port.onmessage = (e: MessageEvent) => this.onMessage(e.data as FromWorker);
    port.postMessage(
      {
        type: "init",
        client: this.opts.client,
        tracing: this.opts.tracing,
        tsdbSelector: this.opts.tsdbSelector,
      } satisfies ToWorker,
    );
    return port;
  }

  /** Takes `slot` out of the pool (no new task reaches it). */
  private remove(slot: Slot, why: string): void {
    slot.gone ??= why;
    clearTimeout(slot.idle);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  /** Stops `slot`'s Worker after `idleMs` unless a task or stream reaches it before. */
  private whenIdle(slot: Slot): void {
    if (slot.busy > 0 || slot.streams > 0 || slot.gone !== undefined || this.closed) return;
    clearTimeout(slot.idle);
    slot.idle = setTimeout(() => {
      if (slot.busy > 0 || slot.streams > 0 || slot.gone !== undefined) return;
      this.remove(slot, "stopped after being idle");
      slot.port?.close();
      this.opts.workers.stop(slot.id);
    }, this.opts.idleMs ?? EVAL_WORKER_IDLE_MS);
    // an idle Worker's timer never keeps the role running
    Deno.unrefTimer(slot.idle);
  }

  /**
   * Worker `id` died (the launcher saw its uncaught error): the queries it was evaluating fail
   * with a clear error (their answers died with it) and the next query starts another Worker.
   */
  workerExited(id: number, cause = "crashed"): void {
    const slot = this.slots.find((s) => s.id === id);
    if (slot === undefined) return;
    this.remove(slot, cause);
    for (const [qid, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(qid);
      p.reject(
        new PromQLError(
          "internal",
          `query evaluation worker ${id} ${cause} during the query; the next query starts another`,
        ),
      );
    }
    this.failStreams(
      (st) => st.slot === slot,
      `query evaluation worker ${id} ${cause} while its answer was being sent`,
    );
    try {
      slot.port?.close();
    } catch { /* already closed */ }
  }

  private onMessage(m: FromWorker): void {
    if (m.type === "ready" || m.type === "warming" || m.type === "warmed") return;
    if (m.type === "piece") {
      const st = this.streams.get(m.id);
      const w = st?.wait;
      if (!st || !w) return;
      st.wait = undefined;
      if (m.done) this.endStream(m.id);
      w.resolve(m);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) {
      if (m.type === "error") this.failStreams((_, id) => id === m.id, m.message);
      return;
    }
    this.pending.delete(m.id);
    if (m.type === "result") {
      p.resolve({
        data: m.more ? this.stream(m.id, p.slot, m.data) : m.data,
        warnings: m.warnings,
        stats: m.stats,
        owned: true,
      });
    } else p.reject(new PromQLError(m.errorType, m.message));
  }

  /**
   * A large answer as a byte stream: `first`, then each next piece asked of the worker only when
   * the reader wants it, so neither thread ever holds the whole encoded answer (the worker keeps
   * the evaluated result until the last piece, or until the stream is cancelled).
   */
  private stream(id: number, slot: Slot, first: Uint8Array): ReadableStream<Uint8Array> {
    const st: Streaming = { slot };
    this.streams.set(id, st);
    slot.streams++;
    return new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(first);
      },
      pull: async (ctrl) => {
        if (st.failed) throw st.failed;
        const piece = await new Promise<{ data: Uint8Array; done: boolean }>((resolve, reject) => {
          st.wait = { resolve, reject };
          slot.port?.postMessage({ type: "more", id } satisfies ToWorker);
        });
        if (piece.data.length > 0) ctrl.enqueue(piece.data);
        if (piece.done) ctrl.close();
      },
      cancel: () => {
        if (!this.endStream(id)) return;
        try {
          slot.port?.postMessage({ type: "cancel", id } satisfies ToWorker);
        } catch { /* port closed */ }
      },
    }, { highWaterMark: 0 });
  }

  /** Forgets streamed answer `id` (its Worker may become idle); false when it was unknown. */
  private endStream(id: number): boolean {
    const st = this.streams.get(id);
    if (st === undefined) return false;
    this.streams.delete(id);
    st.slot.streams--;
    this.whenIdle(st.slot);
    return true;
  }

  /** Fails the streamed answers `which` selects with `message`. */
  private failStreams(which: (st: Streaming, id: number) => boolean, message: string): void {
    for (const [id, st] of this.streams) {
      if (!which(st, id)) continue;
      this.endStream(id);
      st.failed = new PromQLError("internal", message);
      st.wait?.reject(st.failed);
    }
  }

  /** Runs `task` in a worker; rejects with the PromQLError the engine (or a store) raised. */
  async evaluate(task: EvalTask | LabelTask, signal?: AbortSignal): Promise<EvalAnswer> {
    if (this.closed) throw new PromQLError("internal", "query evaluation pool is closed");
    const slot = this.pick();
    slot.busy++;
    clearTimeout(slot.idle);
    const id = this.nextId++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let port: MessagePort | undefined;
    const onAbort = () => port?.postMessage({ type: "cancel", id } satisfies ToWorker);
    try {
      // a new Worker: the first query waits for it to load, once
      port = await slot.ready;
      if (slot.gone !== undefined) {
        throw new PromQLError(
          "internal",
          `query evaluation worker ${slot.id} ${slot.gone} before the query reached it`,
        );
      }
      const to = port;
      return await new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject, slot });
        // a worker that died never answers: fail the query rather than hang it (metadata
        // requests have no timeout of their own, as in Thanos; a crashed worker fails them)
        if ("engine" in task) {
          timer = setTimeout(() => {
            if (!this.pending.delete(id)) return;
            reject(new PromQLError("internal", "query evaluation worker did not answer"));
          }, (task.engine.timeout ?? 120_000) + WORKER_GRACE_MS);
        }
        signal?.addEventListener("abort", onAbort, { once: true });
        const env = this.opts.environment();
        to.postMessage({ type: "eval", id, task, env } satisfies ToWorker);
        // aborted while the Worker was loading
        if (signal?.aborted) onAbort();
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      slot.busy--;
      this.whenIdle(slot);
    }
  }

  /** Fails queries still running; the launcher stops the workers with the role. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new PromQLError("internal", "query evaluation pool closed"));
    }
    this.failStreams(() => true, "query evaluation pool closed");
    for (const s of [...this.slots]) {
      this.remove(s, "closed");
      s.port?.close();
      if (s.id !== 0) this.opts.workers.stop(s.id);
    }
  }
}

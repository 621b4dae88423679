// PromQL evaluation off the querier's HTTP thread (issue 20): a pool of Workers (started by the
// launcher, reached through MessagePorts), each with its own StoreAPI clients, proxy and engine. The role's thread keeps serving probes, `/metrics`,
// Info checks and the HTTP API while queries evaluate, and concurrent queries use every core.
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
  | { type: "error"; id: number; errorType: PromQLErrorType; message: string };

/** The name of a query's PromQL evaluation span (in a Worker or on the role's thread). */
export function evalSpanName(kind: EvalTask["kind"]): string {
  return kind === "instant" ? "promql_instant_query" : "promql_range_query";
}

/** Options of {@link EvalPool}. */
export interface EvalPoolOptions {
  /**
   * One port per evaluation Worker (query/eval_worker.ts). The launcher starts those Workers
   * with the role's permissions (a role's Worker may not load modules itself) and hands the
   * role the other end of a MessageChannel to each.
   */
  ports: MessagePort[];
  client: StoreClientOptions;
  /** The role's tracing config: each Worker exports its own spans (null: untraced). */
  tracing?: OtlpConfig | null;
  /** The endpoint snapshot for each task. */
  environment: () => EvalEnvironment;
  /** `--selector.relabel-config` rules, handed to each Worker's proxy. */
  tsdbSelector?: RelabelConfig[];
}

interface Slot {
  port: MessagePort;
  busy: number;
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

/** A fixed set of evaluation Workers; each task goes to the least busy one. */
export class EvalPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, Streaming>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: EvalPoolOptions) {
    for (const port of opts.ports) {
      const slot = { port, busy: 0 };
      this.attach(slot);
      this.slots.push(slot);
    }
  }

  private attach(slot: Slot): void {
    slot.port.onmessage = (e: MessageEvent) => this.onMessage(e.data as FromWorker);
    slot.port.postMessage(
      {
        type: "init",
        client: this.opts.client,
        tracing: this.opts.tracing,
        tsdbSelector: this.opts.tsdbSelector,
      } satisfies ToWorker,
    );
  }

  /**
   * The launcher restarted worker `index` after it crashed: the queries it was evaluating fail
   * with a clear error (their answers died with it) and new ones go to its replacement.
   */
  replaceWorker(index: number, port: MessagePort, cause = "crashed"): void {
    const slot = this.slots[index];
    if (slot === undefined || this.closed) {
      port.close();
      return;
    }
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(
        new PromQLError(
          "internal",
          `query evaluation worker ${index} ${cause} during the query; it was restarted`,
        ),
      );
    }
    this.failStreams(
      (st) => st.slot === slot,
      `query evaluation worker ${index} ${cause} while its answer was being sent`,
    );
    try {
      slot.port.close();
    } catch { /* already closed */ }
    slot.port = port;
    this.attach(slot);
  }

  get size(): number {
    return this.slots.length;
  }

  private onMessage(m: FromWorker): void {
    if (m.type === "ready") return;
    if (m.type === "piece") {
      const st = this.streams.get(m.id);
      const w = st?.wait;
      if (!st || !w) return;
      st.wait = undefined;
      if (m.done) this.streams.delete(m.id);
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
    return new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(first);
      },
      pull: async (ctrl) => {
        if (st.failed) throw st.failed;
        const piece = await new Promise<{ data: Uint8Array; done: boolean }>((resolve, reject) => {
          st.wait = { resolve, reject };
          slot.port.postMessage({ type: "more", id } satisfies ToWorker);
        });
        if (piece.data.length > 0) ctrl.enqueue(piece.data);
        if (piece.done) ctrl.close();
      },
      cancel: () => {
        if (!this.streams.delete(id)) return;
        try {
          slot.port.postMessage({ type: "cancel", id } satisfies ToWorker);
        } catch { /* port closed */ }
      },
    }, { highWaterMark: 0 });
  }

  /** Fails the streamed answers `which` selects with `message`. */
  private failStreams(which: (st: Streaming, id: number) => boolean, message: string): void {
    for (const [id, st] of this.streams) {
      if (!which(st, id)) continue;
      this.streams.delete(id);
      st.failed = new PromQLError("internal", message);
      st.wait?.reject(st.failed);
    }
  }

  /** Runs `task` in a worker; rejects with the PromQLError the engine (or a store) raised. */
  async evaluate(task: EvalTask | LabelTask, signal?: AbortSignal): Promise<EvalAnswer> {
    if (this.closed || this.slots.length === 0) {
      throw new PromQLError("internal", "query evaluation pool is closed");
    }
    let slot = this.slots[0];
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    slot.busy++;
    const id = this.nextId++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => slot.port.postMessage({ type: "cancel", id } satisfies ToWorker);
    try {
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
        slot.port.postMessage({ type: "eval", id, task, env } satisfies ToWorker);
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      slot.busy--;
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
    for (const s of this.slots) s.port.close();
  }
}

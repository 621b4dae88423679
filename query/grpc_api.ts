// The querier's gRPC Query API (`thanos.Query` Query and QueryRange, storeapi/query.ts), as
// Thanos v0.42 serves it (https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/api/query/grpc.go):
// the request's Thanos parameters build the same per-query proxy view as the HTTP API
// (query/queryable.ts), the same engine options and the same evaluation path (the Workers of
// query/eval_pool.ts when there are some, answering in gRPC frames), under the HTTP API's
// concurrency gate. The answer: the warnings (joined with ", ") first, then one `timeseries` per
// result series (or `timeseries_batch` frames when `response_batch_size` > 1), then `stats`.
// Errors: a request that does not parse answers Unknown (Thanos returns the engine's error as
// is), an evaluation error Aborted, or, for an instant query with partial response, a
// `warnings` frame carrying the error.

import { Engine, type EngineOptions } from "../promql/engine.ts";
import { ParseError, parseExpr } from "../promql/parser.ts";
import type { QueryValue } from "../promql/value.ts";
import type { DedupFunc } from "../storeapi/dedup.ts";
import type { StoreProxy } from "../storeapi/proxy.ts";
import {
  GrpcError,
  type GrpcServer,
  GrpcStatus,
  type ServerStreamWriter,
} from "../storeapi/grpc.ts";
import {
  decodeQueryRangeRequest,
  decodeQueryRequest,
  encodeQueryResponseStats,
  encodeQueryResponseWarnings,
  EngineType,
  framedSeriesResponses,
  QUERY_METHODS,
  type QueryRangeRequest,
  type QueryRequest,
  type QueryTimeSeries,
  unframe,
} from "../storeapi/query.ts";
import { ProxyQueryable } from "./queryable.ts";
import { type EvalPool, evalSpanName, type EvalTask } from "./eval_pool.ts";
import { activeTraceparent, inSpan } from "../tracing/tracer.ts";
import type { QueryApiOptions } from "./api.ts";
import { evaluateDistributed, remoteCallOptions, remoteEngines } from "./distributed.ts";

/** The series a result streams as (Thanos's grpc.go): a matrix of an instant query streams none. */
export function queryValueSeries(value: QueryValue, kind: EvalTask["kind"]): QueryTimeSeries[] {
  switch (value.type) {
    case "scalar":
      return [{ labels: [], ts: [value.t], vs: [value.v] }];
    case "vector":
      return value.samples.map((s) => ({ labels: s.labels, ts: [s.t], vs: [s.v] }));
    case "matrix":
      return kind === "range" ? value.series : [];
    default:
      return [];
  }
}

/** The series of `value` as framed response messages (what an evaluation Worker answers). */
export function queryValueFrames(
  value: QueryValue,
  kind: EvalTask["kind"],
  batchSize: number,
): Uint8Array {
  return framedSeriesResponses(queryValueSeries(value, kind), batchSize);
}

/** What the gRPC API evaluates with: the HTTP API's settings (query/api.ts). */
export interface QueryGrpcApiOptions {
  proxy: StoreProxy;
  evalPool?: Pick<EvalPool, "evaluate">;
  /** `--query.replica-label`: used when a request names none. */
  replicaLabels: string[];
  dedupFunc: DedupFunc;
  queryTimeoutMs: number;
  lookbackDeltaMs: number;
  maxSamples: number;
  maxConcurrentSelect: number;
  defaultEvaluationIntervalMs: number;
  /** `--query.mode=distributed`, as the HTTP API has it (query/distributed.ts). */
  distributed?: QueryApiOptions["distributed"];
  /** The HTTP API's `--query.max-concurrent` gate, shared. */
  gate: <T>(fn: () => Promise<T>) => Promise<T>;
  now?: () => number;
}

type Kind = EvalTask["kind"];

/** Serves `thanos.Query` on a gRPC server. */
export class QueryGrpcApi {
  constructor(private readonly o: QueryGrpcApiOptions) {}

  /** Registers Query and QueryRange on `grpc`. */
  register(grpc: GrpcServer): void {
    grpc.serverStream(QUERY_METHODS.query, async (buf, ctx, out) => {
      const req = decodeOr(() => decodeQueryRequest(buf));
      const t = req.timeSeconds ? req.timeSeconds * 1000 : (this.o.now ?? Date.now)();
      await this.run(
        req,
        { kind: "instant", expr: req.query, start: t, end: t, step: 0 },
        ctx.signal,
        out,
      );
    });
    grpc.serverStream(QUERY_METHODS.queryRange, async (buf, ctx, out) => {
      const req = decodeOr(() => decodeQueryRangeRequest(buf));
      await this.run(
        req,
        {
          kind: "range",
          expr: req.query,
          start: req.startTimeSeconds * 1000,
          end: req.endTimeSeconds * 1000,
          step: req.intervalSeconds * 1000,
        },
        ctx.signal,
        out,
      );
    });
  }

  private async run(
    req: QueryRequest | QueryRangeRequest,
    t: Pick<EvalTask, "kind" | "expr" | "start" | "end" | "step">,
    signal: AbortSignal,
    out: ServerStreamWriter,
  ): Promise<void> {
    const engine = req.engine ?? EngineType.DEFAULT;
    if (!(engine in EngineType)) {
      throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "invalid engine parameter");
    }
    try {
      parseExpr(t.expr);
    } catch (e) {
      // Thanos returns the engine's error unwrapped: Unknown
      if (e instanceof ParseError) throw new GrpcError(GrpcStatus.UNKNOWN, e.message);
      throw e;
    }
    if (t.kind === "range" && !(t.step > 0)) {
      throw new GrpcError(
        GrpcStatus.UNKNOWN,
        "zero or negative query resolution step widths are not accepted. Try a positive integer",
      );
    }
    // the HTTP API's bounds (Prometheus's), so a request cannot make the engine walk a huge grid
    if (t.kind === "range" && t.end < t.start) {
      throw new GrpcError(GrpcStatus.UNKNOWN, "end timestamp must not be before start time");
    }
    if (t.kind === "range" && Math.trunc((t.end - t.start) / t.step) > 11000) {
      throw new GrpcError(
        GrpcStatus.UNKNOWN,
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query " +
          "resolution (?step=XX)",
      );
    }
    const timeout = (req.timeoutSeconds ?? 0) > 0
      ? Math.min(this.o.queryTimeoutMs, req.timeoutSeconds! * 1000)
      : this.o.queryTimeoutMs;
    const engineOpts: EngineOptions = {
      lookbackDelta: (req.lookbackDeltaSeconds ?? 0) > 0
        ? req.lookbackDeltaSeconds! * 1000
        : this.o.lookbackDeltaMs,
      maxSamples: this.o.maxSamples,
      timeout,
      defaultEvaluationInterval: this.o.defaultEvaluationIntervalMs,
    };
    const q = new ProxyQueryable(this.o.proxy, {
      partialResponse: req.enablePartialResponse ?? false,
      dedup: req.enableDedup ?? false,
      replicaLabels: (req.replicaLabels?.length ?? 0) > 0
        ? req.replicaLabels!
        : this.o.replicaLabels,
      dedupFunc: this.o.dedupFunc,
      storeMatchers: (req.storeMatchers?.length ?? 0) > 0 ? req.storeMatchers : undefined,
      maxSourceResolutionMs: Math.max(0, (req.maxResolutionSeconds ?? 0) * 1000),
      maxConcurrentSelect: this.o.maxConcurrentSelect,
      shardInfo: req.shardInfo && req.shardInfo.totalShards > 0 ? req.shardInfo : undefined,
    });
    const batchSize = req.responseBatchSize ?? 0;
    let answer: { data: Uint8Array; warnings: string[] };
    try {
      answer = await this.o.gate(() => this.evaluate(engineOpts, q, t, batchSize, signal));
    } catch (e) {
      if (e instanceof GrpcError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (t.kind === "instant" && req.enablePartialResponse) {
        await out.send(encodeQueryResponseWarnings([msg]));
        return;
      }
      throw new GrpcError(GrpcStatus.ABORTED, msg);
    }
    if (answer.warnings.length > 0) await out.send(encodeQueryResponseWarnings(answer.warnings));
    if (answer.data.length > 0) {
      if (out.compressed) { for (const m of unframe(answer.data)) await out.send(m); }
      else await out.sendFramed(answer.data);
    }
    // the Prometheus engine reports no sample statistics here (Thanos sends zeros too)
    await out.send(encodeQueryResponseStats({ samplesTotal: 0, peakSamples: 0 }));
  }

  /** Evaluates in the pool (answer already framed) or on this thread. */
  private async evaluate(
    engine: EngineOptions,
    q: ProxyQueryable,
    t: Pick<EvalTask, "kind" | "expr" | "start" | "end" | "step">,
    batchSize: number,
    signal: AbortSignal,
  ): Promise<{ data: Uint8Array; warnings: string[] }> {
    if (this.o.evalPool) {
      const answer = await this.o.evalPool.evaluate({
        ...t,
        engine,
        queryable: q.describe(),
        traceparent: activeTraceparent(),
        grpcBatchSize: batchSize,
        distributed: this.o.distributed?.options,
      }, signal);
      // the worker streams only JSON answers; gRPC frames always come whole
      if (!(answer.data instanceof Uint8Array)) {
        throw new Error("the evaluation worker streamed a gRPC Query API answer");
      }
      return { data: answer.data, warnings: answer.warnings };
    }
    const e = new Engine(engine);
    const res = await inSpan(
      evalSpanName(t.kind),
      { "promql.query": t.expr },
      () =>
        this.o.distributed
          ? evaluateDistributed(
            e,
            q,
            t,
            remoteEngines(this.o.distributed.endpoints()),
            this.o.distributed.options,
            remoteCallOptions({ engine, queryable: q.describe() }),
            q.warnings,
            signal,
          )
          : t.kind === "instant"
          ? e.instantQuery(q, t.expr, t.start, signal)
          : e.rangeQuery(q, t.expr, t.start, t.end, t.step, signal),
    );
    return {
      data: queryValueFrames(res.value, t.kind, batchSize),
      warnings: [...res.warnings, ...q.warnings],
    };
  }
}

function decodeOr<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, (e as Error).message);
  }
}

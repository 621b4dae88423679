// `--query.mode=distributed`: a subset of Thanos's distributed engine
// (https://github.com/thanos-io/promql-engine/blob/main/logicalplan/distribute.go and
// https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/query/remote_engine.go). The central
// querier's endpoints that advertise the gRPC Query API are remote engines; their label sets
// (without replica labels, narrowed to `--query.partition-label`s when given) partition the data.
// Aggregations Thanos distributes are pushed down to every engine over the Query API and merged
// here; everything else is evaluated here over the leaves' raw data (the StoreAPI proxy), as in
// local mode, so answers equal local mode's.
//
// Pushed down (the rest is evaluated centrally):
// - `sum`, `min`, `max`, `count`, `group`, `topk`, `bottomk` over an expression that only selects
//   and transforms series one by one (selectors, functions other than `scalar`, `absent*` and a
//   `label_replace`/`label_join` writing a partition label, arithmetic with a number): when the
//   grouping keeps every partition label the whole aggregation runs remotely, else the remote
//   engines aggregate by the grouping plus the partition labels and this querier aggregates their
//   results (`count` becomes `sum` here), as distribute.go's `distributeAggregation` does;
// - conditions on the whole query, where Thanos's optimizer is also conservative: every queried
//   endpoint advertises the Query API (else its data would be missed), every engine has its own
//   partition label set (no two engines overlap in label set, so merging never has to pick
//   between overlapping time ranges), and times and step are whole seconds (the Query API's unit).
// Remote results reach the engine as a synthetic series selector whose samples sit exactly on the
// evaluation steps (a stale marker where a series ends), so the engine's lookback finds exactly
// the remote value at each step.

import type { Expr, VectorSelector } from "../promql/ast.ts";
import { children } from "../promql/ast.ts";
import { exprToString } from "../promql/printer.ts";
import { parseExpr } from "../promql/parser.ts";
import type { Engine, QueryResult } from "../promql/engine.ts";
import { PromQLError } from "../promql/errors.ts";
import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { labelsKey } from "../tsdb/labels.ts";
import { ChunkEncoding, type Labels, type Queryable, type SeriesSet } from "../tsdb/series.ts";
import type { SeriesWithChunks } from "../tsdb/series.ts";
import { XorAppender } from "../tsdb/chunkenc/xor.ts";
import type { ApiStreamClient } from "../storeapi/api_common.ts";
import type { StoreInfo } from "../storeapi/codec.ts";
import { callQuery, callQueryRange, type QueryAnswer } from "../storeapi/query.ts";

/** A remote engine: a leaf querier advertising the Query API. */
export interface RemoteEngine {
  name: string;
  /** Its TSDBs' label sets as advertised (replica labels are removed here). */
  labelSets: Labels[];
  client: ApiStreamClient;
}

/**
 * The remote engines among a query's endpoints: those advertising the Query API, or none when
 * some endpoint does not (its data would be missed by pushed-down parts: evaluate centrally).
 */
export function remoteEngines(
  endpoints: readonly { name: string; info: StoreInfo | null; client: object }[],
): RemoteEngine[] {
  const out: RemoteEngine[] = [];
  for (const e of endpoints) {
    const c = e.client as Partial<ApiStreamClient>;
    const stream = c.stream?.bind(c);
    if (!e.info?.query || !stream) return [];
    const sets = e.info.tsdbInfos?.length
      ? e.info.tsdbInfos.map((t) => t.labels)
      : e.info.labelSets;
    out.push({ name: e.name, labelSets: [...sets], client: { stream } });
  }
  return out;
}

/** Settings of the distributed mode. */
export interface DistributedOptions {
  /** `--query.partition-label` (empty: every label of the engines' label sets). */
  partitionLabels: string[];
}

/** One query's evaluation as the API asks for it (ms). */
export interface DistributedQuery {
  kind: "instant" | "range";
  expr: string;
  start: number;
  end: number;
  step: number;
}

/** What the remote calls carry besides the query (the central request's options). */
export interface RemoteCallOptions {
  replicaLabels: readonly string[];
  dedup: boolean;
  partialResponse: boolean;
  lookbackDeltaMs: number;
  timeoutMs: number;
  maxSourceResolutionMs: number;
}

/** The remote calls' options from an evaluation task (query/eval_pool.ts). */
export function remoteCallOptions(task: {
  engine: { lookbackDelta?: number; timeout?: number };
  queryable: {
    replicaLabels: string[];
    dedup: boolean;
    partialResponse: boolean;
    maxSourceResolutionMs?: number;
  };
}): RemoteCallOptions {
  return {
    replicaLabels: task.queryable.replicaLabels,
    dedup: task.queryable.dedup,
    partialResponse: task.queryable.partialResponse,
    lookbackDeltaMs: task.engine.lookbackDelta ?? 5 * 60_000,
    timeoutMs: task.engine.timeout ?? 120_000,
    maxSourceResolutionMs: task.queryable.maxSourceResolutionMs ?? 0,
  };
}

const SYNTHETIC = "__thanos_ts_remote_";

const DISTRIBUTIVE = new Set(["sum", "min", "max", "count", "group", "topk", "bottomk"]);
/** Pushed down only whole, when the grouping keeps every partition label (distribute.go). */
const WHOLE_ONLY = new Set(["avg", "quantile", "stddev", "stdvar", "count_values"]);

/** A pushed-down sub-query and the synthetic metric name its merged results answer to. */
interface RemotePart {
  name: string;
  query: string;
}

/** The engines' partition labels, or null when the engines do not partition the data. */
export function partitionLabelNames(
  engines: readonly RemoteEngine[],
  replicaLabels: readonly string[],
  opts: DistributedOptions,
): Set<string> | null {
  const drop = new Set(replicaLabels);
  const keep = opts.partitionLabels.length > 0 ? new Set(opts.partitionLabels) : null;
  const names = new Set<string>();
  const seen = new Set<string>();
  for (const e of engines) {
    if (e.labelSets.length === 0) return null;
    for (const ls of e.labelSets) {
      const part: string[] = [];
      for (let i = 0; i < ls.length; i += 2) {
        if (drop.has(ls[i]) || (keep && !keep.has(ls[i]))) continue;
        part.push(ls[i], ls[i + 1]);
        names.add(ls[i]);
      }
      if (part.length === 0) return null;
      const key = labelsKey(part);
      // two engines (or TSDBs) with one partition label set overlap: evaluate centrally
      if (seen.has(key)) return null;
      seen.add(key);
    }
  }
  return names.size > 0 ? names : null;
}

/** True when `e` only selects and transforms series one by one (Thanos's `isDistributive`). */
function seriesWise(e: Expr, partition: Set<string>): boolean {
  switch (e.kind) {
    case "VectorSelector":
      return e.timestamp === null && e.startOrEnd === null;
    case "MatrixSelector":
      return seriesWise(e.vectorSelector, partition);
    case "NumberLiteral":
    case "StringLiteral":
      return true;
    case "ParenExpr":
    case "UnaryExpr":
      return seriesWise(e.expr, partition);
    case "BinaryExpr": {
      const numL = constantNumber(e.lhs);
      const numR = constantNumber(e.rhs);
      if (!numL && !numR) return false;
      return seriesWise(e.lhs, partition) && seriesWise(e.rhs, partition);
    }
    case "Call": {
      const n = e.func.name;
      if (n === "scalar" || n === "absent" || n === "absent_over_time") return false;
      if (n === "vector" || n === "time") return false;
      if ((n === "label_replace" || n === "label_join") && e.args[1]?.kind === "StringLiteral") {
        if (partition.has(e.args[1].val)) return false;
      }
      return e.args.every((a) => seriesWise(a, partition));
    }
    default:
      return false;
  }
}

function constantNumber(e: Expr): boolean {
  if (e.kind === "NumberLiteral") return true;
  if (e.kind === "ParenExpr" || e.kind === "UnaryExpr") return constantNumber(e.expr);
  return false;
}

function hasSelector(e: Expr): boolean {
  if (e.kind === "VectorSelector") return true;
  return children(e).some(hasSelector);
}

function synthetic(name: string, like: Expr): VectorSelector {
  return {
    kind: "VectorSelector",
    name,
    matchers: [new Matcher(MatchType.Equal, "__name__", name)],
    offset: 0,
    timestamp: null,
    startOrEnd: null,
    posRange: like.posRange,
  };
}

/**
 * Rewrites `expr` in place: every distributable aggregation becomes (a local aggregation over)
 * a synthetic selector; returns the pushed-down parts.
 */
export function distribute(
  expr: Expr,
  partition: Set<string>,
): { expr: Expr; parts: RemotePart[] } {
  const parts: RemotePart[] = [];
  const visit = (e: Expr): Expr => {
    const keeps = e.kind === "AggregateExpr" &&
      [...partition].every((l) => e.grouping.includes(l) !== e.without);
    if (
      e.kind === "AggregateExpr" && (DISTRIBUTIVE.has(e.op) || (keeps && WHOLE_ONLY.has(e.op))) &&
      (e.param === null || constantNumber(e.param) || e.param.kind === "StringLiteral") &&
      seriesWise(e.expr, partition) && hasSelector(e.expr)
    ) {
      const name = `${SYNTHETIC}${parts.length}`;
      if (keeps) {
        parts.push({ name, query: exprToString(e) });
        return synthetic(name, e);
      }
      const grouping = e.without
        ? e.grouping.filter((l) => !partition.has(l))
        : [...new Set([...e.grouping, ...partition])].sort();
      parts.push({ name, query: exprToString({ ...e, grouping }) });
      return {
        ...e,
        op: e.op === "count" ? "sum" : e.op,
        expr: synthetic(name, e),
      };
    }
    switch (e.kind) {
      case "MatrixSelector":
      case "VectorSelector":
      case "NumberLiteral":
      case "StringLiteral":
        return e;
      case "SubqueryExpr":
        // remote results sit on the query's steps, not on the subquery's: evaluate centrally
        return e;
      case "ParenExpr":
      case "UnaryExpr":
        return { ...e, expr: visit(e.expr) };
      case "Call":
        return { ...e, args: e.args.map(visit) };
      case "AggregateExpr":
        return { ...e, expr: visit(e.expr), param: e.param && visit(e.param) };
      case "BinaryExpr":
        return { ...e, lhs: visit(e.lhs), rhs: visit(e.rhs) };
    }
  };
  return { expr: visit(expr), parts };
}

/** Step-aligned remote results of one part, merged over the engines (first engine wins a step). */
class RemoteSeries {
  private readonly byKey = new Map<string, { labels: Labels; points: Map<number, number> }>();

  add(a: QueryAnswer): void {
    for (const s of a.series) {
      const k = labelsKey(s.labels);
      let e = this.byKey.get(k);
      if (!e) this.byKey.set(k, e = { labels: s.labels, points: new Map() });
      for (let i = 0; i < s.ts.length; i++) {
        if (!e.points.has(s.ts[i])) e.points.set(s.ts[i], s.vs[i]);
      }
    }
  }

  /** As encoded series, with a stale marker on the first step a series has no value. */
  seriesSet(q: DistributedQuery): SeriesWithChunks[] {
    const steps: number[] = [];
    if (q.kind === "instant") steps.push(q.start);
    else for (let t = q.start; t <= q.end; t += q.step) steps.push(t);
    const out: SeriesWithChunks[] = [];
    const sorted = [...this.byKey.values()].sort((a, b) => compareLabelArrays(a.labels, b.labels));
    for (const { labels, points } of sorted) {
      const chunks: SeriesWithChunks["chunks"] = [];
      let app: XorAppender | null = null;
      let minT = 0;
      let maxT = 0;
      let prev = false;
      const flush = () => {
        if (app && app.numSamples > 0) {
          chunks.push({
            minTime: minT,
            maxTime: maxT,
            encoding: ChunkEncoding.XOR,
            data: app.bytes().slice(),
          });
        }
        app = null;
      };
      for (const t of steps) {
        const v = points.get(t);
        if (v === undefined && !prev) continue;
        if (!app) {
          app = new XorAppender();
          minT = t;
        }
        if (v === undefined) app.appendStale(t);
        else app.append(t, v);
        maxT = t;
        prev = v !== undefined;
        if (app.numSamples >= 120) flush();
      }
      flush();
      if (chunks.length > 0) out.push({ labels, chunks });
    }
    return out;
  }
}

function compareLabelArrays(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

/** A Queryable answering the synthetic selectors from remote results, the rest from `base`. */
function withRemote(base: Queryable, remote: Map<string, SeriesWithChunks[]>): Queryable {
  return {
    select(matchers, hints, signal): SeriesSet {
      const m = matchers.find((x) => x.name === "__name__" && x.type === MatchType.Equal);
      const series = m ? remote.get(m.value) : undefined;
      if (!series) return base.select(matchers, hints, signal);
      return (async function* () {
        for (const s of series) yield s;
      })();
    },
    labelNames: (ms, s, e) => base.labelNames(ms, s, e),
    labelValues: (n, ms, s, e) => base.labelValues(n, ms, s, e),
  };
}

/**
 * Evaluates `q`: distributed when the engines partition the data and the query has parts to push
 * down, else as local mode does. Warnings of remote engines are added to `warnings`.
 */
export async function evaluateDistributed(
  engine: Engine,
  base: Queryable,
  q: DistributedQuery,
  engines: readonly RemoteEngine[],
  opts: DistributedOptions,
  call: RemoteCallOptions,
  warnings: string[],
  signal?: AbortSignal,
): Promise<QueryResult> {
  const local = () =>
    q.kind === "instant"
      ? engine.instantQuery(base, q.expr, q.start, signal)
      : engine.rangeQuery(base, q.expr, q.start, q.end, q.step, signal);
  const whole = (ms: number) => ms % 1000 === 0;
  if (engines.length === 0 || !whole(q.start) || !whole(q.end) || !whole(q.step)) return local();
  const partition = partitionLabelNames(engines, call.replicaLabels, opts);
  if (!partition) return local();
  let parsed: Expr;
  try {
    parsed = parseExpr(q.expr);
  } catch {
    return local(); // the engine reports the parse error as local mode does
  }
  const plan = distribute(parsed, partition);
  if (plan.parts.length === 0) return local();

  const remote = new Map<string, SeriesWithChunks[]>();
  await Promise.all(plan.parts.map(async (part) => {
    const merged = new RemoteSeries();
    await Promise.all(engines.map(async (e) => {
      const common = {
        query: part.query,
        timeoutSeconds: Math.ceil(call.timeoutMs / 1000),
        maxResolutionSeconds: Math.floor(call.maxSourceResolutionMs / 1000),
        replicaLabels: [...call.replicaLabels],
        enableDedup: call.dedup,
        enablePartialResponse: call.partialResponse,
        lookbackDeltaSeconds: whole(call.lookbackDeltaMs) ? call.lookbackDeltaMs / 1000 : 0,
        responseBatchSize: 64,
      };
      let a: QueryAnswer;
      try {
        a = q.kind === "instant"
          ? await callQuery(e.client, { ...common, timeSeconds: q.start / 1000 }, signal)
          : await callQueryRange(e.client, {
            ...common,
            startTimeSeconds: q.start / 1000,
            endTimeSeconds: q.end / 1000,
            intervalSeconds: q.step / 1000,
          }, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        const msg = `remote query error (${e.name}): ${(err as Error).message}`;
        if (!call.partialResponse) throw new PromQLError("internal", msg);
        warnings.push(msg);
        return;
      }
      for (const w of a.warnings) warnings.push(`remote query warning (${e.name}): ${w}`);
      merged.add(a);
    }));
    remote.set(part.name, merged.seriesSet(q));
  }));
  const text = exprToString(plan.expr);
  const wrapped = withRemote(base, remote);
  return q.kind === "instant"
    ? engine.instantQuery(wrapped, text, q.start, signal)
    : engine.rangeQuery(wrapped, text, q.start, q.end, q.step, signal);
}

// The PromQL evaluator: instant and range queries with Prometheus 2.42's semantics, reading
// through `Queryable` only. Every operator works on a step grid (start, end, interval): a vector
// operand is a set of dense per-step series, a scalar one value per step. Selectors decode one
// series at a time and stream it to the consuming operator, so aggregations over selectors and
// range functions never hold every input series' samples at once.

import { MatchType } from "../tsdb/matchers.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import { InvalidRegexError } from "../re2/parser.ts";
import { expandTemplate, Re2Regex } from "../re2/regex.ts";
import {
  compareLabels,
  getLabel,
  labelsGoString,
  labelsKey,
  METRIC_NAME,
  setLabel,
} from "../tsdb/labels.ts";
import { ChunkEncoding } from "../tsdb/series.ts";
import type {
  BatchedSeriesSet,
  Chunk,
  Labels,
  Queryable,
  SelectHints,
  SeriesSet,
  SeriesWithChunks,
} from "../tsdb/series.ts";
import { XorIterator } from "../tsdb/chunkenc/xor.ts";
import { recycleStepArrays, stepFlags, stepValues } from "./step_arrays.ts";
import { HI_WORD, LO_WORD, STALE_NAN_HI, STALE_NAN_LO } from "../tsdb/value.ts";
import type {
  AggregateExpr,
  BinaryExpr,
  Call,
  Expr,
  MatrixSelector,
  SubqueryExpr,
  VectorSelector,
} from "./ast.ts";
import { typeOf } from "./ast.ts";
import type { FunctionOptions } from "./functions_table.ts";
import { ParseError } from "./parser.ts";
import { ParseCache } from "./parse_cache.ts";
import {
  PromQLError,
  queryCanceledError,
  queryTimeoutError,
  sameLabelsetError,
  tooManySamplesError,
} from "./errors.ts";
import {
  clamp,
  clampMax,
  clampMin,
  delta,
  EXPERIMENTAL_RANGE_FUNCTIONS,
  extendedRate,
  FunctionArgumentError,
  holtWinters,
  increase,
  predictLinear,
  quantileOverTime,
  RANGE_FUNCTIONS,
  rate,
  round,
  SIMPLE_FUNCTIONS,
} from "./functions.ts";
import {
  aggregate,
  AggregationError,
  Grouping,
  sortByLabels,
  sortByValue,
} from "./aggregations.ts";
import type { VectorSample } from "./aggregations.ts";
import { histogramQuantileVector } from "./histogram.ts";
import {
  dropName,
  dropsMetricName,
  scalarBinop,
  vectorAnd,
  vectorBinop,
  vectorOr,
  vectorScalarSeries,
  vectorUnless,
} from "./binary.ts";
import { StepCollector, type StepSeries } from "./value.ts";
import { ioTurn, messageTurn } from "../runutil/loop_turn.ts";
import { afterMs, type Deadline } from "../runutil/deadline.ts";
import type { Matrix, QueryResult, QueryStats, QueryValue, Sample, Series } from "./value.ts";

export type { QueryResult, QueryValue } from "./value.ts";
export { PromQLError } from "./errors.ts";

/**
 * The evaluation read more selected samples and steps than {@link EngineOptions.workLimit}
 * allows: not an answer; the caller evaluates the query elsewhere (an evaluation Worker).
 */
export class WorkLimitError extends PromQLError {
  override name = "WorkLimitError";

  constructor(limit: number) {
    super("internal", `query needs more than ${limit} selected samples and steps`);
  }
}

/**
 * Parsed expressions shared by every engine of this thread (promql/parse_cache.ts): an engine
 * lives for one query, a dashboard sends the same expressions again and again.
 */
const PARSED = new ParseCache();

/** Engine limits and defaults (Prometheus flag names in brackets). */
export interface EngineOptions {
  /** [--query.lookback-delta] ms, default 5m. */
  lookbackDelta?: number;
  /** [--query.max-samples] default 50,000,000. */
  maxSamples?: number;
  /** [--query.timeout] ms, default 2m. */
  timeout?: number;
  /** Subquery step when none is written (`x[5m:]`): the global evaluation interval, default 1m. */
  defaultEvaluationInterval?: number;
  /**
   * At most this long (ms) between turns in which network I/O is read (runutil/loop_turn.ts:
   * a timer turn, ≈2 ms); the turns in between are cheap message turns (timers, MessagePort
   * messages such as a worker's cancel). Default 20 ms: every turn reads I/O (a role's own
   * thread: probes, `/metrics`); the eval workers use a longer one.
   */
  ioTurnEvery?: number;
  /**
   * Selected samples plus steps (summed over the series the selectors read) after which the
   * evaluation stops with {@link WorkLimitError}: the querier tries a range query on its own
   * thread under this bound and hands a heavier one to an evaluation Worker (query/api.ts).
   * Default: no bound.
   */
  workLimit?: number;
  /**
   * Optional function sets: Prometheus's experimental functions and Thanos's xrate, xincrease,
   * xdelta (unknown functions unless enabled, as in Thanos).
   */
  functions?: FunctionOptions;
}

/**
 * How far before a window the extended range functions look for the sample preceding it:
 * promql-engine's default `ExtLookbackDelta` (1h), which Thanos leaves unset.
 */
export const X_FUNCTIONS_LOOKBACK_MS = 3_600_000;

/** Date functions: with no argument they read the evaluation time (`vector(time())`). */
const DATE_FUNCTIONS = new Set([
  "days_in_month",
  "day_of_month",
  "day_of_week",
  "day_of_year",
  "hour",
  "minute",
  "month",
  "year",
]);

/** Functions whose value depends on the evaluation time even with `@` (engine.go). */
const AT_MODIFIER_UNSAFE = new Set([...DATE_FUNCTIONS, "predict_linear", "time", "timestamp"]);

const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Evaluates PromQL queries against any {@link Queryable}. */
export class Engine {
  private readonly lookbackDelta: number;
  private readonly maxSamples: number;
  private readonly timeout: number;
  private readonly defaultEvaluationInterval: number;
  private readonly ioTurnEvery: number;
  private readonly workLimit: number;
  private readonly functions: FunctionOptions;

  constructor(opts: EngineOptions = {}) {
    this.workLimit = opts.workLimit ?? Infinity;
    this.functions = opts.functions ?? {};
    this.lookbackDelta = opts.lookbackDelta ?? 5 * 60_000;
    this.maxSamples = opts.maxSamples ?? 50_000_000;
    this.timeout = opts.timeout ?? 120_000;
    this.defaultEvaluationInterval = opts.defaultEvaluationInterval ?? 60_000;
    this.ioTurnEvery = opts.ioTurnEvery ?? IO_TURN_EVERY_MS;
  }

  /**
   * Evaluates `query` at `time` (ms). Returns a vector, scalar, string or (for a range
   * selector/subquery) a matrix. Throws {@link PromQLError}: `bad_data` for parse errors,
   * `execution` for evaluation errors, `timeout`, `canceled`, `internal`.
   */
  instantQuery(
    q: Queryable,
    query: string,
    time: number,
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    return this.exec(q, query, time, time, 0, signal);
  }

  /**
   * Evaluates `query` at every `start + k·step ≤ end` (ms) and returns a matrix sorted by labels.
   * The expression must be a scalar or instant vector (else `bad_data`, as Prometheus).
   */
  rangeQuery(
    q: Queryable,
    query: string,
    start: number,
    end: number,
    step: number,
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    if (!(step > 0)) {
      return Promise.reject(
        new PromQLError(
          "bad_data",
          "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
      );
    }
    if (end < start) {
      return Promise.reject(
        new PromQLError("bad_data", "end timestamp must not be before start time"),
      );
    }
    return this.exec(q, query, start, end, step, signal);
  }

  private async exec(
    q: Queryable,
    query: string,
    start: number,
    end: number,
    step: number,
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    const execStart = performance.now();
    let expr: Expr;
    try {
      expr = PARSED.parse(query, this.functions);
    } catch (e) {
      if (e instanceof ParseError) throw new PromQLError("bad_data", e.message, { cause: e });
      throw e;
    }
    const type = typeOf(expr);
    if (step > 0 && type !== "vector" && type !== "scalar") {
      const documented = type === "matrix" ? "range vector" : type;
      throw new PromQLError(
        "bad_data",
        `invalid expression type "${documented}" for range query, must be Scalar or instant Vector`,
      );
    }
    const ctx = new QueryContext(q, {
      lookback: this.lookbackDelta,
      maxSamples: this.maxSamples,
      // parsing (usually a cache hit) counts towards the timeout, as evaluation does
      deadline: execStart + this.timeout,
      timeoutMs: this.timeout,
      defaultStep: this.defaultEvaluationInterval,
      qStart: start,
      qEnd: end,
      ioTurnEvery: this.ioTurnEvery,
      workLimit: this.workLimit,
      signal,
    });
    try {
      const prepStart = performance.now();
      ctx.prepare(expr);
      const evalStart = performance.now();
      const value = await evaluateTop(ctx, expr, start, end, step);
      ctx.check();
      const done = performance.now();
      // selects run lazily during evaluation here, so preparation is the analysis before it;
      // there is no queue in front of the engine (execQueueTime 0)
      const inner = (done - evalStart - ctx.sortMs) / 1000;
      const stats: QueryStats = {
        timings: {
          evalTotalTime: (done - prepStart) / 1000,
          resultSortTime: ctx.sortMs / 1000,
          queryPreparationTime: (evalStart - prepStart) / 1000,
          innerEvalTime: inner,
          execQueueTime: 0,
          execTotalTime: (done - execStart) / 1000,
        },
        samples: { totalQueryableSamples: ctx.total, peakSamples: ctx.peak },
      };
      return { value, warnings: [], stats };
    } catch (e) {
      throw ctx.translateError(e);
    } finally {
      ctx.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Query state shared by every evaluator of one query.

interface SelectorInfo {
  func: string;
  by: boolean;
  grouping: string[];
}

interface ContextOptions {
  lookback: number;
  maxSamples: number;
  deadline: number;
  timeoutMs: number;
  defaultStep: number;
  qStart: number;
  qEnd: number;
  ioTurnEvery: number;
  workLimit: number;
  signal?: AbortSignal;
}

class TimeoutReason extends Error {}

/** Why a finished query's leftover selects were aborted. */
class QueryEndedReason extends Error {}

/** A select {@link QueryContext.forEachSeries} will make: a selector over [mint, maxt]. */
interface PlannedSelect {
  vs: VectorSelector;
  mint: number;
  maxt: number;
  step: number;
  range: number;
}

/** A select started before its series are read, with the pending read of its first batch. */
interface StartedSelect {
  hints: SelectHints;
  it: AsyncIterator<readonly SeriesWithChunks[]>;
  first: Promise<IteratorResult<readonly SeriesWithChunks[]>>;
}

function sameHints(a: SelectHints, b: SelectHints): boolean {
  return a.start === b.start && a.end === b.end && a.step === b.step && a.range === b.range;
}

/** Closes a started select that will not be read (once its pending first read settles). */
function dropStarted(s: StartedSelect): void {
  s.it.return?.().catch(() => {});
}

/**
 * Longest stretch (ms) one query evaluates before giving the event loop a turn: probes,
 * `/metrics`, Info checks and other queries on the same thread wait at most about this long
 * (issue 20: a heavy query must not starve the role). A turn costs ≈0.03 ms (an I/O turn
 * through the role thread's loopback pair, or a message turn; runutil/loop_turn.ts): a
 * CPU-heavy range query in-process took no longer with turns every 5 ms than every 20 ms
 * (medians 2.9 and 3.1 s; 3.3 s with the timer turns every 20 ms this replaced; same run).
 */
const YIELD_EVERY_MS = 5;

/** Default of {@link EngineOptions.ioTurnEvery}: every turn reads I/O. */
const IO_TURN_EVERY_MS = YIELD_EVERY_MS;

class QueryContext {
  readonly lookback: number;
  readonly maxSamples: number;
  readonly defaultStep: number;
  readonly qStart: number;
  readonly qEnd: number;
  /** Nodes Prometheus wraps in StepInvariantExpr: evaluated once, repeated at every step. */
  readonly invariant = new Set<Expr>();
  readonly selectors = new Map<VectorSelector, SelectorInfo>();
  /** Samples currently held (Prometheus' currentSamples, approximately). */
  cur = 0;
  /** Most samples held at once: Prometheus's `peakSamples` (stats), as far as `cur` models it. */
  peak = 0;
  /**
   * Prometheus's `totalQueryableSamples` (stats): the samples its selectors hand to the query,
   * counted where promql/engine.go counts them (vector selector points per step, range-function
   * windows per step, an instant range selector's points, a step-invariant operand once per step).
   */
  total = 0;
  /** Time spent sorting the result (ms): Prometheus's `resultSortTime`. */
  sortMs = 0;
  /** Set while work must finish without a turn of the event loop ({@link pause}). */
  noTurns = false;
  readonly buf = takeSeriesBuffer();
  /** Selects started ahead of their reading ({@link QueryContext.startSelect}), by selector. */
  private readonly started = new Map<VectorSelector, StartedSelect>();
  /** Aborted on timeout or caller cancellation; handed to `select` so store reads stop. */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly deadline: number;
  /** The query timeout, on the shared deadline timer (no runtime timer per query). */
  private readonly timer: Deadline;
  private readonly outer?: AbortSignal;
  private readonly onOuterAbort = () => this.controller.abort(this.outer?.reason);
  private lastYield: number;
  private lastIo: number;
  private readonly ioTurnEvery: number;
  /** Selected samples plus steps still allowed ({@link EngineOptions.workLimit}). */
  private workLeft: number;
  private readonly workLimit: number;

  constructor(readonly q: Queryable, o: ContextOptions) {
    this.workLimit = o.workLimit;
    this.workLeft = o.workLimit;
    this.lookback = o.lookback;
    this.maxSamples = o.maxSamples;
    this.defaultStep = o.defaultStep;
    this.qStart = o.qStart;
    this.qEnd = o.qEnd;
    this.deadline = o.deadline;
    this.lastYield = this.lastIo = performance.now();
    this.ioTurnEvery = o.ioTurnEvery;
    this.signal = this.controller.signal;
    this.timer = afterMs(o.timeoutMs, () => this.controller.abort(new TimeoutReason()));
    this.outer = o.signal;
    if (o.signal) {
      if (o.signal.aborted) this.controller.abort(o.signal.reason);
      else o.signal.addEventListener("abort", this.onOuterAbort, { once: true });
    }
  }

  close(): void {
    if (this.started.size > 0) {
      // selects started for operands never read (an earlier operand failed): stop their calls
      this.controller.abort(new QueryEndedReason());
      for (const s of this.started.values()) dropStarted(s);
      this.started.clear();
    }
    releaseSeriesBuffer(this.buf);
    this.timer.cancel();
    this.outer?.removeEventListener("abort", this.onOuterAbort);
  }

  /** Throws timeout/canceled when the query must stop. Cheap: call per series / step block. */
  check(): void {
    if (this.signal.aborted) throw this.abortError();
    if (performance.now() > this.deadline) {
      this.controller.abort(new TimeoutReason());
      throw queryTimeoutError();
    }
  }

  /**
   * Call between units of work (a series, a step block): when this query has held the thread
   * for {@link YIELD_EVERY_MS}, lets the event loop run, then throws timeout/canceled if the
   * query must stop. Cheap when no turn is due: then nothing to await (undefined), so a caller
   * that awaits only a returned promise saves a microtask turn per series.
   */
  pause(): Promise<void> | undefined {
    if (this.noTurns || performance.now() - this.lastYield < YIELD_EVERY_MS) {
      if (this.signal.aborted) this.check();
      return undefined;
    }
    return this.takeTurn();
  }

  private async takeTurn(): Promise<void> {
    if (performance.now() - this.lastIo >= this.ioTurnEvery) {
      await ioTurn();
      this.lastIo = performance.now();
    } else await messageTurn();
    this.lastYield = performance.now();
    this.check();
  }

  private abortError(): PromQLError {
    return this.signal.reason instanceof TimeoutReason ? queryTimeoutError() : queryCanceledError();
  }

  /** Counts `k` more samples in memory; throws the max-samples error past the limit. */
  add(k: number): void {
    this.cur += k;
    if (this.cur > this.peak) this.peak = this.cur;
    if (this.cur > this.maxSamples) throw tooManySamplesError();
  }

  /**
   * Notes that `held` samples are in memory at once without keeping them counted (a window, a
   * step's inputs); throws the max-samples error past the limit.
   */
  reach(held: number): void {
    if (held > this.peak) this.peak = held;
    if (held > this.maxSamples) throw tooManySamplesError();
  }

  /** Maps anything thrown during evaluation to a PromQLError. */
  translateError(e: unknown): PromQLError {
    if (e instanceof PromQLError) return e;
    if (this.signal.aborted) return this.abortError();
    if (e instanceof FunctionArgumentError || e instanceof AggregationError) {
      return new PromQLError("execution", e.message, { cause: e });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new PromQLError("internal", msg, { cause: e });
  }

  /** The `@` time of a selector or subquery (start()/end() resolved), or null. */
  atOf(n: VectorSelector | SubqueryExpr): number | null {
    if (n.timestamp !== null) return n.timestamp;
    if (n.startOrEnd === "start") return this.qStart;
    if (n.startOrEnd === "end") return this.qEnd;
    return null;
  }

  /** Step-invariance analysis and per-selector hints (Prometheus PreprocessExpr/populateSeries). */
  prepare(expr: Expr): void {
    if (this.preprocess(expr)) this.invariant.add(expr);
    this.collectSelectors(expr, []);
  }

  /**
   * Prometheus opens its querier over the union of every selector's time range
   * (findMinMaxTime) and the storage trims samples outside it; the trimming is visible when a
   * range operand with `@` is evaluated per step, so it is reproduced here.
   */
  dataMin = -Infinity;
  dataMax = Infinity;

  private selectorRange(vs: VectorSelector, path: readonly Expr[], evalRange: number): void {
    let start = this.qStart;
    let end = this.qEnd;
    let subOffset = 0;
    let subRange = 0;
    let subAt: number | null = null;
    for (const p of path) {
      if (p.kind !== "SubqueryExpr") continue;
      const at = this.atOf(p);
      if (at !== null) {
        subOffset = p.offset;
        subRange = p.range;
        subAt = at;
      } else {
        subOffset += p.offset;
        subRange += p.range;
      }
    }
    if (subAt !== null) start = end = subAt;
    const at = this.atOf(vs);
    if (at !== null) {
      start = end = at;
    } else {
      start = start - subOffset - subRange;
      end = end - subOffset;
    }
    start -= evalRange === 0 ? this.lookback : evalRange;
    start -= vs.offset;
    end -= vs.offset;
    if (!this.rangeSeen || start < this.dataMin) this.dataMin = start;
    if (!this.rangeSeen || end > this.dataMax) this.dataMax = end;
    this.rangeSeen = true;
  }

  private rangeSeen = false;

  private preprocess(e: Expr): boolean {
    switch (e.kind) {
      case "VectorSelector":
        return this.atOf(e) !== null;
      case "AggregateExpr":
        // Prometheus looks at the aggregated expression only, not the parameter
        return this.preprocess(e.expr);
      case "BinaryExpr": {
        const l = this.preprocess(e.lhs);
        const r = this.preprocess(e.rhs);
        if (l && r) return true;
        if (l) this.invariant.add(e.lhs);
        if (r) this.invariant.add(e.rhs);
        return false;
      }
      case "Call": {
        let inv = !AT_MODIFIER_UNSAFE.has(e.func.name);
        const flags = e.args.map((a) => this.preprocess(a));
        for (const f of flags) inv = inv && f;
        if (inv) return true;
        e.args.forEach((a, i) => {
          if (flags[i]) this.invariant.add(a);
        });
        return false;
      }
      case "MatrixSelector":
        return this.preprocess(e.vectorSelector);
      case "SubqueryExpr": {
        if (this.preprocess(e.expr)) this.invariant.add(e.expr);
        return this.atOf(e) !== null;
      }
      case "ParenExpr":
      case "UnaryExpr":
        return this.preprocess(e.expr);
      case "StringLiteral":
      case "NumberLiteral":
        return true;
    }
  }

  private collectSelectors(e: Expr, path: Expr[]): void {
    if (e.kind === "VectorSelector") {
      const parentNode = path[path.length - 1];
      let evalRange = parentNode?.kind === "MatrixSelector" ? parentNode.range : 0;
      // the extended range functions read the sample before each window too
      if (evalRange > 0 && isXFunctionOperand(path)) evalRange += X_FUNCTIONS_LOOKBACK_MS;
      this.selectorRange(e, path, evalRange);
      let func = "";
      for (let i = path.length - 1; i >= 0; i--) {
        const p = path[i];
        if (p.kind === "AggregateExpr") {
          func = p.op;
          break;
        }
        if (p.kind === "Call") {
          func = p.func.name;
          break;
        }
        if (p.kind === "BinaryExpr") break;
      }
      const parent = path[path.length - 1];
      const agg = parent?.kind === "AggregateExpr" ? parent : null;
      this.selectors.set(e, {
        func,
        by: agg !== null && !agg.without,
        grouping: agg !== null ? agg.grouping.slice() : [],
      });
      return;
    }
    path.push(e);
    switch (e.kind) {
      case "AggregateExpr":
        this.collectSelectors(e.expr, path);
        if (e.param) this.collectSelectors(e.param, path);
        break;
      case "BinaryExpr":
        this.collectSelectors(e.lhs, path);
        this.collectSelectors(e.rhs, path);
        break;
      case "Call":
        for (const a of e.args) this.collectSelectors(a, path);
        break;
      case "MatrixSelector":
        this.collectSelectors(e.vectorSelector, path);
        break;
      case "SubqueryExpr":
      case "ParenExpr":
      case "UnaryExpr":
        this.collectSelectors(e.expr, path);
        break;
    }
    path.pop();
  }

  /** The hints of selecting `vs` over [mint, maxt] clamped to the data, or null if empty. */
  private selectHints(
    vs: VectorSelector,
    mint: number,
    maxt: number,
    step: number,
    range: number,
  ): SelectHints | null {
    const info = this.selectors.get(vs) ?? { func: "", by: false, grouping: [] };
    if (mint < this.dataMin) mint = this.dataMin;
    if (maxt > this.dataMax) maxt = this.dataMax;
    if (mint > maxt) return null;
    const hints: SelectHints = { start: mint, end: maxt, step, range, func: info.func };
    if (info.grouping.length > 0 || info.by) {
      hints.by = info.by;
      hints.grouping = info.grouping;
    }
    return hints;
  }

  /**
   * Starts the select that {@link forEachSeries} will make next for these arguments, so its
   * store calls run while earlier operands are read (Prometheus selects every operand before
   * evaluating). Callers start selects in the order they will read them: a query's concurrent
   * selects are bounded (`maxConcurrentSelect`), and one started later must not hold a place
   * that an earlier one waits for. Only for sets read a batch at a time (remote stores).
   */
  startSelect(p: PlannedSelect): void {
    if (this.started.has(p.vs)) return;
    const hints = this.selectHints(p.vs, p.mint, p.maxt, p.step, p.range);
    if (hints === null) return;
    this.check();
    const set = this.q.select(p.vs.matchers, hints, this.signal);
    if (!isBatched(set)) return;
    const it = set.batches()[Symbol.asyncIterator]();
    const first = it.next();
    // read (or dropped) later; a failure surfaces when its series are read
    first.catch(() => {});
    this.started.set(p.vs, { hints, it, first });
  }

  /** Streams the series of `vs` over [mint, maxt] (inclusive), decoded, one at a time. */
  async forEachSeries(
    vs: VectorSelector,
    mint: number,
    maxt: number,
    step: number,
    range: number,
    fn: (labels: Labels, buf: SeriesBuffer) => void | Promise<void>,
  ): Promise<void> {
    const hints = this.selectHints(vs, mint, maxt, step, range);
    if (hints === null) return;
    mint = hints.start;
    maxt = hints.end;
    this.check();
    let started = this.started.get(vs);
    if (started !== undefined) {
      this.started.delete(vs);
      if (!sameHints(started.hints, hints)) {
        dropStarted(started);
        started = undefined;
      }
    }
    const set = started === undefined ? this.q.select(vs.matchers, hints, this.signal) : null;
    let k = 0;
    // samples and steps handled since the clock was last read: it is read every 8 series (a
    // read costs about as much as a short series) or sooner after long ones
    let work = 0;
    const steps = step > 0 ? Math.ceil((maxt - mint) / step) : 1;
    try {
      if (set === null || isBatched(set)) {
        // one await per batch, not per series: a short query's fixed cost (issue 19)
        const it = started?.it ?? set!.batches()[Symbol.asyncIterator]();
        let done = false;
        try {
          for (let got = await (started?.first ?? it.next()); !got.done; got = await it.next()) {
            const batch = got.value;
            for (let i = 0; i < batch.length; i++) {
              if ((++k & 63) === 0) this.check();
              if ((k & 7) === 0 || work >= PAUSE_CHECK_SAMPLES) {
                work = 0;
                const turn = this.pause();
                if (turn !== undefined) await turn;
              }
              const r = this.visit(batch[i], mint, maxt, fn);
              const did = this.buf.len + steps;
              work += did;
              if (r !== undefined) await r;
              if ((this.workLeft -= did) < 0) throw new WorkLimitError(this.workLimit);
            }
          }
          done = true;
        } finally {
          // as `for await` does when an error leaves its loop: the stream is closed, and the
          // error that left the loop is the one reported
          if (!done) await it.return?.().catch(() => {});
        }
      } else {
        for await (const s of set) {
          if ((++k & 63) === 0) this.check();
          if ((k & 7) === 0 || work >= PAUSE_CHECK_SAMPLES) {
            work = 0;
            const turn = this.pause();
            if (turn !== undefined) await turn;
          }
          const r = this.visit(s, mint, maxt, fn);
          const did = this.buf.len + steps;
          work += did;
          if (r !== undefined) await r;
          if ((this.workLeft -= did) < 0) throw new WorkLimitError(this.workLimit);
        }
      }
    } catch (e) {
      if (this.signal.aborted && !(e instanceof PromQLError)) throw this.abortError();
      throw e;
    }
  }

  /** Decodes one selected series and hands it to `fn` unless no sample is in [mint, maxt]. */
  private visit(
    s: SeriesWithChunks,
    mint: number,
    maxt: number,
    fn: (labels: Labels, buf: SeriesBuffer) => void | Promise<void>,
  ): void | Promise<void> {
    this.buf.load(s.labels, s.chunks, mint, maxt);
    if (this.buf.len === 0) return;
    return fn(s.labels, this.buf);
  }
}

/** Samples plus steps after which a select reads the clock for its next turn (see pause()). */
const PAUSE_CHECK_SAMPLES = 2048;

function isBatched(set: SeriesSet): set is BatchedSeriesSet {
  return typeof (set as Partial<BatchedSeriesSet>).batches === "function";
}

// ---------------------------------------------------------------------------------------------
// Decoding one series.

/** First capacity (samples) of a {@link SeriesBuffer}: a 2-hour chunk at 60 s fits. */
const SERIES_BUFFER_START = 128;

/** Idle {@link SeriesBuffer}s kept for the next queries of this thread, and their limits. */
const FREE_SERIES_BUFFERS: SeriesBuffer[] = [];
const FREE_SERIES_BUFFERS_MAX = 4;
/** A buffer grown past this many samples is dropped after its query rather than kept. */
const FREE_SERIES_BUFFER_MAX_SAMPLES = 4096;

/**
 * A decode buffer for a query: an idle one of an earlier query when there is one. Five typed
 * arrays outside the V8 heap per query cost a short instant query more than a few microseconds
 * of allocation and their later sweep (issue 19).
 */
function takeSeriesBuffer(): SeriesBuffer {
  return FREE_SERIES_BUFFERS.pop() ?? new SeriesBuffer();
}

/**
 * Gives a query's buffer back once its evaluation ended (the engine awaits its work in order,
 * so nothing of the query reads it afterwards).
 */
function releaseSeriesBuffer(b: SeriesBuffer): void {
  if (
    FREE_SERIES_BUFFERS.length < FREE_SERIES_BUFFERS_MAX &&
    b.ts.length <= FREE_SERIES_BUFFER_MAX_SAMPLES && b.cts.length <= FREE_SERIES_BUFFER_MAX_SAMPLES
  ) {
    b.len = 0;
    b.clen = 0;
    FREE_SERIES_BUFFERS.push(b);
  }
}

/**
 * Reusable decode buffers for one series: samples within [mint, maxt], stale flags. They start
 * small and grow by doubling; a query takes one, and gives it back for the next query.
 */
class SeriesBuffer {
  ts = new Float64Array(SERIES_BUFFER_START);
  vs = new Float64Array(SERIES_BUFFER_START);
  /** `vs`'s memory as 32-bit words: values are decoded as raw bits (stale markers survive). */
  private words = new Uint32Array(this.vs.buffer);
  stale = new Uint8Array(SERIES_BUFFER_START);
  len = 0;
  /** Decodes straight into `ts`/`words` at an offset: no array views per chunk. */
  private readonly xor = new XorIterator();
  /** Non-stale samples (range selectors drop stale markers). */
  cts = new Float64Array(SERIES_BUFFER_START);
  cvs = new Float64Array(SERIES_BUFFER_START);
  clen = 0;

  private grow(need: number): void {
    if (need <= this.ts.length) return;
    let cap = this.ts.length;
    while (cap < need) cap *= 2;
    const ts = new Float64Array(cap);
    ts.set(this.ts.subarray(0, this.len));
    const vs = new Float64Array(cap);
    const words = new Uint32Array(vs.buffer);
    // copy raw words so NaN payloads (stale markers) survive
    words.set(this.words.subarray(0, this.len * 2));
    const st = new Uint8Array(cap);
    st.set(this.stale.subarray(0, this.len));
    this.ts = ts;
    this.vs = vs;
    this.words = words;
    this.stale = st;
  }

  /** Decodes every chunk overlapping [mint, maxt] and keeps the samples inside it. */
  load(labels: Labels, chunks: readonly Chunk[], mint: number, maxt: number): void {
    this.len = 0;
    this.clen = 0;
    let unordered = false;
    for (const c of chunks) {
      if (c.maxTime < mint || c.minTime > maxt) continue;
      if (c.encoding !== ChunkEncoding.XOR) {
        throw new PromQLError(
          "execution",
          `native histograms are not supported yet: series ${
            labelsGoString(labels)
          } has a chunk of encoding ${ChunkEncoding[c.encoding] ?? c.encoding}`,
        );
      }
      const it = this.xor;
      it.reset(c.data);
      // the decoder writes at most the header's sample count
      this.grow(this.len + it.numSamples);
      const base = this.len;
      // only samples in [mint, maxt] are written, and none after maxt decoded
      const n = it.decodeRest(this.ts, this.words, base, maxt, mint) - base;
      if (base > 0 && n > 0 && this.ts[base] <= this.ts[base - 1]) unordered = true;
      this.len = base + n;
    }
    // the stale flags travel with their samples through the sort
    this.staleFlags(0, this.len);
    if (unordered) this.sortDedupe();
  }

  /** Stale flags of samples [from, to) from the raw bits, before a value becomes a JS number. */
  private staleFlags(from: number, to: number): void {
    const words = this.words;
    for (let i = from; i < to; i++) {
      this.stale[i] = words[2 * i + HI_WORD] === STALE_NAN_HI &&
          words[2 * i + LO_WORD] === STALE_NAN_LO
        ? 1
        : 0;
    }
  }

  /** Overlapping chunks (several blocks): sort by time, first sample wins on equal times. */
  private sortDedupe(): void {
    const n = this.len;
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => this.ts[a] - this.ts[b] || a - b);
    const ts = new Float64Array(n);
    const words = new Uint32Array(this.vs.buffer, 0, n * 2);
    const w2 = new Uint32Array(n * 2);
    const st = new Uint8Array(n);
    let m = 0;
    for (const i of idx) {
      if (m > 0 && ts[m - 1] === this.ts[i]) continue;
      ts[m] = this.ts[i];
      w2[2 * m] = words[2 * i];
      w2[2 * m + 1] = words[2 * i + 1];
      st[m] = this.stale[i];
      m++;
    }
    this.ts.set(ts.subarray(0, m));
    words.set(w2.subarray(0, m * 2));
    this.stale.set(st.subarray(0, m));
    this.len = m;
  }

  /** Fills cts/cvs with the non-stale samples. */
  compact(): void {
    if (this.cts.length < this.len) {
      this.cts = new Float64Array(this.ts.length);
      this.cvs = new Float64Array(this.ts.length);
    }
    let m = 0;
    for (let i = 0; i < this.len; i++) {
      if (this.stale[i] !== 0) continue;
      this.cts[m] = this.ts[i];
      this.cvs[m] = this.vs[i];
      m++;
    }
    this.clen = m;
  }
}

// ---------------------------------------------------------------------------------------------
// Static helpers over the AST.

/** A number or string literal, possibly parenthesised: evaluating it selects nothing. */
function isLiteral(e: Expr): boolean {
  const u = unwrapParens(e);
  return u.kind === "NumberLiteral" || u.kind === "StringLiteral";
}

function unwrapParens(e: Expr): Expr {
  while (e.kind === "ParenExpr") e = e.expr;
  return e;
}

function stringArg(e: Expr): string {
  const u = unwrapParens(e);
  if (u.kind !== "StringLiteral") {
    throw new PromQLError("internal", `expected a string literal, got ${u.kind}`);
  }
  return u.val;
}

/**
 * True when every series `e` yields carries the same `__name__` (or none), so dropping the
 * name cannot make two label sets equal and no uniqueness check is needed.
 */
function singleName(e: Expr): boolean {
  switch (e.kind) {
    case "VectorSelector":
      return e.matchers.some((m) => m.name === METRIC_NAME && m.type === MatchType.Equal);
    case "MatrixSelector":
      return singleName(e.vectorSelector);
    case "SubqueryExpr":
    case "ParenExpr":
      return singleName(e.expr);
    case "UnaryExpr":
      return e.op === "-" || singleName(e.expr);
    case "AggregateExpr":
      if (e.op === "topk" || e.op === "bottomk" || e.op === "limitk" || e.op === "limit_ratio") {
        return singleName(e.expr);
      }
      if (!e.without && e.grouping.includes(METRIC_NAME)) return singleName(e.expr);
      return true;
    case "BinaryExpr":
      if (e.op === "and" || e.op === "unless") return singleName(e.lhs);
      if (e.op === "or") return false;
      if (dropsMetricName(e.op) || e.returnBool) return true;
      if (e.vectorMatching?.card === "one-to-many") return singleName(e.rhs);
      return singleName(e.lhs) && (typeOf(e.rhs) !== "vector" || singleName(e.rhs));
    case "Call": {
      const n = e.func.name;
      if (n === "label_replace" || n === "label_join") return false;
      if (n === "sort" || n === "sort_desc" || n === "last_over_time") {
        return singleName(e.args[0]);
      }
      return true;
    }
    default:
      return true;
  }
}

function absentLabels(arg: Expr): Labels {
  let ms: Matcher[];
  if (arg.kind === "VectorSelector") ms = arg.matchers;
  else if (arg.kind === "MatrixSelector") ms = arg.vectorSelector.matchers;
  else return [];
  const has = new Set<string>();
  const out = new Map<string, string>();
  for (const m of ms) {
    if (m.name === METRIC_NAME) continue;
    if (m.type === MatchType.Equal && !has.has(m.name)) {
      if (m.value !== "") out.set(m.name, m.value);
      has.add(m.name);
    } else {
      out.delete(m.name);
    }
  }
  const names = [...out.keys()].sort();
  const ls: string[] = [];
  for (const n of names) ls.push(n, out.get(n)!);
  return ls;
}

/** Whether no two of `series` share a step array (each may then be given back on its own). */
function ownArrays(series: readonly StepSeries[]): boolean {
  const seen = new Set<ArrayBufferView>();
  for (const s of series) {
    if (seen.has(s.vals) || seen.has(s.has)) return false;
    seen.add(s.vals);
    seen.add(s.has);
  }
  return true;
}

function countPoints(s: StepSeries): number {
  let c = 0;
  for (let i = 0; i < s.has.length; i++) c += s.has[i];
  return c;
}

// ---------------------------------------------------------------------------------------------
// Top level.

async function evaluateTop(
  ctx: QueryContext,
  expr: Expr,
  start: number,
  end: number,
  step: number,
): Promise<QueryValue> {
  const instant = step === 0;
  const ev = new Evaluator(ctx, start, end, instant ? 1 : step, step);
  const type = typeOf(expr);
  if (type === "string") {
    return { type: "string", t: start, v: stringArg(expr) };
  }
  if (type === "scalar") {
    const vals = await ev.evalScalar(expr);
    if (instant) return { type: "scalar", t: start, v: vals[0] };
    return { type: "matrix", series: [toSeries([], vals, null, ev)] };
  }
  if (type === "matrix") {
    // instant query of a range selector or subquery
    const series = await ev.evalRangeVector(expr);
    if (
      expr.kind === "ParenExpr" && ctx.invariant.has(expr) && series.some((s) => s.ts.length !== 1)
    ) {
      // 2.42 repeats a parenthesised step-invariant result like an instant vector and panics
      throw new PromQLError("execution", "unexpected number of samples");
    }
    return { type: "matrix", series };
  }
  if (instant) {
    const top = unwrapParens(expr);
    if (top.kind === "VectorSelector") {
      return { type: "vector", samples: await ev.instantSelectorSamples(top) };
    }
  }
  const m = await ev.evalVector(expr);
  if (instant) {
    const samples: Sample[] = [];
    for (const s of m) {
      if (s.has[0] !== 0) samples.push({ labels: s.labels, t: start, v: s.vals[0] });
    }
    return { type: "vector", samples };
  }
  const series: Series[] = [];
  for (const s of m) {
    const r = toSeries(s.labels, s.vals, s.has, ev);
    if (r.ts.length > 0) series.push(r);
  }
  const sortStart = performance.now();
  series.sort((a, b) => compareLabels(a.labels, b.labels));
  ctx.sortMs = performance.now() - sortStart;
  const out: Matrix = { type: "matrix", series };
  return out;
}

/**
 * A step series as a result series. One with a value at every step keeps its values array and
 * shares the evaluator's step times (read-only from here on): a dense range result costs no new
 * arrays (issue 19: they were a third of a large range query's ArrayBuffer bytes).
 */
function toSeries(
  labels: Labels,
  vals: Float64Array,
  has: Uint8Array | null,
  ev: Evaluator,
): Series {
  let c = 0;
  for (let i = 0; i < ev.n; i++) if (has === null || has[i] !== 0) c++;
  if (c === ev.n && vals.length === c) return { labels, ts: ev.stepTimes(), vs: vals };
  const ts = new Float64Array(c);
  const vs = new Float64Array(c);
  let j = 0;
  for (let i = 0; i < ev.n; i++) {
    if (has !== null && has[i] === 0) continue;
    ts[j] = ev.start + i * ev.interval;
    vs[j] = vals[i];
    j++;
  }
  return { labels, ts, vs };
}

// ---------------------------------------------------------------------------------------------
// The evaluator of one step grid.

type Sink = (s: StepSeries) => void;

/** Per-window kernel of a range-vector function. */
type WindowFn = (
  ts: Float64Array,
  vs: Float64Array,
  from: number,
  to: number,
  step: number,
  stepTs: number,
  windowStart: number,
  windowEnd: number,
) => number | undefined;

/** Samples of one range-vector operand series: `(ts, vs)[0..len)`, time-ordered, no stale markers. */
interface RangeSource {
  /** Window end for step i (ms). */
  windowEnd(i: number): number;
  range: number;
  /** Streams the operand's series. */
  forEach(
    fn: (
      labels: Labels,
      ts: Float64Array,
      vs: Float64Array,
      len: number,
    ) => void | Promise<void>,
  ): Promise<void>;
}

class Evaluator {
  readonly n: number;

  constructor(
    readonly ctx: QueryContext,
    readonly start: number,
    readonly end: number,
    readonly interval: number,
    /** Step passed in select hints (0 for instant queries, as Prometheus). */
    readonly hintStep: number,
  ) {
    this.n = end >= start ? Math.floor((end - start) / interval) + 1 : 0;
  }

  stepTs(i: number): number {
    return this.start + i * this.interval;
  }

  private times: Float64Array | null = null;

  /** Copies a series' present steps into `ts` (step times) and `vs` (values), from index 0. */
  presentPoints(s: StepSeries, ts: Float64Array, vs: Float64Array): void {
    let j = 0;
    for (let i = 0; i < this.n; i++) {
      if (s.has[i] === 0) continue;
      ts[j] = this.stepTs(i);
      vs[j] = s.vals[i];
      j++;
    }
  }

  /** Every step's time (ms), made once per evaluator; callers must not write to it. */
  stepTimes(): Float64Array {
    if (this.times === null) {
      this.times = new Float64Array(this.n);
      for (let i = 0; i < this.n; i++) this.times[i] = this.stepTs(i);
    }
    return this.times;
  }

  private newSeries(labels: Labels): StepSeries {
    return { labels, vals: stepValues(this.n), has: stepFlags(this.n) };
  }

  private invariantEvaluator(): Evaluator {
    return new Evaluator(this.ctx, this.start, this.start, this.interval, this.hintStep);
  }

  /** Evaluates an instant-vector expression into series with unique labels. */
  async evalVector(e: Expr): Promise<StepSeries[]> {
    const base = this.ctx.cur;
    const out: StepSeries[] = [];
    await this.stream(e, (s) => out.push(s));
    let total = 0;
    for (const s of out) total += countPoints(s);
    this.ctx.cur = base;
    this.ctx.add(total);
    return out;
  }

  /** Evaluates a scalar expression: one value per step. */
  async evalScalar(e: Expr): Promise<Float64Array> {
    this.ctx.check();
    const n = this.n;
    if (e.kind === "NumberLiteral") {
      // Prometheus evaluates a literal through rangeEval: one result per step
      this.ctx.reach(this.ctx.cur + n);
      return new Float64Array(n).fill(e.val);
    }
    if (e.kind === "ParenExpr") return this.evalScalar(e.expr);
    if (n > 1 && this.ctx.invariant.has(e)) {
      const before = this.ctx.total;
      const v = await this.invariantEvaluator().evalScalar(e);
      this.ctx.total += (this.ctx.total - before) * (n - 1);
      return new Float64Array(n).fill(v[0]);
    }
    switch (e.kind) {
      case "UnaryExpr": {
        const v = await this.evalScalar(e.expr);
        if (e.op === "-") { for (let i = 0; i < n; i++) v[i] = -v[i]; }
        return v;
      }
      case "BinaryExpr": {
        const l = await this.evalScalar(e.lhs);
        const r = await this.evalScalar(e.rhs);
        for (let i = 0; i < n; i++) l[i] = scalarBinop(e.op, l[i], r[i]);
        return l;
      }
      case "Call": {
        const name = e.func.name;
        const out = new Float64Array(n);
        if (name === "time") {
          for (let i = 0; i < n; i++) out[i] = this.stepTs(i) / 1000;
          this.ctx.reach(this.ctx.cur + n);
        } else if (name === "pi") {
          out.fill(Math.PI);
          this.ctx.reach(this.ctx.cur + n);
        } else if (name === "scalar") {
          const base = this.ctx.cur;
          const m = await this.evalVector(e.args[0]);
          // Prometheus's rangeEval: the operand held, each step's inputs and one result more
          const held = this.ctx.cur;
          for (let i = 0; i < n; i++) {
            let c = 0;
            let v = NaN;
            for (const s of m) {
              if (s.has[i] !== 0) {
                c++;
                v = s.vals[i];
              }
            }
            out[i] = c === 1 ? v : NaN;
            this.ctx.reach(held + i + c + 1);
          }
          // scalar values are not counted as held (the binary operators account for them)
          this.ctx.cur = base;
        } else {
          throw new PromQLError("internal", `function ${name} does not return a scalar`);
        }
        return out;
      }
      default:
        throw new PromQLError("internal", `unexpected scalar expression ${e.kind}`);
    }
  }

  /** Streams the series of an instant-vector expression; labels are unique across calls. */
  async stream(e: Expr, sink: Sink): Promise<void> {
    this.ctx.check();
    if (e.kind === "ParenExpr") return this.stream(e.expr, sink);
    if (this.n > 1 && this.ctx.invariant.has(e)) {
      const before = this.ctx.total;
      const m = await this.invariantEvaluator().evalVector(e);
      // Prometheus counts a step-invariant operand's samples once per step
      this.ctx.total += (this.ctx.total - before) * (this.n - 1);
      for (const s of m) {
        if (s.has[0] === 0) continue;
        const out = this.newSeries(s.labels);
        out.vals.fill(s.vals[0]);
        out.has.fill(1);
        // the invariant evaluation counted the first step's sample already
        this.ctx.add(this.n - 1);
        sink(out);
      }
      return;
    }
    switch (e.kind) {
      case "VectorSelector":
        return this.streamSelector(e, sink);
      case "Call":
        return this.streamCall(e, sink);
      case "AggregateExpr": {
        const m = await this.aggregate(e);
        for (const s of m) sink(s);
        return;
      }
      case "BinaryExpr":
        return this.streamBinary(e, sink);
      case "UnaryExpr": {
        if (e.op === "+") return this.stream(e.expr, sink);
        const check = singleName(e.expr) ? null : new StepCollector("strict");
        await this.stream(e.expr, (s) => {
          for (let i = 0; i < s.vals.length; i++) s.vals[i] = -s.vals[i];
          const out = { labels: dropName(s.labels), vals: s.vals, has: s.has };
          if (check) check.add(out);
          else sink(out);
        });
        if (check) { for (const s of check.series) sink(s); }
        return;
      }
      default:
        throw new PromQLError("internal", `unexpected instant vector expression ${e.kind}`);
    }
  }

  // --- selectors ------------------------------------------------------------------------------

  /** `transient`: as in {@link selectorSteps}. */
  private async streamSelector(vs: VectorSelector, sink: Sink, transient = false): Promise<void> {
    const n = this.n;
    if (n === 0) return;
    const at = this.ctx.atOf(vs);
    const first = (at ?? this.start) - vs.offset;
    const last = (at ?? this.stepTs(n - 1)) - vs.offset;
    await this.selectorSteps(
      vs,
      first,
      last,
      (i) => (at ?? this.stepTs(i)) - vs.offset,
      false,
      sink,
      transient,
    );
  }

  /**
   * An instant query's result when it is a vector selector: each series' newest sample in
   * [ref − lookback, ref] unless it is a stale marker, as {@link streamSelector} selects it,
   * written straight into the answer's samples. Without the step arrays and series object that
   * an operand carries through an expression: one object per series instead of four (issue 19).
   */
  async instantSelectorSamples(vs: VectorSelector): Promise<Sample[]> {
    const t = this.start;
    const ref = (this.ctx.atOf(vs) ?? t) - vs.offset;
    const lookback = this.ctx.lookback;
    const samples: Sample[] = [];
    await this.ctx.forEachSeries(vs, ref - lookback, ref, this.hintStep, 0, (labels, b) => {
      // the buffer holds the samples in [ref − lookback, ref], sorted: the newest is the last
      const ts = b.ts;
      let j = b.len - 1;
      while (j >= 0 && ts[j] > ref) j--;
      if (j < 0 || ts[j] < ref - lookback || b.stale[j] !== 0) return;
      this.ctx.total++;
      this.ctx.add(1);
      samples.push({ labels, t, v: b.vs[j] });
    });
    return samples;
  }

  /**
   * Instant-vector selection at reference times ref(i) (non-decreasing): newest sample in
   * [ref − lookback, ref], none when it is a stale marker. With `sampleTime` the value is the
   * sample's own timestamp in seconds (timestamp()), and the name is dropped. With `transient`
   * every series is handed to `sink` in the same object and step arrays, overwritten by the next
   * one: for a sink that copies what it keeps (an aggregation).
   */
  private async selectorSteps(
    vs: VectorSelector,
    firstRef: number,
    lastRef: number,
    ref: (i: number) => number,
    sampleTime: boolean,
    sink: Sink,
    transient = false,
  ): Promise<void> {
    const n = this.n;
    const shared: StepSeries | null = transient
      ? { labels: [], vals: stepValues(n), has: stepFlags(n) }
      : null;
    const lookback = this.ctx.lookback;
    const refs = new Float64Array(n);
    for (let i = 0; i < n; i++) refs[i] = ref(i);
    // timestamp(): Prometheus selects per step inside rangeEval, next to that step's results
    const perStep = sampleTime ? new Uint32Array(n) : null;
    const base = this.ctx.cur;
    await this.ctx.forEachSeries(
      vs,
      firstRef - lookback,
      lastRef,
      this.hintStep,
      0,
      (labels, b) => {
        const vals = shared !== null ? shared.vals : stepValues(n);
        const has = shared !== null ? shared.has : stepFlags(n);
        if (shared !== null) has.fill(0);
        const ts = b.ts;
        const len = b.len;
        let j = -1;
        let count = 0;
        for (let i = 0; i < n; i++) {
          const r = refs[i];
          while (j + 1 < len && ts[j + 1] <= r) j++;
          if (j < 0 || ts[j] < r - lookback || b.stale[j] !== 0) continue;
          vals[i] = sampleTime ? ts[j] / 1000 : b.vs[j];
          has[i] = 1;
          count++;
          if (perStep !== null) perStep[i]++;
        }
        if (count === 0) return;
        this.ctx.total += count;
        this.ctx.add(count);
        const out = sampleTime ? dropName(labels) : labels;
        if (shared === null) sink({ labels: out, vals, has });
        else {
          shared.labels = out;
          sink(shared);
        }
      },
    );
    if (perStep !== null) {
      let before = 0;
      for (let i = 0; i < n; i++) {
        this.ctx.reach(base + before + 2 * perStep[i]);
        before += perStep[i];
      }
    }
  }

  /** Window end (ms) of a range operand with offset/`@` at step i (Prometheus' offset arithmetic). */
  private windowEndFn(offset: number, at: number | null): (i: number) => number {
    if (at === null) return (i) => this.stepTs(i) - offset;
    // Prometheus rewrites `@ T` into an offset relative to the evaluator's start, so a range
    // operand evaluated per step (inside predict_linear) slides along with the steps
    return (i) => at - offset + (this.stepTs(i) - this.start);
  }

  /**
   * `innerTotal`: whether a subquery's inner selectors count in `totalQueryableSamples`. They do
   * for an instant query's subquery result; under a range function Prometheus counts only the
   * subquery's points in each window (evalSubquery counts the inner samples in a child it drops).
   */
  private rangeSource(arg: MatrixSelector | SubqueryExpr, innerTotal = false): RangeSource {
    if (arg.kind === "MatrixSelector") {
      const vs = arg.vectorSelector;
      const windowEnd = this.windowEndFn(vs.offset, this.ctx.atOf(vs));
      const range = arg.range;
      return {
        windowEnd,
        range,
        forEach: async (fn) => {
          if (this.n === 0) return;
          const mint = windowEnd(0) - range;
          const maxt = windowEnd(this.n - 1);
          await this.ctx.forEachSeries(vs, mint, maxt, this.hintStep, range, (labels, b) => {
            b.compact();
            if (b.clen === 0) return;
            return fn(labels, b.cts, b.cvs, b.clen);
          });
        },
      };
    }
    const sq = arg;
    const windowEnd = this.windowEndFn(sq.offset, this.ctx.atOf(sq));
    const range = sq.range;
    return {
      windowEnd,
      range,
      forEach: async (fn) => {
        if (this.n === 0) return;
        // Prometheus ends a subquery's grid at the evaluator's end, not at its last step: when a
        // range query's end is off its step grid the subquery has points past the last window
        // (never read by a window, but held: peakSamples counts them)
        const lastEnd = windowEnd(this.n - 1) + (this.end - this.stepTs(this.n - 1));
        if (!innerTotal && this.streamsSeriesAlone(sq.expr)) {
          return this.streamSubquery(sq, windowEnd(0), lastEnd, fn);
        }
        const before = this.ctx.total;
        const { inner, series } = await this.evalSubquery(sq, windowEnd(0), lastEnd);
        if (!innerTotal) this.ctx.total = before;
        // one pair of point arrays for every series: `fn` reads them only until it returns, as
        // a range selector's decode buffers (issue 19: no two arrays per series)
        const ts = new Float64Array(inner.n);
        const vs = new Float64Array(inner.n);
        // each series' step arrays, once copied, are given back for the function's results
        // (issue 19: a large subquery's peak held both), unless two series share them
        const recycle = inner.n >= 8 && ownArrays(series);
        let held = 0;
        for (const s of series) {
          await this.ctx.pause();
          const c = countPoints(s);
          if (c === 0) continue;
          held += c;
          inner.presentPoints(s, ts, vs);
          if (recycle) recycleStepArrays(s.vals, s.has);
          await fn(s.labels, ts, vs, c);
        }
        // the subquery's result is let go once the function has read it (Prometheus)
        if (!innerTotal) this.ctx.cur -= held;
      },
    };
  }

  /**
   * Whether `e` streams series that are its own (new step arrays each, never read or written by
   * it after they are handed on), each complete when handed on: a range function over a range
   * selector, not step-invariant.
   */
  private streamsSeriesAlone(e: Expr): boolean {
    const u = unwrapParens(e);
    return u.kind === "Call" && !this.ctx.invariant.has(u) && !this.ctx.invariant.has(e) &&
      u.args.some((a) => unwrapParens(a).kind === "MatrixSelector");
  }

  /**
   * A range function's subquery operand read series by series as its inner expression streams
   * them ({@link streamsSeriesAlone}), instead of the whole inner result first: a large
   * subquery never holds every inner series at once (issue 19). The sample counts stay those
   * of Prometheus, which evaluates the whole inner expression first: the function's counts are
   * kept apart, relative to the inner result held, and added once its size is known.
   */
  private async streamSubquery(
    sq: SubqueryExpr,
    firstEnd: number,
    lastEnd: number,
    fn: Parameters<RangeSource["forEach"]>[0],
  ): Promise<void> {
    const inner = this.subqueryEvaluator(sq, firstEnd, lastEnd);
    if (inner.n === 0) return;
    const ctx = this.ctx;
    const base = ctx.cur;
    const totalBefore = ctx.total;
    const ts = new Float64Array(inner.n);
    const vs = new Float64Array(inner.n);
    /** The function's counters: samples held beyond the inner result, most held, total. */
    let fCur = 0;
    let fPeak = 0;
    let fTotal = 0;
    let held = 0;
    const recycle = inner.n >= 8;
    await inner.stream(sq.expr, (s) => {
      const c = countPoints(s);
      if (c === 0) return;
      held += c;
      inner.presentPoints(s, ts, vs);
      if (recycle) recycleStepArrays(s.vals, s.has);
      // the function's counters in place of the inner expression's (plain assignments: no array
      // per series)
      const iCur = ctx.cur;
      const iPeak = ctx.peak;
      const iTotal = ctx.total;
      ctx.cur = fCur;
      ctx.peak = fPeak;
      ctx.total = fTotal;
      // the function runs to the end of the series here (no turn: the inner expression's
      // evaluation, not this series, is what the loop waits for)
      ctx.noTurns = true;
      try {
        const r = fn(s.labels, ts, vs, c);
        if (r !== undefined) throw new PromQLError("internal", "subquery function paused");
      } finally {
        ctx.noTurns = false;
        fCur = ctx.cur;
        fPeak = ctx.peak;
        fTotal = ctx.total;
        ctx.cur = iCur;
        ctx.peak = iPeak;
        ctx.total = iTotal;
      }
    });
    // as after Prometheus's inner evaluation: its result held, its selected samples not counted
    ctx.cur = base;
    ctx.add(held);
    ctx.total = totalBefore + fTotal;
    // then the function's counts on top of the inner result
    ctx.reach(base + held + fPeak);
    // the subquery's result is let go once the function has read it (Prometheus)
    ctx.cur = base + fCur;
  }

  /**
   * The evaluator of a subquery's inner expression on its own grid: multiples of its step from
   * the first one ≥ firstEnd − range (2.x includes the boundary) to lastEnd.
   */
  private subqueryEvaluator(sq: SubqueryExpr, firstEnd: number, lastEnd: number): Evaluator {
    const step = sq.step > 0 ? sq.step : this.ctx.defaultStep;
    const from = firstEnd - sq.range;
    let start = step * Math.trunc(from / step);
    if (start < from) start += step;
    return new Evaluator(this.ctx, start, lastEnd, step, step);
  }

  /** Evaluates a subquery's inner expression on its own grid ({@link subqueryEvaluator}). */
  private async evalSubquery(
    sq: SubqueryExpr,
    firstEnd: number,
    lastEnd: number,
  ): Promise<{ inner: Evaluator; series: StepSeries[] }> {
    const inner = this.subqueryEvaluator(sq, firstEnd, lastEnd);
    if (inner.n === 0) return { inner, series: [] };
    const series = await inner.evalVector(sq.expr);
    return { inner, series };
  }

  /** An instant query's range-vector result (range selector or subquery): raw points. */
  async evalRangeVector(e: Expr): Promise<Series[]> {
    const u = unwrapParens(e);
    if (u.kind !== "MatrixSelector" && u.kind !== "SubqueryExpr") {
      throw new PromQLError("internal", `unexpected range vector expression ${u.kind}`);
    }
    const src = this.rangeSource(u, true);
    const maxt = src.windowEnd(0);
    const mint = maxt - src.range;
    const out: Series[] = [];
    await src.forEach((labels, ts, vs, len) => {
      let lo = 0;
      while (lo < len && ts[lo] < mint) lo++;
      let hi = lo;
      while (hi < len && ts[hi] <= maxt) hi++;
      if (hi === lo) return;
      // a subquery's points were counted in memory when its inner expression was evaluated
      if (u.kind === "MatrixSelector") {
        this.ctx.total += hi - lo;
        this.ctx.add(hi - lo);
      }
      out.push({ labels, ts: ts.slice(lo, hi), vs: vs.slice(lo, hi) });
    });
    if (u.kind === "SubqueryExpr") out.sort((a, b) => compareLabels(a.labels, b.labels));
    return out;
  }

  // --- functions ------------------------------------------------------------------------------

  private async streamCall(e: Call, sink: Sink): Promise<void> {
    const name = e.func.name;
    const n = this.n;

    if (name === "timestamp") {
      const a = unwrapParens(e.args[0]);
      if (a.kind === "VectorSelector") {
        const at = this.ctx.atOf(a);
        // Prometheus sets the offset to (step − @) here, so `@` ignores `offset`
        const ref = (i: number) => at ?? (this.stepTs(i) - a.offset);
        const check = singleName(a) ? null : new StepCollector("merge");
        await this.selectorSteps(
          a,
          ref(0),
          ref(n - 1),
          ref,
          true,
          check ? (s) => check.add(s) : sink,
        );
        if (check) { for (const s of check.series) sink(s); }
        return;
      }
    }

    // range-vector functions
    const mi = e.args.findIndex((a) => {
      const u = unwrapParens(a);
      return u.kind === "MatrixSelector" || u.kind === "SubqueryExpr";
    });
    if (mi >= 0) return this.streamRangeFunction(e, mi, sink);

    switch (name) {
      case "absent": {
        const base = this.ctx.cur;
        const m = await this.evalVector(e.args[0]);
        const out = this.newSeries(absentLabels(e.args[0]));
        let any = false;
        for (let i = 0; i < n; i++) {
          if (m.some((s) => s.has[i] !== 0)) continue;
          out.vals[i] = 1;
          out.has[i] = 1;
          any = true;
        }
        this.rangeEvalPeak(base, this.ctx.cur, this.stepCounts(m), this.stepCounts([out]));
        if (any) sink(out);
        return;
      }
      case "vector": {
        const base = this.ctx.cur;
        const v = await this.evalScalar(e.args[0]);
        const out = this.newSeries([]);
        out.vals.set(v);
        out.has.fill(1);
        const ones = this.stepCounts([out]);
        this.rangeEvalPeak(base, base + n, ones, ones);
        sink(out);
        return;
      }
      case "sort_by_label":
      case "sort_by_label_desc": {
        // like sort(), an ordering of instant results only
        const base = this.ctx.cur;
        const m = await this.evalVector(e.args[0]);
        const counts = this.stepCounts(m);
        this.rangeEvalPeak(base, this.ctx.cur, counts, counts);
        const names = e.args.slice(1).map(stringArg);
        const sorted = n === 1 ? sortByLabels(m, names, name === "sort_by_label_desc") : m;
        for (const s of sorted) sink(s);
        return;
      }
      case "sort":
      case "sort_desc": {
        const base = this.ctx.cur;
        const m = await this.evalVector(e.args[0]);
        const counts = this.stepCounts(m);
        this.rangeEvalPeak(base, this.ctx.cur, counts, counts);
        if (n !== 1) {
          for (const s of m) sink(s);
          return;
        }
        const vec: (VectorSample & { s: StepSeries })[] = m.map((s) => ({
          labels: s.labels,
          value: s.vals[0],
          s,
        }));
        for (const x of sortByValue(vec, name === "sort_desc")) {
          sink((x as VectorSample & { s: StepSeries }).s);
        }
        return;
      }
      case "histogram_quantile": {
        const base = this.ctx.cur;
        const q = await this.evalScalar(e.args[0]);
        this.ctx.cur = base + n;
        const m = await this.evalVector(e.args[1]);
        const held = this.ctx.cur;
        const out = new PerStepCollector(n);
        for (let i = 0; i < n; i++) {
          if ((i & 255) === 255) this.ctx.check();
          const samples: VectorSample[] = [];
          for (const s of m) {
            if (s.has[i] !== 0) samples.push({ labels: s.labels, value: s.vals[i] });
          }
          for (const r of histogramQuantileVector(q[i], samples)) out.add(r.labels, i, r.value);
        }
        const inputs = this.stepCounts(m);
        for (let i = 0; i < n; i++) inputs[i]++;
        this.rangeEvalPeak(base, held, inputs, this.stepCounts(out.series));
        for (const s of out.series) sink(s);
        return;
      }
      case "histogram_count":
      case "histogram_sum":
      case "histogram_fraction": {
        // only native histograms produce output; float series are skipped (2.42)
        for (let k = 0; k < e.args.length - 1; k++) await this.evalScalar(e.args[k]);
        await this.evalVector(e.args[e.args.length - 1]);
        return;
      }
      case "label_replace":
        return this.labelReplace(e, sink);
      case "label_join":
        return this.labelJoin(e, sink);
    }

    if (DATE_FUNCTIONS.has(name) && e.args.length === 0) {
      const f = SIMPLE_FUNCTIONS[name];
      const out = this.newSeries([]);
      for (let i = 0; i < n; i++) {
        out.vals[i] = f(Math.trunc(this.stepTs(i) / 1000));
        out.has[i] = 1;
      }
      this.rangeEvalPeak(this.ctx.cur, this.ctx.cur, new Uint32Array(n), this.stepCounts([out]));
      sink(out);
      return;
    }

    // element-wise functions that drop the metric name
    const base = this.ctx.cur;
    const scalars: Float64Array[] = [];
    for (let k = 1; k < e.args.length; k++) scalars.push(await this.evalScalar(e.args[k]));
    let f: (v: number, i: number, stepTs: number) => number | undefined;
    const simple = SIMPLE_FUNCTIONS[name];
    if (simple !== undefined) f = (v) => simple(v);
    else if (name === "clamp") {
      f = (v, i) =>
        scalars[1][i] < scalars[0][i] ? undefined : clamp(v, scalars[0][i], scalars[1][i]);
    } else if (name === "clamp_min") f = (v, i) => clampMin(v, scalars[0][i]);
    else if (name === "clamp_max") f = (v, i) => clampMax(v, scalars[0][i]);
    else if (name === "round") f = (v, i) => round(v, scalars.length > 0 ? scalars[0][i] : 1);
    else if (name === "timestamp") f = (_v, _i, t) => t / 1000;
    else throw new PromQLError("internal", `function ${name} is not implemented`);

    const check = singleName(e.args[0]) ? null : new StepCollector("merge");
    // the scalar arguments: one input sample per step each (rangeEval)
    const inputs = new Uint32Array(n).fill(scalars.length);
    const results = new Uint32Array(n);
    await this.stream(e.args[0], (s) => {
      for (let i = 0; i < n; i++) inputs[i] += s.has[i];
      const out = { labels: dropName(s.labels), vals: s.vals, has: s.has };
      let any = false;
      for (let i = 0; i < n; i++) {
        if (s.has[i] === 0) continue;
        const r = f(s.vals[i], i, this.stepTs(i));
        if (r === undefined) {
          s.has[i] = 0;
          continue;
        }
        s.vals[i] = r;
        any = true;
      }
      if (!any) return;
      for (let i = 0; i < n; i++) results[i] += s.has[i];
      if (check) check.add(out);
      else sink(out);
    });
    this.rangeEvalPeak(base, this.ctx.cur + scalars.length * n, inputs, results);
    if (check) { for (const s of check.series) sink(s); }
  }

  private async streamRangeFunction(e: Call, mi: number, sink: Sink): Promise<void> {
    const name = e.func.name;
    const n = this.n;
    const scalars: Float64Array[] = [];
    for (let k = 0; k < e.args.length; k++) {
      scalars.push(k === mi ? new Float64Array(0) : await this.evalScalar(e.args[k]));
    }
    const arg = unwrapParens(e.args[mi]) as MatrixSelector | SubqueryExpr;
    if (X_RATE_KINDS[name] !== undefined) return this.streamXFunction(e, arg, sink);
    const src = this.rangeSource(arg);
    const range = src.range;

    let fn: WindowFn;
    switch (name) {
      case "rate":
        fn = (ts, vs, a, b, _i, _t, ws, we) => rate(ts, vs, a, b, ws, we);
        break;
      case "increase":
        fn = (ts, vs, a, b, _i, _t, ws, we) => increase(ts, vs, a, b, ws, we);
        break;
      case "delta":
        fn = (ts, vs, a, b, _i, _t, ws, we) => delta(ts, vs, a, b, ws, we);
        break;
      case "quantile_over_time":
        fn = (ts, vs, a, b, i) => quantileOverTime(scalars[0][i], ts, vs, a, b);
        break;
      case "predict_linear":
        fn = (ts, vs, a, b, i, t) => predictLinear(ts, vs, a, b, t, scalars[1][i]);
        break;
      case "holt_winters":
      case "double_exponential_smoothing":
        fn = (ts, vs, a, b, i) => holtWinters(ts, vs, a, b, scalars[1][i], scalars[2][i]);
        break;
      case "absent_over_time":
        fn = () => 1;
        break;
      default: {
        const k = RANGE_FUNCTIONS[name] ?? EXPERIMENTAL_RANGE_FUNCTIONS[name];
        if (k === undefined) {
          throw new PromQLError("internal", `function ${name} is not implemented`);
        }
        fn = (ts, vs, a, b) => k(ts, vs, a, b);
      }
    }

    const ends = new Float64Array(n);
    for (let i = 0; i < n; i++) ends[i] = src.windowEnd(i);
    const keepName = name === "last_over_time" || name === "first_over_time";
    const absent = name === "absent_over_time";
    const covered = absent ? new Uint8Array(n) : null;
    const check = keepName || singleName(arg) || absent ? null : new StepCollector("strict");

    // One series' windows, steps i0…n−1; series are visited one at a time, so the state of the
    // series being visited is kept here. Synchronous unless the loop is due a turn: an async
    // function per series would cost a promise and a microtask each (issue 19).
    let sLabels: Labels = [];
    let sTs: Float64Array = ends;
    let sVs: Float64Array = ends;
    let sLen = 0;
    let vals: Float64Array | null = null;
    let has: Uint8Array | null = null;
    let count = 0;
    let from = 0;
    let to = 0;
    const windows = (i0: number): Promise<void> | undefined => {
      const ts = sTs;
      const vs = sVs;
      const len = sLen;
      for (let i = i0; i < n; i++) {
        // one series over many steps of wide windows can take long: give the loop its turns
        if ((i & 63) === 63 && i !== i0) {
          const turn = this.ctx.pause();
          if (turn !== undefined) return turn.then(() => windows(i));
        }
        const we = ends[i];
        const ws = we - range;
        while (to < len && ts[to] <= we) to++;
        while (from < to && ts[from] < ws) from++;
        if (to === from) continue;
        this.ctx.total += to - from;
        this.ctx.reach(this.ctx.cur + (to - from));
        if (covered) {
          covered[i] = 1;
          continue;
        }
        const r = fn(ts, vs, from, to, i, this.stepTs(i), ws, we);
        if (r === undefined) continue;
        if (vals === null) {
          vals = stepValues(n);
          has = stepFlags(n);
        }
        vals[i] = r;
        has![i] = 1;
        count++;
      }
      // Prometheus adds a series' results while it still holds the last step's window
      this.ctx.add(count);
      this.ctx.reach(this.ctx.cur + (to - from));
      if (count === 0) return;
      const out = { labels: keepName ? sLabels : dropName(sLabels), vals: vals!, has: has! };
      if (check) check.add(out);
      else sink(out);
    };
    await src.forEach((labels, ts, vs, len) => {
      sLabels = labels;
      sTs = ts;
      sVs = vs;
      sLen = len;
      vals = null;
      has = null;
      count = 0;
      from = 0;
      to = 0;
      return windows(0);
    });
    if (check) { for (const s of check.series) sink(s); }
    if (covered) {
      const out = this.newSeries(absentLabels(arg));
      let any = false;
      for (let i = 0; i < n; i++) {
        if (covered[i] !== 0) continue;
        out.vals[i] = 1;
        out.has[i] = 1;
        any = true;
      }
      if (any) sink(out);
    }
  }

  /**
   * xrate, xincrease, xdelta over a range selector (Thanos promql-engine's semantics): per step,
   * the samples in (end − range, end] and the newest one at or before the window's start if it
   * is less than {@link X_FUNCTIONS_LOOKBACK_MS} older, fed to {@link extendedRate}.
   * promql-engine does not implement them over subqueries (nor does Prometheus's engine know
   * them), so such a query is refused.
   */
  private async streamXFunction(
    e: Call,
    arg: MatrixSelector | SubqueryExpr,
    sink: Sink,
  ): Promise<void> {
    const name = e.func.name;
    if (arg.kind !== "MatrixSelector") {
      throw new PromQLError(
        "bad_data",
        `${name}() over a subquery is not supported (Thanos's engine does not implement it)`,
      );
    }
    const [isCounter, isRate] = X_RATE_KINDS[name];
    const n = this.n;
    const vs = arg.vectorSelector;
    const windowEnd = this.windowEndFn(vs.offset, this.ctx.atOf(vs));
    const range = arg.range;
    const ends = new Float64Array(n);
    for (let i = 0; i < n; i++) ends[i] = windowEnd(i);
    const check = singleName(arg) ? null : new StepCollector("strict");
    if (n === 0) return;
    const mint = ends[0] - range - X_FUNCTIONS_LOOKBACK_MS;
    await this.ctx.forEachSeries(vs, mint, ends[n - 1], this.hintStep, range, (labels, b) => {
      b.compact();
      const len = b.clen;
      if (len === 0) return;
      const ts = b.cts;
      const values = b.cvs;
      const appeared = ts[0];
      let vals: Float64Array | null = null;
      let has: Uint8Array | null = null;
      let count = 0;
      let from = 0;
      let to = 0;
      for (let i = 0; i < n; i++) {
        const we = ends[i];
        const ws = we - range;
        // the first sample after the previous step's window
        const prevTo = to;
        while (to < len && ts[to] <= we) to++;
        while (from < to && ts[from] <= ws) from++;
        // the sample before the window: the newest at or before its start, kept from the
        // previous step's samples when less than the lookback older, or read since then (when
        // the windows do not overlap, promql-engine's scanner holds the first sample after the
        // previous window aside and never reads it into this one)
        let c = from - 1;
        let before = false;
        if (c >= 0) {
          if (i > 0 && ends[i - 1] < ws) {
            if (c === prevTo) c--;
            before = c >= 0 && (c > prevTo || ts[c] > ws - X_FUNCTIONS_LOOKBACK_MS);
          } else before = ts[c] > ws - X_FUNCTIONS_LOOKBACK_MS;
        }
        let xs = ts;
        let ys = values;
        let a = from;
        let b = to;
        if (before && c === from - 1) a = c;
        else if (before) {
          // not adjacent to the window's samples: copied together
          xs = new Float64Array(to - from + 1);
          ys = new Float64Array(to - from + 1);
          xs[0] = ts[c];
          ys[0] = values[c];
          xs.set(ts.subarray(from, to), 1);
          ys.set(values.subarray(from, to), 1);
          a = 0;
          b = xs.length;
        }
        if (b === a) continue;
        this.ctx.total += b - a;
        this.ctx.reach(this.ctx.cur + (b - a));
        const r = extendedRate(xs, ys, a, b, isCounter, isRate, we, range, appeared);
        if (r === undefined) continue;
        if (vals === null) {
          vals = stepValues(n);
          has = stepFlags(n);
        }
        vals[i] = r;
        has![i] = 1;
        count++;
      }
      if (count === 0) return;
      this.ctx.add(count);
      const out = { labels: dropName(labels), vals: vals!, has: has! };
      if (check) check.add(out);
      else sink(out);
    });
    if (check) { for (const s of check.series) sink(s); }
  }

  private async labelReplace(e: Call, sink: Sink): Promise<void> {
    const dst = stringArg(e.args[1]);
    const repl = stringArg(e.args[2]);
    const src = stringArg(e.args[3]);
    const regexStr = stringArg(e.args[4]);
    let re: Re2Regex;
    try {
      re = Re2Regex.compile(regexStr);
    } catch (err) {
      // a RangeError is the translator's recursion overflowing on deeply nested groups, which
      // Go's regexp refuses too (more than 1000 levels)
      if (err instanceof InvalidRegexError || err instanceof RangeError) {
        throw new PromQLError(
          "execution",
          `invalid regular expression in label_replace(): ${regexStr}`,
        );
      }
      throw err;
    }
    if (!LABEL_NAME_RE.test(dst)) {
      throw new PromQLError(
        "execution",
        `invalid destination label name in label_replace(): ${dst}`,
      );
    }
    const out = new DestinationLabelCollector(dst);
    const base = this.ctx.cur;
    await this.stream(e.args[0], (s) => {
      const m = re.exec(getLabel(s.labels, src));
      let labels = s.labels;
      if (m !== null) labels = setLabel(s.labels, dst, expandTemplate(repl, m, re.groupNames));
      out.add(s, labels);
    });
    const series = out.finish();
    const counts = this.stepCounts(series);
    this.rangeEvalPeak(base, this.ctx.cur, counts, counts);
    for (const s of series) sink(s);
  }

  private async labelJoin(e: Call, sink: Sink): Promise<void> {
    const dst = stringArg(e.args[1]);
    const sep = stringArg(e.args[2]);
    const srcs: string[] = [];
    for (let k = 3; k < e.args.length; k++) {
      const s = stringArg(e.args[k]);
      if (!LABEL_NAME_RE.test(s)) {
        throw new PromQLError("execution", `invalid source label name in label_join(): ${s}`);
      }
      srcs.push(s);
    }
    if (!LABEL_NAME_RE.test(dst)) {
      throw new PromQLError("execution", `invalid destination label name in label_join(): ${dst}`);
    }
    const out = new DestinationLabelCollector(dst);
    const base = this.ctx.cur;
    await this.stream(e.args[0], (s) => {
      const v = srcs.map((n) => getLabel(s.labels, n)).join(sep);
      out.add(s, setLabel(s.labels, dst, v));
    });
    const series = out.finish();
    const counts = this.stepCounts(series);
    this.rangeEvalPeak(base, this.ctx.cur, counts, counts);
    for (const s of series) sink(s);
  }

  // --- aggregation ----------------------------------------------------------------------------

  /**
   * Prometheus's rangeEval peak for an aggregation (its `--query.max-samples` check): the whole
   * operand (already counted in `ctx.cur`) stays in memory while, step by step, that step's
   * input samples are gathered next to the results of the steps before and this step's own.
   * A numeric parameter (topk's k, quantile's φ) is one more operand: one sample per step.
   * https://github.com/prometheus/prometheus/blob/v2.42.0/promql/engine.go (`rangeEval`)
   */
  private checkAggregationPeak(
    inputs: Uint32Array,
    out: readonly StepSeries[],
    numericParam = false,
  ): void {
    const n = inputs.length;
    const param = numericParam ? 1 : 0;
    const results = new Uint32Array(n);
    for (const s of out) for (let i = 0; i < n; i++) results[i] += s.has[i];
    const held = this.ctx.cur + param * n;
    let before = 0;
    for (let i = 0; i < n; i++) {
      this.ctx.reach(held + before + param + inputs[i] + results[i]);
      before += results[i];
    }
  }

  private async aggregate(e: AggregateExpr): Promise<StepSeries[]> {
    const n = this.n;
    const op = e.op;
    if (
      op === "topk" || op === "bottomk" || op === "quantile" || op === "count_values" ||
      op === "limitk" || op === "limit_ratio"
    ) {
      let params: Float64Array | null = null;
      let label = "";
      if (op === "count_values") label = stringArg(e.param!);
      else params = await this.evalScalar(e.param!);
      const m = await this.evalVector(e.expr);
      const inputs = new Uint32Array(n);
      for (const s of m) for (let i = 0; i < n; i++) inputs[i] += s.has[i];
      const out = new PerStepCollector(n);
      const samples: VectorSample[] = [];
      for (let i = 0; i < n; i++) {
        if ((i & 255) === 255) this.ctx.check();
        samples.length = 0;
        for (const s of m) if (s.has[i] !== 0) samples.push({ labels: s.labels, value: s.vals[i] });
        const r = aggregate(op, samples, {
          grouping: e.grouping,
          without: e.without,
          param: params !== null ? params[i] : label,
        });
        for (const x of r) out.add(x.labels, i, x.value);
      }
      this.checkAggregationPeak(inputs, out.series, op !== "count_values");
      return out.series;
    }
    const agg = new ColumnAggregator(op, e.grouping, e.without, n);
    // Prometheus evaluates the whole operand before aggregating, so its samples all count
    // against --query.max-samples at once (a range `sum(x)` over N series holds N × steps)
    // even though they are folded in as they stream here; released once aggregated.
    const base = this.ctx.cur;
    const inputs = new Uint32Array(n);
    const operand = unwrapParens(e.expr);
    // a range function's series are its own and read by nothing after this: given back once
    // folded in, the next series reuses their memory (issue 19: no dead arrays per series);
    // not under 8 steps, where arrays are too small to be worth it
    const recycle = n >= 8 && operand.kind === "Call" && operand.args.some((a) => {
      const u = unwrapParens(a);
      return u.kind === "MatrixSelector" || u.kind === "SubqueryExpr";
    });
    const fold = (s: StepSeries) => {
      agg.add(s);
      for (let i = 0; i < n; i++) inputs[i] += s.has[i];
      if (recycle) recycleStepArrays(s.vals, s.has);
    };
    // the aggregator copies what it adds: an instant selector's series can share one set of
    // step arrays (no step-invariant case at one step)
    if (n === 1 && operand.kind === "VectorSelector") {
      await this.streamSelector(operand, fold, true);
    } else await this.stream(e.expr, fold);
    const res = agg.finish();
    this.checkAggregationPeak(inputs, res);
    this.ctx.cur = base;
    for (const s of res) this.ctx.add(countPoints(s));
    return res;
  }

  /**
   * The select that streaming `e` makes, with the arguments it will pass, when it is its only
   * one and nothing before it can select: a selector, under parentheses, aggregations with a
   * literal parameter and range functions (except the x-functions, which read further back) of
   * a range selector. Else null. Mirrors {@link stream}, {@link streamSelector} and
   * {@link rangeSource}.
   */
  private onlySelect(e: Expr): PlannedSelect | null {
    const n = this.n;
    if (n === 0) return null;
    for (;;) {
      if (e.kind === "ParenExpr") {
        e = e.expr;
        continue;
      }
      if (n > 1 && this.ctx.invariant.has(e)) return null;
      switch (e.kind) {
        case "VectorSelector": {
          const at = this.ctx.atOf(e);
          return {
            vs: e,
            mint: (at ?? this.start) - e.offset - this.ctx.lookback,
            maxt: (at ?? this.stepTs(n - 1)) - e.offset,
            step: this.hintStep,
            range: 0,
          };
        }
        case "AggregateExpr":
          if (e.param && !isLiteral(e.param)) return null;
          e = e.expr;
          continue;
        case "Call": {
          if (X_RATE_KINDS[e.func.name] !== undefined) return null;
          let arg: MatrixSelector | null = null;
          for (const a of e.args) {
            const u = unwrapParens(a);
            if (u.kind === "MatrixSelector" && arg === null) arg = u;
            else if (!isLiteral(u)) return null;
          }
          if (arg === null) return null;
          const vs = arg.vectorSelector;
          const windowEnd = this.windowEndFn(vs.offset, this.ctx.atOf(vs));
          return {
            vs,
            mint: windowEnd(0) - arg.range,
            maxt: windowEnd(n - 1),
            step: this.hintStep,
            range: arg.range,
          };
        }
        default:
          return null;
      }
    }
  }

  // --- binary operators -----------------------------------------------------------------------

  private async streamBinary(e: BinaryExpr, sink: Sink): Promise<void> {
    const lt = typeOf(e.lhs);
    const rt = typeOf(e.rhs);
    const n = this.n;
    const base = this.ctx.cur;
    const inputs = new Uint32Array(n);
    const results = new Uint32Array(n);
    if (lt === "vector" && rt === "vector") {
      // both operands' store calls at once, in the order they are read
      const ls = this.onlySelect(e.lhs);
      const rs = ls === null ? null : this.onlySelect(e.rhs);
      if (rs !== null) {
        this.ctx.startSelect(ls!);
        this.ctx.startSelect(rs);
      }
      const l = await this.evalVector(e.lhs);
      const r = await this.evalVector(e.rhs);
      const matching = e.vectorMatching!;
      // counted before the operator, which may give the operands' arrays back
      for (const m of [l, r]) for (const s of m) for (let i = 0; i < n; i++) inputs[i] += s.has[i];
      let out: StepSeries[];
      if (e.op === "and") out = vectorAnd(l, r, matching, n);
      else if (e.op === "or") out = vectorOr(l, r, matching, n);
      else if (e.op === "unless") out = vectorUnless(l, r, matching, n);
      else {
        // arrays under 64 bytes (a few steps) are not worth giving back nor the check
        const giveBack = n >= 8 && ownArrays([...l, ...r]);
        out = vectorBinop(e.op, l, r, matching, e.returnBool, n, giveBack);
      }
      for (const s of out) for (let i = 0; i < n; i++) results[i] += s.has[i];
      this.rangeEvalPeak(base, this.ctx.cur, inputs, results);
      for (const s of out) sink(s);
      return;
    }
    const swap = lt === "scalar";
    // the scalar side first, so the vector side can stream straight through
    const scalar = await this.evalScalar(swap ? e.lhs : e.rhs);
    // Prometheus holds a scalar operand as one sample per step; a left one while the right side
    // is evaluated (a right one is evaluated after the vector side there)
    this.ctx.cur = base + (swap ? n : 0);
    const vecSide = swap ? e.rhs : e.lhs;
    const dropping = dropsMetricName(e.op) || e.returnBool;
    const check = dropping && !singleName(vecSide) ? new StepCollector("merge") : null;
    await this.stream(vecSide, (s) => {
      for (let i = 0; i < n; i++) inputs[i] += s.has[i];
      const r = vectorScalarSeries(e.op, s, scalar, swap, e.returnBool);
      if (r === null) return;
      for (let i = 0; i < n; i++) results[i] += r.has[i];
      if (check) check.add(r);
      else sink(r);
    });
    for (let i = 0; i < n; i++) inputs[i]++; // the scalar's sample
    this.rangeEvalPeak(base, this.ctx.cur + (swap ? 0 : n), inputs, results);
    if (check) { for (const s of check.series) sink(s); }
  }

  /**
   * Prometheus's rangeEval peak for a binary operator or a function call (its
   * `--query.max-samples` check): the operands held (`held`), and per step that step's inputs
   * gathered next to the results of the steps before and this step's own; afterwards only the
   * results stay (`base` + results).
   * https://github.com/prometheus/prometheus/blob/v2.42.0/promql/engine.go (`rangeEval`)
   */
  /** Per-step counts of the samples of `m` (added to `into`, or a new array). */
  private stepCounts(m: readonly StepSeries[], into = new Uint32Array(this.n)): Uint32Array {
    for (const s of m) for (let i = 0; i < into.length; i++) into[i] += s.has[i];
    return into;
  }

  private rangeEvalPeak(
    base: number,
    held: number,
    inputs: Uint32Array,
    results: Uint32Array,
  ): void {
    let before = 0;
    for (let i = 0; i < inputs.length; i++) {
      this.ctx.reach(held + before + inputs[i] + results[i]);
      before += results[i];
    }
    this.ctx.cur = base + before;
  }
}

// ---------------------------------------------------------------------------------------------
// Output assembly helpers.

/** Collects per-step outputs (labels may change per step) into series, rangeEval-style. */
class PerStepCollector {
  readonly series: StepSeries[] = [];
  private readonly index = new Map<string, StepSeries>();

  constructor(private readonly n: number) {}

  add(labels: Labels, i: number, v: number): void {
    const key = labelsKey(labels);
    let s = this.index.get(key);
    if (s === undefined) {
      s = { labels, vals: stepValues(this.n), has: stepFlags(this.n) };
      this.index.set(key, s);
      this.series.push(s);
    } else if (s.has[i] !== 0) {
      throw sameLabelsetError();
    }
    s.vals[i] = v;
    s.has[i] = 1;
  }
}

/**
 * The output of label_replace/label_join, which change one label (`dst`) of unique input label
 * sets: rangeEval's check that no two outputs share a label set at a step. Two outputs can only
 * coincide when an input already had `dst` (otherwise each output still differs from the others
 * in the input's own labels), so until one has, the series are kept without a map key each.
 */
class DestinationLabelCollector {
  private readonly series: StepSeries[] = [];
  private dstSeen = false;

  constructor(private readonly dst: string) {}

  /** Adds the output of input `s` with labels `labels` (its arrays are kept, not copied). */
  add(s: StepSeries, labels: Labels): void {
    if (!this.dstSeen && getLabel(s.labels, this.dst) !== "") this.dstSeen = true;
    this.series.push({ labels, vals: s.vals, has: s.has });
  }

  /** The series in input order, same label sets merged (disjoint steps) as rangeEval does. */
  finish(): StepSeries[] {
    if (!this.dstSeen) return this.series;
    const out = new StepCollector("merge");
    for (const s of this.series) out.add(s);
    return out.series;
  }
}

interface AggGroup {
  labels: Labels;
  vals: Float64Array;
  mean: Float64Array | null;
  count: Float64Array | null;
  has: Uint8Array;
}

/**
 * sum/avg/count/min/max/group/stddev/stdvar folded series by series over all steps at once,
 * with Prometheus 2.42's numerics (plain sum, incremental mean, Welford variance).
 */
class ColumnAggregator {
  private readonly groups = new Map<string, AggGroup>();
  private readonly order: AggGroup[] = [];
  private readonly grouping: Grouping;

  constructor(
    private readonly op: string,
    grouping: string[],
    without: boolean,
    private readonly n: number,
  ) {
    this.grouping = new Grouping(grouping, without);
  }

  add(s: StepSeries): void {
    const key = this.grouping.key(s.labels);
    let g = this.groups.get(key);
    const op = this.op;
    const n = this.n;
    if (g === undefined) {
      const needMean = op === "avg" || op === "stddev" || op === "stdvar";
      const needCount = needMean || op === "count";
      g = {
        labels: this.grouping.labels(s.labels),
        vals: stepValues(n),
        mean: needMean ? stepValues(n) : null,
        count: needCount ? stepValues(n) : null,
        has: stepFlags(n),
      };
      this.groups.set(key, g);
      this.order.push(g);
    }
    const vals = g.vals;
    const has = g.has;
    const mean = g.mean;
    const count = g.count;
    const sv = s.vals;
    const sh = s.has;
    for (let i = 0; i < n; i++) {
      if (sh[i] === 0) continue;
      const v = sv[i];
      if (has[i] === 0) {
        has[i] = 1;
        vals[i] = op === "stddev" || op === "stdvar" ? 0 : op === "group" ? 1 : v;
        if (mean !== null) mean[i] = v;
        if (count !== null) count[i] = 1;
        continue;
      }
      switch (op) {
        case "sum":
          vals[i] += v;
          break;
        case "avg": {
          const c = ++count![i];
          const m = mean![i];
          if (m === Infinity || m === -Infinity) {
            if ((v === Infinity || v === -Infinity) && (m > 0) === (v > 0)) break;
            if (v !== Infinity && v !== -Infinity && v === v) break;
          }
          mean![i] = m + (v / c - m / c);
          break;
        }
        case "count":
          count![i]++;
          break;
        case "max":
          if (vals[i] < v || vals[i] !== vals[i]) vals[i] = v;
          break;
        case "min":
          if (vals[i] > v || vals[i] !== vals[i]) vals[i] = v;
          break;
        case "stddev":
        case "stdvar": {
          const c = ++count![i];
          const d = v - mean![i];
          mean![i] += d / c;
          vals[i] += d * (v - mean![i]);
          break;
        }
        case "group":
          break;
      }
    }
  }

  finish(): StepSeries[] {
    const op = this.op;
    const out: StepSeries[] = [];
    for (const g of this.order) {
      for (let i = 0; i < this.n; i++) {
        if (g.has[i] === 0) continue;
        if (op === "avg") g.vals[i] = g.mean![i];
        else if (op === "count") g.vals[i] = g.count![i];
        else if (op === "stdvar") g.vals[i] = g.vals[i] / g.count![i];
        else if (op === "stddev") g.vals[i] = Math.sqrt(g.vals[i] / g.count![i]);
      }
      out.push({ labels: g.labels, vals: g.vals, has: g.has });
    }
    return out;
  }
}

/** xrate, xincrease, xdelta: [isCounter, isRate] of promql-engine's extendedRate. */
const X_RATE_KINDS: Readonly<Record<string, readonly [boolean, boolean]>> = {
  xrate: [true, true],
  xincrease: [true, false],
  xdelta: [false, false],
};

/** True when the matrix selector at the end of `path` is the operand of an x-function. */
function isXFunctionOperand(path: readonly Expr[]): boolean {
  for (let i = path.length - 2; i >= 0; i--) {
    const p = path[i];
    if (p.kind === "ParenExpr") continue;
    return p.kind === "Call" && X_RATE_KINDS[p.func.name] !== undefined;
  }
  return false;
}

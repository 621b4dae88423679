// Query result types and their Prometheus HTTP API rendering
// (https://prometheus.io/docs/prometheus/latest/querying/api/#expression-query-result-formats),
// plus the step-grid series the evaluator passes between operators.

import { labelsKey } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { sameLabelsetError } from "./errors.ts";
import { formatFloatGo, formatSampleValue } from "../strconv/float.ts";
import { goJSONString, labelsJSON } from "../strconv/json.ts";

/** One element of an instant vector: labels, timestamp (ms) and value. */
export interface Sample {
  labels: Labels;
  t: number;
  v: number;
}

/** An instant vector result. */
export interface Vector {
  type: "vector";
  samples: Sample[];
}

/** One series of a matrix: points `(ts[i], vs[i])`, timestamps ascending (ms). */
export interface Series {
  labels: Labels;
  ts: Float64Array;
  vs: Float64Array;
}

/** A range vector (instant query of a range selector/subquery) or a range query result. */
export interface Matrix {
  type: "matrix";
  series: Series[];
}

/** A scalar result. */
export interface Scalar {
  type: "scalar";
  t: number;
  v: number;
}

/** A string result. */
export interface StringValue {
  type: "string";
  t: number;
  v: string;
}

/** Any query result value. */
export type QueryValue = Vector | Matrix | Scalar | StringValue;

/** A successful query: its value and the warnings Prometheus would attach. */
export interface QueryResult {
  value: QueryValue;
  warnings: string[];
  /** The engine's statistics of this evaluation (absent when it did not evaluate it itself). */
  stats?: QueryStats;
}

/**
 * Prometheus's query statistics, the `stats` of a query answer (util/stats/query_stats.go
 * `BuiltinStats`): timings in seconds, sample counts as promql/engine.go counts them.
 * https://prometheus.io/docs/prometheus/latest/querying/api/#expression-queries
 */
export interface QueryStats {
  timings: {
    evalTotalTime: number;
    resultSortTime: number;
    queryPreparationTime: number;
    innerEvalTime: number;
    execQueueTime: number;
    execTotalTime: number;
  };
  samples: { totalQueryableSamples: number; peakSamples: number };
}

/**
 * The `,"stats":{…}` member an answer's data object gets when its request asks for statistics:
 * the engine's (zeros when it kept none) with `queueMs` spent waiting for a query slot, which
 * Prometheus counts in execQueueTime and execTotalTime.
 */
export function queryStatsMember(s: QueryStats | undefined, queueMs: number): string {
  const out = s ?? emptyQueryStats();
  const q = queueMs / 1000;
  out.timings.execQueueTime += q;
  out.timings.execTotalTime += q;
  return `,"stats":${queryStatsJSON(out)}`;
}

/** Statistics with every timing and count zero. */
export function emptyQueryStats(): QueryStats {
  return {
    timings: {
      evalTotalTime: 0,
      resultSortTime: 0,
      queryPreparationTime: 0,
      innerEvalTime: 0,
      execQueueTime: 0,
      execTotalTime: 0,
    },
    samples: { totalQueryableSamples: 0, peakSamples: 0 },
  };
}

/**
 * The JSON of `stats` in Prometheus's field order. Go writes a float64 the way JavaScript does
 * (shortest form, exponent below 1e-6 as `1e-7`), so JSON.stringify matches it.
 */
export function queryStatsJSON(s: QueryStats): string {
  const t = s.timings;
  return `{"timings":{"evalTotalTime":${t.evalTotalTime},"resultSortTime":${t.resultSortTime},` +
    `"queryPreparationTime":${t.queryPreparationTime},"innerEvalTime":${t.innerEvalTime},` +
    `"execQueueTime":${t.execQueueTime},"execTotalTime":${t.execTotalTime}},` +
    `"samples":{"totalQueryableSamples":${s.samples.totalQueryableSamples},` +
    `"peakSamples":${s.samples.peakSamples}}}`;
}

// ---------------------------------------------------------------------------------------------
// API rendering.

/** A vector element as the API's JSON has it (timestamps in seconds). */
export interface VectorElementJSON {
  metric: Record<string, string>;
  value: [number, string];
}

/** A matrix series as the API's JSON has it. */
export interface MatrixSeriesJSON {
  metric: Record<string, string>;
  values: [number, string][];
}

/** The API's `data` object of a query. */
export type QueryDataJSON =
  | { resultType: "vector"; result: VectorElementJSON[] }
  | { resultType: "matrix"; result: MatrixSeriesJSON[] }
  | { resultType: "scalar"; result: [number, string] }
  | { resultType: "string"; result: [number, string] };

function metricObject(ls: Labels): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < ls.length; i += 2) o[ls[i]] = ls[i + 1];
  return o;
}

/**
 * The API `data` object of a result (`{resultType, result}`) as plain JSON values; numbers are
 * seconds (ms/1000), values are formatted strings exactly as Prometheus writes them. For the
 * byte-exact text (e.g. `1.500` timestamps) use {@link resultToJSONText}.
 */
export function resultToJSON(value: QueryValue): QueryDataJSON {
  switch (value.type) {
    case "vector":
      return {
        resultType: "vector",
        result: value.samples.map((s) => ({
          metric: metricObject(s.labels),
          value: [s.t / 1000, formatSampleValue(s.v)],
        })),
      };
    case "matrix":
      return {
        resultType: "matrix",
        result: value.series.map((s) => {
          const values: [number, string][] = new Array(s.ts.length);
          for (let i = 0; i < s.ts.length; i++) {
            values[i] = [s.ts[i] / 1000, formatSampleValue(s.vs[i])];
          }
          return { metric: metricObject(s.labels), values };
        }),
      };
    case "scalar":
      return { resultType: "scalar", result: [value.t / 1000, formatFloatGo(value.v)] };
    case "string":
      return { resultType: "string", result: [value.t / 1000, value.v] };
  }
}

/** Vector/matrix timestamp text: seconds, and `.` + 3 digits only when ms are not whole. */
export function formatSampleTimestamp(ms: number): string {
  const neg = ms < 0;
  const a = Math.abs(ms);
  const sec = Math.floor(a / 1000);
  const rem = a - sec * 1000;
  return `${neg ? "-" : ""}${sec}${rem === 0 ? "" : "." + String(rem).padStart(3, "0")}`;
}

/** Go `float64(ms)/1000` through encoding/json: shortest round-trip decimal. */
function scalarTimestamp(ms: number): string {
  const v = ms / 1000;
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-6 || a >= 1e21)) {
    // encoding/json switches to exponent form there and trims "e-07" to "e-7"
    return String(v);
  }
  return formatFloatGo(v);
}

/**
 * The byte-exact JSON text of the API's `data` object for a result, as Prometheus 2.42 writes
 * it: vector/matrix timestamps `<s>[.mmm]`, values as strings (see the result formats of the
 * HTTP API page), label maps in label order.
 */
export function resultToJSONText(value: QueryValue): string {
  let out = "";
  for (const c of resultToJSONChunks(value)) out += c;
  return out;
}

/**
 * The UTF-8 bytes of {@link resultToJSONText}, encoded piece by piece into one growing buffer: a
 * large answer never exists as one string next to its bytes. The result is a view of its buffer
 * (which may be longer), ready to be transferred.
 */
export function resultToJSONBytes(value: QueryValue): Uint8Array {
  let buf = new Uint8Array(JSON_CHUNK);
  let n = 0;
  for (const c of resultToJSONChunks(value)) {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit
    if (buf.length - n < c.length * 3) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, n + c.length * 3));
      bigger.set(buf.subarray(0, n));
      buf = bigger;
    }
    n += textEncoder.encodeInto(c, buf.subarray(n)).written;
  }
  return buf.subarray(0, n);
}

const textEncoder = new TextEncoder();

/**
 * A result's JSON as UTF-8 pieces of about `size` bytes each, encoded only when asked for (an
 * evaluation Worker streams a large answer: the answer is never whole in memory, only the result
 * and one piece). The pieces joined are the bytes of {@link resultToJSONText}.
 */
export class JSONPieces {
  private readonly text: Generator<string>;
  /** Text taken from the generator that did not fit the last piece. */
  private carry: string | undefined;
  private ended = false;

  /** `extra`: members appended to the data object (`,"stats":{…}`), as in resultToJSONChunks. */
  constructor(value: QueryValue, private readonly size = 1 << 20, extra = "") {
    this.text = resultToJSONChunks(value, extra);
  }

  /** The next piece, and whether it is the last. */
  next(): { data: Uint8Array; done: boolean } {
    let buf: Uint8Array | undefined;
    let n = 0;
    /** This piece's size limit (the scratch may be larger). */
    let room = 0;
    while (!this.ended) {
      let c = this.carry;
      this.carry = undefined;
      if (c === undefined) {
        const r = this.text.next();
        if (r.done) {
          this.ended = true;
          break;
        }
        c = r.value;
      }
      // UTF-8 needs at most 3 bytes per UTF-16 code unit
      if (buf === undefined) {
        room = Math.max(this.size, c.length * 3);
        buf = pieceScratch(room);
      } else if (room - n < c.length * 3) {
        this.carry = c;
        break;
      }
      n += textEncoder.encodeInto(c, buf.subarray(n, room)).written;
    }
    // the piece leaves in a buffer of its own size (transferred away); the scratch stays
    return { data: buf === undefined ? new Uint8Array(0) : buf.slice(0, n), done: this.ended };
  }
}

/**
 * The encoding buffer of {@link JSONPieces}, shared by every answer of this thread (a piece is
 * encoded synchronously and copied out): one buffer instead of a fresh piece-sized one per piece,
 * which an evaluation Worker's garbage collector would hold until its next full collection.
 */
let scratch: Uint8Array | undefined;
/** A larger scratch (one chunk of very long label text) is not kept. */
const SCRATCH_KEPT_MAX = 4 << 20;

function pieceScratch(bytes: number): Uint8Array {
  if (scratch !== undefined && scratch.length >= bytes) return scratch;
  const b = new Uint8Array(bytes);
  if (bytes <= SCRATCH_KEPT_MAX) scratch = b;
  return b;
}

/** Size of the pieces {@link resultToJSONChunks} yields (UTF-16 code units, about bytes). */
const JSON_CHUNK = 64 * 1024;

/**
 * The text of {@link resultToJSONText} in pieces of about 64 KiB, produced as they are pulled:
 * a large answer is written out without ever being one string (as Prometheus encodes straight
 * into the response), so its memory is the result plus one piece, not several copies of the text.
 * `extra` is JSON text placed after `result` inside the object (`,"stats":{…}`).
 */
export function* resultToJSONChunks(value: QueryValue, extra = ""): Generator<string> {
  switch (value.type) {
    case "vector": {
      let buf = `{"resultType":"vector","result":[`;
      // an instant vector's samples share one timestamp: its text is made once
      let lastT = NaN;
      let tText = "";
      for (let k = 0; k < value.samples.length; k++) {
        const s = value.samples[k];
        if (k > 0) buf += ",";
        if (s.t !== lastT) {
          lastT = s.t;
          tText = formatSampleTimestamp(s.t);
        }
        buf += `{"metric":${labelsJSON(s.labels)},"value":[${tText},"${formatSampleValue(s.v)}"]}`;
        if (buf.length >= JSON_CHUNK) {
          yield buf;
          buf = "";
        }
      }
      yield buf + "]" + extra + "}";
      return;
    }
    case "matrix": {
      let buf = `{"resultType":"matrix","result":[`;
      for (let k = 0; k < value.series.length; k++) {
        const s = value.series[k];
        buf += `${k > 0 ? "," : ""}{"metric":${labelsJSON(s.labels)},"values":[`;
        for (let i = 0; i < s.ts.length; i++) {
          buf += `${i > 0 ? "," : ""}[${formatSampleTimestamp(s.ts[i])},"${
            formatSampleValue(s.vs[i])
          }"]`;
          if (buf.length >= JSON_CHUNK) {
            yield buf;
            buf = "";
          }
        }
        buf += "]}";
      }
      yield buf + "]" + extra + "}";
      return;
    }
    case "scalar":
      yield `{"resultType":"scalar","result":[${scalarTimestamp(value.t)},"${
        formatFloatGo(value.v)
      }"]${extra}}`;
      return;
    case "string":
      yield `{"resultType":"string","result":[${scalarTimestamp(value.t)},${
        goJSONString(value.v)
      }]${extra}}`;
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Step-grid series: what operators exchange while a query is evaluated.

/**
 * One series over an evaluator's step grid: `vals[i]` is the value at step i when `has[i]` is 1.
 * Dense arrays keep binary operators and aggregations to plain index loops.
 */
export interface StepSeries {
  labels: Labels;
  vals: Float64Array;
  has: Uint8Array;
}

/** How a {@link StepCollector} treats two series with the same labels. */
export type CollectMode =
  /** Caller guarantees unique labels. */
  | "unique"
  /** Prometheus' rangeEval: merged when disjoint in time, error when both have the same step. */
  | "merge"
  /** Prometheus' Matrix.ContainsSameLabelset: any repeated label set is an error. */
  | "strict";

/** Gathers output series in first-seen order, enforcing Prometheus' label-set uniqueness. */
export class StepCollector {
  readonly series: StepSeries[] = [];
  private readonly index = new Map<string, number>();

  constructor(readonly mode: CollectMode = "merge") {}

  /** Adds a series (its arrays are kept, not copied). Throws on a duplicate label set. */
  add(s: StepSeries): void {
    if (this.mode === "unique") {
      this.series.push(s);
      return;
    }
    const key = labelsKey(s.labels);
    const at = this.index.get(key);
    if (at === undefined) {
      this.index.set(key, this.series.length);
      this.series.push(s);
      return;
    }
    if (this.mode === "strict") throw sameLabelsetError();
    const dst = this.series[at];
    const n = dst.has.length;
    for (let i = 0; i < n; i++) {
      if (s.has[i] === 0) continue;
      if (dst.has[i] !== 0) throw sameLabelsetError();
      dst.has[i] = 1;
      dst.vals[i] = s.vals[i];
    }
  }
}

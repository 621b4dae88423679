// Differential PromQL testing against a real Prometheus 2.42: a generated data set becomes TSDB
// blocks (promtool), Prometheus serves them, and any engine answering the same HTTP-API-shaped
// results can be compared query by query (series, timestamps, values within 1e-9 relative,
// ordering where Prometheus defines one, and error classes).
//
// Staleness: OpenMetrics cannot carry stale markers, so staleness is covered twice: (1) the
// data set's series have gaps of 5–25 % of the range and evaluation times inside/after them
// exercise the 5-minute lookback (a series vanishes 5m after its last sample; one instant time
// is 2m after the data set's end); (2) real stale markers: Prometheus scrapes a tiny local target
// every second whose series `stale_demo{phase}` / `stale_demo_total{phase}` disappear, come
// back, and finally the target fails (Prometheus writes stale markers for all of them). A TSDB
// snapshot then turns head + data-set blocks into the blocks the engine under test reads, and
// corpus entries marked `plan: "staleness"` are evaluated around those scrapes.

import { generateDataset, writeOpenMetricsFile } from "../../scripts/dataset.ts";
import type { Dataset, DatasetOptions } from "../../scripts/dataset.ts";
import { createBlocksFromOpenMetrics } from "../helpers/promtool.ts";
import { snapshot, startPrometheus } from "../helpers/prometheus.ts";
import type { RunningPrometheus } from "../helpers/prometheus.ts";
import { copyDir, removeQuietly } from "../helpers/tmp.ts";
import { compareLabels, labelsFromObject } from "../../tsdb/labels.ts";
import type { CorpusEntry } from "./promql_corpus.ts";

/** Instant or range query. */
export type QueryKind = "instant" | "range";

/** Parameters of an instant query: evaluation time in ms. */
export interface InstantParams {
  time: number;
}

/** Parameters of a range query: start, end and step in ms. */
export interface RangeParams {
  start: number;
  end: number;
  step: number;
}

/** Parameters of a query (instant for kind "instant", range for "range"). */
export type QueryParams = InstantParams | RangeParams;

/** Prometheus API `errorType`s, plus "transport" when no API answer could be obtained. */
export type ErrorClass =
  | "bad_data"
  | "execution"
  | "timeout"
  | "canceled"
  | "internal"
  | "unavailable"
  | "not_found"
  | "not_acceptable"
  | "transport";

/** Element of a `vector` result: labels and `[seconds, "value"]`. */
export interface VectorElement {
  metric: Record<string, string>;
  value: [number, string];
}

/** Series of a `matrix` result. */
export interface MatrixSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

/** The API's `data` object of a successful query. */
export type QueryData =
  | { resultType: "vector"; result: VectorElement[] }
  | { resultType: "matrix"; result: MatrixSeries[] }
  | { resultType: "scalar"; result: [number, string] }
  | { resultType: "string"; result: [number, string] };

/** Outcome of one query: Prometheus' API envelope reduced to what is compared. */
export type QueryOutcome =
  | { status: "success"; data: QueryData; warnings?: string[] }
  | { status: "error"; errorType: ErrorClass; error: string };

/**
 * An engine under test: answers a query like Prometheus' `/api/v1/query` (kind "instant") or
 * `/api/v1/query_range` (kind "range"), with the same result shape, or an error class.
 */
export type EngineFn = (
  kind: QueryKind,
  query: string,
  params: QueryParams,
) => Promise<QueryOutcome>;

/** Seconds string of an integer ms timestamp, exact (the API rounds to ms). */
export function msToApiSeconds(ms: number): string {
  const neg = ms < 0;
  const a = Math.abs(ms);
  const sec = Math.floor(a / 1000);
  const rem = a - sec * 1000;
  return `${neg ? "-" : ""}${sec}${rem === 0 ? "" : "." + String(rem).padStart(3, "0")}`;
}

/**
 * Runs a query against Prometheus' HTTP API (POST form) and returns the outcome. HTTP or JSON
 * failures that carry no API envelope become `errorType: "transport"`.
 */
export async function queryPrometheus(
  url: string,
  kind: QueryKind,
  query: string,
  params: QueryParams,
  signal?: AbortSignal,
): Promise<QueryOutcome> {
  const form = new URLSearchParams();
  form.set("query", query);
  if (kind === "instant") {
    form.set("time", msToApiSeconds((params as InstantParams).time));
  } else {
    const p = params as RangeParams;
    form.set("start", msToApiSeconds(p.start));
    form.set("end", msToApiSeconds(p.end));
    form.set("step", msToApiSeconds(p.step));
  }
  const path = kind === "instant" ? "/api/v1/query" : "/api/v1/query_range";
  let body: string;
  try {
    const res = await fetch(`${url}${path}`, {
      method: "POST",
      body: form,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      signal: signal ?? AbortSignal.timeout(60_000),
    });
    body = await res.text();
  } catch (e) {
    return { status: "error", errorType: "transport", error: `${path}: ${(e as Error).message}` };
  }
  let parsed: {
    status?: string;
    data?: QueryData;
    errorType?: string;
    error?: string;
    warnings?: string[];
  };
  try {
    parsed = JSON.parse(body);
  } catch {
    return {
      status: "error",
      errorType: "transport",
      error: `${path}: not JSON: ${body.slice(0, 300)}`,
    };
  }
  if (parsed.status === "success" && parsed.data) {
    return parsed.warnings?.length
      ? { status: "success", data: parsed.data, warnings: parsed.warnings }
      : { status: "success", data: parsed.data };
  }
  return {
    status: "error",
    errorType: (parsed.errorType ?? "transport") as ErrorClass,
    error: parsed.error ?? body.slice(0, 300),
  };
}

/** An {@link EngineFn} that asks the Prometheus at `url`. */
export function prometheusEngine(url: string): EngineFn {
  return (kind, query, params) => queryPrometheus(url, kind, query, params);
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/** Options of {@link compareResults}. */
export interface CompareOptions {
  /**
   * Vector results must come in the same order (sort, sort_desc, topk, bottomk). Positions are
   * compared by value, so series with equal values may swap (Go's sort is not stable).
   */
  ordered?: boolean;
  /** Relative tolerance for values (default 1e-9). */
  tolerance?: number;
}

/** Parses an API value string ("NaN", "+Inf", "-Inf", decimals, exponents). */
export function parseApiValue(s: string): number {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  return Number(s);
}

/** True when `a` and `b` are equal within `tol` relative (NaN equals NaN, infinities by sign). */
export function valuesEqual(a: number, b: number, tol = 1e-9): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b));
}

/** Canonical text of a label object (sorted by name), for keys and messages. */
export function metricKey(m: Record<string, string>): string {
  const names = Object.keys(m).sort();
  return "{" + names.map((n) => `${n}=${JSON.stringify(m[n])}`).join(", ") + "}";
}

function fmtNum(v: number): string {
  return Number.isNaN(v) ? "NaN" : String(v);
}

/**
 * Compares an expected outcome (Prometheus) with an actual one and returns human-readable
 * differences (empty when equal). Errors compare by class only; results by type, series set
 * (labels), timestamps and values; matrix series order (Prometheus sorts by labels) always,
 * vector order when `ordered`.
 */
export function compareResults(
  expected: QueryOutcome,
  actual: QueryOutcome,
  opts: CompareOptions = {},
): string[] {
  const tol = opts.tolerance ?? 1e-9;
  const diffs: string[] = [];
  if (expected.status === "error" || actual.status === "error") {
    if (expected.status === "error" && actual.status === "error") {
      if (expected.errorType !== actual.errorType) {
        diffs.push(
          `error class: expected ${expected.errorType} (${expected.error}), got ${actual.errorType} (${actual.error})`,
        );
      }
    } else if (expected.status === "error") {
      diffs.push(
        `expected error ${expected.errorType} (${expected.error}), got success (${
          summarize(actual)
        })`,
      );
    } else {
      const a = actual as { errorType: string; error: string };
      diffs.push(`expected success (${summarize(expected)}), got error ${a.errorType}: ${a.error}`);
    }
    return diffs;
  }
  const e = expected.data;
  const a = actual.data;
  if (e.resultType !== a.resultType) {
    return [`result type: expected ${e.resultType}, got ${a.resultType}`];
  }
  switch (e.resultType) {
    case "scalar":
    case "string": {
      const ar = (a as { result: [number, string] }).result;
      if (e.result[0] !== ar[0]) diffs.push(`timestamp: expected ${e.result[0]}, got ${ar[0]}`);
      if (e.resultType === "string") {
        if (e.result[1] !== ar[1]) {
          diffs.push(
            `string: expected ${JSON.stringify(e.result[1])}, got ${JSON.stringify(ar[1])}`,
          );
        }
      } else if (!valuesEqual(parseApiValue(e.result[1]), parseApiValue(ar[1]), tol)) {
        diffs.push(`scalar: expected ${e.result[1]}, got ${ar[1]}`);
      }
      return diffs;
    }
    case "vector":
      return compareVectors(e.result, (a as { result: VectorElement[] }).result, tol, opts);
    case "matrix":
      return compareMatrices(e.result, (a as { result: MatrixSeries[] }).result, tol);
  }
}

function summarize(o: QueryOutcome): string {
  if (o.status === "error") return `error ${o.errorType}`;
  const d = o.data;
  if (d.resultType === "vector" || d.resultType === "matrix") {
    return `${d.resultType} of ${d.result.length} series`;
  }
  return `${d.resultType} ${JSON.stringify(d.result)}`;
}

const MAX_DIFFS = 20;

function compareVectors(
  exp: VectorElement[],
  act: VectorElement[],
  tol: number,
  opts: CompareOptions,
): string[] {
  const diffs: string[] = [];
  const em = indexByMetric(exp, diffs, "expected");
  const am = indexByMetric(act, diffs, "actual");
  for (const [k, ev] of em) {
    if (diffs.length >= MAX_DIFFS) break;
    const av = am.get(k);
    if (!av) {
      diffs.push(`missing series ${k} (expected value ${ev.value[1]} at ${ev.value[0]})`);
      continue;
    }
    if (ev.value[0] !== av.value[0]) {
      diffs.push(`${k}: timestamp expected ${ev.value[0]}, got ${av.value[0]}`);
    }
    if (!valuesEqual(parseApiValue(ev.value[1]), parseApiValue(av.value[1]), tol)) {
      diffs.push(`${k}: value expected ${ev.value[1]}, got ${av.value[1]}`);
    }
  }
  for (const [k, av] of am) {
    if (diffs.length >= MAX_DIFFS) break;
    if (!em.has(k)) diffs.push(`unexpected series ${k} (value ${av.value[1]})`);
  }
  if (opts.ordered && diffs.length === 0) {
    for (let i = 0; i < exp.length && i < act.length; i++) {
      const ev = parseApiValue(exp[i].value[1]);
      const av = parseApiValue(act[i].value[1]);
      if (!valuesEqual(ev, av, tol)) {
        diffs.push(
          `order: position ${i} expected ${metricKey(exp[i].metric)} (${fmtNum(ev)}), got ${
            metricKey(act[i].metric)
          } (${fmtNum(av)})`,
        );
        break;
      }
    }
  }
  return diffs;
}

function indexByMetric<T extends { metric: Record<string, string> }>(
  xs: T[],
  diffs: string[],
  side: string,
): Map<string, T> {
  const m = new Map<string, T>();
  for (const x of xs) {
    const k = metricKey(x.metric);
    if (m.has(k)) diffs.push(`${side} result has duplicate series ${k}`);
    m.set(k, x);
  }
  return m;
}

function compareMatrices(exp: MatrixSeries[], act: MatrixSeries[], tol: number): string[] {
  const diffs: string[] = [];
  const em = indexByMetric(exp, diffs, "expected");
  const am = indexByMetric(act, diffs, "actual");
  for (const [k, es] of em) {
    if (diffs.length >= MAX_DIFFS) break;
    const as = am.get(k);
    if (!as) {
      diffs.push(`missing series ${k} (${es.values.length} points)`);
      continue;
    }
    const ev = es.values ?? [];
    const av = as.values ?? [];
    let i = 0;
    let j = 0;
    while ((i < ev.length || j < av.length) && diffs.length < MAX_DIFFS) {
      const et = i < ev.length ? ev[i][0] : Infinity;
      const at = j < av.length ? av[j][0] : Infinity;
      if (et < at) {
        diffs.push(`${k}: missing point at ${et} (expected ${ev[i][1]})`);
        i++;
      } else if (at < et) {
        diffs.push(`${k}: unexpected point at ${at} (value ${av[j][1]})`);
        j++;
      } else {
        if (!valuesEqual(parseApiValue(ev[i][1]), parseApiValue(av[j][1]), tol)) {
          diffs.push(`${k}: at ${et} expected ${ev[i][1]}, got ${av[j][1]}`);
        }
        i++;
        j++;
      }
    }
  }
  for (const [k, as] of am) {
    if (diffs.length >= MAX_DIFFS) break;
    if (!em.has(k)) diffs.push(`unexpected series ${k} (${as.values.length} points)`);
  }
  if (diffs.length === 0) {
    // Prometheus returns range results sorted by labels
    for (let i = 0; i < exp.length && i < act.length; i++) {
      const ek = metricKey(exp[i].metric);
      const ak = metricKey(act[i].metric);
      if (ek !== ak) {
        diffs.push(`order: position ${i} expected ${ek}, got ${ak} (matrix is sorted by labels)`);
        break;
      }
    }
  }
  return diffs;
}

/** Sorts matrix series by labels the way Prometheus does (helper for engines under test). */
export function sortMatrixByLabels(m: MatrixSeries[]): MatrixSeries[] {
  return m.slice().sort((a, b) =>
    compareLabels(labelsFromObject(a.metric), labelsFromObject(b.metric))
  );
}

// ---------------------------------------------------------------------------------------------
// Data set, blocks and the oracle Prometheus.

/** Default data set: ≥ 1,000 series, 6h at 15s, fixed seed, 2h-aligned start (Nov 2023). */
export const DEFAULT_DATASET: DatasetOptions = {
  series: 1000,
  start: 1_699_999_200_000,
  end: 1_699_999_200_000 + 6 * 3_600_000,
  stepMs: 15_000,
  seed: 42,
};

/** Evaluation points of a corpus run. */
export interface EvalPlan {
  /** Instant-query evaluation times (ms). */
  instantTimes: number[];
  /** Range-query windows (ms). */
  ranges: RangeParams[];
}

/**
 * The default evaluation plan for a data set over [start, end): instant queries on a sample,
 * between samples, at the first sample, just before the end and 2m after it (lookback); range
 * queries inside the data, across the end with a step not dividing the range, and across the
 * start.
 */
export function defaultEvalPlan(start: number, end: number): EvalPlan {
  return {
    instantTimes: [
      start,
      start + 3 * 3_600_000,
      start + 4 * 3_600_000 + 7_500,
      end - 1,
      end + 120_000,
    ],
    ranges: [
      { start: start + 2 * 3_600_000, end: start + 2 * 3_600_000 + 1_800_000, step: 60_000 },
      { start: end - 600_000 + 7_000, end: end + 600_000 + 7_000, step: 97_000 },
      { start: start - 600_000, end: start + 1_200_000, step: 300_000 },
    ],
  };
}

/** A prepared differential-test environment. */
export interface DiffEnvironment {
  dataset: Dataset;
  /**
   * Blocks the engine under test reads: promtool's blocks, or (with the stale-marker source) a
   * TSDB snapshot of the oracle holding the same data plus the scraped stale markers.
   */
  blocksDir: string;
  /** The oracle (it serves a copy of the blocks, which it may compact). */
  prometheus: RunningPrometheus;
  plan: EvalPlan;
  /** Evaluation points around the scrapes with stale markers (empty without that source). */
  stalenessPlan: EvalPlan;
  /** Stops Prometheus and removes every temp dir. */
  cleanup(): Promise<void>;
}

/** Options of {@link setupDiffEnvironment}. */
export interface DiffEnvironmentOptions {
  dataset?: DatasetOptions;
  /** Extra Prometheus flags. */
  extraFlags?: string[];
  /** Scrape a local target to get real stale markers (adds ~15 s; default true). */
  staleMarkers?: boolean;
}

/**
 * Exposition served on the n-th scrape (0-based): both phases for scrapes 0–3, phase "b"
 * missing for 4–6 (stale marker at scrape 4), both again for 7–9, then HTTP 500 (the target is
 * down: stale markers for every series). `null` = fail the scrape.
 */
function staleDemoExposition(n: number): string | null {
  if (n >= STALE_DEMO_SCRAPES) return null;
  const phases = n >= 4 && n < 7 ? ["a"] : ["a", "b"];
  let out = "# TYPE stale_demo gauge\n";
  for (const p of phases) out += `stale_demo{phase="${p}"} ${n * 1.5 + (p === "b" ? 100 : 0)}\n`;
  out += "# TYPE stale_demo_total counter\n";
  for (const p of phases) out += `stale_demo_total{phase="${p}"} ${n * (p === "b" ? 7 : 3)}\n`;
  return out;
}

/** Successful scrapes of the stale-marker target before it starts failing. */
const STALE_DEMO_SCRAPES = 10;

/** A local scrape target for {@link staleDemoExposition}; records when each scrape arrived. */
function startStaleDemoTarget(): { port: number; scrapeTimes: number[]; close(): Promise<void> } {
  const scrapeTimes: number[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    () => {
      const body = staleDemoExposition(scrapeTimes.length);
      scrapeTimes.push(Date.now());
      if (body === null) return new Response("target down\n", { status: 500 });
      return new Response(body, {
        headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    },
  );
  return {
    port: (server.addr as Deno.NetAddr).port,
    scrapeTimes,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

/**
 * Evaluation points around the stale-marker scrapes (times are the target's receive times;
 * Prometheus stamps a scrape a few ms earlier, so midpoints between scrapes are unambiguous).
 */
function stalenessEvalPlan(scrapeTimes: number[]): EvalPlan {
  const mid = (i: number) => Math.round((scrapeTimes[i] + scrapeTimes[i + 1]) / 2);
  const first = scrapeTimes[0];
  const last = scrapeTimes[STALE_DEMO_SCRAPES + 1];
  return {
    // both present, just after "b" went stale, while it is gone, back again, target down
    instantTimes: [mid(2), mid(4), mid(5), mid(8), mid(STALE_DEMO_SCRAPES), last + 200],
    ranges: [
      { start: first - 2_000, end: last + 2_000, step: 1_000 },
      { start: first + 333, end: last + 1_500, step: 700 },
    ],
  };
}

/**
 * Generates the data set, converts it to blocks with `promtool tsdb create-blocks-from
 * openmetrics`, and starts Prometheus 2.42 on a copy of the blocks (100y retention so the fixed
 * past timestamps stay). With `staleMarkers` (default), Prometheus also scrapes a local target
 * that makes series go stale, and a TSDB snapshot (head included) becomes `blocksDir`.
 * Call `cleanup()` in `finally`.
 */
export async function setupDiffEnvironment(
  opts: DiffEnvironmentOptions = {},
): Promise<DiffEnvironment> {
  const dsOpts = opts.dataset ?? DEFAULT_DATASET;
  const withStale = opts.staleMarkers ?? true;
  const root = await Deno.makeTempDir({ prefix: "thanos-ts-promql-diff-" });
  let prometheus: RunningPrometheus | undefined;
  let target: ReturnType<typeof startStaleDemoTarget> | undefined;
  try {
    const dataset = generateDataset(dsOpts);
    const om = `${root}/data.om`;
    await writeOpenMetricsFile(dataset, om);
    let blocksDir = `${root}/blocks`;
    await createBlocksFromOpenMetrics(om, blocksDir, { quiet: true });
    await Deno.remove(om);
    const promDir = `${root}/prometheus`;
    await copyDir(blocksDir, promDir);
    let config = "global:\n  scrape_interval: 1m\n";
    if (withStale) {
      target = startStaleDemoTarget();
      config += "scrape_configs:\n  - job_name: stale_demo\n    scrape_interval: 1s\n" +
        "    scrape_timeout: 900ms\n    static_configs:\n" +
        `      - targets: ["127.0.0.1:${target.port}"]\n`;
    }
    prometheus = await startPrometheus({
      dataDir: promDir,
      config,
      extraFlags: [
        "--storage.tsdb.retention.time=100y",
        "--log.level=warn",
        ...(withStale ? ["--web.enable-admin-api"] : []),
        ...(opts.extraFlags ?? []),
      ],
    });
    let stalenessPlan: EvalPlan = { instantTimes: [], ranges: [] };
    if (target) {
      // wait for the whole scrape sequence plus two failed scrapes (bounded: 40 s)
      const deadline = Date.now() + 40_000;
      while (target.scrapeTimes.length < STALE_DEMO_SCRAPES + 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      if (target.scrapeTimes.length < STALE_DEMO_SCRAPES + 2) {
        throw new Error(
          `stale-marker target was scraped ${target.scrapeTimes.length} times in 40 s, expected ` +
            `${STALE_DEMO_SCRAPES + 2}; Prometheus logs:\n${prometheus.logs().slice(-2000)}`,
        );
      }
      // let the last failed scrape's stale markers land in the head, then snapshot
      await new Promise((r) => setTimeout(r, 300));
      const name = await snapshot(prometheus.url);
      blocksDir = `${promDir}/snapshots/${name}`;
      stalenessPlan = stalenessEvalPlan(target.scrapeTimes);
      await target.close();
      target = undefined;
    }
    const running = prometheus;
    return {
      dataset,
      blocksDir,
      prometheus: running,
      plan: defaultEvalPlan(dsOpts.start, dsOpts.end),
      stalenessPlan,
      cleanup: async () => {
        await running.stop();
        await removeQuietly(root);
      },
    };
  } catch (e) {
    await target?.close();
    await prometheus?.stop();
    await removeQuietly(root);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Running a corpus.

/** One evaluation that differed (or did not meet the corpus' declared outcome). */
export interface CorpusFailure {
  query: string;
  kind: QueryKind;
  params: QueryParams;
  differences: string[];
}

/** Result of {@link runCorpus}. */
export interface CorpusReport {
  /** Number of (query, kind, params) evaluations run. */
  evaluations: number;
  failures: CorpusFailure[];
  /** Outcome classes seen on the expected side: "success" or an error class, with counts. */
  outcomeCounts: Record<string, number>;
  /** Milliseconds spent. */
  elapsedMs: number;
}

/** Options of {@link runCorpus}. */
export interface RunCorpusOptions {
  /** The reference engine (usually {@link prometheusEngine}). */
  expected: EngineFn;
  corpus: readonly CorpusEntry[];
  /** Evaluation points of entries over the data set. */
  plan: EvalPlan;
  /** Evaluation points of entries with `plan: "staleness"` (skipped when absent or empty). */
  stalenessPlan?: EvalPlan;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /**
   * Also check each entry's declared outcome on the expected side: `expectError` entries must
   * fail with that class at every evaluation, the others must succeed (default true).
   */
  checkDeclaredOutcomes?: boolean;
  /** Stop early after this many failures (default 200). */
  maxFailures?: number;
  signal?: AbortSignal;
}

/**
 * Runs every corpus entry at every evaluation point of the plan (instant times, range windows,
 * as allowed by the entry's `kinds`) through `engineFn` and the expected engine, comparing each
 * pair with {@link compareResults}.
 */
export async function runCorpus(engineFn: EngineFn, opts: RunCorpusOptions): Promise<CorpusReport> {
  const t0 = performance.now();
  const jobs: { entry: CorpusEntry; kind: QueryKind; params: QueryParams }[] = [];
  for (const entry of opts.corpus) {
    const plan = entry.plan === "staleness" ? opts.stalenessPlan : opts.plan;
    if (!plan) continue;
    const kinds = entry.kinds ?? ["instant", "range"];
    if (kinds.includes("instant")) {
      for (const time of plan.instantTimes) jobs.push({ entry, kind: "instant", params: { time } });
    }
    if (kinds.includes("range")) {
      for (const r of plan.ranges) jobs.push({ entry, kind: "range", params: r });
    }
  }
  const failures: CorpusFailure[] = [];
  const outcomeCounts: Record<string, number> = {};
  const maxFailures = opts.maxFailures ?? 200;
  const checkDeclared = opts.checkDeclaredOutcomes ?? true;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && failures.length < maxFailures && !opts.signal?.aborted) {
      const job = jobs[next++];
      const [exp, act] = await Promise.all([
        opts.expected(job.kind, job.entry.query, job.params),
        safeCall(engineFn, job.kind, job.entry.query, job.params),
      ]);
      const cls = exp.status === "success" ? "success" : exp.errorType;
      outcomeCounts[cls] = (outcomeCounts[cls] ?? 0) + 1;
      const differences = compareResults(exp, act, { ordered: job.entry.ordered });
      if (checkDeclared) {
        const want = job.entry.expectError ?? "success";
        if (cls !== want) {
          differences.unshift(
            `corpus declares ${want}, expected side gave ${cls}${
              exp.status === "error" ? `: ${exp.error}` : ""
            }`,
          );
        }
      }
      if (differences.length > 0) {
        failures.push({ query: job.entry.query, kind: job.kind, params: job.params, differences });
      }
    }
  };
  const n = Math.max(1, opts.concurrency ?? 4);
  await Promise.all(Array.from({ length: n }, worker));
  return {
    evaluations: jobs.length,
    failures,
    outcomeCounts,
    elapsedMs: performance.now() - t0,
  };
}

async function safeCall(
  fn: EngineFn,
  kind: QueryKind,
  query: string,
  params: QueryParams,
): Promise<QueryOutcome> {
  try {
    return await fn(kind, query, params);
  } catch (e) {
    return { status: "error", errorType: "transport", error: `engine threw: ${String(e)}` };
  }
}

/** A short text report of failures (first `limit`), for test failure messages. */
export function formatFailures(failures: readonly CorpusFailure[], limit = 30): string {
  const lines: string[] = [];
  for (const f of failures.slice(0, limit)) {
    const p = f.kind === "instant"
      ? `time=${msToApiSeconds((f.params as InstantParams).time)}`
      : `start=${msToApiSeconds((f.params as RangeParams).start)} end=${
        msToApiSeconds((f.params as RangeParams).end)
      } step=${msToApiSeconds((f.params as RangeParams).step)}`;
    lines.push(`${f.kind} ${p}: ${f.query}`);
    for (const d of f.differences.slice(0, 5)) lines.push(`    ${d}`);
  }
  if (failures.length > limit) lines.push(`… and ${failures.length - limit} more`);
  return lines.join("\n");
}

// Range query results as the frontend handles them: parsed from the querier's JSON, merged
// across split parts and cached extents (samples deduplicated by timestamp, series sorted by
// labels as the querier sorts them), cut to a time range, and written back byte for byte in
// the querier's format (https://prometheus.io/docs/prometheus/latest/querying/api/#range-vectors).

import { goJSONString, labelsJSON } from "../strconv/json.ts";
import { formatSampleTimestamp } from "../promql/value.ts";
import { compareLabels } from "../tsdb/labels.ts";

/** One series: labels as name/value pairs, points as [ms, value text] in time order. */
export interface MatrixSeries {
  labels: string[];
  points: [number, string][];
}

/** A matrix result. */
export type Matrix = MatrixSeries[];

/** Reads the `data.result` of a matrix answer; null when the body is not one. */
export function parseMatrix(data: unknown): Matrix | null {
  const d = data as { resultType?: string; result?: unknown };
  if (d?.resultType !== "matrix" || !Array.isArray(d.result)) return null;
  const out: Matrix = [];
  for (const s of d.result as { metric?: Record<string, string>; values?: unknown[] }[]) {
    const labels: string[] = [];
    for (const [k, v] of Object.entries(s.metric ?? {})) labels.push(k, v);
    const points: [number, string][] = [];
    for (const p of (s.values ?? []) as [number, string][]) {
      points.push([Math.round(p[0] * 1000), p[1]]);
    }
    out.push({ labels, points });
  }
  return out;
}

/** Merges matrices: series by labels, points deduplicated by timestamp, sorted. */
export function mergeMatrices(parts: readonly Matrix[]): Matrix {
  const byKey = new Map<string, { labels: string[]; points: Map<number, string> }>();
  for (const m of parts) {
    for (const s of m) {
      const key = s.labels.join("\xff");
      let e = byKey.get(key);
      if (e === undefined) {
        e = { labels: s.labels, points: new Map() };
        byKey.set(key, e);
      }
      for (const [t, v] of s.points) if (!e.points.has(t)) e.points.set(t, v);
    }
  }
  const out: Matrix = [];
  for (const e of byKey.values()) {
    const points = [...e.points.entries()].sort((a, b) => a[0] - b[0]);
    if (points.length > 0) out.push({ labels: e.labels, points });
  }
  return out.sort((a, b) => compareLabels(a.labels, b.labels));
}

/** The points of `m` within [start, end]; series left without points are dropped. */
export function cutMatrix(m: Matrix, start: number, end: number): Matrix {
  const out: Matrix = [];
  for (const s of m) {
    const points = s.points.filter(([t]) => t >= start && t <= end);
    if (points.length > 0) out.push({ labels: s.labels, points });
  }
  return out;
}

/**
 * The API body of a matrix answer, as the querier writes it; `stats` is the data object's
 * `,"stats":{…}` member or "".
 */
export function matrixResponseText(m: Matrix, warnings: readonly string[], stats = ""): string {
  const series = m.map((s) =>
    `{"metric":${labelsJSON(s.labels)},"values":[${
      s.points.map(([t, v]) => `[${formatSampleTimestamp(t)},"${v}"]`).join(",")
    }]}`
  );
  let text = `{"status":"success","data":{"resultType":"matrix","result":[${
    series.join(",")
  }]${stats}}`;
  if (warnings.length > 0) text += `,"warnings":[${warnings.map(goJSONString).join(",")}]`;
  return text + "}";
}

/** One sample of an instant vector: labels as name/value pairs, [ms, value text]. */
export interface VectorSample {
  labels: string[];
  point: [number, string];
}

/** Reads the `data.result` of a vector answer; null when the body is not one. */
export function parseVector(data: unknown): VectorSample[] | null {
  const d = data as { resultType?: string; result?: unknown };
  if (d?.resultType !== "vector" || !Array.isArray(d.result)) return null;
  const out: VectorSample[] = [];
  for (const s of d.result as { metric?: Record<string, string>; value?: [number, string] }[]) {
    const labels: string[] = [];
    for (const [k, v] of Object.entries(s.metric ?? {})) labels.push(k, v);
    const p = s.value ?? [0, ""];
    out.push({ labels, point: [Math.round(p[0] * 1000), p[1]] });
  }
  return out;
}

/** The API body of a vector answer, as the querier writes it (`stats` as for a matrix). */
export function vectorResponseText(
  v: readonly VectorSample[],
  warnings: readonly string[],
  stats = "",
): string {
  const samples = v.map((s) =>
    `{"metric":${labelsJSON(s.labels)},"value":[${formatSampleTimestamp(s.point[0])},"${
      s.point[1]
    }"]}`
  );
  let text = `{"status":"success","data":{"resultType":"vector","result":[${
    samples.join(",")
  }]${stats}}`;
  if (warnings.length > 0) text += `,"warnings":[${warnings.map(goJSONString).join(",")}]`;
  return text + "}";
}

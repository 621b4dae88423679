// An in-memory Queryable over real XOR chunks for engine tests (moved from
// tests/promql/engine_test.ts so the experimental-function tests share it).

import { XorAppender } from "../../tsdb/chunkenc/xor.ts";
import { compareLabels, labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import type { Matcher } from "../../tsdb/matchers.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import type {
  Chunk,
  Queryable,
  SelectHints,
  SeriesSet,
  SeriesWithChunks,
} from "../../tsdb/series.ts";

/** A sample; `"stale"` writes a stale marker. */
export type Point = [number, number | "stale"];

export interface MemSeries {
  labels: Record<string, string>;
  points: Point[];
  /** Samples per chunk (default 120, Prometheus' target). */
  perChunk?: number;
  encoding?: ChunkEncoding;
}

/** In-memory Queryable over real XOR chunks; records the hints of every select. */
export class MemQueryable implements Queryable {
  readonly hints: SelectHints[] = [];
  private readonly series: SeriesWithChunks[];

  constructor(defs: MemSeries[], private readonly delayMs = 0) {
    this.series = defs.map((d) => ({
      labels: labelsFromObject(d.labels),
      chunks: toChunks(d.points, d.perChunk ?? 120, d.encoding ?? ChunkEncoding.XOR),
    })).sort((a, b) => compareLabels(a.labels, b.labels));
  }

  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet {
    this.hints.push(hints);
    const all = this.series;
    const delay = this.delayMs;
    return (async function* () {
      for (const s of all) {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        signal?.throwIfAborted();
        const o = labelsToObject(s.labels);
        if (!matchers.every((m) => m.matches(o[m.name] ?? ""))) continue;
        const chunks = s.chunks.filter((c) => c.maxTime >= hints.start && c.minTime <= hints.end);
        if (chunks.length > 0) yield { labels: s.labels, chunks };
      }
    })();
  }

  labelNames(): Promise<string[]> {
    return Promise.resolve([]);
  }

  labelValues(): Promise<string[]> {
    return Promise.resolve([]);
  }
}

export function toChunks(points: Point[], perChunk: number, encoding: ChunkEncoding): Chunk[] {
  const out: Chunk[] = [];
  for (let i = 0; i < points.length; i += perChunk) {
    const part = points.slice(i, i + perChunk);
    const app = new XorAppender();
    for (const [t, v] of part) {
      if (v === "stale") app.appendStale(t);
      else app.append(t, v);
    }
    out.push({
      minTime: part[0][0],
      maxTime: part[part.length - 1][0],
      encoding,
      data: app.bytes().slice(),
    });
  }
  return out;
}

/** Samples every `step` ms from `from` to `to` inclusive with value f(t). */
export function pts(from: number, to: number, step: number, f: (t: number) => number): Point[] {
  const out: Point[] = [];
  for (let t = from; t <= to; t += step) out.push([t, f(t)]);
  return out;
}

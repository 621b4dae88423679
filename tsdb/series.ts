// The one data shape that flows through every layer (docs/architecture.md, "The one data shape:
// a sorted series set"): sorted series sets of still-encoded chunks, read through the Queryable
// interface.

import type { Matcher } from "./matchers.ts";

/** Label set as flat pairs `[name0, value0, name1, value1, …]`, sorted by name, no empty values. */
export type Labels = readonly string[];

/**
 * Chunk encodings (Prometheus's `chunkenc.Encoding`,
 * https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/chunkenc/chunk.go).
 */
export enum ChunkEncoding {
  None = 0,
  XOR = 1,
  Histogram = 2,
  FloatHistogram = 3,
}

/** One encoded chunk; `minTime`/`maxTime` are its first and last sample timestamps (ms). */
export interface Chunk {
  minTime: number;
  maxTime: number;
  encoding: ChunkEncoding;
  data: Uint8Array;
}

/** A series with its chunks sorted by `minTime`. */
export interface SeriesWithChunks {
  labels: Labels;
  chunks: Chunk[];
}

/** Series sorted by labels, each label set once. Pulled, so consumers apply backpressure. */
export type SeriesSet = AsyncIterable<SeriesWithChunks>;

/**
 * A {@link SeriesSet} that can also hand its series out a batch at a time, as they arrived (a
 * StoreAPI stream's batches): one await per batch instead of one per series. Iterate either the
 * set or `batches()`, once.
 */
export interface BatchedSeriesSet extends AsyncIterable<SeriesWithChunks> {
  batches(): AsyncIterable<readonly SeriesWithChunks[]>;
}

/** What the query engine tells a store about a selection. */
export interface SelectHints {
  start: number;
  end: number;
  step?: number;
  func?: string;
  grouping?: string[];
  by?: boolean;
  range?: number;
  /** When true only labels are needed (series API, label APIs): chunks may be empty. */
  skipChunks?: boolean;
}

/** Anything the PromQL engine and the APIs can read from. */
export interface Queryable {
  select(matchers: Matcher[], hints: SelectHints, signal?: AbortSignal): SeriesSet;
  labelNames(matchers: Matcher[], start: number, end: number): Promise<string[]>;
  labelValues(name: string, matchers: Matcher[], start: number, end: number): Promise<string[]>;
}

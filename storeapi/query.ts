// `thanos.Query`: the querier's gRPC Query API (Query, QueryRange), as Thanos v0.42 defines it in
// https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/api/query/querypb/query.proto (our copy:
// storeapi/proto/query.proto). Requests carry the PromQL text (the JSON `queryPlan` is accepted
// and ignored, as Thanos's server ends up evaluating the text too), times in whole seconds and
// the Thanos parameters of the HTTP API; the answer streams one `prometheus_copy.TimeSeries` per
// result series (or batches of them), an optional `warnings` string first and `stats` last.

import type { Labels } from "../tsdb/series.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import { readLabel, readMatcher, type ShardInfo, writeMatchers } from "./codec.ts";
import { putFrameHeader } from "./grpc.ts";
import { type ApiStreamClient, decodeFrame } from "./api_common.ts";
import { ProtoDecodeError, ProtoReader, ProtoWriter, WireType } from "./wire.ts";

/** gRPC method paths of the service. */
export const QUERY_METHODS = {
  query: "/thanos.Query/Query",
  queryRange: "/thanos.Query/QueryRange",
} as const;

/** `thanos.EngineType`. */
export enum EngineType {
  DEFAULT = 0,
  PROMETHEUS = 1,
  THANOS = 2,
}

/** What `QueryRequest` and `QueryRangeRequest` share (their field numbers differ). */
interface QueryCommon {
  query: string;
  /** The `queryPlan` message's JSON encoding (promql-engine's logical plan), if sent. */
  queryPlanJson?: Uint8Array;
  timeoutSeconds?: number;
  maxResolutionSeconds?: number;
  replicaLabels?: string[];
  /** `storeMatchers`: each entry one selector of stores (`storeMatch[]`). */
  storeMatchers?: Matcher[][];
  enableDedup?: boolean;
  enablePartialResponse?: boolean;
  skipChunks?: boolean;
  shardInfo?: ShardInfo;
  lookbackDeltaSeconds?: number;
  engine?: EngineType;
  /** 0 or 1: one `timeseries` frame per series; more: `timeseries_batch` frames of that size. */
  responseBatchSize?: number;
}

/** `thanos.QueryRequest` (instant query). */
export interface QueryRequest extends QueryCommon {
  /** Unix seconds; 0 means now. */
  timeSeconds?: number;
}

/** `thanos.QueryRangeRequest`. */
export interface QueryRangeRequest extends QueryCommon {
  startTimeSeconds: number;
  endTimeSeconds: number;
  intervalSeconds: number;
}

/** Field numbers of the shared fields in each request message. */
const INSTANT_FIELDS = {
  query: 1,
  plan: 14,
  timeout: 3,
  maxRes: 4,
  replica: 5,
  storeMatchers: 6,
  dedup: 7,
  partial: 8,
  skipChunks: 10,
  shard: 11,
  lookback: 12,
  engine: 13,
  batch: 15,
} as const;
const RANGE_FIELDS = {
  query: 1,
  plan: 16,
  timeout: 5,
  maxRes: 6,
  replica: 7,
  storeMatchers: 8,
  dedup: 9,
  partial: 10,
  skipChunks: 12,
  shard: 13,
  lookback: 14,
  engine: 15,
  batch: 17,
} as const;
type Fields = typeof INSTANT_FIELDS | typeof RANGE_FIELDS;

function writeCommon(w: ProtoWriter, f: Fields, req: QueryCommon): void {
  w.stringField(f.query, req.query);
  if (req.queryPlanJson && req.queryPlanJson.length > 0) {
    const plan = req.queryPlanJson;
    w.message(f.plan, (x) => x.bytesField(1, plan));
  }
  w.int64Field(f.timeout, req.timeoutSeconds ?? 0);
  w.int64Field(f.maxRes, req.maxResolutionSeconds ?? 0);
  w.repeatedString(f.replica, req.replicaLabels);
  for (const set of req.storeMatchers ?? []) {
    w.message(f.storeMatchers, (x) => writeMatchers(x, 1, set));
  }
  w.boolField(f.dedup, req.enableDedup);
  w.boolField(f.partial, req.enablePartialResponse);
  w.boolField(f.skipChunks, req.skipChunks);
  const si = req.shardInfo;
  if (si) {
    w.message(f.shard, (x) => {
      x.int64Field(1, si.shardIndex);
      x.int64Field(2, si.totalShards);
      x.boolField(3, si.by);
      x.repeatedString(4, si.labels);
    });
  }
  w.int64Field(f.lookback, req.lookbackDeltaSeconds ?? 0);
  w.uintField(f.engine, req.engine ?? 0);
  w.int64Field(f.batch, req.responseBatchSize ?? 0);
}

/** Reads a shared field; false when `field` is not one of them. */
function readCommon(r: ProtoReader, f: Fields, field: number, req: QueryCommon): boolean {
  switch (field) {
    case f.query:
      req.query = r.string();
      return true;
    case f.plan: {
      const p = r.sub("queryPlan");
      while (!p.eof()) {
        const t = p.tag();
        if (t === 0x0a) req.queryPlanJson = p.bytes();
        else p.skip(t & 7);
      }
      return true;
    }
    case f.timeout:
      req.timeoutSeconds = r.int64();
      return true;
    case f.maxRes:
      req.maxResolutionSeconds = r.int64();
      return true;
    case f.replica:
      (req.replicaLabels ??= []).push(r.string());
      return true;
    case f.storeMatchers: {
      const s = r.sub("StoreMatchers");
      const set: Matcher[] = [];
      while (!s.eof()) {
        const t = s.tag();
        if (t === 0x0a) set.push(readMatcher(s.sub("LabelMatcher")));
        else s.skip(t & 7);
      }
      (req.storeMatchers ??= []).push(set);
      return true;
    }
    case f.dedup:
      req.enableDedup = r.bool();
      return true;
    case f.partial:
      req.enablePartialResponse = r.bool();
      return true;
    case f.skipChunks:
      req.skipChunks = r.bool();
      return true;
    case f.shard: {
      const s = r.sub("ShardInfo");
      const si: ShardInfo = { shardIndex: 0, totalShards: 0, by: false, labels: [] };
      while (!s.eof()) {
        const t = s.tag();
        if (t === 0x08) si.shardIndex = s.int64();
        else if (t === 0x10) si.totalShards = s.int64();
        else if (t === 0x18) si.by = s.bool();
        else if (t === 0x22) si.labels.push(s.string());
        else s.skip(t & 7);
      }
      req.shardInfo = si;
      return true;
    }
    case f.lookback:
      req.lookbackDeltaSeconds = r.int64();
      return true;
    case f.engine:
      req.engine = r.varint();
      return true;
    case f.batch:
      req.responseBatchSize = r.int64();
      return true;
  }
  return false;
}

/** Encodes a `thanos.QueryRequest`. */
export function encodeQueryRequest(req: QueryRequest): Uint8Array {
  const w = ProtoWriter.growable();
  writeCommon(w, INSTANT_FIELDS, req);
  w.int64Field(2, req.timeSeconds ?? 0);
  return w.finish();
}

/** Decodes a `thanos.QueryRequest`. */
export function decodeQueryRequest(buf: Uint8Array): QueryRequest {
  const r = new ProtoReader(buf, "QueryRequest");
  const req: QueryRequest = { query: "" };
  while (!r.eof()) {
    const t = r.tag();
    const field = Math.floor(t / 8);
    if (readCommon(r, INSTANT_FIELDS, field, req)) continue;
    if (t === 0x10) req.timeSeconds = r.int64();
    else r.skip(t & 7);
  }
  return req;
}

/** Encodes a `thanos.QueryRangeRequest`. */
export function encodeQueryRangeRequest(req: QueryRangeRequest): Uint8Array {
  const w = ProtoWriter.growable();
  writeCommon(w, RANGE_FIELDS, req);
  w.int64Field(2, req.startTimeSeconds);
  w.int64Field(3, req.endTimeSeconds);
  w.int64Field(4, req.intervalSeconds);
  return w.finish();
}

/** Decodes a `thanos.QueryRangeRequest`. */
export function decodeQueryRangeRequest(buf: Uint8Array): QueryRangeRequest {
  const r = new ProtoReader(buf, "QueryRangeRequest");
  const req: QueryRangeRequest = {
    query: "",
    startTimeSeconds: 0,
    endTimeSeconds: 0,
    intervalSeconds: 0,
  };
  while (!r.eof()) {
    const t = r.tag();
    const field = Math.floor(t / 8);
    if (readCommon(r, RANGE_FIELDS, field, req)) continue;
    if (t === 0x10) req.startTimeSeconds = r.int64();
    else if (t === 0x18) req.endTimeSeconds = r.int64();
    else if (t === 0x20) req.intervalSeconds = r.int64();
    else r.skip(t & 7);
  }
  return req;
}

/** One result series: `prometheus_copy.TimeSeries` with float samples (ms, value). */
export interface QueryTimeSeries {
  labels: Labels;
  ts: ArrayLike<number>;
  vs: ArrayLike<number>;
}

/** `thanos.QueryStats`. */
export interface QueryStats {
  samplesTotal: number;
  peakSamples: number;
}

/** One decoded `QueryResponse` / `QueryRangeResponse` (same fields in both). */
export type QueryResponseFrame =
  | { warnings: string }
  | { series: QueryTimeSeries[] }
  | { stats: QueryStats };

function writeTimeSeries(w: ProtoWriter, field: number, s: QueryTimeSeries): void {
  w.message(field, (x) => {
    for (let i = 0; i < s.labels.length; i += 2) {
      x.message(1, (l) => {
        l.stringField(1, s.labels[i]);
        l.stringField(2, s.labels[i + 1]);
      });
    }
    for (let i = 0; i < s.ts.length; i++) {
      x.message(2, (p) => {
        p.doubleField(1, s.vs[i]);
        p.int64Field(2, s.ts[i]);
      });
    }
  });
}

/** A `QueryResponse` holding one series (`timeseries`, field 2). */
export function encodeQueryResponseSeries(s: QueryTimeSeries): Uint8Array {
  const w = ProtoWriter.growable();
  writeTimeSeries(w, 2, s);
  return w.finish();
}

/** A `QueryResponse` holding a batch of series (`timeseries_batch`, field 4). */
export function encodeQueryResponseBatch(series: readonly QueryTimeSeries[]): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(4, (x) => {
    for (const s of series) writeTimeSeries(x, 1, s);
  });
  return w.finish();
}

/** A `QueryResponse` holding the warnings (Thanos joins them with ", "). */
export function encodeQueryResponseWarnings(warnings: readonly string[]): Uint8Array {
  const w = ProtoWriter.growable();
  // always present, even when the joined text is empty (a oneof member)
  const text = warnings.join(", ");
  const bytes = new TextEncoder().encode(text);
  w.tag(1, WireType.LengthDelimited);
  w.varint(bytes.length);
  w.raw(bytes);
  return w.finish();
}

/** A `QueryResponse` holding the query's stats. */
export function encodeQueryResponseStats(stats: QueryStats): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(3, (x) => {
    x.int64Field(1, stats.samplesTotal);
    x.int64Field(2, stats.peakSamples);
  });
  return w.finish();
}

function readTimeSeries(r: ProtoReader): QueryTimeSeries {
  const labels: string[] = [];
  const ts: number[] = [];
  const vs: number[] = [];
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) readLabel(r.sub("Label"), labels);
    else if (t === 0x12) {
      const p = r.sub("Sample");
      let v = 0;
      let at = 0;
      while (!p.eof()) {
        const pt = p.tag();
        if (pt === 0x09) v = p.double();
        else if (pt === 0x10) at = p.int64();
        else p.skip(pt & 7);
      }
      vs.push(v);
      ts.push(at);
    } else if (t === 0x22) {
      throw new ProtoDecodeError("TimeSeries", r.pos, "native histogram samples are not supported");
    } else r.skip(t & 7);
  }
  return { labels, ts, vs };
}

/** Decodes a `QueryResponse` / `QueryRangeResponse`; null when no result member is set. */
export function decodeQueryResponse(buf: Uint8Array): QueryResponseFrame | null {
  const r = new ProtoReader(buf, "QueryResponse");
  let out: QueryResponseFrame | null = null;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) out = { warnings: r.string() };
    else if (t === 0x12) out = { series: [readTimeSeries(r.sub("TimeSeries"))] };
    else if (t === 0x1a) {
      const s = r.sub("QueryStats");
      const stats: QueryStats = { samplesTotal: 0, peakSamples: 0 };
      while (!s.eof()) {
        const st = s.tag();
        if (st === 0x08) stats.samplesTotal = s.int64();
        else if (st === 0x10) stats.peakSamples = s.int64();
        else s.skip(st & 7);
      }
      out = { stats };
    } else if (t === 0x22) {
      const b = r.sub("TimeSeriesBatch");
      const series: QueryTimeSeries[] = [];
      while (!b.eof()) {
        const bt = b.tag();
        if (bt === 0x0a) series.push(readTimeSeries(b.sub("TimeSeries")));
        else b.skip(bt & 7);
      }
      out = { series };
    } else r.skip(t & 7);
  }
  return out;
}

/**
 * The series of a result as response messages, each behind its 5-byte gRPC prefix (uncompressed),
 * in one buffer: what an evaluation Worker hands back and the server writes as is.
 */
export function framedSeriesResponses(
  series: readonly QueryTimeSeries[],
  batchSize: number,
): Uint8Array {
  const msgs: Uint8Array[] = [];
  if (batchSize <= 1) {
    for (const s of series) msgs.push(encodeQueryResponseSeries(s));
  } else {
    for (let i = 0; i < series.length; i += batchSize) {
      msgs.push(encodeQueryResponseBatch(series.slice(i, i + batchSize)));
    }
  }
  let n = 0;
  for (const m of msgs) n += 5 + m.length;
  const out = new Uint8Array(n);
  let p = 0;
  for (const m of msgs) {
    putFrameHeader(out, p, false, m.length);
    out.set(m, p + 5);
    p += 5 + m.length;
  }
  return out;
}

/** The messages of a buffer made by {@link framedSeriesResponses}. */
export function* unframe(framed: Uint8Array): Generator<Uint8Array> {
  let p = 0;
  while (p + 5 <= framed.length) {
    const len = ((framed[p + 1] << 24) >>> 0) + (framed[p + 2] << 16) + (framed[p + 3] << 8) +
      framed[p + 4];
    yield framed.subarray(p + 5, p + 5 + len);
    p += 5 + len;
  }
}

/** What a Query or QueryRange call answered. */
export interface QueryAnswer {
  series: QueryTimeSeries[];
  warnings: string[];
  stats?: QueryStats;
}

async function collect(frames: AsyncIterable<Uint8Array>): Promise<QueryAnswer> {
  const out: QueryAnswer = { series: [], warnings: [] };
  for await (const f of frames) {
    const r = decodeFrame(() => decodeQueryResponse(f));
    if (r === null) continue;
    if ("warnings" in r) {
      if (r.warnings !== "") out.warnings.push(r.warnings);
    } else if ("stats" in r) out.stats = r.stats;
    else for (const s of r.series) out.series.push(s);
  }
  return out;
}

/** Calls `thanos.Query/Query` and collects the answer. */
export function callQuery(
  client: ApiStreamClient,
  req: QueryRequest,
  signal?: AbortSignal,
): Promise<QueryAnswer> {
  return collect(client.stream(QUERY_METHODS.query, encodeQueryRequest(req), signal));
}

/** Calls `thanos.Query/QueryRange` and collects the answer. */
export function callQueryRange(
  client: ApiStreamClient,
  req: QueryRangeRequest,
  signal?: AbortSignal,
): Promise<QueryAnswer> {
  return collect(client.stream(QUERY_METHODS.queryRange, encodeQueryRangeRequest(req), signal));
}

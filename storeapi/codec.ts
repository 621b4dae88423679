// StoreAPI messages (https://github.com/thanos-io/thanos/blob/main/pkg/store/storepb/rpc.proto and
// types.proto) as TypeScript data and their protobuf encoders/decoders. Field numbers match
// storeapi/proto/*.proto. Series frames, the hot path, are measured exactly and written straight
// into the outgoing gRPC buffer, so chunk bytes are copied once on send; on receive chunk data are
// views of the received frame.

import { Matcher, MatchType } from "../tsdb/matchers.ts";
import { InvalidRegexError } from "../re2/parser.ts";
import type { MatcherFactory } from "./matchers_cache.ts";
import { utf8Length } from "../strconv/utf8.ts";
import { byteString } from "../strconv/byte_string.ts";
import type { TurnPacer } from "../runutil/loop_turn.ts";
import { type Chunk, ChunkEncoding, type Labels, type SeriesWithChunks } from "../tsdb/series.ts";
import {
  int64Size,
  ldSize,
  ProtoDecodeError,
  ProtoReader,
  ProtoWriter,
  varintSize,
  WireType,
} from "./wire.ts";

export { INT64_MAX, INT64_MIN, ProtoDecodeError } from "./wire.ts";

/**
 * StoreAPI `Chunk.Encoding`
 * (https://github.com/thanos-io/thanos/blob/main/pkg/store/storepb/types.proto): off by one from
 * Prometheus `chunkenc.Encoding`.
 */
export enum StoreChunkEncoding {
  XOR = 0,
  HISTOGRAM = 1,
  FLOAT_HISTOGRAM = 2,
}

/** StoreAPI `PartialResponseStrategy`; the zero value is WARN. */
export enum PartialResponseStrategy {
  WARN = 0,
  ABORT = 1,
}

/** Aggregates a client may request from downsampled blocks. */
export enum Aggr {
  RAW = 0,
  COUNT = 1,
  SUM = 2,
  MIN = 3,
  MAX = 4,
  COUNTER = 5,
}

/** Legacy `thanos.StoreType` of `Store/Info`. */
export enum StoreType {
  UNKNOWN = 0,
  QUERY = 1,
  RULE = 2,
  SIDECAR = 3,
  STORE = 4,
  RECEIVE = 5,
  DEBUG = 6,
}

/** StoreAPI `LabelMatcher.Type`. */
export enum LabelMatcherType {
  EQ = 0,
  NEQ = 1,
  RE = 2,
  NRE = 3,
}

/** Component types the querier recognises in `thanos.info.Info` (any other string is allowed). */
export type ComponentType = "sidecar" | "store" | "query" | "rule" | "receive" | "debug";

/** A `google.protobuf.Any`: type URL plus the encoded message. */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

/** Best-effort PromQL hints (`QueryHints`). */
export interface QueryHints {
  stepMillis?: number;
  func?: string;
  grouping?: { by: boolean; labels: string[] };
  rangeMillis?: number;
  projectionLabels?: string[];
  projectionInclude?: boolean;
  seriesHashLabelName?: string;
}

/** Vertical query sharding request (`ShardInfo`). */
export interface ShardInfo {
  shardIndex: number;
  totalShards: number;
  by: boolean;
  labels: string[];
}

/** `thanos.Store/Series` request. Optional fields default to their proto3 zero values. */
export interface SeriesRequest {
  /** Inclusive, ms. */
  minTime: number;
  /** Inclusive, ms. */
  maxTime: number;
  matchers: Matcher[];
  maxResolutionWindow?: number;
  aggregates?: Aggr[];
  partialResponseDisabled?: boolean;
  partialResponseStrategy?: PartialResponseStrategy;
  skipChunks?: boolean;
  hints?: AnyMessage;
  step?: number;
  range?: number;
  queryHints?: QueryHints;
  shardInfo?: ShardInfo;
  withoutReplicaLabels?: string[];
  /** Max series to return; 0 = unlimited. */
  limit?: number;
  responseBatchSize?: number;
}

/** One encoded sub-chunk of an `AggrChunk` (Prometheus encoding numbering). */
export interface RawChunk {
  encoding: ChunkEncoding;
  data: Uint8Array;
}

/** Aggregates of a downsampled chunk (`AggrChunk` fields 4–8). */
export interface AggrChunkParts {
  count?: RawChunk;
  sum?: RawChunk;
  min?: RawChunk;
  max?: RawChunk;
  counter?: RawChunk;
}

/**
 * A chunk as the StoreAPI carries it: the raw chunk (`encoding`/`data`; `ChunkEncoding.None` with
 * empty data when absent) plus, for downsampled data, the aggregates.
 */
export interface StoreChunk extends Chunk {
  aggr?: AggrChunkParts;
}

/** One decoded `SeriesResponse` frame. */
export type SeriesResponse =
  | { series: SeriesWithChunks }
  | { warning: string }
  | { hints: AnyMessage }
  | { batch: SeriesWithChunks[] };

/** `thanos.Store/LabelNames` request. */
export interface LabelNamesRequest {
  start: number;
  end: number;
  matchers: Matcher[];
  partialResponseDisabled?: boolean;
  partialResponseStrategy?: PartialResponseStrategy;
  hints?: AnyMessage;
  withoutReplicaLabels?: string[];
  limit?: number;
}

/** `thanos.Store/LabelNames` response. */
export interface LabelNamesResponse {
  names: string[];
  warnings: string[];
  hints?: AnyMessage;
}

/** `thanos.Store/LabelValues` request. */
export interface LabelValuesRequest {
  label: string;
  start: number;
  end: number;
  matchers: Matcher[];
  partialResponseDisabled?: boolean;
  partialResponseStrategy?: PartialResponseStrategy;
  hints?: AnyMessage;
  withoutReplicaLabels?: string[];
  limit?: number;
}

/** `thanos.Store/LabelValues` response. */
export interface LabelValuesResponse {
  values: string[];
  warnings: string[];
  hints?: AnyMessage;
}

/** `thanos.info.TSDBInfo`. */
export interface TsdbInfo {
  labels: Labels;
  minTime: number;
  maxTime: number;
}

/**
 * What a component tells queriers about itself (`thanos.info.InfoResponse`, flattened). The
 * StoreAPI section is present unless `storeApi` is false; other APIs are advertised when set.
 */
export interface StoreInfo {
  componentType: ComponentType | string;
  /** External label sets served (one per TSDB / tenant). */
  labelSets: Labels[];
  minTime: number;
  maxTime: number;
  storeApi?: boolean;
  supportsSharding?: boolean;
  supportsWithoutReplicaLabels?: boolean;
  supportsProjections?: boolean;
  tsdbInfos?: TsdbInfo[];
  rules?: boolean;
  metricMetadata?: boolean;
  targets?: boolean;
  exemplars?: { minTime: number; maxTime: number };
  query?: boolean;
  status?: boolean;
}

/** Legacy `thanos.InfoResponse` of `Store/Info`. */
export interface LegacyInfoResponse {
  labels: Labels;
  minTime: number;
  maxTime: number;
  storeType: StoreType;
  labelSets: Labels[];
}

// ---------------------------------------------------------------------------------------------
// enum mappings

/** Prometheus chunk encoding → StoreAPI numbering. Throws for encodings the StoreAPI lacks. */
export function toStoreEncoding(e: ChunkEncoding): StoreChunkEncoding {
  if (e < ChunkEncoding.XOR || e > ChunkEncoding.FloatHistogram) {
    throw new RangeError(`chunk encoding ${e} cannot be sent over the StoreAPI`);
  }
  return e - 1;
}

/** StoreAPI chunk encoding → Prometheus numbering. */
export function fromStoreEncoding(e: number): ChunkEncoding {
  if (e < 0 || e > 2) throw new RangeError(`unknown StoreAPI chunk encoding ${e}`);
  return e + 1;
}

const MATCH_TYPE_TO_WIRE: Record<MatchType, LabelMatcherType> = {
  [MatchType.Equal]: LabelMatcherType.EQ,
  [MatchType.NotEqual]: LabelMatcherType.NEQ,
  [MatchType.Regexp]: LabelMatcherType.RE,
  [MatchType.NotRegexp]: LabelMatcherType.NRE,
};
const WIRE_TO_MATCH_TYPE = [
  MatchType.Equal,
  MatchType.NotEqual,
  MatchType.Regexp,
  MatchType.NotRegexp,
];

/** StoreType of a component name, for legacy `Store/Info`. */
export function storeTypeOf(component: string): StoreType {
  switch (component) {
    case "query":
      return StoreType.QUERY;
    case "rule":
      return StoreType.RULE;
    case "sidecar":
      return StoreType.SIDECAR;
    case "store":
      return StoreType.STORE;
    case "receive":
      return StoreType.RECEIVE;
    case "debug":
      return StoreType.DEBUG;
    default:
      return StoreType.UNKNOWN;
  }
}

// ---------------------------------------------------------------------------------------------
// shared pieces

function writeLabels(w: ProtoWriter, field: number, ls: Labels): void {
  for (let i = 0; i < ls.length; i += 2) {
    w.message(field, (m) => {
      m.stringField(1, ls[i]);
      m.stringField(2, ls[i + 1]);
    });
  }
}

export function writeLabelSet(w: ProtoWriter, field: number, ls: Labels): void {
  w.message(field, (m) => writeLabels(m, 1, ls));
}

/**
 * Writes `ms` as repeated `LabelMatcher` messages in `field`. Prometheus's `prompb.LabelMatcher`
 * has the same fields and type numbers, so remote read encodes its matchers with this too.
 */
export function writeMatchers(w: ProtoWriter, field: number, ms: readonly Matcher[]): void {
  for (const m of ms) {
    w.message(field, (x) => {
      x.uintField(1, MATCH_TYPE_TO_WIRE[m.type]);
      x.stringField(2, m.name);
      x.stringField(3, m.value);
    });
  }
}

function writeAny(w: ProtoWriter, field: number, a: AnyMessage | undefined): void {
  if (!a) return;
  w.message(field, (x) => {
    x.stringField(1, a.typeUrl);
    x.bytesField(2, a.value);
  });
}

/**
 * Decodes one `Label` message (name = 1, value = 2) and appends name and value to `out`; the
 * same message as Prometheus's `prompb.Label`.
 */
export function readLabel(r: ProtoReader, out: string[]): void {
  let name = "";
  let value = "";
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) name = r.string();
    else if (t === 0x12) value = r.string();
    else r.skip(t & 7);
  }
  out.push(name, value);
}

export function readLabelSet(r: ProtoReader): Labels {
  const out: string[] = [];
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) readLabel(r.sub("Label"), out);
    else r.skip(t & 7);
  }
  return out;
}

export function readMatcher(r: ProtoReader, make?: MatcherFactory): Matcher {
  let type = 0;
  let name = "";
  let value = "";
  const at = r.pos;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) type = r.varint();
    else if (t === 0x12) name = r.string();
    else if (t === 0x1a) value = r.string();
    else r.skip(t & 7);
  }
  const mt = WIRE_TO_MATCH_TYPE[type];
  if (mt === undefined) throw new ProtoDecodeError("LabelMatcher", at, `unknown type ${type}`);
  return make ? make(mt, name, value) : new Matcher(mt, name, value);
}

function readAny(r: ProtoReader): AnyMessage {
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array(0);
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) typeUrl = r.string();
    else if (t === 0x12) value = r.bytes();
    else r.skip(t & 7);
  }
  return { typeUrl, value };
}

/** True when `e` is a request-decoding problem the server must answer with InvalidArgument. */
export function isInvalidRequestError(e: unknown): boolean {
  return e instanceof ProtoDecodeError || e instanceof InvalidRegexError;
}

// ---------------------------------------------------------------------------------------------
// Series

/** Encodes a `SeriesRequest`. */
export function encodeSeriesRequest(req: SeriesRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.int64Field(1, req.minTime);
  w.int64Field(2, req.maxTime);
  writeMatchers(w, 3, req.matchers);
  w.int64Field(4, req.maxResolutionWindow ?? 0);
  if (req.aggregates && req.aggregates.length > 0) {
    const aggs = req.aggregates;
    w.tag(5, WireType.LengthDelimited);
    let n = 0;
    for (const a of aggs) n += varintSize(a);
    w.varint(n);
    for (const a of aggs) w.varint(a);
  }
  w.boolField(6, req.partialResponseDisabled);
  w.uintField(7, req.partialResponseStrategy ?? 0);
  w.boolField(8, req.skipChunks);
  writeAny(w, 9, req.hints);
  w.int64Field(10, req.step ?? 0);
  w.int64Field(11, req.range ?? 0);
  const qh = req.queryHints;
  if (qh) {
    w.message(12, (x) => {
      x.int64Field(1, qh.stepMillis ?? 0);
      if (qh.func !== undefined) x.message(2, (f) => f.stringField(1, qh.func));
      if (qh.grouping) {
        const g = qh.grouping;
        x.message(4, (gw) => {
          gw.boolField(1, g.by);
          gw.repeatedString(3, g.labels);
        });
      }
      if (qh.rangeMillis !== undefined) {
        x.message(5, (rw) => rw.int64Field(1, qh.rangeMillis ?? 0));
      }
      x.repeatedString(6, qh.projectionLabels);
      x.boolField(7, qh.projectionInclude);
      x.stringField(8, qh.seriesHashLabelName);
    });
  }
  const si = req.shardInfo;
  if (si) {
    w.message(13, (x) => {
      x.int64Field(1, si.shardIndex);
      x.int64Field(2, si.totalShards);
      x.boolField(3, si.by);
      x.repeatedString(4, si.labels);
    });
  }
  w.repeatedString(14, req.withoutReplicaLabels);
  w.int64Field(15, req.limit ?? 0);
  w.int64Field(16, req.responseBatchSize ?? 0);
  return w.finish();
}

function readQueryHints(r: ProtoReader): QueryHints {
  const qh: QueryHints = {};
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 0x08:
        qh.stepMillis = r.int64();
        break;
      case 0x12: {
        const f = r.sub("Func");
        qh.func = "";
        while (!f.eof()) {
          const ft = f.tag();
          if (ft === 0x0a) qh.func = f.string();
          else f.skip(ft & 7);
        }
        break;
      }
      case 0x22: {
        const g = r.sub("Grouping");
        const grouping = { by: false, labels: [] as string[] };
        while (!g.eof()) {
          const gt = g.tag();
          if (gt === 0x08) grouping.by = g.bool();
          else if (gt === 0x1a) grouping.labels.push(g.string());
          else g.skip(gt & 7);
        }
        qh.grouping = grouping;
        break;
      }
      case 0x2a: {
        const rr = r.sub("Range");
        qh.rangeMillis = 0;
        while (!rr.eof()) {
          const rt = rr.tag();
          if (rt === 0x08) qh.rangeMillis = rr.int64();
          else rr.skip(rt & 7);
        }
        break;
      }
      case 0x32:
        (qh.projectionLabels ??= []).push(r.string());
        break;
      case 0x38:
        qh.projectionInclude = r.bool();
        break;
      case 0x42:
        qh.seriesHashLabelName = r.string();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return qh;
}

/**
 * Decodes a `SeriesRequest`, its matchers built by `make` (e.g. a MatchersCache) when given.
 * Throws ProtoDecodeError or InvalidRegexError (→ InvalidArgument).
 */
export function decodeSeriesRequest(buf: Uint8Array, make?: MatcherFactory): SeriesRequest {
  const r = new ProtoReader(buf, "SeriesRequest");
  const req: SeriesRequest = {
    minTime: 0,
    maxTime: 0,
    matchers: [],
    maxResolutionWindow: 0,
    aggregates: [],
    partialResponseDisabled: false,
    partialResponseStrategy: PartialResponseStrategy.WARN,
    skipChunks: false,
    step: 0,
    range: 0,
    withoutReplicaLabels: [],
    limit: 0,
    responseBatchSize: 0,
  };
  while (!r.eof()) {
    const t = r.tag();
    const field = Math.floor(t / 8);
    const wt = t & 7;
    switch (field) {
      case 1:
        req.minTime = r.int64();
        break;
      case 2:
        req.maxTime = r.int64();
        break;
      case 3:
        req.matchers.push(readMatcher(r.sub("LabelMatcher"), make));
        break;
      case 4:
        req.maxResolutionWindow = r.int64();
        break;
      case 5:
        r.packedVarints(wt, req.aggregates!);
        break;
      case 6:
        req.partialResponseDisabled = r.bool();
        break;
      case 7:
        req.partialResponseStrategy = r.varint();
        break;
      case 8:
        req.skipChunks = r.bool();
        break;
      case 9:
        req.hints = readAny(r.sub("Any"));
        break;
      case 10:
        req.step = r.int64();
        break;
      case 11:
        req.range = r.int64();
        break;
      case 12:
        req.queryHints = readQueryHints(r.sub("QueryHints"));
        break;
      case 13: {
        const s = r.sub("ShardInfo");
        const si: ShardInfo = { shardIndex: 0, totalShards: 0, by: false, labels: [] };
        while (!s.eof()) {
          const st = s.tag();
          if (st === 0x08) si.shardIndex = s.int64();
          else if (st === 0x10) si.totalShards = s.int64();
          else if (st === 0x18) si.by = s.bool();
          else if (st === 0x22) si.labels.push(s.string());
          else s.skip(st & 7);
        }
        req.shardInfo = si;
        break;
      }
      case 14:
        req.withoutReplicaLabels!.push(r.string());
        break;
      case 15:
        req.limit = r.int64();
        break;
      case 16:
        req.responseBatchSize = r.int64();
        break;
      default:
        r.skip(wt);
    }
  }
  return req;
}

function rawChunkSize(encoding: ChunkEncoding, data: Uint8Array): number {
  return (encoding === ChunkEncoding.XOR ? 0 : 2) + (data.length > 0 ? ldSize(data.length) : 0);
}

function int64FieldSize(v: number): number {
  return v === 0 ? 0 : 1 + int64Size(v);
}

const AGGR_FIELDS = ["count", "sum", "min", "max", "counter"] as const;

function aggrChunkSize(c: StoreChunk): number {
  let n = int64FieldSize(c.minTime) + int64FieldSize(c.maxTime);
  if (c.encoding !== ChunkEncoding.None) n += ldSize(rawChunkSize(c.encoding, c.data));
  const a = c.aggr;
  if (a) {
    for (const f of AGGR_FIELDS) {
      const p = a[f];
      if (p) n += ldSize(rawChunkSize(p.encoding, p.data));
    }
  }
  return n;
}

function writeRawChunk(w: ProtoWriter, field: number, encoding: ChunkEncoding, data: Uint8Array) {
  w.tag(field, WireType.LengthDelimited);
  w.varint(rawChunkSize(encoding, data));
  w.uintField(1, toStoreEncoding(encoding));
  w.bytesField(2, data);
}

/** Entries of each size array a {@link SeriesEncoder} keeps across {@link SeriesEncoder.forget}. */
const KEPT_SIZES_MAX = 16384;
/** Initial entries of a {@link SeriesEncoder}'s size arrays (also what `forget` shrinks to). */
const STR_LENS_0 = 64, LABEL_SIZES_0 = 32, SERIES_SIZES_0 = 64, CHUNK_SIZES_0 = 256;

/**
 * Measures and writes `Series` messages exactly (no intermediate buffers). Call `measure` then
 * `write` with the same arguments; string byte lengths and chunk message sizes are cached between
 * the two calls. A `SeriesBatch` likewise with `measureBatch` then `writeBatch`: each series and
 * each chunk measured once.
 */
export class SeriesEncoder {
  private strLens = new Int32Array(STR_LENS_0);
  private labelSizes = new Int32Array(LABEL_SIZES_0);
  private seriesSizes = new Int32Array(SERIES_SIZES_0);
  /** Sizes of the measured chunk messages, from index `chunkAt` of `measure` on. */
  private chunkSizes = new Int32Array(CHUNK_SIZES_0);
  /** The labels last measured and where their string lengths start in `strLens`. */
  private prevLabels: Labels = [];
  private prevAt = 0;

  /**
   * Size of the `Series` message for `labels` and `chunks[from, to)`; its string lengths kept
   * from index `at` of the cache and its chunk sizes from index `chunkAt` (a batch keeps those of
   * all its series).
   */
  measure(
    labels: Labels,
    chunks: readonly StoreChunk[],
    from: number,
    to: number,
    at = 0,
    chunkAt = 0,
  ): number {
    if (this.strLens.length < at + labels.length) {
      const strLens = new Int32Array((at + labels.length) * 2);
      // the batch's lengths so far and the previous series's (reused below)
      strLens.set(this.strLens.subarray(0, Math.max(at, this.prevAt + this.prevLabels.length)));
      const labelSizes = new Int32Array(at + labels.length);
      labelSizes.set(this.labelSizes.subarray(0, at >> 1));
      this.strLens = strLens;
      this.labelSizes = labelSizes;
    }
    let n = 0;
    // consecutive series mostly share label strings (the same objects, from the index's symbol
    // caches): their lengths are the previous series's, without a pass over their characters
    const prev = this.prevLabels;
    const prevAt = this.prevAt;
    const strLens = this.strLens;
    for (let i = 0; i < labels.length; i += 2) {
      const name = labels[i];
      const value = labels[i + 1];
      const same = i + 1 < prev.length;
      const nl = same && prev[i] === name ? strLens[prevAt + i] : utf8Length(name);
      const vl = same && prev[i + 1] === value ? strLens[prevAt + i + 1] : utf8Length(value);
      strLens[at + i] = nl;
      strLens[at + i + 1] = vl;
      const ls = (nl > 0 ? ldSize(nl) : 0) + (vl > 0 ? ldSize(vl) : 0);
      this.labelSizes[(at + i) >> 1] = ls;
      n += ldSize(ls);
    }
    this.prevLabels = labels;
    this.prevAt = at;
    return n + this.measureChunks(chunks, from, to, chunkAt);
  }

  /** Size of the `Series` fields of `chunks[from, to)`, their sizes kept from index `chunkAt`. */
  private measureChunks(
    chunks: readonly StoreChunk[],
    from: number,
    to: number,
    chunkAt: number,
  ): number {
    if (this.chunkSizes.length < chunkAt + to - from) {
      const chunkSizes = new Int32Array((chunkAt + to - from) * 2);
      chunkSizes.set(this.chunkSizes.subarray(0, chunkAt)); // the batch's sizes so far
      this.chunkSizes = chunkSizes;
    }
    const chunkSizes = this.chunkSizes;
    let n = 0;
    for (let i = from, j = chunkAt; i < to; i++, j++) {
      const size = aggrChunkSize(chunks[i]);
      chunkSizes[j] = size;
      n += ldSize(size);
    }
    return n;
  }

  /** Writes the `Series` message body measured by `measure` (with the same `at` and `chunkAt`). */
  write(
    w: ProtoWriter,
    labels: Labels,
    chunks: readonly StoreChunk[],
    from: number,
    to: number,
    at = 0,
    chunkAt = 0,
  ): void {
    for (let i = 0; i < labels.length; i += 2) {
      w.byte(0x0a);
      w.varint(this.labelSizes[(at + i) >> 1]);
      const nl = this.strLens[at + i];
      const vl = this.strLens[at + i + 1];
      if (nl > 0) {
        w.byte(0x0a);
        w.varint(nl);
        w.stringBytes(labels[i], nl);
      }
      if (vl > 0) {
        w.byte(0x12);
        w.varint(vl);
        w.stringBytes(labels[i + 1], vl);
      }
    }
    this.writeChunks(w, chunks, from, to, chunkAt);
  }

  /** Writes the chunk fields measured by `measureChunks` (with the same `chunkAt`). */
  private writeChunks(
    w: ProtoWriter,
    chunks: readonly StoreChunk[],
    from: number,
    to: number,
    chunkAt: number,
  ): void {
    const chunkSizes = this.chunkSizes;
    for (let i = from, j = chunkAt; i < to; i++, j++) {
      const c = chunks[i];
      w.byte(0x12);
      w.varint(chunkSizes[j]);
      w.int64Field(1, c.minTime);
      w.int64Field(2, c.maxTime);
      if (c.encoding !== ChunkEncoding.None) writeRawChunk(w, 3, c.encoding, c.data);
      const a = c.aggr;
      if (a) {
        for (let f = 0; f < AGGR_FIELDS.length; f++) {
          const p = a[AGGR_FIELDS[f]];
          if (p) writeRawChunk(w, 4 + f, p.encoding, p.data);
        }
      }
    }
  }

  /**
   * Size of the `SeriesBatch` message of `series` (all their chunks). A series' ready
   * {@link SeriesWithLabelsProto.labelsProto} stands for its labels: not measured again.
   */
  measureBatch(series: readonly SeriesWithLabelsProto[]): number {
    if (this.seriesSizes.length < series.length) this.seriesSizes = new Int32Array(series.length);
    let n = 0;
    let at = 0;
    let chunkAt = 0;
    for (let i = 0; i < series.length; i++) {
      const s = series[i];
      const proto = s.labelsProto;
      const size = proto === undefined
        ? this.measure(s.labels, s.chunks, 0, s.chunks.length, at, chunkAt)
        : proto.length + this.measureChunks(s.chunks, 0, s.chunks.length, chunkAt);
      this.seriesSizes[i] = size;
      n += ldSize(size);
      at += s.labels.length;
      chunkAt += s.chunks.length;
    }
    return n;
  }

  /**
   * Readies the encoder to be kept for later answers: drops the labels measured last (kept to
   * reuse their lengths), so it holds no series of a finished answer, and its size arrays when a
   * big answer grew them past {@link KEPT_SIZES_MAX} entries.
   */
  forget(): void {
    this.prevLabels = [];
    this.prevAt = 0;
    if (this.strLens.length > KEPT_SIZES_MAX) this.strLens = new Int32Array(STR_LENS_0);
    if (this.labelSizes.length > KEPT_SIZES_MAX) this.labelSizes = new Int32Array(LABEL_SIZES_0);
    if (this.seriesSizes.length > KEPT_SIZES_MAX) {
      this.seriesSizes = new Int32Array(SERIES_SIZES_0);
    }
    if (this.chunkSizes.length > KEPT_SIZES_MAX) this.chunkSizes = new Int32Array(CHUNK_SIZES_0);
  }

  /** Writes the `SeriesBatch` body measured by the last `measureBatch`. */
  writeBatch(w: ProtoWriter, series: readonly SeriesWithLabelsProto[]): void {
    let at = 0;
    let chunkAt = 0;
    for (let i = 0; i < series.length; i++) {
      const s = series[i];
      w.byte(0x0a);
      w.varint(this.seriesSizes[i]);
      const proto = s.labelsProto;
      if (proto === undefined) this.write(w, s.labels, s.chunks, 0, s.chunks.length, at, chunkAt);
      else {
        // one char per byte: written as an ASCII string is
        w.stringBytes(proto, proto.length);
        this.writeChunks(w, s.chunks, 0, s.chunks.length, chunkAt);
      }
      at += s.labels.length;
      chunkAt += s.chunks.length;
    }
  }
}

/**
 * A series as a store hands it to the encoder: `labelsProto`, when set, is the `Series` message's
 * label fields (repeated `Label`, field 1) for exactly `labels`, ready-encoded by
 * {@link encodeLabelsProto}, one char per byte. Whoever changes a series' labels makes a new
 * series object (as the external-labels attacher does), so a ready encoding never goes stale.
 */
export interface SeriesWithLabelsProto extends SeriesWithChunks {
  labelsProto?: string;
}

/**
 * The label fields of a `Series` message for `labels`, exactly as {@link SeriesEncoder.write}
 * writes them, as a string of one char per byte (V8 keeps it in one object, a third of a byte
 * array's cost for a few dozen bytes). The bucket store keeps it in its index cache per series
 * entry: a cached series' labels are then copied, not measured and encoded, on every answer.
 */
export function encodeLabelsProto(labels: Labels): string {
  // the encoder's own label fields: a Series message without chunks
  const enc = labelsProtoEncoder;
  const w = new ProtoWriter(new Uint8Array(enc.measure(labels, [], 0, 0)));
  enc.write(w, labels, [], 0, 0);
  return byteString(w.finish());
}

/** The encoder of {@link encodeLabelsProto} (a series entry cached at a time). */
const labelsProtoEncoder = new SeriesEncoder();

/** Encodes one `SeriesResponse{series}` message (convenience; the server writes frames directly). */
export function encodeSeriesResponseSeries(s: SeriesWithChunks): Uint8Array {
  const enc = new SeriesEncoder();
  const size = enc.measure(s.labels, s.chunks, 0, s.chunks.length);
  const w = new ProtoWriter(new Uint8Array(ldSize(size)));
  w.byte(0x0a);
  w.varint(size);
  enc.write(w, s.labels, s.chunks, 0, s.chunks.length);
  return w.finish();
}

/** Encodes a `SeriesResponse{warning}`. */
export function encodeSeriesResponseWarning(warning: string): Uint8Array {
  const w = ProtoWriter.growable(warning.length + 8);
  // a oneof member is written even when empty so the receiver sees which one is set
  const n = utf8Length(warning);
  w.tag(2, WireType.LengthDelimited);
  w.varint(n);
  w.stringBytes(warning, n);
  return w.finish();
}

/** Encodes a `SeriesResponse{hints}`. */
export function encodeSeriesResponseHints(hints: AnyMessage): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(3, (x) => {
    x.stringField(1, hints.typeUrl);
    x.bytesField(2, hints.value);
  });
  return w.finish();
}

/** Encodes a `SeriesResponse{batch}` (v0.41+, only for requests with `response_batch_size > 1`). */
export function encodeSeriesResponseBatch(series: readonly SeriesWithChunks[]): Uint8Array {
  const enc = new SeriesEncoder();
  const batchSize = enc.measureBatch(series);
  const w = new ProtoWriter(new Uint8Array(ldSize(batchSize)));
  w.byte(0x22);
  w.varint(batchSize);
  enc.writeBatch(w, series);
  return w.finish();
}

function readRawChunk(r: ProtoReader): RawChunk {
  let type = 0;
  let data: Uint8Array = EMPTY;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) type = r.varint();
    else if (t === 0x12) data = r.bytes();
    else r.skip(t & 7); // hash (field 3) is recomputed by whoever needs it
  }
  let encoding: ChunkEncoding;
  try {
    encoding = fromStoreEncoding(type);
  } catch (e) {
    throw new ProtoDecodeError("Chunk", r.pos, (e as Error).message);
  }
  return { encoding, data };
}

const EMPTY = new Uint8Array(0);

/**
 * An `AggrChunk`'s raw `Chunk` into `c`, read in place when it has the usual layout (an XOR
 * chunk's data alone: type 0 is not written): no sub-reader and no object per chunk. Anything
 * else goes through {@link readRawChunk} and its errors.
 */
function readMainChunk(r: ProtoReader, c: StoreChunk): void {
  const start = r.pos;
  const end = r.length() + r.pos;
  const b = r.buf;
  if (end > r.pos && b[r.pos] === 0x12) {
    // the data's length varint, when it ends inside the Chunk (else the Chunk's reader below
    // reports the error, as for any malformed Chunk)
    let p = r.pos + 1;
    while (p < end && b[p] & 0x80) p++;
    if (p < end) {
      r.pos++;
      const n = r.varint();
      if (r.pos + n === end) {
        c.encoding = ChunkEncoding.XOR;
        c.data = b.subarray(r.pos, end);
        r.pos = end;
        return;
      }
    }
  }
  r.pos = start;
  const raw = readRawChunk(r.sub("Chunk"));
  c.encoding = raw.encoding;
  c.data = raw.data;
}

/**
 * A decoded chunk: a plain object (its prototype is Object.prototype, as a literal's), made by
 * `new` instead of a literal. V8 allocates a literal's objects straight in the old generation
 * once most of them survived a young-generation GC (a large answer held while it is evaluated):
 * from then on every chunk of every answer, and through it its data view, lived until a full GC
 * (issue 19). A construction site has no such feedback.
 */
const DecodedChunk = function (this: StoreChunk) {
  this.minTime = 0;
  this.maxTime = 0;
  this.encoding = ChunkEncoding.None;
  this.data = EMPTY;
} as unknown as new () => StoreChunk;
DecodedChunk.prototype = Object.prototype;

function readAggrChunk(r: ProtoReader): StoreChunk {
  const c = new DecodedChunk();
  while (!r.eof()) {
    const t = r.tag();
    const field = t >>> 3;
    if (t === 0x08) c.minTime = r.int64();
    else if (t === 0x10) c.maxTime = r.int64();
    else if (t === 0x1a) readMainChunk(r, c);
    else if (field >= 4 && field <= 8 && (t & 7) === WireType.LengthDelimited) {
      (c.aggr ??= {})[AGGR_FIELDS[field - 4]] = readRawChunk(r.sub("Chunk"));
    } else r.skip(t & 7);
  }
  return c;
}

/**
 * The `j`th labels of series read before in the response being decoded: where each one's `Label`
 * message is in the response (offset, length; -1 when none) and its name and value. Series
 * arrive sorted, so most of a series' labels repeat the previous one's at the same position (all
 * but the last, typically): bytes equal to those are that label again, with no string decoding
 * (issue 19). Forgotten at the end of each response.
 */
const PREV_LABELS_MAX = 32;
const prevLabelAt = new Int32Array(PREV_LABELS_MAX);
const prevLabelLen = new Int32Array(PREV_LABELS_MAX).fill(-1);
const prevLabelStrings: string[] = new Array<string>(2 * PREV_LABELS_MAX).fill("");

/**
 * A series' `j`th `Label`: the previous series' `j`th when its bytes are the same, else read in
 * place when it has the usual layout (name, then value, nothing else): no sub-reader per label.
 * Anything else goes through {@link readLabel} and its errors.
 */
function readSeriesLabel(r: ProtoReader, out: string[], j: number): void {
  const start = r.pos;
  const n = r.length();
  const at = r.pos;
  const end = at + n;
  const b = r.buf;
  if (j < PREV_LABELS_MAX && prevLabelLen[j] === n) {
    const p = prevLabelAt[j];
    let k = 0;
    while (k < n && b[p + k] === b[at + k]) k++;
    if (k === n) {
      r.pos = end;
      out.push(prevLabelStrings[2 * j], prevLabelStrings[2 * j + 1]);
      return;
    }
  }
  if (end > at && b[at] === 0x0a) {
    r.pos++;
    const name = r.string();
    if (r.pos < end && b[r.pos] === 0x12) {
      r.pos++;
      const value = r.string();
      if (r.pos === end) {
        out.push(name, value);
        if (j < PREV_LABELS_MAX) {
          prevLabelAt[j] = at;
          prevLabelLen[j] = n;
          prevLabelStrings[2 * j] = name;
          prevLabelStrings[2 * j + 1] = value;
        }
        return;
      }
    }
  }
  r.pos = start;
  readLabel(r.sub("Label"), out);
}

function readSeries(r: ProtoReader): SeriesWithChunks {
  const labels: string[] = [];
  let chunks: StoreChunk[] | null = null;
  let j = 0;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) readSeriesLabel(r, labels, j++);
    else if (t === 0x12) {
      const c = r.embedded("AggrChunk", readAggrChunk);
      // most series of a short query have one chunk: an array of exactly one, grown when not
      if (chunks === null) chunks = [c];
      else chunks.push(c);
    } else r.skip(t & 7);
  }
  return { labels, chunks: chunks ?? [] };
}

/** Decodes a `SeriesResponse`; chunk data are views of `buf`. Unknown oneof members → null. */
export function decodeSeriesResponse(buf: Uint8Array): SeriesResponse | null {
  try {
    return readSeriesResponse(buf);
  } finally {
    prevLabelLen.fill(-1);
  }
}

function readSeriesResponse(buf: Uint8Array): SeriesResponse | null {
  const r = new ProtoReader(buf, "SeriesResponse");
  let out: SeriesResponse | null = null;
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 0x0a:
        out = { series: r.embedded("Series", readSeries) };
        break;
      case 0x12:
        out = { warning: r.string() };
        break;
      case 0x1a:
        out = { hints: readAny(r.sub("Any")) };
        break;
      case 0x22: {
        const b = r.sub("SeriesBatch");
        const batch: SeriesWithChunks[] = [];
        while (!b.eof()) {
          const bt = b.tag();
          if (bt === 0x0a) batch.push(b.embedded("Series", readSeries));
          else b.skip(bt & 7);
        }
        out = { batch };
        break;
      }
      default:
        r.skip(t & 7);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// LabelNames / LabelValues

/** Encodes a `LabelNamesRequest`. */
export function encodeLabelNamesRequest(req: LabelNamesRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.boolField(1, req.partialResponseDisabled);
  w.uintField(2, req.partialResponseStrategy ?? 0);
  w.int64Field(3, req.start);
  w.int64Field(4, req.end);
  writeAny(w, 5, req.hints);
  writeMatchers(w, 6, req.matchers);
  w.repeatedString(7, req.withoutReplicaLabels);
  w.int64Field(8, req.limit ?? 0);
  return w.finish();
}

/** Decodes a `LabelNamesRequest`, its matchers built by `make` when given. */
export function decodeLabelNamesRequest(buf: Uint8Array, make?: MatcherFactory): LabelNamesRequest {
  const r = new ProtoReader(buf, "LabelNamesRequest");
  const req: LabelNamesRequest = {
    start: 0,
    end: 0,
    matchers: [],
    partialResponseDisabled: false,
    partialResponseStrategy: PartialResponseStrategy.WARN,
    withoutReplicaLabels: [],
    limit: 0,
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t >>> 3) {
      case 1:
        req.partialResponseDisabled = r.bool();
        break;
      case 2:
        req.partialResponseStrategy = r.varint();
        break;
      case 3:
        req.start = r.int64();
        break;
      case 4:
        req.end = r.int64();
        break;
      case 5:
        req.hints = readAny(r.sub("Any"));
        break;
      case 6:
        req.matchers.push(readMatcher(r.sub("LabelMatcher"), make));
        break;
      case 7:
        req.withoutReplicaLabels!.push(r.string());
        break;
      case 8:
        req.limit = r.int64();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return req;
}

/** Encodes a `LabelNamesResponse`. */
export function encodeLabelNamesResponse(res: LabelNamesResponse): Uint8Array {
  const w = ProtoWriter.growable();
  w.repeatedString(1, res.names);
  w.repeatedString(2, res.warnings);
  writeAny(w, 3, res.hints);
  return w.finish();
}

/**
 * Reads the fields of a `LabelNamesResponse` or `LabelValuesResponse` (the same layout: 1 the
 * names or values, 2 warnings, 3 hints) from `r` into `list` and `res`, to the end; with a
 * `pacer`, only until it has an event-loop turn due, which it returns (await it, call again).
 */
function readLabelStrings(
  r: ProtoReader,
  list: string[],
  res: { warnings: string[]; hints?: AnyMessage },
  pacer?: TurnPacer,
): Promise<void> | undefined {
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) list.push(r.string());
    else if (t === 0x12) res.warnings.push(r.string());
    else if (t === 0x1a) res.hints = readAny(r.sub("Any"));
    else r.skip(t & 7);
    const turn = pacer?.pause();
    if (turn) return turn;
  }
  return undefined;
}

/** Decodes a `LabelNamesResponse`. */
export function decodeLabelNamesResponse(buf: Uint8Array): LabelNamesResponse {
  const res: LabelNamesResponse = { names: [], warnings: [] };
  readLabelStrings(new ProtoReader(buf, "LabelNamesResponse"), res.names, res);
  return res;
}

/**
 * Decodes a `LabelNamesResponse` like {@link decodeLabelNamesResponse}, giving the event loop
 * the turns `pacer` calls for: tens of thousands of names do not hold a thread that serves
 * probes (issue 20).
 */
export async function decodeLabelNamesResponseInSteps(
  buf: Uint8Array,
  pacer: TurnPacer,
): Promise<LabelNamesResponse> {
  const r = new ProtoReader(buf, "LabelNamesResponse");
  const res: LabelNamesResponse = { names: [], warnings: [] };
  for (let turn; (turn = readLabelStrings(r, res.names, res, pacer));) await turn;
  return res;
}

/** Encodes a `LabelValuesRequest`. */
export function encodeLabelValuesRequest(req: LabelValuesRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(1, req.label);
  w.boolField(2, req.partialResponseDisabled);
  w.uintField(3, req.partialResponseStrategy ?? 0);
  w.int64Field(4, req.start);
  w.int64Field(5, req.end);
  writeAny(w, 6, req.hints);
  writeMatchers(w, 7, req.matchers);
  w.repeatedString(8, req.withoutReplicaLabels);
  w.int64Field(9, req.limit ?? 0);
  return w.finish();
}

/** Decodes a `LabelValuesRequest`, its matchers built by `make` when given. */
export function decodeLabelValuesRequest(
  buf: Uint8Array,
  make?: MatcherFactory,
): LabelValuesRequest {
  const r = new ProtoReader(buf, "LabelValuesRequest");
  const req: LabelValuesRequest = {
    label: "",
    start: 0,
    end: 0,
    matchers: [],
    partialResponseDisabled: false,
    partialResponseStrategy: PartialResponseStrategy.WARN,
    withoutReplicaLabels: [],
    limit: 0,
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t >>> 3) {
      case 1:
        req.label = r.string();
        break;
      case 2:
        req.partialResponseDisabled = r.bool();
        break;
      case 3:
        req.partialResponseStrategy = r.varint();
        break;
      case 4:
        req.start = r.int64();
        break;
      case 5:
        req.end = r.int64();
        break;
      case 6:
        req.hints = readAny(r.sub("Any"));
        break;
      case 7:
        req.matchers.push(readMatcher(r.sub("LabelMatcher"), make));
        break;
      case 8:
        req.withoutReplicaLabels!.push(r.string());
        break;
      case 9:
        req.limit = r.int64();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return req;
}

/** Encodes a `LabelValuesResponse`. */
export function encodeLabelValuesResponse(res: LabelValuesResponse): Uint8Array {
  const w = ProtoWriter.growable();
  w.repeatedString(1, res.values);
  w.repeatedString(2, res.warnings);
  writeAny(w, 3, res.hints);
  return w.finish();
}

/** Decodes a `LabelValuesResponse`. */
export function decodeLabelValuesResponse(buf: Uint8Array): LabelValuesResponse {
  const res: LabelValuesResponse = { values: [], warnings: [] };
  readLabelStrings(new ProtoReader(buf, "LabelValuesResponse"), res.values, res);
  return res;
}

/**
 * Decodes a `LabelValuesResponse` like {@link decodeLabelValuesResponse}, giving the event loop
 * the turns `pacer` calls for: a label's 60,000 values took 20–50 ms in one step on the querier's
 * HTTP thread (issue 20).
 */
export async function decodeLabelValuesResponseInSteps(
  buf: Uint8Array,
  pacer: TurnPacer,
): Promise<LabelValuesResponse> {
  const r = new ProtoReader(buf, "LabelValuesResponse");
  const res: LabelValuesResponse = { values: [], warnings: [] };
  for (let turn; (turn = readLabelStrings(r, res.values, res, pacer));) await turn;
  return res;
}

// ---------------------------------------------------------------------------------------------
// Info

/** Encodes a `thanos.info.InfoResponse` from a component's self-description. */
export function encodeInfoResponse(info: StoreInfo): Uint8Array {
  const w = ProtoWriter.growable();
  for (const ls of info.labelSets) writeLabelSet(w, 1, ls);
  w.stringField(2, info.componentType);
  if (info.storeApi !== false) {
    w.message(3, (x) => {
      x.int64Field(1, info.minTime);
      x.int64Field(2, info.maxTime);
      x.boolField(3, info.supportsSharding);
      x.boolField(5, info.supportsWithoutReplicaLabels);
      for (const ti of info.tsdbInfos ?? []) {
        x.message(6, (y) => {
          writeLabelSet(y, 1, ti.labels);
          y.int64Field(2, ti.minTime);
          y.int64Field(3, ti.maxTime);
        });
      }
      x.boolField(7, info.supportsProjections);
    });
  }
  const empty = () => {};
  if (info.rules) w.message(4, empty);
  if (info.metricMetadata) w.message(5, empty);
  if (info.targets) w.message(6, empty);
  const ex = info.exemplars;
  if (ex) {
    w.message(7, (x) => {
      x.int64Field(1, ex.minTime);
      x.int64Field(2, ex.maxTime);
    });
  }
  if (info.query) w.message(8, empty);
  if (info.status) w.message(9, empty);
  return w.finish();
}

function readMinMax(r: ProtoReader): { minTime: number; maxTime: number } {
  const out = { minTime: 0, maxTime: 0 };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) out.minTime = r.int64();
    else if (t === 0x10) out.maxTime = r.int64();
    else r.skip(t & 7);
  }
  return out;
}

/** Decodes a `thanos.info.InfoResponse`; `storeApi` is false when the store section is absent. */
export function decodeInfoResponse(buf: Uint8Array): StoreInfo {
  const r = new ProtoReader(buf, "info.InfoResponse");
  const info: StoreInfo = {
    componentType: "",
    labelSets: [],
    minTime: 0,
    maxTime: 0,
    storeApi: false,
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 0x0a:
        info.labelSets.push(readLabelSet(r.sub("ZLabelSet")));
        break;
      case 0x12:
        info.componentType = r.string();
        break;
      case 0x1a: {
        const s = r.sub("StoreInfo");
        info.storeApi = true;
        info.supportsSharding = false;
        info.supportsWithoutReplicaLabels = false;
        info.supportsProjections = false;
        info.tsdbInfos = [];
        while (!s.eof()) {
          const st = s.tag();
          if (st === 0x08) info.minTime = s.int64();
          else if (st === 0x10) info.maxTime = s.int64();
          else if (st === 0x18) info.supportsSharding = s.bool();
          else if (st === 0x28) info.supportsWithoutReplicaLabels = s.bool();
          else if (st === 0x38) info.supportsProjections = s.bool();
          else if (st === 0x32) {
            const ti = s.sub("TSDBInfo");
            const tsdb: TsdbInfo = { labels: [], minTime: 0, maxTime: 0 };
            while (!ti.eof()) {
              const tt = ti.tag();
              if (tt === 0x0a) tsdb.labels = readLabelSet(ti.sub("ZLabelSet"));
              else if (tt === 0x10) tsdb.minTime = ti.int64();
              else if (tt === 0x18) tsdb.maxTime = ti.int64();
              else ti.skip(tt & 7);
            }
            info.tsdbInfos.push(tsdb);
          } else s.skip(st & 7);
        }
        break;
      }
      case 0x22:
        r.sub("RulesInfo");
        info.rules = true;
        break;
      case 0x2a:
        r.sub("MetricMetadataInfo");
        info.metricMetadata = true;
        break;
      case 0x32:
        r.sub("TargetsInfo");
        info.targets = true;
        break;
      case 0x3a:
        info.exemplars = readMinMax(r.sub("ExemplarsInfo"));
        break;
      case 0x42:
        r.sub("QueryAPIInfo");
        info.query = true;
        break;
      case 0x4a:
        r.sub("StatusInfo");
        info.status = true;
        break;
      default:
        r.skip(t & 7);
    }
  }
  return info;
}

/** Encodes the legacy `thanos.InfoResponse` (Store/Info) from a component's self-description. */
export function encodeLegacyInfoResponse(info: StoreInfo): Uint8Array {
  const w = ProtoWriter.growable();
  // the deprecated single label set is the first one, as Go components fill it
  if (info.labelSets.length > 0) writeLabels(w, 1, info.labelSets[0]);
  w.int64Field(2, info.minTime);
  w.int64Field(3, info.maxTime);
  w.uintField(4, storeTypeOf(info.componentType));
  for (const ls of info.labelSets) writeLabelSet(w, 5, ls);
  return w.finish();
}

/** Decodes the legacy `thanos.InfoResponse`. */
export function decodeLegacyInfoResponse(buf: Uint8Array): LegacyInfoResponse {
  const r = new ProtoReader(buf, "InfoResponse");
  const out: LegacyInfoResponse = {
    labels: [],
    minTime: 0,
    maxTime: 0,
    storeType: StoreType.UNKNOWN,
    labelSets: [],
  };
  const labels: string[] = [];
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) readLabel(r.sub("Label"), labels);
    else if (t === 0x10) out.minTime = r.int64();
    else if (t === 0x18) out.maxTime = r.int64();
    else if (t === 0x20) out.storeType = r.varint();
    else if (t === 0x2a) out.labelSets.push(readLabelSet(r.sub("ZLabelSet")));
    else r.skip(t & 7);
  }
  out.labels = labels;
  return out;
}

// ---------------------------------------------------------------------------------------------
// grpc.health.v1

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export enum ServingStatus {
  UNKNOWN = 0,
  SERVING = 1,
  NOT_SERVING = 2,
  SERVICE_UNKNOWN = 3,
}

/** Encodes a `HealthCheckRequest`. */
export function encodeHealthCheckRequest(service: string): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(1, service);
  return w.finish();
}

/** Decodes a `HealthCheckRequest`, returning the service name. */
export function decodeHealthCheckRequest(buf: Uint8Array): string {
  const r = new ProtoReader(buf, "HealthCheckRequest");
  let service = "";
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) service = r.string();
    else r.skip(t & 7);
  }
  return service;
}

/** Encodes a `HealthCheckResponse`. */
export function encodeHealthCheckResponse(status: ServingStatus): Uint8Array {
  const w = ProtoWriter.growable(4);
  w.uintField(1, status);
  return w.finish();
}

/** Decodes a `HealthCheckResponse`. */
export function decodeHealthCheckResponse(buf: Uint8Array): ServingStatus {
  const r = new ProtoReader(buf, "HealthCheckResponse");
  let status = ServingStatus.UNKNOWN;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) status = r.varint();
    else r.skip(t & 7);
  }
  return status;
}

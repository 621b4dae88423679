// OTLP metrics export requests (`opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`,
// https://github.com/open-telemetry/opentelemetry-proto/blob/v1.5.0/opentelemetry/proto/metrics/v1/metrics.proto)
// decoded from protobuf or from OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding:
// lowerCamelCase field names, 64-bit integers as strings or numbers, enums as integers or names,
// trace and span ids as hex) into one small model the translator reads. Nanosecond timestamps
// become milliseconds exactly (fixed64 read as two 32-bit words, no rounding through a double);
// attribute values become strings as the OpenTelemetry collector's `pcommon.Value.AsString` prints
// them. Anything malformed throws OtlpDecodeError naming the field.

import zlib from "node:zlib";
import { ProtoDecodeError, ProtoReader, WireType } from "../storeapi/wire.ts";

/** An attribute with its value already printed as a string. */
export interface OtlpAttribute {
  key: string;
  value: string;
}

/** An exemplar of a sum or histogram point. */
export interface OtlpExemplar {
  attributes: OtlpAttribute[];
  timeMs: number;
  /** NaN-free number; undefined when the exemplar has neither as_double nor as_int. */
  value: number | undefined;
  /** Lowercase hex; "" when absent or all zero. */
  traceId: string;
  spanId: string;
}

/** A gauge or sum point. */
export interface OtlpNumberPoint {
  attributes: OtlpAttribute[];
  timeMs: number;
  value: number;
  /** DataPointFlags.FLAG_NO_RECORDED_VALUE: the series went away (a stale marker). */
  noRecordedValue: boolean;
  exemplars: OtlpExemplar[];
}

/** An explicit-bucket histogram point: `bucketCounts` has one more entry than `bounds`. */
export interface OtlpHistogramPoint {
  attributes: OtlpAttribute[];
  timeMs: number;
  count: number;
  sum: number | undefined;
  bucketCounts: number[];
  bounds: number[];
  noRecordedValue: boolean;
  exemplars: OtlpExemplar[];
}

/** A summary point: count, sum and quantiles. */
export interface OtlpSummaryPoint {
  attributes: OtlpAttribute[];
  timeMs: number;
  count: number;
  sum: number;
  quantiles: { quantile: number; value: number }[];
  noRecordedValue: boolean;
}

/** The metric's data kind ("empty" when none of the oneof fields is set). */
export type OtlpMetricKind =
  | "gauge"
  | "sum"
  | "histogram"
  | "exponential_histogram"
  | "summary"
  | "empty";

/** AggregationTemporality values. */
export const TEMPORALITY_UNSPECIFIED = 0;
export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;

/** One metric with the points of its kind (the other point lists stay empty). */
export interface OtlpMetric {
  name: string;
  description: string;
  unit: string;
  kind: OtlpMetricKind;
  /** Sum.is_monotonic. */
  monotonic: boolean;
  /** Sum/Histogram/ExponentialHistogram aggregation_temporality (0 for the others). */
  temporality: number;
  numberPoints: OtlpNumberPoint[];
  histogramPoints: OtlpHistogramPoint[];
  summaryPoints: OtlpSummaryPoint[];
  /** Points of an exponential histogram (only their count and latest time are kept). */
  exponentialPoints: number;
  /** Latest point timestamp in ms (0 when none). */
  latestMs: number;
}

/** A resource's attributes and the metrics of all its scopes. */
export interface OtlpResourceMetrics {
  resource: OtlpAttribute[];
  metrics: OtlpMetric[];
}

/** A decoded ExportMetricsServiceRequest. */
export interface OtlpMetricsRequest {
  resourceMetrics: OtlpResourceMetrics[];
}

/** The body is not a valid OTLP metrics export request. */
export class OtlpDecodeError extends Error {
  override name = "OtlpDecodeError";
}

const FLAG_NO_RECORDED_VALUE = 1;
const TWO32 = 4294967296;

/** The content types Prometheus's OTLP decoding accepts (exact header values). */
export const OTLP_PROTOBUF = "application/x-protobuf";
export const OTLP_JSON = "application/json";

/**
 * Decodes an OTLP/HTTP metrics body as Prometheus's `DecodeOTLPWriteRequest` (which Thanos
 * receive calls): `Content-Type` exactly `application/x-protobuf` or `application/json`,
 * `Content-Encoding` `gzip` or none, the decompressed body at most `maxDecompressedBytes`.
 * Throws OtlpDecodeError with the reason.
 */
export function decodeOtlpRequest(
  body: Uint8Array,
  contentType: string,
  contentEncoding: string,
  maxDecompressedBytes: number,
): OtlpMetricsRequest {
  if (contentType !== OTLP_PROTOBUF && contentType !== OTLP_JSON) {
    throw new OtlpDecodeError(
      `unsupported content type: ${contentType}, supported: [${OTLP_JSON}, ${OTLP_PROTOBUF}]`,
    );
  }
  let raw = body;
  if (contentEncoding === "gzip") {
    try {
      raw = zlib.gunzipSync(body, { maxOutputLength: maxDecompressedBytes });
    } catch (e) {
      const tooLarge = e instanceof RangeError ||
        (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
      throw new OtlpDecodeError(
        tooLarge
          ? `gzip body decompresses to more than ${maxDecompressedBytes} bytes`
          : `gzip: ${(e as Error).message}`,
      );
    }
  } else if (contentEncoding !== "") {
    throw new OtlpDecodeError(
      `unsupported compression: ${contentEncoding}. Only "gzip" or no compression supported`,
    );
  }
  return contentType === OTLP_JSON ? decodeOtlpJson(raw) : decodeOtlpProtobuf(raw);
}

// ---------------------------------------------------------------------------------------------
// protobuf

/** Decodes a protobuf ExportMetricsServiceRequest. Throws OtlpDecodeError. */
export function decodeOtlpProtobuf(body: Uint8Array): OtlpMetricsRequest {
  try {
    const r = new ProtoReader(body, "ExportMetricsServiceRequest");
    const out: OtlpResourceMetrics[] = [];
    while (!r.eof()) {
      const t = r.tag();
      if (t === (1 << 3 | WireType.LengthDelimited)) {
        out.push(pbResourceMetrics(r.sub("ResourceMetrics")));
      } else r.skip(t & 7);
    }
    return { resourceMetrics: out };
  } catch (e) {
    if (e instanceof ProtoDecodeError || e instanceof RangeError) {
      throw new OtlpDecodeError(`unmarshal OTLP protobuf request: ${e.message}`);
    }
    throw e;
  }
}

function expectWire(r: ProtoReader, t: number, want: WireType): void {
  if ((t & 7) !== want) {
    throw new ProtoDecodeError(
      r.what,
      r.pos,
      `field ${t >>> 3} has wire type ${t & 7}, want ${want}`,
    );
  }
}

/** Nanoseconds (fixed64) → milliseconds, exact: ns = hi·2^32 + lo = hi·4294·10^6 + hi·967296 + lo. */
function pbNanosToMillis(r: ProtoReader): number {
  if (r.pos + 8 > r.end) throw new ProtoDecodeError(r.what, r.pos, "truncated fixed64");
  const b = r.buf;
  const p = r.pos;
  const lo = (b[p] | b[p + 1] << 8 | b[p + 2] << 16 | b[p + 3] << 24) >>> 0;
  const hi = (b[p + 4] | b[p + 5] << 8 | b[p + 6] << 16 | b[p + 7] << 24) >>> 0;
  r.pos += 8;
  return hi * 4294 + Math.floor((hi * 967296 + lo) / 1e6);
}

/** A fixed64 (unsigned when `signed` is false) as a number (exact below 2^53). */
function pbFixed64(r: ProtoReader, signed: boolean): number {
  if (r.pos + 8 > r.end) throw new ProtoDecodeError(r.what, r.pos, "truncated fixed64");
  const b = r.buf;
  const p = r.pos;
  const lo = (b[p] | b[p + 1] << 8 | b[p + 2] << 16 | b[p + 3] << 24) >>> 0;
  const hiBits = b[p + 4] | b[p + 5] << 8 | b[p + 6] << 16 | b[p + 7] << 24;
  r.pos += 8;
  return (signed ? hiBits : hiBits >>> 0) * TWO32 + lo;
}

function pbResourceMetrics(r: ProtoReader): OtlpResourceMetrics {
  const rm: OtlpResourceMetrics = { resource: [], metrics: [] };
  while (!r.eof()) {
    const t = r.tag();
    switch (t >>> 3) {
      case 1: { // Resource
        expectWire(r, t, WireType.LengthDelimited);
        const rr = r.sub("Resource");
        while (!rr.eof()) {
          const rt = rr.tag();
          if (rt === (1 << 3 | WireType.LengthDelimited)) {
            rm.resource.push(pbKeyValue(rr.sub("KeyValue")));
          } else rr.skip(rt & 7);
        }
        break;
      }
      case 2: { // ScopeMetrics
        expectWire(r, t, WireType.LengthDelimited);
        const s = r.sub("ScopeMetrics");
        while (!s.eof()) {
          const st = s.tag();
          if (st === (2 << 3 | WireType.LengthDelimited)) {
            rm.metrics.push(pbMetric(s.sub("Metric")));
          } else s.skip(st & 7);
        }
        break;
      }
      default:
        r.skip(t & 7);
    }
  }
  return rm;
}

function newMetric(): OtlpMetric {
  return {
    name: "",
    description: "",
    unit: "",
    kind: "empty",
    monotonic: false,
    temporality: 0,
    numberPoints: [],
    histogramPoints: [],
    summaryPoints: [],
    exponentialPoints: 0,
    latestMs: 0,
  };
}

function pbMetric(r: ProtoReader): OtlpMetric {
  const m = newMetric();
  while (!r.eof()) {
    const t = r.tag();
    const field = t >>> 3;
    if (field >= 5 && field !== 6 && field !== 8 && field <= 11) {
      expectWire(r, t, WireType.LengthDelimited);
      const d = r.sub("Metric.data");
      // a later oneof member replaces an earlier one, as protobuf decoders do
      m.numberPoints = [];
      m.histogramPoints = [];
      m.summaryPoints = [];
      m.exponentialPoints = 0;
      m.monotonic = false;
      m.temporality = 0;
      m.kind = field === 5
        ? "gauge"
        : field === 7
        ? "sum"
        : field === 9
        ? "histogram"
        : field === 10
        ? "exponential_histogram"
        : "summary";
      pbData(d, m);
      continue;
    }
    switch (field) {
      case 1:
        expectWire(r, t, WireType.LengthDelimited);
        m.name = r.string();
        break;
      case 2:
        expectWire(r, t, WireType.LengthDelimited);
        m.description = r.string();
        break;
      case 3:
        expectWire(r, t, WireType.LengthDelimited);
        m.unit = r.string();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return m;
}

/** Gauge, Sum, Histogram, ExponentialHistogram or Summary: data_points = 1, temporality = 2. */
function pbData(r: ProtoReader, m: OtlpMetric): void {
  while (!r.eof()) {
    const t = r.tag();
    const field = t >>> 3;
    if (field === 1) {
      expectWire(r, t, WireType.LengthDelimited);
      const p = r.sub("DataPoint");
      let timeMs: number;
      switch (m.kind) {
        case "gauge":
        case "sum": {
          const pt = pbNumberPoint(p);
          m.numberPoints.push(pt);
          timeMs = pt.timeMs;
          break;
        }
        case "histogram": {
          const pt = pbHistogramPoint(p);
          m.histogramPoints.push(pt);
          timeMs = pt.timeMs;
          break;
        }
        case "summary": {
          const pt = pbSummaryPoint(p);
          m.summaryPoints.push(pt);
          timeMs = pt.timeMs;
          break;
        }
        default:
          timeMs = pbExponentialTime(p);
          m.exponentialPoints++;
      }
      if (timeMs > m.latestMs) m.latestMs = timeMs;
    } else if (field === 2 && m.kind !== "gauge" && m.kind !== "summary") {
      expectWire(r, t, WireType.Varint);
      m.temporality = r.varint();
    } else if (field === 3 && m.kind === "sum") {
      expectWire(r, t, WireType.Varint);
      m.monotonic = r.bool();
    } else r.skip(t & 7);
  }
}

function pbNumberPoint(r: ProtoReader): OtlpNumberPoint {
  const pt: OtlpNumberPoint = {
    attributes: [],
    timeMs: 0,
    value: 0,
    noRecordedValue: false,
    exemplars: [],
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 7 << 3 | WireType.LengthDelimited:
        pt.attributes.push(pbKeyValue(r.sub("KeyValue")));
        break;
      case 3 << 3 | WireType.Fixed64:
        pt.timeMs = pbNanosToMillis(r);
        break;
      case 4 << 3 | WireType.Fixed64:
        pt.value = r.double();
        break;
      case 6 << 3 | WireType.Fixed64:
        pt.value = pbFixed64(r, true);
        break;
      case 5 << 3 | WireType.LengthDelimited:
        pt.exemplars.push(pbExemplar(r.sub("Exemplar")));
        break;
      case 8 << 3 | WireType.Varint:
        pt.noRecordedValue = (r.varint() & FLAG_NO_RECORDED_VALUE) !== 0;
        break;
      default:
        r.skip(t & 7);
    }
  }
  return pt;
}

function pbHistogramPoint(r: ProtoReader): OtlpHistogramPoint {
  const pt: OtlpHistogramPoint = {
    attributes: [],
    timeMs: 0,
    count: 0,
    sum: undefined,
    bucketCounts: [],
    bounds: [],
    noRecordedValue: false,
    exemplars: [],
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 9 << 3 | WireType.LengthDelimited:
        pt.attributes.push(pbKeyValue(r.sub("KeyValue")));
        break;
      case 3 << 3 | WireType.Fixed64:
        pt.timeMs = pbNanosToMillis(r);
        break;
      case 4 << 3 | WireType.Fixed64:
        pt.count = pbFixed64(r, false);
        break;
      case 5 << 3 | WireType.Fixed64:
        pt.sum = r.double();
        break;
      case 6 << 3 | WireType.Fixed64:
        pt.bucketCounts.push(pbFixed64(r, false));
        break;
      case 6 << 3 | WireType.LengthDelimited: {
        const p = r.sub("bucket_counts");
        while (!p.eof()) pt.bucketCounts.push(pbFixed64(p, false));
        break;
      }
      case 7 << 3 | WireType.Fixed64:
        pt.bounds.push(r.double());
        break;
      case 7 << 3 | WireType.LengthDelimited: {
        const p = r.sub("explicit_bounds");
        while (!p.eof()) pt.bounds.push(p.double());
        break;
      }
      case 8 << 3 | WireType.LengthDelimited:
        pt.exemplars.push(pbExemplar(r.sub("Exemplar")));
        break;
      case 10 << 3 | WireType.Varint:
        pt.noRecordedValue = (r.varint() & FLAG_NO_RECORDED_VALUE) !== 0;
        break;
      default:
        r.skip(t & 7);
    }
  }
  return pt;
}

function pbSummaryPoint(r: ProtoReader): OtlpSummaryPoint {
  const pt: OtlpSummaryPoint = {
    attributes: [],
    timeMs: 0,
    count: 0,
    sum: 0,
    quantiles: [],
    noRecordedValue: false,
  };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 7 << 3 | WireType.LengthDelimited:
        pt.attributes.push(pbKeyValue(r.sub("KeyValue")));
        break;
      case 3 << 3 | WireType.Fixed64:
        pt.timeMs = pbNanosToMillis(r);
        break;
      case 4 << 3 | WireType.Fixed64:
        pt.count = pbFixed64(r, false);
        break;
      case 5 << 3 | WireType.Fixed64:
        pt.sum = r.double();
        break;
      case 6 << 3 | WireType.LengthDelimited: {
        const q = r.sub("ValueAtQuantile");
        const vq = { quantile: 0, value: 0 };
        while (!q.eof()) {
          const qt = q.tag();
          if (qt === (1 << 3 | WireType.Fixed64)) vq.quantile = q.double();
          else if (qt === (2 << 3 | WireType.Fixed64)) vq.value = q.double();
          else q.skip(qt & 7);
        }
        pt.quantiles.push(vq);
        break;
      }
      case 8 << 3 | WireType.Varint:
        pt.noRecordedValue = (r.varint() & FLAG_NO_RECORDED_VALUE) !== 0;
        break;
      default:
        r.skip(t & 7);
    }
  }
  return pt;
}

/** An exponential histogram point: only its time (field 3) is kept. */
function pbExponentialTime(r: ProtoReader): number {
  let timeMs = 0;
  while (!r.eof()) {
    const t = r.tag();
    if (t === (3 << 3 | WireType.Fixed64)) timeMs = pbNanosToMillis(r);
    else r.skip(t & 7);
  }
  return timeMs;
}

function pbExemplar(r: ProtoReader): OtlpExemplar {
  const ex: OtlpExemplar = { attributes: [], timeMs: 0, value: undefined, traceId: "", spanId: "" };
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 7 << 3 | WireType.LengthDelimited:
        ex.attributes.push(pbKeyValue(r.sub("KeyValue")));
        break;
      case 2 << 3 | WireType.Fixed64:
        ex.timeMs = pbNanosToMillis(r);
        break;
      case 3 << 3 | WireType.Fixed64:
        ex.value = r.double();
        break;
      case 6 << 3 | WireType.Fixed64:
        ex.value = pbFixed64(r, true);
        break;
      case 4 << 3 | WireType.LengthDelimited:
        ex.spanId = idHex(r.bytes(), 8, "span_id");
        break;
      case 5 << 3 | WireType.LengthDelimited:
        ex.traceId = idHex(r.bytes(), 16, "trace_id");
        break;
      default:
        r.skip(t & 7);
    }
  }
  return ex;
}

/** A trace or span id as hex ("" when empty or all zero); other lengths are invalid. */
function idHex(b: Uint8Array, size: number, what: string): string {
  if (b.length === 0) return "";
  if (b.length !== size) {
    throw new OtlpDecodeError(`invalid ${what}: ${b.length} bytes, want ${size}`);
  }
  let s = "";
  let zero = true;
  for (const c of b) {
    if (c !== 0) zero = false;
    s += (c < 16 ? "0" : "") + c.toString(16);
  }
  return zero ? "" : s;
}

function pbKeyValue(r: ProtoReader): OtlpAttribute {
  let key = "";
  let value = "";
  while (!r.eof()) {
    const t = r.tag();
    if (t === (1 << 3 | WireType.LengthDelimited)) key = r.string();
    else if (t === (2 << 3 | WireType.LengthDelimited)) {
      value = rawToString(pbAnyValue(r.sub("AnyValue")));
    } else r.skip(t & 7);
  }
  return { key, value };
}

/** An AnyValue as plain data: string, boolean, number/bigint, bytes, array, map, or null. */
type RawValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | RawValue[]
  | Map<string, RawValue>
  | null;

function pbAnyValue(r: ProtoReader): RawValue {
  let v: RawValue = null;
  while (!r.eof()) {
    const t = r.tag();
    switch (t) {
      case 1 << 3 | WireType.LengthDelimited:
        v = r.string();
        break;
      case 2 << 3 | WireType.Varint:
        v = r.bool();
        break;
      case 3 << 3 | WireType.Varint:
        v = pbInt64(r);
        break;
      case 4 << 3 | WireType.Fixed64:
        v = r.double();
        break;
      case 5 << 3 | WireType.LengthDelimited: {
        const a = r.sub("ArrayValue");
        const arr: RawValue[] = [];
        while (!a.eof()) {
          const at = a.tag();
          if (at === (1 << 3 | WireType.LengthDelimited)) arr.push(pbAnyValue(a.sub("AnyValue")));
          else a.skip(at & 7);
        }
        v = arr;
        break;
      }
      case 6 << 3 | WireType.LengthDelimited: {
        const l = r.sub("KeyValueList");
        const map = new Map<string, RawValue>();
        while (!l.eof()) {
          const lt = l.tag();
          if (lt === (1 << 3 | WireType.LengthDelimited)) {
            const kv = l.sub("KeyValue");
            let k = "";
            let kvValue: RawValue = null;
            while (!kv.eof()) {
              const kt = kv.tag();
              if (kt === (1 << 3 | WireType.LengthDelimited)) k = kv.string();
              else if (kt === (2 << 3 | WireType.LengthDelimited)) {
                kvValue = pbAnyValue(kv.sub("AnyValue"));
              } else kv.skip(kt & 7);
            }
            map.set(k, kvValue);
          } else l.skip(lt & 7);
        }
        v = map;
        break;
      }
      case 7 << 3 | WireType.LengthDelimited:
        v = r.bytes().slice();
        break;
      default:
        r.skip(t & 7);
    }
  }
  return v;
}

/** An int64 varint, exact: a number when safe, else a bigint. */
function pbInt64(r: ProtoReader): number | bigint {
  const start = r.pos;
  const v = r.varint();
  if (v <= Number.MAX_SAFE_INTEGER) return v;
  let big = 0n;
  let shift = 0n;
  for (let p = start; p < r.pos; p++) {
    big |= BigInt(r.buf[p] & 0x7f) << shift;
    shift += 7n;
  }
  const signed = BigInt.asIntN(64, big);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(signed) : signed;
}

// ---------------------------------------------------------------------------------------------
// AsString

/** A value printed as pcommon.Value.AsString prints it (maps and slices as JSON). */
function rawToString(v: RawValue): string {
  if (v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "number") return floatOrIntString(v);
  if (v instanceof Uint8Array) return base64(v);
  return JSON.stringify(rawToJson(v));
}

/** Doubles print as ES6 numbers do (JavaScript's own String); ±Inf and NaN as Go's JSON error. */
function floatOrIntString(v: number): string {
  if (Number.isFinite(v)) return String(v);
  const go = v !== v ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  return `json: unsupported value: ${go}`;
}

function rawToJson(v: RawValue): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const k of [...v.keys()].sort()) {
      Object.defineProperty(o, k, { value: rawToJson(v.get(k)!), enumerable: true });
    }
    return o;
  }
  if (Array.isArray(v)) return v.map(rawToJson);
  if (v instanceof Uint8Array) return base64(v);
  if (typeof v === "bigint") return Number(v);
  return v;
}

function base64(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return btoa(s);
}

// ---------------------------------------------------------------------------------------------
// JSON

type Json = Record<string, unknown>;

/** Decodes an OTLP/JSON ExportMetricsServiceRequest. Throws OtlpDecodeError. */
export function decodeOtlpJson(body: Uint8Array): OtlpMetricsRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (e) {
    throw new OtlpDecodeError(`unmarshal OTLP JSON request: ${(e as Error).message}`);
  }
  const root = obj(doc, "request");
  return {
    resourceMetrics: arr(field(root, "resourceMetrics", "resource_metrics"), "resourceMetrics")
      .map((x, i) => jsonResourceMetrics(obj(x, `resourceMetrics[${i}]`), `resourceMetrics[${i}]`)),
  };
}

function bad(path: string, what: string): never {
  throw new OtlpDecodeError(`unmarshal OTLP JSON request: ${path}: ${what}`);
}

function obj(v: unknown, path: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) bad(path, "want an object");
  return v as Json;
}

function arr(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(path, "want an array");
  return v;
}

/** A field by its JSON (lowerCamelCase) or proto (snake_case) name. */
function field(o: Json, camel: string, snake = camel): unknown {
  return Object.hasOwn(o, camel) ? o[camel] : Object.hasOwn(o, snake) ? o[snake] : undefined;
}

function str(v: unknown, path: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") bad(path, "want a string");
  return v;
}

function num(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    if (v === "NaN") return NaN;
    if (v === "Infinity") return Infinity;
    if (v === "-Infinity") return -Infinity;
    if (/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) return Number(v);
  }
  bad(path, `want a number, got ${JSON.stringify(v)}`);
}

/** A (u)int64 as a number (exact below 2^53). */
function int64(v: unknown, path: string): number {
  const n = num(v, path);
  if (!Number.isInteger(n)) bad(path, `want an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Nanoseconds → milliseconds (exact for strings). */
function nanosToMillis(v: unknown, path: string): number {
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(BigInt(v) / 1000000n);
  return Math.floor(int64(v, path) / 1e6);
}

function bool(v: unknown, path: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") bad(path, "want a boolean");
  return v;
}

const TEMPORALITY_NAMES: Record<string, number> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: TEMPORALITY_UNSPECIFIED,
  AGGREGATION_TEMPORALITY_DELTA: TEMPORALITY_DELTA,
  AGGREGATION_TEMPORALITY_CUMULATIVE: TEMPORALITY_CUMULATIVE,
};

function temporality(v: unknown, path: string): number {
  if (typeof v === "string" && Object.hasOwn(TEMPORALITY_NAMES, v)) return TEMPORALITY_NAMES[v];
  return int64(v, path);
}

function jsonResourceMetrics(o: Json, path: string): OtlpResourceMetrics {
  const res = obj(field(o, "resource"), `${path}.resource`);
  const rm: OtlpResourceMetrics = {
    resource: jsonAttributes(field(res, "attributes"), `${path}.resource.attributes`),
    metrics: [],
  };
  arr(field(o, "scopeMetrics", "scope_metrics"), `${path}.scopeMetrics`).forEach((s, i) => {
    const sp = `${path}.scopeMetrics[${i}]`;
    arr(field(obj(s, sp), "metrics"), `${sp}.metrics`).forEach((m, j) => {
      rm.metrics.push(jsonMetric(obj(m, `${sp}.metrics[${j}]`), `${sp}.metrics[${j}]`));
    });
  });
  return rm;
}

const DATA_FIELDS: [OtlpMetricKind, string, string][] = [
  ["gauge", "gauge", "gauge"],
  ["sum", "sum", "sum"],
  ["histogram", "histogram", "histogram"],
  ["exponential_histogram", "exponentialHistogram", "exponential_histogram"],
  ["summary", "summary", "summary"],
];

function jsonMetric(o: Json, path: string): OtlpMetric {
  const m = newMetric();
  m.name = str(field(o, "name"), `${path}.name`);
  m.description = str(field(o, "description"), `${path}.description`);
  m.unit = str(field(o, "unit"), `${path}.unit`);
  for (const [kind, camel, snake] of DATA_FIELDS) {
    const raw = field(o, camel, snake);
    if (raw === undefined || raw === null) continue;
    const dp = `${path}.${camel}`;
    const d = obj(raw, dp);
    m.kind = kind;
    if (kind !== "gauge" && kind !== "summary") {
      m.temporality = temporality(
        field(d, "aggregationTemporality", "aggregation_temporality"),
        `${dp}.aggregationTemporality`,
      );
    }
    if (kind === "sum") m.monotonic = bool(field(d, "isMonotonic", "is_monotonic"), dp);
    arr(field(d, "dataPoints", "data_points"), `${dp}.dataPoints`).forEach((x, i) => {
      const pp = `${dp}.dataPoints[${i}]`;
      const p = obj(x, pp);
      let timeMs: number;
      if (kind === "gauge" || kind === "sum") {
        const pt = jsonNumberPoint(p, pp);
        m.numberPoints.push(pt);
        timeMs = pt.timeMs;
      } else if (kind === "histogram") {
        const pt = jsonHistogramPoint(p, pp);
        m.histogramPoints.push(pt);
        timeMs = pt.timeMs;
      } else if (kind === "summary") {
        const pt = jsonSummaryPoint(p, pp);
        m.summaryPoints.push(pt);
        timeMs = pt.timeMs;
      } else {
        timeMs = nanosToMillis(field(p, "timeUnixNano", "time_unix_nano"), `${pp}.timeUnixNano`);
        m.exponentialPoints++;
      }
      if (timeMs > m.latestMs) m.latestMs = timeMs;
    });
  }
  return m;
}

function flagsNoRecordedValue(p: Json, path: string): boolean {
  return (int64(field(p, "flags"), `${path}.flags`) & FLAG_NO_RECORDED_VALUE) !== 0;
}

function jsonNumberPoint(p: Json, path: string): OtlpNumberPoint {
  const asInt = field(p, "asInt", "as_int");
  return {
    attributes: jsonAttributes(field(p, "attributes"), `${path}.attributes`),
    timeMs: nanosToMillis(field(p, "timeUnixNano", "time_unix_nano"), `${path}.timeUnixNano`),
    value: asInt !== undefined
      ? int64(asInt, `${path}.asInt`)
      : num(field(p, "asDouble", "as_double"), `${path}.asDouble`),
    noRecordedValue: flagsNoRecordedValue(p, path),
    exemplars: jsonExemplars(field(p, "exemplars"), `${path}.exemplars`),
  };
}

function jsonHistogramPoint(p: Json, path: string): OtlpHistogramPoint {
  const sum = field(p, "sum");
  return {
    attributes: jsonAttributes(field(p, "attributes"), `${path}.attributes`),
    timeMs: nanosToMillis(field(p, "timeUnixNano", "time_unix_nano"), `${path}.timeUnixNano`),
    count: int64(field(p, "count"), `${path}.count`),
    sum: sum === undefined || sum === null ? undefined : num(sum, `${path}.sum`),
    bucketCounts: arr(field(p, "bucketCounts", "bucket_counts"), `${path}.bucketCounts`)
      .map((c, i) => int64(c, `${path}.bucketCounts[${i}]`)),
    bounds: arr(field(p, "explicitBounds", "explicit_bounds"), `${path}.explicitBounds`)
      .map((b, i) => num(b, `${path}.explicitBounds[${i}]`)),
    noRecordedValue: flagsNoRecordedValue(p, path),
    exemplars: jsonExemplars(field(p, "exemplars"), `${path}.exemplars`),
  };
}

function jsonSummaryPoint(p: Json, path: string): OtlpSummaryPoint {
  return {
    attributes: jsonAttributes(field(p, "attributes"), `${path}.attributes`),
    timeMs: nanosToMillis(field(p, "timeUnixNano", "time_unix_nano"), `${path}.timeUnixNano`),
    count: int64(field(p, "count"), `${path}.count`),
    sum: num(field(p, "sum"), `${path}.sum`),
    quantiles: arr(field(p, "quantileValues", "quantile_values"), `${path}.quantileValues`)
      .map((x, i) => {
        const q = obj(x, `${path}.quantileValues[${i}]`);
        return {
          quantile: num(field(q, "quantile"), `${path}.quantileValues[${i}].quantile`),
          value: num(field(q, "value"), `${path}.quantileValues[${i}].value`),
        };
      }),
    noRecordedValue: flagsNoRecordedValue(p, path),
  };
}

function jsonExemplars(v: unknown, path: string): OtlpExemplar[] {
  return arr(v, path).map((x, i) => {
    const ep = `${path}[${i}]`;
    const e = obj(x, ep);
    const asInt = field(e, "asInt", "as_int");
    const asDouble = field(e, "asDouble", "as_double");
    return {
      attributes: jsonAttributes(
        field(e, "filteredAttributes", "filtered_attributes"),
        `${ep}.filteredAttributes`,
      ),
      timeMs: nanosToMillis(field(e, "timeUnixNano", "time_unix_nano"), `${ep}.timeUnixNano`),
      value: asInt !== undefined
        ? int64(asInt, `${ep}.asInt`)
        : asDouble !== undefined
        ? num(asDouble, `${ep}.asDouble`)
        : undefined,
      traceId: jsonId(field(e, "traceId", "trace_id"), 16, `${ep}.traceId`),
      spanId: jsonId(field(e, "spanId", "span_id"), 8, `${ep}.spanId`),
    };
  });
}

/** OTLP/JSON ids are hex strings ("" and all-zero ids are absent). */
function jsonId(v: unknown, size: number, path: string): string {
  const s = str(v, path);
  if (s === "") return "";
  if (!new RegExp(`^[0-9a-fA-F]{${size * 2}}$`).test(s)) {
    bad(path, `want ${size * 2} hex digits, got ${JSON.stringify(s)}`);
  }
  return /^0+$/.test(s) ? "" : s.toLowerCase();
}

function jsonAttributes(v: unknown, path: string): OtlpAttribute[] {
  return arr(v, path).map((x, i) => {
    const kv = obj(x, `${path}[${i}]`);
    return {
      key: str(field(kv, "key"), `${path}[${i}].key`),
      value: rawToString(jsonAnyValue(field(kv, "value"), `${path}[${i}].value`)),
    };
  });
}

function jsonAnyValue(v: unknown, path: string): RawValue {
  const o = obj(v, path);
  for (const k of Object.keys(o)) {
    const x = o[k];
    switch (k) {
      case "stringValue":
      case "string_value":
        return str(x, `${path}.${k}`);
      case "boolValue":
      case "bool_value":
        return bool(x, `${path}.${k}`);
      case "intValue":
      case "int_value":
        if (typeof x === "string" && /^-?\d+$/.test(x)) {
          const n = BigInt(x);
          return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(n)
            : n;
        }
        return int64(x, `${path}.${k}`);
      case "doubleValue":
      case "double_value":
        return num(x, `${path}.${k}`);
      case "bytesValue":
      case "bytes_value": {
        const s = str(x, `${path}.${k}`);
        try {
          return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
        } catch {
          bad(`${path}.${k}`, "want base64");
        }
        break;
      }
      case "arrayValue":
      case "array_value":
        return arr(field(obj(x, `${path}.${k}`), "values"), `${path}.${k}.values`)
          .map((e, i) => jsonAnyValue(e, `${path}.${k}.values[${i}]`));
      case "kvlistValue":
      case "kvlist_value": {
        const map = new Map<string, RawValue>();
        arr(field(obj(x, `${path}.${k}`), "values"), `${path}.${k}.values`).forEach((e, i) => {
          const kv = obj(e, `${path}.${k}.values[${i}]`);
          map.set(
            str(field(kv, "key"), `${path}.${k}.values[${i}].key`),
            jsonAnyValue(field(kv, "value"), `${path}.${k}.values[${i}].value`),
          );
        });
        return map;
      }
    }
  }
  return null;
}

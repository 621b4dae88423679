// Prometheus remote write 1.0 (https://prometheus.io/docs/concepts/remote_write_spec/): a
// snappy *block*-compressed protobuf `prometheus.WriteRequest`
// (https://github.com/prometheus/prometheus/blob/v2.42.0/prompb/remote.proto, types.proto):
//   WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
//   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
//                  repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
//   Label        { string name = 1; string value = 2; }
//   Sample       { double value = 1; int64 timestamp = 2; }
// Decoding validates the whole request before anything is appended, so a rejected request stores
// nothing. Status codes are those of Thanos receive
// (https://github.com/thanos-io/thanos/blob/main/pkg/receive/handler.go): bad snappy or protobuf →
// 400; label sets failing `labelpb.ValidateLabels` (unsorted, duplicate name, empty name or value)
// → 409, as Thanos classifies them as conflicts (`isLabelsConflictErr`); a body too large → 413.
// Sample values are kept as raw IEEE-754 words in Float64Arrays (see tsdb/value.ts), so stale
// markers survive decode, append and re-encode bit for bit. Metadata and exemplars are ignored
// (Thanos stores no metadata; exemplars need exemplar storage); native histograms are rejected
// because the head stores float samples only.

import { utf8Length } from "../strconv/utf8.ts";
import { type CachedLabels, LabelCache } from "./label_cache.ts";
import { compareStrings, labelsToString } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { HI_WORD, LO_WORD } from "../tsdb/value.ts";
import {
  ProtoDecodeError,
  ProtoReader,
  ProtoWriter,
  varintSize,
  WireType,
} from "../storeapi/wire.ts";

/**
 * One series of a write request; `values` hold raw float bits (stale markers included). A
 * decoded series whose labels came from (or went into) the label cache carries the cache
 * entry as `hint` (the head's memo of its series; its labels are shared: never modify them).
 */
export interface PromSeries {
  labels: Labels;
  timestamps: Float64Array;
  values: Float64Array;
  hint?: CachedLabels;
  /** `prometheus.Exemplar`s of the series (absent when it has none). */
  exemplars?: PromExemplar[];
}

/** A `prometheus.Exemplar`: its own labels (as sent), value, timestamp in ms. */
export interface PromExemplar {
  labels: Labels;
  value: number;
  timestamp: number;
}

/**
 * A decoded series: its samples stay in the request's arena (`off`, `n`); the typed-array views
 * `timestamps` and `values` are made on first use (two views per series cost more than the
 * rest of decoding a one-sample series). The ingest path reads the arena directly.
 */
export class DecodedSeries implements PromSeries {
  private ts: Float64Array | undefined = undefined;
  private vs: Float64Array | undefined = undefined;
  exemplars?: PromExemplar[] = undefined;
  constructor(
    readonly labels: Labels,
    readonly hint: CachedLabels | undefined,
    /** The arena's timestamps and value words (two per sample, see tsdb/value.ts). */
    readonly arenaTs: Float64Array,
    readonly arenaWords: Uint32Array,
    /** Index of the first sample in the arena and number of samples. */
    readonly off: number,
    readonly n: number,
  ) {}

  get timestamps(): Float64Array {
    return this.ts ??= new Float64Array(this.arenaTs.buffer, this.off * 8, this.n);
  }

  get values(): Float64Array {
    return this.vs ??= new Float64Array(this.arenaWords.buffer, this.off * 8, this.n);
  }
}

/**
 * `s` with other labels and the same samples (a decoded series keeps reading its arena). The
 * label-cache hint belongs to the old labels and is dropped.
 */
export function withLabels(s: PromSeries, labels: Labels): PromSeries {
  if (s instanceof DecodedSeries) {
    const d = new DecodedSeries(labels, undefined, s.arenaTs, s.arenaWords, s.off, s.n);
    d.exemplars = s.exemplars;
    return d;
  }
  return { labels, timestamps: s.timestamps, values: s.values, exemplars: s.exemplars };
}

/** Samples of one series (without making a decoded series' views). */
export function sampleCount(s: PromSeries): number {
  return s instanceof DecodedSeries ? s.n : s.timestamps.length;
}

/** A decoded remote write request. */
export interface WriteRequest {
  series: PromSeries[];
}

/** HTTP statuses a receive request can end with. */
export type RemoteWriteStatus = 400 | 409 | 413 | 415 | 429 | 500 | 503;

/** A request is refused; `status` is the HTTP status Thanos answers with, the message says why. */
export class RemoteWriteError extends Error {
  override name = "RemoteWriteError";
  constructor(readonly status: RemoteWriteStatus, message: string) {
    super(message);
  }
}

/** Default bound on the decompressed size of one request (Thanos has none; 100 MiB bodies → 413). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 32 << 20;

/** Thanos's `labelpb` validation errors (messages as Thanos's). */
export const LABEL_ERRORS = {
  outOfOrder: "out of order labels",
  duplicate: "label set contains duplicate label names",
  empty: "label set contains a label with empty name or value",
} as const;

// ---------------------------------------------------------------------------------------------
// snappy block format (https://github.com/google/snappy/blob/main/format_description.txt)

function corruptSnappy(detail: string): RemoteWriteError {
  return new RemoteWriteError(400, `snappy decode error: corrupt input: ${detail}`);
}

/**
 * Strict snappy block decompression: the declared length is checked against `maxLength` before
 * allocating (413), and every copy and the final length are checked (snappyjs pads short output
 * with zeros, so garbage would otherwise decode). Throws RemoteWriteError.
 */
export function snappyDecode(src: Uint8Array, maxLength: number): Uint8Array {
  let p = 0;
  let len = 0;
  let shift = 0;
  for (;;) {
    if (p >= src.length) {
      throw corruptSnappy(src.length === 0 ? "empty body" : "truncated length preamble");
    }
    const c = src[p++];
    len += (c & 0x7f) * 2 ** shift;
    if (c < 0x80) break;
    shift += 7;
    if (shift > 28) throw corruptSnappy("length preamble longer than 5 bytes");
  }
  if (len > 0xffffffff) throw corruptSnappy(`declared length ${len} exceeds 4 GiB`);
  if (len > maxLength) {
    throw new RemoteWriteError(
      413,
      `write request too large: decompressed size ${len} bytes exceeds the limit of ${maxLength} bytes`,
    );
  }
  const out = new Uint8Array(len);
  let d = 0;
  const n0 = src.length;
  while (p < n0) {
    const tag = src[p++];
    const type = tag & 3;
    let n: number;
    let off: number;
    if (type === 0) {
      n = tag >>> 2;
      if (n >= 60) {
        const k = n - 59;
        if (p + k > n0) throw corruptSnappy(`truncated literal length at byte ${p}`);
        n = 0;
        for (let i = 0; i < k; i++) n += src[p + i] * 2 ** (8 * i);
        p += k;
      }
      n += 1;
      if (p + n > n0) throw corruptSnappy(`literal of ${n} bytes at byte ${p} exceeds the input`);
      if (d + n > len) throw corruptSnappy(`output exceeds the declared ${len} bytes`);
      if (n < 16) { for (let i = 0; i < n; i++) out[d + i] = src[p + i]; }
      else out.set(src.subarray(p, p + n), d);
      p += n;
      d += n;
      continue;
    }
    if (type === 1) {
      if (p >= n0) throw corruptSnappy("truncated copy");
      n = ((tag >>> 2) & 7) + 4;
      off = ((tag >>> 5) << 8) | src[p++];
    } else if (type === 2) {
      if (p + 2 > n0) throw corruptSnappy("truncated copy");
      n = (tag >>> 2) + 1;
      off = src[p] | (src[p + 1] << 8);
      p += 2;
    } else {
      if (p + 4 > n0) throw corruptSnappy("truncated copy");
      n = (tag >>> 2) + 1;
      off = (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
      p += 4;
    }
    if (off === 0 || off > d) throw corruptSnappy(`copy offset ${off} at output byte ${d}`);
    if (d + n > len) throw corruptSnappy(`output exceeds the declared ${len} bytes`);
    if (off >= n && n >= 16) out.copyWithin(d, d - off, d - off + n);
    else for (let i = 0; i < n; i++) out[d + i] = out[d + i - off];
    d += n;
  }
  if (d !== len) throw corruptSnappy(`decoded ${d} bytes, the preamble declares ${len}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// validation

/**
 * Thanos's `labelpb.ValidateLabels` on one series, plus the timestamp range: throws a
 * RemoteWriteError naming the problem and the series (`index` in the request).
 */
export function validateSeries(s: PromSeries, index: number): void {
  validateLabels(s.labels, index);
  validateSamples(s, index);
}

/** The label part of {@link validateSeries}. */
function validateLabels(ls: Labels, index: number): void {
  const where = () => `series ${index} ${labelsToString(ls)}`;
  if (ls.length === 0 || ls.length % 2 !== 0) {
    throw new RemoteWriteError(409, `${LABEL_ERRORS.empty}: series ${index} has no labels`);
  }
  for (let i = 0; i < ls.length; i += 2) {
    if (ls[i] === "" || ls[i + 1] === "") {
      throw new RemoteWriteError(409, `${LABEL_ERRORS.empty}: ${where()}`);
    }
    if (i > 0) {
      const c = compareStrings(ls[i], ls[i - 2]);
      if (c === 0) {
        throw new RemoteWriteError(
          409,
          `${LABEL_ERRORS.duplicate}: label ${JSON.stringify(ls[i])} repeated in ${where()}`,
        );
      }
      if (c < 0) {
        throw new RemoteWriteError(
          409,
          `${LABEL_ERRORS.outOfOrder}: ${JSON.stringify(ls[i])} after ${
            JSON.stringify(ls[i - 2])
          } in ${where()}`,
        );
      }
    }
  }
}

/** The sample part of {@link validateSeries}. */
function validateSamples(s: PromSeries, index: number): void {
  const where = () => `series ${index} ${labelsToString(s.labels)}`;
  // a decoded series is checked in its arena (its views are not made for this)
  const d = s instanceof DecodedSeries;
  const ts = d ? s.arenaTs : s.timestamps;
  const from = d ? s.off : 0;
  const to = d ? s.off + s.n : ts.length;
  for (let i = from; i < to; i++) {
    if (!Number.isSafeInteger(ts[i])) {
      throw new RemoteWriteError(
        400,
        `invalid sample timestamp ${ts[i]} (sample ${
          i - from
        } of ${where()}): not an int64 of ms within ±2^53`,
      );
    }
  }
  if (d) return; // values and timestamps come in pairs
  if (s.values.length !== ts.length) {
    throw new RemoteWriteError(
      400,
      `${where()}: ${s.values.length} values for ${ts.length} timestamps`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// decoding

const TEXT_DECODER = new TextDecoder("utf-8");
/** Direct-mapped cache of short ASCII strings: label names and values repeat in every request. */
const INTERN_SLOTS = 1 << 16;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS);

/** The string of `b[p, p+n)` (UTF-8), reusing an identical earlier string when cached. */
function readString(b: Uint8Array, p: number, n: number): string {
  if (n === 0) return "";
  if (n > 64) return TEXT_DECODER.decode(b.subarray(p, p + n));
  let h = 0x811c9dc5;
  let high = 0;
  for (let i = p; i < p + n; i++) {
    const c = b[i];
    high |= c;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (high >= 0x80) return TEXT_DECODER.decode(b.subarray(p, p + n));
  const slot = (h ^ n) & (INTERN_SLOTS - 1);
  const s = interned[slot];
  if (s !== undefined && s.length === n) {
    let i = 0;
    while (i < n && s.charCodeAt(i) === b[p + i]) i++;
    if (i === n) return s;
  }
  const ns = String.fromCharCode.apply(null, b.subarray(p, p + n) as unknown as number[]);
  interned[slot] = ns;
  return ns;
}

const WIRE_NAMES = ["varint", "fixed64", "length-delimited", "start-group", "end-group", "fixed32"];

function wireName(t: number): string {
  return WIRE_NAMES[t] ?? `wire type ${t}`;
}

function wrongWire(what: string, got: number, want: string): RemoteWriteError {
  return new RemoteWriteError(400, `${what} has wire type ${wireName(got)}, want ${want}`);
}

/**
 * Sample storage for a whole request: one timestamp and one value array (allocating typed arrays
 * per series costs more than decoding them), handed out as views.
 */
interface Arena {
  ts: Float64Array;
  vs: Float64Array;
  words: Uint32Array;
  used: number;
}

function newArena(n: number): Arena {
  const vs = new Float64Array(n);
  return { ts: new Float64Array(n), vs, words: new Uint32Array(vs.buffer), used: 0 };
}

/**
 * Replaces the arena's arrays by larger ones holding the samples [base, k) of the series being
 * decoded at their start (the series decoded before keep their views of the old arrays).
 */
function growArena(a: Arena, base: number, k: number): void {
  const n = k - base;
  const cap = Math.max(64, 2 * n, 2 * a.ts.length);
  const ts = new Float64Array(cap);
  ts.set(a.ts.subarray(base, k));
  const vs = new Float64Array(cap);
  const words = new Uint32Array(vs.buffer);
  // copied as words: a Float64Array copy may canonicalise NaN payloads (stale markers)
  words.set(a.words.subarray(2 * base, 2 * k));
  a.ts = ts;
  a.vs = vs;
  a.words = words;
  a.used = 0;
}

/** Samples (field 2 entries) of the TimeSeries in r.buf[r.pos, end); r.pos is restored. */
function countSeriesSamples(r: ProtoReader, end: number): number {
  const start = r.pos;
  const outerEnd = r.end;
  r.end = end;
  let count = 0;
  while (r.pos < end) {
    const t = r.tag();
    if (t === 0x12) count++;
    r.skip(t & 7);
  }
  r.end = outerEnd;
  r.pos = start;
  return count;
}

/** The process's cache of decoded label sets (see receive/label_cache.ts). */
export const LABEL_CACHE = new LabelCache();

/**
 * Decodes one TimeSeries in r.buf[r.pos, end) (r.end is set to `end` meanwhile). The label
 * fields leading the message are first looked up in `cache` by their raw bytes.
 */
function readTimeSeries(
  r: ProtoReader,
  end: number,
  index: number,
  arena: Arena,
  cache: LabelCache | null,
): PromSeries {
  const outerEnd = r.end;
  r.end = end;
  let base = arena.used;
  let ts = arena.ts;
  let words = arena.words;
  const b = r.buf;
  let k = base;
  // the run of label fields (tag 0x0a) the message starts with: the cache key
  const keyStart = r.pos;
  while (r.pos < end && b[r.pos] === 0x0a) {
    r.pos++;
    const n = r.length(); // (not `r.pos += r.length()`: that reads r.pos before the varint)
    r.pos += n;
  }
  const keyEnd = r.pos;
  let keyHash = 0;
  /** The labels are exactly those of the key run (no label field after it). */
  let keyed = keyEnd > keyStart;
  let hint: CachedLabels | undefined = undefined;
  let exemplars: PromExemplar[] | undefined = undefined;
  /** Labels from the cache (shared, already valid) until a label field follows the key run. */
  let cached = false;
  let labels: string[];
  if (cache !== null && keyed) {
    keyHash = cache.hash(b, keyStart, keyEnd);
    hint = cache.get(b, keyStart, keyEnd, keyHash);
  }
  if (hint !== undefined) {
    labels = hint.labels as string[];
    cached = true;
  } else {
    labels = [];
    r.pos = keyStart;
  }
  while (r.pos < end) {
    const tagAt = r.pos;
    const t = r.tag();
    const field = Math.floor(t / 8);
    const wt = t & 7;
    if (field >= 1 && field <= 4 && wt !== WireType.LengthDelimited) {
      throw wrongWire(
        `timeseries ${index} field ${field}`,
        wt,
        "length-delimited (embedded message)",
      );
    }
    if (t === 0x0a) {
      // Label
      if (tagAt >= keyEnd) {
        // a label field after the samples: these labels are not the cache key's alone
        if (cached) labels = labels.slice();
        cached = false;
        hint = undefined;
        keyed = false;
      }
      const n = r.length();
      const le = r.pos + n;
      r.end = le;
      let name = "";
      let value = "";
      while (r.pos < le) {
        const lt = r.tag();
        if (lt === 0x0a || lt === 0x12) {
          const sl = r.length();
          const str = readString(b, r.pos, sl);
          r.pos += sl;
          if (lt === 0x0a) name = str;
          else value = str;
        } else if ((lt >> 3) === 1 || (lt >> 3) === 2) {
          throw wrongWire(`timeseries ${index} label field ${lt >> 3}`, lt & 7, "string");
        } else r.skip(lt & 7);
      }
      r.end = end;
      labels.push(name, value);
    } else if (t === 0x12) {
      // Sample
      const n = r.length();
      const se = r.pos + n;
      r.end = se;
      let lo = 0;
      let hi = 0;
      let tsv = 0;
      const p0 = r.pos;
      if (n >= 11 && n <= 17 && b[p0] === 0x09 && b[p0 + 9] === 0x10) {
        // the usual encoding (value, then a timestamp of at most 7 varint bytes) read inline;
        // anything else (negative or zero timestamps, other field orders) by the loop below
        let p = p0 + 10;
        let v = 0;
        let mul = 1;
        let c = 0x80;
        while (p < se) {
          c = b[p++];
          v += (c & 0x7f) * mul;
          mul *= 128;
          if (c < 0x80) break;
        }
        if (c < 0x80 && p === se) {
          lo = b[p0 + 1] | (b[p0 + 2] << 8) | (b[p0 + 3] << 16) | (b[p0 + 4] << 24);
          hi = b[p0 + 5] | (b[p0 + 6] << 8) | (b[p0 + 7] << 16) | (b[p0 + 8] << 24);
          tsv = v;
          r.pos = se;
        }
      }
      while (r.pos < se) {
        const st = r.tag();
        if (st === 0x09) {
          const p = r.pos;
          if (p + 8 > se) {
            throw new RemoteWriteError(400, `timeseries ${index}: truncated sample value`);
          }
          lo = b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
          hi = b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24);
          r.pos = p + 8;
        } else if (st === 0x10) {
          tsv = r.int64();
        } else if ((st >> 3) === 1) {
          throw wrongWire(
            `timeseries ${index} sample ${k - base} value`,
            st & 7,
            "fixed64 (double)",
          );
        } else if ((st >> 3) === 2) {
          throw wrongWire(
            `timeseries ${index} sample ${k - base} timestamp`,
            st & 7,
            "varint (int64 ms; a NaN or float timestamp is not valid)",
          );
        } else r.skip(st & 7);
      }
      r.end = end;
      if (k === ts.length) {
        growArena(arena, base, k);
        k -= base;
        base = 0;
        ts = arena.ts;
        words = arena.words;
      }
      ts[k] = tsv;
      words[2 * k + LO_WORD] = lo;
      words[2 * k + HI_WORD] = hi;
      k++;
    } else if (t === 0x22) {
      throw new RemoteWriteError(
        400,
        `timeseries ${index} carries native histogram samples, which this receiver does not support`,
      );
    } else if (t === 0x1a) {
      (exemplars ??= []).push(readExemplar(r, index));
      r.end = end;
    } else {
      // unknown fields are skipped
      r.skip(wt);
    }
  }
  r.end = outerEnd;
  arena.used = k;
  if (!cached) {
    validateLabels(labels, index);
    if (cache !== null && keyed) {
      // the cache (and the head, which keeps a hint's labels) get an exact-size copy: a pushed
      // array keeps spare capacity
      hint = cache.set(b, keyStart, keyEnd, keyHash, labels.slice());
      if (hint !== undefined) labels = hint.labels as string[];
    }
  }
  const s = new DecodedSeries(labels, hint, ts, words, base, k - base);
  validateSamples(s, index);
  if (exemplars !== undefined) s.exemplars = exemplars;
  return s;
}

/** One `prometheus.Exemplar` { repeated Label labels = 1; double value = 2; int64 timestamp = 3 }. */
function readExemplar(r: ProtoReader, index: number): PromExemplar {
  const n = r.length();
  const ee = r.pos + n;
  r.end = ee;
  const e: PromExemplar = { labels: [], value: 0, timestamp: 0 };
  const ls = e.labels as string[];
  while (r.pos < ee) {
    const t = r.tag();
    if (t === 0x0a) {
      const le = r.pos + r.length();
      let name = "";
      let value = "";
      while (r.pos < le) {
        const lt = r.tag();
        if (lt === 0x0a || lt === 0x12) {
          const sl = r.length();
          const str = readString(r.buf, r.pos, sl);
          r.pos += sl;
          if (lt === 0x0a) name = str;
          else value = str;
        } else r.skip(lt & 7);
      }
      ls.push(name, value);
    } else if (t === 0x11) e.value = r.double();
    else if (t === 0x18) e.timestamp = r.int64();
    else if ((t >> 3) >= 1 && (t >> 3) <= 3) {
      throw wrongWire(`timeseries ${index} exemplar field ${t >> 3}`, t & 7, "its proto type");
    } else r.skip(t & 7);
  }
  return e;
}

function protoError(what: string, e: unknown): unknown {
  if (e instanceof ProtoDecodeError) {
    return new RemoteWriteError(400, `cannot decode ${what}: ${e.message}`);
  }
  if (e instanceof RangeError) {
    return new RemoteWriteError(400, `cannot decode ${what}: ${e.message}`);
  }
  return e;
}

/**
 * Decodes an uncompressed `prometheus.WriteRequest` and validates it (RemoteWriteError).
 * `cache`: where decoded label sets are looked up and kept (null: decode every label).
 */
export function decodeWriteRequestProto(
  buf: Uint8Array,
  cache: LabelCache | null = LABEL_CACHE,
): WriteRequest {
  const r = new ProtoReader(buf, "prometheus.WriteRequest");
  const series: PromSeries[] = [];
  try {
    // one arena for the samples of the whole request, sized from the body (a sample takes at
    // least ~13 bytes, labels most of the rest), grown when a request is mostly samples
    const arena = newArena(16 + (buf.length >>> 6));
    while (!r.eof()) {
      const t = r.tag();
      if (t === 0x0a) {
        const n = r.length();
        const end = r.pos + n;
        series.push(readTimeSeries(r, end, series.length, arena, cache));
        r.pos = end;
      } else if ((t >> 3) === 1) {
        throw wrongWire("WriteRequest field 1 (timeseries)", t & 7, "length-delimited");
      } else {
        r.skip(t & 7); // metadata (3) and unknown fields
      }
    }
  } catch (e) {
    throw protoError("remote write request (prometheus.WriteRequest)", e);
  }
  return { series };
}

/**
 * Decodes a remote write body: snappy block decompression (400 when corrupt, 413 beyond
 * `maxDecompressedBytes`), protobuf decoding (400) and validation (see the file comment).
 */
export function decodeWriteRequest(
  body: Uint8Array,
  opts: { maxDecompressedBytes?: number; labelCache?: LabelCache | null } = {},
): WriteRequest {
  const raw = snappyDecode(body, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  return decodeWriteRequestProto(
    raw,
    opts.labelCache === undefined ? LABEL_CACHE : opts.labelCache,
  );
}

/** Decodes (and validates) one `prometheus.TimeSeries` message. Throws RemoteWriteError. */
export function decodeTimeSeries(
  bytes: Uint8Array,
  cache: LabelCache | null = LABEL_CACHE,
): PromSeries {
  const r = new ProtoReader(bytes, "prometheus.TimeSeries");
  try {
    return readTimeSeries(
      r,
      bytes.length,
      0,
      newArena(countSeriesSamples(r, bytes.length)),
      cache,
    );
  } catch (e) {
    throw protoError("prometheus.TimeSeries", e);
  }
}

// ---------------------------------------------------------------------------------------------
// encoding

function int64Len(v: number): number {
  if (v < 0) return 10;
  return varintSize(v);
}

function labelMsgSize(name: string, value: string, nl: number, vl: number): number {
  let n = 0;
  if (name !== "") n += 1 + varintSize(nl) + nl;
  if (value !== "") n += 1 + varintSize(vl) + vl;
  return n;
}

/** Size of a TimeSeries message body; fills `lens` with the UTF-8 lengths of the labels. */
function seriesSize(s: PromSeries, lens: number[]): number {
  let size = 0;
  const ls = s.labels;
  lens.length = 0;
  for (let i = 0; i < ls.length; i += 2) {
    const nl = utf8Length(ls[i]);
    const vl = utf8Length(ls[i + 1]);
    lens.push(nl, vl);
    const m = labelMsgSize(ls[i], ls[i + 1], nl, vl);
    size += 1 + varintSize(m) + m;
  }
  const ts = s.timestamps;
  const words = new Uint32Array(s.values.buffer, s.values.byteOffset, s.values.length * 2);
  for (let i = 0; i < ts.length; i++) {
    const m = sampleSize(ts[i], words, i);
    size += 1 + varintSize(m) + m;
  }
  for (const e of s.exemplars ?? []) {
    const m = exemplarBytes(e).length;
    size += 1 + varintSize(m) + m;
  }
  return size;
}

/** The body of one `prometheus.Exemplar` message. */
function exemplarBytes(e: PromExemplar): Uint8Array {
  const w = ProtoWriter.growable(64);
  for (let i = 0; i < e.labels.length; i += 2) {
    w.message(1, (x) => {
      x.stringField(1, e.labels[i]);
      x.stringField(2, e.labels[i + 1]);
    });
  }
  if (e.value !== 0 || Object.is(e.value, -0)) w.doubleField(2, e.value);
  if (e.timestamp !== 0) w.int64Field(3, e.timestamp);
  return w.finish();
}

function sampleSize(t: number, words: Uint32Array, i: number): number {
  let m = 0;
  if (words[2 * i] !== 0 || words[2 * i + 1] !== 0) m += 9;
  if (t !== 0) m += 1 + int64Len(t);
  return m;
}

function writeSeries(w: ProtoWriter, s: PromSeries, lens: number[]): void {
  const ls = s.labels;
  for (let i = 0; i < ls.length; i += 2) {
    const nl = lens[i];
    const vl = lens[i + 1];
    w.byte(0x0a);
    w.varint(labelMsgSize(ls[i], ls[i + 1], nl, vl));
    if (ls[i] !== "") {
      w.byte(0x0a);
      w.varint(nl);
      w.stringBytes(ls[i], nl);
    }
    if (ls[i + 1] !== "") {
      w.byte(0x12);
      w.varint(vl);
      w.stringBytes(ls[i + 1], vl);
    }
  }
  const ts = s.timestamps;
  const words = new Uint32Array(s.values.buffer, s.values.byteOffset, s.values.length * 2);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    w.byte(0x12);
    w.varint(sampleSize(t, words, i));
    const lo = words[2 * i + LO_WORD];
    const hi = words[2 * i + HI_WORD];
    if (lo !== 0 || hi !== 0) {
      w.byte(0x09);
      w.byte(lo & 0xff);
      w.byte((lo >>> 8) & 0xff);
      w.byte((lo >>> 16) & 0xff);
      w.byte(lo >>> 24);
      w.byte(hi & 0xff);
      w.byte((hi >>> 8) & 0xff);
      w.byte((hi >>> 16) & 0xff);
      w.byte(hi >>> 24);
    }
    if (t !== 0) {
      w.byte(0x10);
      w.int64(t);
    }
  }
  for (const e of s.exemplars ?? []) {
    const body = exemplarBytes(e);
    w.byte(0x1a);
    w.varint(body.length);
    w.raw(body);
  }
}

/** One `prometheus.TimeSeries` message (value bits written as stored). */
export function encodeTimeSeries(s: PromSeries): Uint8Array {
  const lens: number[] = [];
  const size = seriesSize(s, lens);
  const w = new ProtoWriter(new Uint8Array(size));
  writeSeries(w, s, lens);
  return w.buf;
}

/** A `prometheus.WriteRequest` (protobuf, not compressed: snappy it for HTTP). */
export function encodeWriteRequest(req: WriteRequest): Uint8Array {
  const lens: number[][] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const s of req.series) {
    const l: number[] = [];
    const n = seriesSize(s, l);
    lens.push(l);
    sizes.push(n);
    total += 1 + varintSize(n) + n;
  }
  const w = new ProtoWriter(new Uint8Array(total));
  for (let i = 0; i < req.series.length; i++) {
    w.byte(0x0a);
    w.varint(sizes[i]);
    writeSeries(w, req.series[i], lens[i]);
  }
  return w.buf;
}

/** Total samples of a request (for limits and metrics). */
export function countSamples(series: readonly PromSeries[]): number {
  let n = 0;
  for (const s of series) n += sampleCount(s);
  return n;
}

// Prometheus remote read as the sidecar speaks it (messages and framing in
// https://github.com/prometheus/prometheus/blob/v2.42.0/prompb/remote.proto): the snappy-compressed
// `ReadRequest`, the STREAMED_XOR_CHUNKS answer (frames of uvarint size, CRC-32C, message) whose
// chunks are handed on as they arrived, and the SAMPLES answer of old Prometheus servers, whose
// samples are re-encoded into XOR chunks of at most 120 samples.

import { SAMPLES_PER_CHUNK, XorAppender } from "../tsdb/chunkenc/xor.ts";
import { crc32c } from "../tsdb/crc32c.ts";
import { compareLabels } from "../tsdb/labels.ts";
import type { Matcher } from "../tsdb/matchers.ts";
import { type Chunk, ChunkEncoding, type SeriesWithChunks } from "../tsdb/series.ts";
import { readLabel, writeMatchers } from "../storeapi/codec.ts";
import { snappyBlockCompress, snappyBlockUncompress } from "../storeapi/snappy.ts";
import { ProtoDecodeError, ProtoReader, ProtoWriter } from "../storeapi/wire.ts";
import type { PrometheusClient } from "./client.ts";

/** `ReadRequest.ResponseType`. */
export enum ReadResponseType {
  SAMPLES = 0,
  STREAMED_XOR_CHUNKS = 1,
}

/** One remote-read query (`prompb.Query`) with its hints. */
export interface RemoteReadQuery {
  /** Inclusive, ms. */
  start: number;
  /** Inclusive, ms. */
  end: number;
  matchers: readonly Matcher[];
  hints?: {
    stepMs?: number;
    func?: string;
    startMs?: number;
    endMs?: number;
    grouping?: string[];
    by?: boolean;
    rangeMs?: number;
  };
}

/** The remote-read answer is malformed (bad frame, checksum, size or protobuf). */
export class RemoteReadError extends Error {
  override name = "RemoteReadError";
}

/** Prometheus's client default for `chunked_read_limit`: frames above it are refused. */
const DEFAULT_MAX_FRAME_BYTES = 50_000_000;
/** Content type of a streamed answer. */
export const STREAMED_CONTENT_TYPE =
  "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/** Encodes a `ReadRequest` with one query (protobuf, not yet compressed). */
export function encodeReadRequest(
  q: RemoteReadQuery,
  accepted: readonly ReadResponseType[],
): Uint8Array {
  const w = ProtoWriter.growable(256);
  w.message(1, (m) => {
    m.int64Field(1, q.start);
    m.int64Field(2, q.end);
    writeMatchers(m, 3, q.matchers);
    const h = q.hints;
    if (h) {
      m.message(4, (x) => {
        x.int64Field(1, h.stepMs ?? 0);
        x.stringField(2, h.func);
        x.int64Field(3, h.startMs ?? 0);
        x.int64Field(4, h.endMs ?? 0);
        x.repeatedString(5, h.grouping);
        x.boolField(6, h.by);
        x.int64Field(7, h.rangeMs ?? 0);
      });
    }
  });
  if (accepted.length > 0) {
    // packed repeated enum
    w.message(2, (m) => {
      for (const t of accepted) m.varint(t);
    });
  }
  return w.finish().slice();
}

/** Prometheus chunk encoding number (`prompb.Chunk.Encoding`) → ours; throws for unknown ones. */
function chunkEncoding(type: number): ChunkEncoding {
  if (type === 1) return ChunkEncoding.XOR;
  if (type === 2) return ChunkEncoding.Histogram;
  if (type === 3) return ChunkEncoding.FloatHistogram;
  throw new RemoteReadError(
    `remote read returned a chunk of encoding ${type}, which the StoreAPI cannot carry ` +
      "(only XOR, histogram and float histogram chunks are supported)",
  );
}

function readChunk(r: ProtoReader): Chunk {
  let minTime = 0;
  let maxTime = 0;
  let type = 0;
  let data: Uint8Array = new Uint8Array(0);
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) minTime = r.int64();
    else if (t === 0x10) maxTime = r.int64();
    else if (t === 0x18) type = r.varint();
    else if (t === 0x22) data = r.bytes();
    else r.skip(t & 7);
  }
  return { minTime, maxTime, encoding: chunkEncoding(type), data };
}

/**
 * Decodes a `ChunkedReadResponse`; chunk data are views of `buf` (no copy). Appends the series
 * to `out` and returns the query index.
 */
export function decodeChunkedReadResponse(buf: Uint8Array, out: SeriesWithChunks[]): number {
  const r = new ProtoReader(buf, "ChunkedReadResponse");
  let queryIndex = 0;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) {
      const s = r.sub("ChunkedSeries");
      const labels: string[] = [];
      const chunks: Chunk[] = [];
      while (!s.eof()) {
        const st = s.tag();
        if (st === 0x0a) readLabel(s.sub("Label"), labels);
        else if (st === 0x12) chunks.push(readChunk(s.sub("Chunk")));
        else s.skip(st & 7);
      }
      out.push({ labels, chunks });
    } else if (t === 0x10) queryIndex = r.int64();
    else r.skip(t & 7);
  }
  return queryIndex;
}

/** Reads CRC-checked frames from a streamed remote-read body. */
class ChunkedFrameReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;
  /** Bytes consumed so far (for error messages). */
  private offset = 0;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {}

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.reader.read();
    if (r.done) {
      this.done = true;
      return false;
    }
    const rest = this.buf.length - this.pos;
    if (rest === 0) this.buf = r.value;
    else {
      const nb = new Uint8Array(rest + r.value.length);
      nb.set(this.buf.subarray(this.pos));
      nb.set(r.value, rest);
      this.buf = nb;
    }
    this.pos = 0;
    return true;
  }

  private async byte(): Promise<number> {
    while (this.pos >= this.buf.length) {
      if (!(await this.fill())) {
        throw new RemoteReadError(
          `remote read stream truncated at byte ${this.offset} inside a frame header`,
        );
      }
    }
    this.offset++;
    return this.buf[this.pos++];
  }

  /** `n` bytes; a view of the received data when they arrived in one piece. */
  private async exact(n: number): Promise<Uint8Array> {
    const avail = this.buf.length - this.pos;
    if (avail >= n) {
      const v = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return v;
    }
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos));
    let o = avail;
    this.buf = new Uint8Array(0);
    this.pos = 0;
    while (o < n) {
      if (this.done) break;
      const r = await this.reader.read();
      if (r.done) {
        this.done = true;
        break;
      }
      const take = Math.min(n - o, r.value.length);
      out.set(r.value.subarray(0, take), o);
      o += take;
      if (take < r.value.length) {
        this.buf = r.value;
        this.pos = take;
      }
    }
    if (o < n) {
      throw new RemoteReadError(
        `remote read stream truncated at byte ${this.offset + o}: frame wants ${n} bytes, ` +
          `got ${o} (Prometheus failed mid-stream?)`,
      );
    }
    this.offset += n;
    return out;
  }

  /** The next frame's message (CRC verified), or null at a clean end of stream. */
  async next(): Promise<Uint8Array | null> {
    if (this.pos >= this.buf.length && !(await this.fill())) return null;
    const at = this.offset;
    let size = 0;
    let shift = 0;
    for (let i = 0;; i++) {
      const b = await this.byte();
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) break;
      if (i >= 9) throw new RemoteReadError(`remote read frame at byte ${at}: bad size varint`);
    }
    if (size > this.maxFrameBytes) {
      throw new RemoteReadError(
        `remote read frame at byte ${at} is ${size} bytes, over the limit of ` +
          `${this.maxFrameBytes}`,
      );
    }
    const c = await this.exact(4);
    const want = ((c[0] << 24) | (c[1] << 16) | (c[2] << 8) | c[3]) >>> 0;
    const msg = await this.exact(size);
    const got = crc32c(msg);
    if (got !== want) {
      throw new RemoteReadError(
        `remote read frame at byte ${at}: CRC-32C mismatch (header ${want.toString(16)}, ` +
          `data ${got.toString(16)})`,
      );
    }
    return msg;
  }

  /** Stops reading the body. */
  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

/**
 * Series of a streamed body. Prometheus splits long series over consecutive frames; those are
 * merged back so each label set is yielded once.
 */
async function* streamedSeries(
  body: ReadableStream<Uint8Array>,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): AsyncGenerator<SeriesWithChunks> {
  const frames = new ChunkedFrameReader(body.getReader(), maxFrameBytes);
  let pending: SeriesWithChunks | null = null;
  const batch: SeriesWithChunks[] = [];
  let finished = false;
  try {
    for (;;) {
      const msg = await frames.next();
      if (msg === null) break;
      batch.length = 0;
      try {
        decodeChunkedReadResponse(msg, batch);
      } catch (e) {
        if (e instanceof ProtoDecodeError) throw new RemoteReadError(e.message);
        throw e;
      }
      for (const s of batch) {
        if (pending !== null && compareLabels(pending.labels, s.labels) === 0) {
          for (const c of s.chunks) pending.chunks.push(c);
          continue;
        }
        if (pending !== null) yield pending;
        pending = s;
      }
    }
    if (pending !== null) yield pending;
    finished = true;
  } finally {
    if (!finished) await frames.cancel();
  }
}

/** Decodes a SAMPLES `ReadResponse` (already decompressed) into series with XOR chunks, sorted. */
function decodeSampledReadResponse(buf: Uint8Array): SeriesWithChunks[] {
  const out: SeriesWithChunks[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  try {
    const r = new ProtoReader(buf, "ReadResponse");
    while (!r.eof()) {
      const t = r.tag();
      if (t !== 0x0a) {
        r.skip(t & 7);
        continue;
      }
      const qr = r.sub("QueryResult");
      while (!qr.eof()) {
        const qt = qr.tag();
        if (qt !== 0x0a) {
          qr.skip(qt & 7);
          continue;
        }
        const ts = qr.sub("TimeSeries");
        const labels: string[] = [];
        const app = new SampleChunker();
        while (!ts.eof()) {
          const tt = ts.tag();
          if (tt === 0x0a) readLabel(ts.sub("Label"), labels);
          else if (tt === 0x12) {
            const s = ts.sub("Sample");
            let hi = 0;
            let lo = 0;
            let time = 0;
            while (!s.eof()) {
              const st = s.tag();
              if (st === 0x09) {
                if (s.pos + 8 > s.end) throw new RemoteReadError("truncated sample value");
                // value bits read as words so stale-marker NaN payloads survive
                lo = dv.getUint32(s.pos, true);
                hi = dv.getUint32(s.pos + 4, true);
                s.pos += 8;
              } else if (st === 0x10) time = s.int64();
              else s.skip(st & 7);
            }
            app.add(time, hi, lo);
          } else if (tt === 0x22) {
            throw new RemoteReadError(
              "remote read SAMPLES answer holds native histograms; Thanos-TS needs " +
                "STREAMED_XOR_CHUNKS (Prometheus ≥ 2.13) for them",
            );
          } else ts.skip(tt & 7);
        }
        out.push({ labels, chunks: app.finish() });
      }
    }
  } catch (e) {
    if (e instanceof ProtoDecodeError) throw new RemoteReadError(e.message);
    throw e;
  }
  out.sort((a, b) => compareLabels(a.labels, b.labels));
  return out;
}

/** Cuts samples into XOR chunks of at most {@link SAMPLES_PER_CHUNK}. */
class SampleChunker {
  private app: XorAppender | null = null;
  private minT = 0;
  private maxT = 0;
  private readonly chunks: Chunk[] = [];

  add(t: number, hi: number, lo: number): void {
    if (this.app !== null && this.app.numSamples >= SAMPLES_PER_CHUNK) this.cut();
    if (this.app === null) {
      this.app = new XorAppender();
      this.minT = t;
    }
    this.app.appendBits(t, hi, lo);
    this.maxT = t;
  }

  private cut(): void {
    if (this.app === null) return;
    this.chunks.push({
      minTime: this.minT,
      maxTime: this.maxT,
      encoding: ChunkEncoding.XOR,
      data: this.app.bytes(),
    });
    this.app = null;
  }

  finish(): Chunk[] {
    this.cut();
    return this.chunks;
  }
}

/** Options of {@link remoteRead}. */
export interface RemoteReadOptions {
  /** Response types offered, in preference order (default streamed, then samples). */
  accepted?: readonly ReadResponseType[];
  maxFrameBytes?: number;
  /** Largest decompressed SAMPLES answer accepted (default 512 MiB). */
  maxSampledBytes?: number;
  signal?: AbortSignal;
}

/**
 * Runs one remote-read query against Prometheus and yields its series, each label set once, with
 * chunks as Prometheus encoded them (streamed) or re-encoded (samples). The order is
 * Prometheus's: sorted before it merged its external labels in, so callers that attach labels
 * re-sort.
 */
export async function* remoteRead(
  client: PrometheusClient,
  q: RemoteReadQuery,
  opts: RemoteReadOptions = {},
): AsyncGenerator<SeriesWithChunks> {
  const accepted = opts.accepted ??
    [ReadResponseType.STREAMED_XOR_CHUNKS, ReadResponseType.SAMPLES];
  const body = snappyBlockCompress(encodeReadRequest(q, accepted)) as Uint8Array<ArrayBuffer>;
  const res = await client.request("/api/v1/read", {
    method: "POST",
    body,
    headers: {
      "content-encoding": "snappy",
      "accept-encoding": "snappy",
      "content-type": "application/x-protobuf",
      "x-prometheus-remote-read-version": "0.1.0",
    },
    signal: opts.signal,
  });
  const ctype = res.headers.get("content-type") ?? "";
  if (res.status !== 200) {
    const text = await res.text().catch(() => "");
    throw new RemoteReadError(
      `remote read from Prometheus failed with HTTP ${res.status}: ${text.trim().slice(0, 500)}`,
    );
  }
  if (ctype.startsWith("application/x-streamed-protobuf")) {
    if (!ctype.includes("proto=prometheus.ChunkedReadResponse")) {
      await res.body?.cancel();
      throw new RemoteReadError(`remote read answered with unsupported content type ${ctype}`);
    }
    yield* streamedSeries(res.body!, opts.maxFrameBytes);
    return;
  }
  if (ctype.startsWith("application/x-protobuf")) {
    const raw = new Uint8Array(await res.arrayBuffer());
    let data: Uint8Array;
    try {
      data = snappyBlockUncompress(raw, opts.maxSampledBytes ?? 512 << 20);
    } catch (e) {
      throw new RemoteReadError(`cannot decompress the SAMPLES answer: ${(e as Error).message}`);
    }
    yield* decodeSampledReadResponse(data);
    return;
  }
  await res.body?.cancel();
  throw new RemoteReadError(`remote read answered with unexpected content type "${ctype}"`);
}

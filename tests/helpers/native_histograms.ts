// Native histogram samples for e2e tests, pushed into a real Prometheus (2.42 with
// `--enable-feature=native-histograms --web.enable-remote-write-receiver`) as a remote-write
// request, so Prometheus itself encodes them into histogram chunks. The protobuf is written
// here field by field from prompb's types.proto
// (https://github.com/prometheus/prometheus/blob/v2.42.0/prompb/types.proto): TimeSeries
// {labels = 1, samples = 2, histograms = 4}; Histogram {count_int = 1, sum = 3, schema = 4
// (sint32), zero_threshold = 5, zero_count_int = 6, positive_spans = 11 (BucketSpan {offset = 1
// sint32, length = 2}), positive_deltas = 12 (packed sint64), timestamp = 15}.

import { snappyBlockCompress } from "../../storeapi/snappy.ts";

/** One integer native histogram sample: schema 0, positive buckets from index 0. */
export interface HistogramSample {
  t: number;
  zeroCount: number;
  /** Absolute bucket counts of consecutive buckets from index 0. */
  buckets: number[];
  sum: number;
}

/** A series of a remote-write request: float samples and/or histogram samples. */
export interface PushSeries {
  labels: Record<string, string>;
  floats?: { t: number; v: number }[];
  histograms?: HistogramSample[];
}

function varint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function zigzag(v: number): number {
  return v >= 0 ? 2 * v : -2 * v - 1;
}

function tag(out: number[], field: number, wire: number): void {
  varint(out, field * 8 + wire);
}

function bytesField(out: number[], field: number, b: number[]): void {
  tag(out, field, 2);
  varint(out, b.length);
  for (const x of b) out.push(x);
}

function doubleField(out: number[], field: number, v: number): void {
  tag(out, field, 1);
  const b = new Uint8Array(new Float64Array([v]).buffer);
  for (const x of b) out.push(x);
}

function histogram(h: HistogramSample): number[] {
  const out: number[] = [];
  const count = h.zeroCount + h.buckets.reduce((a, b) => a + b, 0);
  tag(out, 1, 0);
  varint(out, count);
  doubleField(out, 3, h.sum);
  tag(out, 4, 0);
  varint(out, zigzag(0));
  doubleField(out, 5, 1e-128);
  tag(out, 6, 0);
  varint(out, h.zeroCount);
  if (h.buckets.length > 0) {
    const span: number[] = [];
    tag(span, 1, 0);
    varint(span, zigzag(0));
    tag(span, 2, 0);
    varint(span, h.buckets.length);
    bytesField(out, 11, span);
    const deltas: number[] = [];
    let prev = 0;
    for (const c of h.buckets) {
      varint(deltas, zigzag(c - prev));
      prev = c;
    }
    bytesField(out, 12, deltas);
  }
  tag(out, 15, 0);
  varint(out, h.t);
  return out;
}

/** The snappy-compressed remote-write body of `series`. */
export function writeRequestBody(series: readonly PushSeries[]): Uint8Array {
  const out: number[] = [];
  for (const s of series) {
    const ts: number[] = [];
    for (const name of Object.keys(s.labels).sort()) {
      const l: number[] = [];
      const enc = new TextEncoder();
      bytesField(l, 1, [...enc.encode(name)]);
      bytesField(l, 2, [...enc.encode(s.labels[name])]);
      bytesField(ts, 1, l);
    }
    for (const f of s.floats ?? []) {
      const smp: number[] = [];
      doubleField(smp, 1, f.v);
      tag(smp, 2, 0);
      varint(smp, f.t);
      bytesField(ts, 2, smp);
    }
    for (const h of s.histograms ?? []) bytesField(ts, 4, histogram(h));
    bytesField(out, 1, ts);
  }
  return snappyBlockCompress(new Uint8Array(out));
}

/** POSTs `series` to Prometheus's `/api/v1/write`; throws with the body on a non-2xx answer. */
export async function pushToPrometheus(url: string, series: readonly PushSeries[]): Promise<void> {
  const res = await fetch(`${url}/api/v1/write`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-protobuf",
      "Content-Encoding": "snappy",
      "X-Prometheus-Remote-Write-Version": "0.1.0",
    },
    body: writeRequestBody(series).slice(),
  });
  const body = await res.text();
  if (res.status >= 300) throw new Error(`remote write → HTTP ${res.status}: ${body}`);
}

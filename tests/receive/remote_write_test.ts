// Remote write 1.0 codec: byte-exact encoding against a hand-built prompb message, round trips
// (stale markers, negative and zero timestamps, -0), strict snappy, and every bad-input class of
// issue 14 with Thanos's status and a message naming the problem.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  countSamples,
  decodeTimeSeries,
  decodeWriteRequest,
  decodeWriteRequestProto,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  encodeTimeSeries,
  encodeWriteRequest,
  type PromSeries,
  RemoteWriteError,
  snappyDecode,
  validateSeries,
} from "../../receive/remote_write.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";
import { isStaleAt, setStaleAt } from "../../tsdb/value.ts";

const enc = new TextEncoder();

function series(labels: string[], samples: [number, number][]): PromSeries {
  return {
    labels,
    timestamps: Float64Array.from(samples.map((s) => s[0])),
    values: Float64Array.from(samples.map((s) => s[1])),
  };
}

function bytes(...parts: (number[] | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(...enc.encode(p));
    else out.push(...p);
  }
  return new Uint8Array(out);
}

/** Length-delimited field. */
function ld(tag: number, body: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = body.length;
  while (n >= 0x80) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return bytes([tag], len, [...body]);
}

function cat(...parts: Uint8Array[]): Uint8Array {
  return bytes(...parts.map((p) => [...p]));
}

function label(name: string, value: string): Uint8Array {
  return ld(0x0a, cat(ld(0x0a, enc.encode(name)), ld(0x12, enc.encode(value))));
}

function status(fn: () => unknown): RemoteWriteError {
  const e = assertThrows(fn, RemoteWriteError);
  return e as RemoteWriteError;
}

// {__name__="up", job="x"} 1 @1000, built by hand from types.proto field numbers
const UP_SERIES = cat(
  label("__name__", "up"),
  label("job", "x"),
  ld(0x12, bytes([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0xe8, 0x07])),
);
const UP_REQUEST = ld(0x0a, UP_SERIES);

Deno.test("encodeWriteRequest matches prompb bytes built by hand", () => {
  const s = series(["__name__", "up", "job", "x"], [[1000, 1]]);
  assertEquals(encodeWriteRequest({ series: [s] }), UP_REQUEST);
  assertEquals(encodeTimeSeries(s), UP_SERIES);
  const d = decodeWriteRequest(snappyBlockCompress(UP_REQUEST));
  assertEquals(d.series.length, 1);
  assertEquals(d.series[0].labels, ["__name__", "up", "job", "x"]);
  assertEquals([...d.series[0].timestamps], [1000]);
  assertEquals([...d.series[0].values], [1]);
});

Deno.test("round trip keeps stale markers, negative/zero timestamps, -0 and UTF-8", () => {
  const a = series(["__name__", "m", "lbl", "ünïcödé ✓"], [[0, 0], [-5, -0], [1700000000000, 2.5]]);
  const b = series(["__name__", "n"], [[10, 1], [20, NaN], [30, Infinity], [2 ** 52, -Infinity]]);
  setStaleAt(b.values, 1);
  const c = series(["a", "b"], []); // no samples: allowed
  const req = { series: [a, b, c] };
  const out = decodeWriteRequest(snappyBlockCompress(encodeWriteRequest(req)));
  assertEquals(out.series.length, 3);
  assertEquals(out.series[0].labels, a.labels);
  assertEquals([...out.series[0].timestamps], [0, -5, 1700000000000]);
  assert(Object.is(out.series[0].values[1], -0), "-0 survives");
  assert(isStaleAt(out.series[1].values, 1), "stale marker bits survive");
  assert(!isStaleAt(out.series[1].values, 0));
  assert(Number.isNaN(out.series[1].values[1]));
  assertEquals(out.series[1].values[2], Infinity);
  assertEquals(out.series[1].timestamps[3], 2 ** 52);
  assertEquals(out.series[2].timestamps.length, 0);
  assertEquals(countSamples(out.series), 7);
  // one TimeSeries on its own (what the gRPC forwarding carries)
  const one = decodeTimeSeries(encodeTimeSeries(b));
  assert(isStaleAt(one.values, 1));
  assertEquals(one.labels, b.labels);
});

Deno.test("series with more samples than the body-sized arena keep every sample and stale marker", () => {
  // the decoder sizes its sample arena from the body and grows it mid-series: a short series,
  // then one of 3000 samples (stale markers on both sides of each growth), then a short one
  const n = 3000;
  const long = series(["__name__", "long"], Array.from({ length: n }, (_, i) => [i * 15, i / 3]));
  for (let i = 0; i < n; i += 7) setStaleAt(long.values, i);
  const a = series(["__name__", "a"], [[1, 1], [2, 2]]);
  const z = series(["__name__", "z"], [[5, 7]]);
  const out = decodeWriteRequestProto(encodeWriteRequest({ series: [a, long, z] }), null).series;
  assertEquals([...out[0].timestamps], [1, 2]);
  assertEquals([...out[0].values], [1, 2]);
  assertEquals(out[1].timestamps.length, n);
  for (let i = 0; i < n; i++) {
    assertEquals(out[1].timestamps[i], i * 15);
    if (i % 7 === 0) assert(isStaleAt(out[1].values, i), `stale marker ${i} kept`);
    else assertEquals(out[1].values[i], i / 3);
  }
  assertEquals([...out[2].timestamps], [5]);
  assertEquals([...out[2].values], [7]);
});

Deno.test("sample encodings: usual, non-minimal varints, 7-byte timestamps, other orders and extra fields agree", () => {
  // value 2.5 (0x4004000000000000), little-endian
  const v = [0, 0, 0, 0, 0, 0, 0x04, 0x40];
  const lbl = [0x0a, 7, 0x0a, 1, ...enc.encode("a"), 0x12, 2, ...enc.encode("bb")];
  const cases: [number[], number][] = [
    [[0x09, ...v, 0x10, 0x90, 0x4e], 10_000], // the usual encoding
    [[0x09, ...v, 0x10, 0x81, 0x80, 0x80, 0x00], 1], // non-minimal varint
    [[0x09, ...v, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 2 ** 49 - 1], // 7 bytes
    [[0x09, ...v, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 2 ** 49], // 8 bytes
    [[0x10, 0x90, 0x4e, 0x09, ...v], 10_000], // timestamp first
    [[0x09, ...v, 0x10, 0x90, 0x4e, 0x18, 0x05], 10_000], // an unknown field after
    [[0x09, ...v, 0x10, 0x90, 0x4e, 0x10, 0x05], 5], // a repeated timestamp: the last wins
    [[0x09, ...v, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], -1],
  ];
  for (const [sample, t] of cases) {
    const series = [...lbl, 0x12, sample.length, ...sample];
    const out = decodeWriteRequestProto(new Uint8Array([0x0a, series.length, ...series]), null);
    assertEquals([...out.series[0].timestamps], [t], `sample bytes ${sample}`);
    assertEquals([...out.series[0].values], [2.5], `sample bytes ${sample}`);
  }
  // a timestamp varint cut short by the sample's length
  const cut = [0x09, ...v, 0x10, 0x90];
  const series = [...lbl, 0x12, cut.length, ...cut];
  assertThrows(
    () => decodeWriteRequestProto(new Uint8Array([0x0a, series.length, ...series]), null),
    RemoteWriteError,
  );
});

Deno.test("decoder reads exemplars, skips metadata and unknown fields", () => {
  // Exemplar { labels = 1; double value = 2 (1.5); int64 timestamp = 3 (1000) }
  const exemplar = ld(
    0x1a,
    cat(
      label("trace_id", "abc"),
      bytes([0x11, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]),
      bytes([0x18, 0xe8, 0x07]),
      bytes([0x78, 0x05]), // an unknown field inside the exemplar
    ),
  );
  const ts = cat(UP_SERIES, exemplar, bytes([0x78, 0x05])); // field 15 varint
  const metadata = ld(0x1a, cat(bytes([0x08, 0x01]), ld(0x12, enc.encode("up"))));
  const req = cat(metadata, ld(0x0a, ts), bytes([0x29, 1, 2, 3, 4, 5, 6, 7, 8]));
  const out = decodeWriteRequestProto(req);
  assertEquals(out.series.length, 1);
  assertEquals(out.series[0].labels, ["__name__", "up", "job", "x"]);
  assertEquals(out.series[0].timestamps.length, 1);
  assertEquals(out.series[0].exemplars, [
    { labels: ["trace_id", "abc"], value: 1.5, timestamp: 1000 },
  ]);
  // an exemplar-only series (as Prometheus sends them) and the round trip through the encoder
  const only = { ...series(["__name__", "up"], []), exemplars: out.series[0].exemplars };
  const back = decodeWriteRequestProto(encodeWriteRequest({ series: [out.series[0], only] }));
  assertEquals(back.series.map((x) => [x.labels, x.timestamps.length, x.exemplars]), [
    [["__name__", "up", "job", "x"], 1, out.series[0].exemplars],
    [["__name__", "up"], 0, out.series[0].exemplars],
  ]);
  // a series without exemplars has none
  assertEquals(decodeWriteRequestProto(UP_REQUEST).series[0].exemplars, undefined);
  // an exemplar field of the wrong wire type → 400
  const badEx = ld(0x1a, bytes([0x09, 0, 0, 0, 0, 0, 0, 0, 0]));
  assertEquals(status(() => decodeWriteRequestProto(ld(0x0a, cat(UP_SERIES, badEx)))).status, 400);
});

Deno.test("empty request decodes to no series", () => {
  assertEquals(decodeWriteRequest(snappyBlockCompress(new Uint8Array(0))).series, []);
});

Deno.test("snappyDecode agrees with snappyjs on literal/copy mixes", () => {
  const rnd = new Uint8Array(200_000);
  let x = 12345;
  for (let i = 0; i < rnd.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    // runs and repeats produce every copy length and long literals
    rnd[i] = i % 1000 < 300 ? (x >>> 24) : i % 7;
  }
  for (const n of [0, 1, 59, 60, 61, 255, 256, 65536, 70_000, rnd.length]) {
    const data = rnd.subarray(0, n);
    assertEquals(snappyDecode(snappyBlockCompress(data), n), data);
  }
});

Deno.test("garbage and bad snappy → 400 naming snappy", () => {
  for (
    const body of [
      new Uint8Array(0),
      enc.encode("this is not snappy at all, just some text"),
      snappyBlockCompress(UP_REQUEST).subarray(0, 10), // truncated
      bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), // length preamble too long
      bytes([0x0a, 0x00, 0x61]), // declares 10 bytes, holds 1
      bytes([0x05, 0x01 | (1 << 2), 0x09]), // copy before any output
    ]
  ) {
    const e = status(() => decodeWriteRequest(body));
    assertEquals(e.status, 400, e.message);
    assert(e.message.includes("snappy decode error"), e.message);
  }
});

Deno.test("wrong protobuf → 400 naming the decode problem", () => {
  const cases: [Uint8Array, string][] = [
    [bytes([0xff, 0xff, 0xff]), "cannot decode"],
    [bytes([0x08, 0x01]), "wire type varint"], // field 1 as varint
    [bytes([0x0a, 0x05, 0x0a, 0x10]), "cannot decode"], // truncated
    [ld(0x0a, bytes([0x08, 0x01])), "field 1"], // label as varint
    [ld(0x0a, cat(label("a", "b"), ld(0x12, bytes([0x08, 0x01])))), "value"], // value as varint
    [enc.encode('{"series":[]}'), "cannot decode"], // JSON instead of protobuf
  ];
  for (const [proto, want] of cases) {
    const e = status(() => decodeWriteRequest(snappyBlockCompress(proto)));
    assertEquals(e.status, 400, e.message);
    assert(e.message.includes(want), `${want} not in ${e.message}`);
  }
});

Deno.test("invalid label sets → 409 with Thanos's messages", () => {
  const cases: [string[], string][] = [
    [["job", "x", "__name__", "up"], "out of order labels"],
    [["__name__", "up", "job", "x", "job", "y"], "duplicate label names"],
    [["", "v", "job", "x"], "empty name or value"],
    [["__name__", "up", "job", ""], "empty name or value"],
    [[], "empty name or value"],
  ];
  for (const [labels, want] of cases) {
    // encode by hand: encodeWriteRequest writes what it is given
    const ts = cat(
      ...Array.from(
        { length: labels.length / 2 },
        (_, i) => label(labels[2 * i], labels[2 * i + 1]),
      ),
      ld(0x12, bytes([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x01])),
    );
    const body = snappyBlockCompress(cat(ld(0x0a, UP_SERIES), ld(0x0a, ts)));
    const e = status(() => decodeWriteRequest(body));
    assertEquals(e.status, 409, e.message);
    assert(e.message.includes(want), `${want} not in ${e.message}`);
    assert(e.message.includes("series 1"), e.message);
  }
  // a series without __name__ is accepted, as in Thanos
  validateSeries(series(["job", "x"], [[1, 1]]), 0);
});

Deno.test("NaN / float / out-of-range timestamps → 400 naming the timestamp", () => {
  // timestamp written as a double (wire type fixed64) holding NaN
  const nanTs = cat(
    label("__name__", "up"),
    ld(0x12, bytes([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x11, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f])),
  );
  let e = status(() => decodeWriteRequest(snappyBlockCompress(ld(0x0a, nanTs))));
  assertEquals(e.status, 400);
  assert(e.message.includes("timestamp"), e.message);
  // int64 beyond ±2^53 cannot be held exactly
  const big = series(["__name__", "up"], [[2 ** 60, 1]]);
  e = status(() => decodeWriteRequest(snappyBlockCompress(encodeWriteRequest({ series: [big] }))));
  assertEquals(e.status, 400);
  assert(e.message.includes("invalid sample timestamp"), e.message);
  // the validator also refuses non-integers handed over in memory
  e = status(() => validateSeries(series(["a", "b"], [[1.5, 1]]), 3));
  assertEquals(e.status, 400);
  assert(e.message.includes("series 3"), e.message);
});

Deno.test("native histograms are refused with 400", () => {
  const ts = cat(label("__name__", "h"), ld(0x22, bytes([0x08, 0x01])));
  const e = status(() => decodeWriteRequest(snappyBlockCompress(ld(0x0a, ts))));
  assertEquals(e.status, 400);
  assert(e.message.includes("native histogram"), e.message);
});

Deno.test("oversized bodies → 413 before decompressing", () => {
  // the preamble of a 100 MiB body: refused from its declared size alone
  const n = 100 << 20;
  const pre = [(n & 0x7f) | 0x80, ((n >>> 7) & 0x7f) | 0x80, ((n >>> 14) & 0x7f) | 0x80, n >>> 21];
  let e = status(() => decodeWriteRequest(bytes(pre, [0x00])));
  assertEquals(e.status, 413);
  assert(e.message.includes("too large"), e.message);
  assert(e.message.includes(String(DEFAULT_MAX_DECOMPRESSED_BYTES)), e.message);
  // a real request over a configured limit
  const many = Array.from({ length: 100 }, (_, i) => series(["__name__", `m${i}`], [[i, i]]));
  const body = snappyBlockCompress(encodeWriteRequest({ series: many }));
  e = status(() => decodeWriteRequest(body, { maxDecompressedBytes: 500 }));
  assertEquals(e.status, 413);
  assertEquals(decodeWriteRequest(body).series.length, 100);
});

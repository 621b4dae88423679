// StoreAPI messages against protobuf bytes assembled by hand from the field numbers of Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/store/storepb/rpc.proto and types.proto, so
// compatibility does not rest on our own .proto files or codec alone.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding } from "../../tsdb/series.ts";
import {
  Aggr,
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  decodeInfoResponse,
  decodeLabelNamesRequest,
  decodeLabelNamesResponse,
  decodeLabelValuesRequest,
  decodeLabelValuesResponse,
  decodeLegacyInfoResponse,
  decodeSeriesRequest,
  decodeSeriesResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  encodeInfoResponse,
  encodeLabelNamesRequest,
  encodeLabelNamesResponse,
  encodeLabelsProto,
  encodeLabelValuesRequest,
  encodeLabelValuesResponse,
  encodeLegacyInfoResponse,
  encodeSeriesRequest,
  encodeSeriesResponseBatch,
  encodeSeriesResponseHints,
  encodeSeriesResponseSeries,
  encodeSeriesResponseWarning,
  INT64_MAX,
  INT64_MIN,
  PartialResponseStrategy,
  ProtoDecodeError,
  SeriesEncoder,
  ServingStatus,
  type StoreChunk,
  StoreType,
} from "../../storeapi/codec.ts";
import { maskedCrc32c, snappyFrameDecode, snappyFrameEncode } from "../../storeapi/snappy.ts";
import { ProtoReader, ProtoWriter, varintSize } from "../../storeapi/wire.ts";

/** Minimal protobuf byte builder: tag = field<<3|wiretype, varints, length-delimited fields. */
class PB {
  private out: number[] = [];

  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.out.push(Number(x));
  }
  private tag(field: number, wt: number): void {
    this.varint(BigInt(field * 8 + wt));
  }
  /** varint field (int64/uint/enum/bool); negative numbers as 10-byte two's complement. */
  v(field: number, value: number | bigint | boolean): this {
    this.tag(field, 0);
    this.varint(typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value));
    return this;
  }
  b(field: number, data: Uint8Array | number[]): this {
    this.tag(field, 2);
    this.varint(BigInt(data.length));
    for (const x of data) this.out.push(x);
    return this;
  }
  s(field: number, str: string): this {
    return this.b(field, new TextEncoder().encode(str));
  }
  m(field: number, msg: PB): this {
    return this.b(field, msg.build());
  }
  /** packed repeated varints */
  packed(field: number, values: number[]): this {
    const inner = new PB();
    for (const x of values) inner.varint(BigInt(x));
    return this.b(field, inner.build());
  }
  fixed64(field: number, bytes: number[]): this {
    this.tag(field, 1);
    for (const x of bytes) this.out.push(x);
    return this;
  }
  build(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

const label = (n: string, v: string) => new PB().s(1, n).s(2, v);
const labelSet = (...pairs: string[]) => {
  const p = new PB();
  for (let i = 0; i < pairs.length; i += 2) p.m(1, label(pairs[i], pairs[i + 1]));
  return p;
};
const matcher = (type: number, n: string, v: string) => {
  const p = new PB();
  if (type !== 0) p.v(1, type);
  return p.s(2, n).s(3, v);
};

Deno.test("SeriesRequest decodes every field from hand-assembled bytes and re-encodes them byte for byte", () => {
  const bytes = new PB()
    .v(1, -5000n)
    .v(2, 9223372036854775807n)
    .m(3, matcher(0, "__name__", "up"))
    .m(3, matcher(1, "job", "api"))
    .m(3, matcher(2, "instance", "a|b"))
    .m(3, matcher(3, "zone", "eu.*"))
    .v(4, 300000)
    .packed(5, [Aggr.COUNT, Aggr.SUM, Aggr.COUNTER])
    .v(6, true)
    .v(7, PartialResponseStrategy.ABORT)
    .v(8, true)
    .m(9, new PB().s(1, "type.googleapis.com/hintspb.SeriesRequestHints").b(2, [0x10, 0x01]))
    .v(10, 15000)
    .v(11, 60000)
    .m(
      12,
      new PB().v(1, 15000).m(2, new PB().s(1, "rate")).m(4, new PB().v(1, true).s(3, "job"))
        .m(5, new PB().v(1, 300000)).s(6, "job").v(7, true).s(8, "__cf_series_hash__"),
    )
    .m(13, new PB().v(1, 1).v(2, 3).v(3, true).s(4, "job").s(4, "instance"))
    .s(14, "replica")
    .s(14, "rule_replica")
    .v(15, 100)
    .v(16, 64)
    .build();
  const req = decodeSeriesRequest(bytes);
  assertEquals(req.minTime, -5000);
  assertEquals(req.maxTime, INT64_MAX);
  assertEquals(req.matchers.map((m) => m.toString()), [
    '__name__="up"',
    'job!="api"',
    'instance=~"a|b"',
    'zone!~"eu.*"',
  ]);
  assertEquals(req.maxResolutionWindow, 300000);
  assertEquals(req.aggregates, [Aggr.COUNT, Aggr.SUM, Aggr.COUNTER]);
  assertEquals(req.partialResponseDisabled, true);
  assertEquals(req.partialResponseStrategy, PartialResponseStrategy.ABORT);
  assertEquals(req.skipChunks, true);
  assertEquals(req.hints?.typeUrl, "type.googleapis.com/hintspb.SeriesRequestHints");
  assertEquals([...req.hints!.value], [0x10, 0x01]);
  assertEquals([req.step, req.range], [15000, 60000]);
  assertEquals(req.queryHints, {
    stepMillis: 15000,
    func: "rate",
    grouping: { by: true, labels: ["job"] },
    rangeMillis: 300000,
    projectionLabels: ["job"],
    projectionInclude: true,
    seriesHashLabelName: "__cf_series_hash__",
  });
  assertEquals(req.shardInfo, {
    shardIndex: 1,
    totalShards: 3,
    by: true,
    labels: ["job", "instance"],
  });
  assertEquals(req.withoutReplicaLabels, ["replica", "rule_replica"]);
  assertEquals([req.limit, req.responseBatchSize], [100, 64]);
  assertEquals([...encodeSeriesRequest(req)], [...bytes]);
});

Deno.test("SeriesRequest accepts unpacked aggregates, skips unknown fields and rejects bad regexes", () => {
  const bytes = new PB().v(5, Aggr.MIN).v(5, Aggr.MAX).s(99, "future field")
    .fixed64(98, [1, 2, 3, 4, 5, 6, 7, 8]).m(3, matcher(0, "a", "b")).build();
  const req = decodeSeriesRequest(bytes);
  assertEquals(req.aggregates, [Aggr.MIN, Aggr.MAX]);
  assertEquals(req.matchers.length, 1);
  assertThrows(() => decodeSeriesRequest(new PB().m(3, matcher(2, "a", "(")).build()));
  assertThrows(
    () => decodeSeriesRequest(new PB().m(3, matcher(7, "a", "b")).build()),
    ProtoDecodeError,
  );
  assertThrows(() => decodeSeriesRequest(new Uint8Array([0x1a, 0x10, 0x01])), ProtoDecodeError);
});

Deno.test("SeriesResponse series frame matches hand-assembled bytes, with the StoreAPI chunk encoding numbering", () => {
  const xor = new Uint8Array([0x00, 0x01, 0x02, 0x03]);
  const hist = new Uint8Array([0xaa, 0xbb]);
  const bytes = new PB().m(
    1,
    new PB()
      .m(1, label("__name__", "up"))
      .m(1, label("job", "api"))
      // raw XOR chunk: type 0 (omitted), data
      .m(2, new PB().v(1, -1000n).v(2, 59000).m(3, new PB().b(2, xor)))
      // histogram: StoreAPI HISTOGRAM = 1 (Prometheus EncHistogram = 2)
      .m(2, new PB().v(1, 60000).v(2, 119000).m(3, new PB().v(1, 1).b(2, hist))),
  ).build();
  const res = decodeSeriesResponse(bytes);
  assert(res !== null && "series" in res);
  const s = res.series;
  assertEquals(s.labels, ["__name__", "up", "job", "api"]);
  assertEquals(s.chunks.length, 2);
  assertEquals([s.chunks[0].minTime, s.chunks[0].maxTime], [-1000, 59000]);
  assertEquals(s.chunks[0].encoding, ChunkEncoding.XOR);
  assertEquals([...s.chunks[0].data], [...xor]);
  assertEquals(s.chunks[1].encoding, ChunkEncoding.Histogram);
  // chunk data are views of the frame, not copies
  assertEquals(s.chunks[0].data.buffer, bytes.buffer);
  assertEquals([...encodeSeriesResponseSeries(s)], [...bytes]);

  // a hash (field 3) from a Go store is accepted; float histograms map 2 → 3
  const withHash = new PB().m(
    1,
    new PB().m(1, label("a", "b")).m(
      2,
      new PB().v(1, 1).v(2, 2).m(3, new PB().v(1, 2).b(2, [1]).v(3, 0xffffffffffffffffn)),
    ),
  ).build();
  const r2 = decodeSeriesResponse(withHash);
  assert(r2 !== null && "series" in r2);
  assertEquals(r2.series.chunks[0].encoding, ChunkEncoding.FloatHistogram);
});

Deno.test("SeriesResponse chunks decode alike in the usual layout and in any other, and a Chunk overrunning itself is refused as a Chunk", () => {
  const data = Array.from({ length: 200 }, (_, i) => i & 0xff); // a two-byte length
  const decode = (chunk: PB) => {
    const res = decodeSeriesResponse(
      new PB().m(1, new PB().m(1, label("a", "1")).m(2, new PB().v(2, 9).m(3, chunk))).build(),
    );
    assert(res !== null && "series" in res);
    const c = res.series.chunks[0];
    return { encoding: c.encoding, maxTime: c.maxTime, data: [...c.data] };
  };
  const want = { encoding: ChunkEncoding.XOR, maxTime: 9, data };
  // usual: the data alone; also with type 0 written, with the data before the type, with a hash
  assertEquals(decode(new PB().b(2, data)), want);
  assertEquals(decode(new PB().v(1, 0).b(2, data)), want);
  assertEquals(decode(new PB().b(2, data).v(1, 0)), want);
  assertEquals(decode(new PB().b(2, data).v(3, 7)), want);
  assertEquals(decode(new PB().b(2, data).v(1, 1)), { ...want, encoding: ChunkEncoding.Histogram });
  assertEquals(decode(new PB()), { ...want, data: [] });
  // a Chunk of 3 bytes whose data claims 5, inside a longer AggrChunk: the Chunk's error
  const overrun = new PB().m(
    1,
    new PB().m(1, label("a", "1")).m(
      2,
      new PB().b(3, [0x12, 0x05, 0x01]).v(1, 1).v(2, 2).v(1, 3),
    ),
  ).build();
  const e = assertThrows(() => decodeSeriesResponse(overrun), ProtoDecodeError);
  assert(e.message.startsWith("cannot decode Chunk at byte"), e.message);
});

Deno.test("series and chunks of a batch decode in place; a malformed one names its message", () => {
  const series = (name: string, minTime: number) =>
    new PB().m(1, new PB().s(1, "__name__").s(2, name)).m(
      2,
      new PB().v(1, minTime).v(2, minTime + 9).m(3, new PB().b(2, [1, 2])),
    );
  // each series and chunk ends where its length says, and the next one follows
  const batch = new PB().m(4, new PB().m(1, series("a", 1)).m(1, series("b", 2))).build();
  const res = decodeSeriesResponse(batch);
  assert(res !== null && "batch" in res);
  assertEquals(res.batch.map((s) => [s.labels, s.chunks.map((c) => [c.minTime, [...c.data]])]), [
    [["__name__", "a"], [[1, [1, 2]]]],
    [["__name__", "b"], [[2, [1, 2]]]],
  ]);
  // an AggrChunk whose minTime varint is cut short, then a Series with tag 0: each error names
  // the message it is in
  const cutChunk = new PB().m(4, new PB().m(1, new PB().b(2, [0x08, 0x80]))).build();
  const e1 = assertThrows(() => decodeSeriesResponse(cutChunk), ProtoDecodeError);
  assert(e1.message.startsWith("cannot decode AggrChunk at byte"), e1.message);
  const badSeries = new PB().m(4, new PB().m(1, series("a", 1)).b(1, [0x00])).build();
  const e2 = assertThrows(() => decodeSeriesResponse(badSeries), ProtoDecodeError);
  assert(e2.message.startsWith("cannot decode Series at byte"), e2.message);
});

Deno.test("SeriesResponse carries downsampled aggregates in AggrChunk fields 4-8", () => {
  const chunk: StoreChunk = {
    minTime: 0,
    maxTime: 3600000,
    encoding: ChunkEncoding.None,
    data: new Uint8Array(0),
    aggr: {
      count: { encoding: ChunkEncoding.XOR, data: new Uint8Array([1]) },
      sum: { encoding: ChunkEncoding.XOR, data: new Uint8Array([2]) },
      counter: { encoding: ChunkEncoding.XOR, data: new Uint8Array([5]) },
    },
  };
  const bytes = new PB().m(
    1,
    new PB().m(1, label("a", "1")).m(
      2,
      new PB().v(2, 3600000).m(4, new PB().b(2, [1])).m(5, new PB().b(2, [2]))
        .m(8, new PB().b(2, [5])),
    ),
  ).build();
  assertEquals(
    [...encodeSeriesResponseSeries({ labels: ["a", "1"], chunks: [chunk] })],
    [...bytes],
  );
  const res = decodeSeriesResponse(bytes);
  assert(res !== null && "series" in res);
  const c = res.series.chunks[0] as StoreChunk;
  assertEquals(c.encoding, ChunkEncoding.None);
  assertEquals([...c.aggr!.count!.data, ...c.aggr!.sum!.data, ...c.aggr!.counter!.data], [1, 2, 5]);
  assertEquals(c.aggr!.min, undefined);
});

Deno.test("SeriesResponse warning, hints and batch oneof members match hand-assembled bytes", () => {
  const warn = new PB().s(2, "store 10.0.0.1: partial data").build();
  assertEquals([...encodeSeriesResponseWarning("store 10.0.0.1: partial data")], [...warn]);
  assertEquals(decodeSeriesResponse(warn), { warning: "store 10.0.0.1: partial data" });

  const hints = new PB().m(
    3,
    new PB().s(1, "type.googleapis.com/hintspb.SeriesResponseHints").b(2, [0x0a, 0x02, 0x0a, 0]),
  ).build();
  const h = {
    typeUrl: "type.googleapis.com/hintspb.SeriesResponseHints",
    value: new Uint8Array([0x0a, 0x02, 0x0a, 0]),
  };
  assertEquals([...encodeSeriesResponseHints(h)], [...hints]);
  const dh = decodeSeriesResponse(hints);
  assert(dh !== null && "hints" in dh);
  assertEquals(dh.hints.typeUrl, h.typeUrl);

  const batch = new PB().m(
    4,
    new PB().m(1, new PB().m(1, label("a", "1"))).m(1, new PB().m(1, label("a", "2"))),
  ).build();
  assertEquals(
    [...encodeSeriesResponseBatch([{ labels: ["a", "1"], chunks: [] }, {
      labels: ["a", "2"],
      chunks: [],
    }])],
    [...batch],
  );
  const db = decodeSeriesResponse(batch);
  assert(db !== null && "batch" in db);
  assertEquals(db.batch.map((s) => s.labels), [["a", "1"], ["a", "2"]]);
});

Deno.test("LabelNames and LabelValues requests and responses match hand-assembled bytes", () => {
  const lnReq = new PB().v(2, 1).v(3, 1000).v(4, 2000).m(6, matcher(0, "job", "api"))
    .s(7, "replica").v(8, 10).build();
  const ln = decodeLabelNamesRequest(lnReq);
  assertEquals([ln.start, ln.end, ln.limit], [1000, 2000, 10]);
  assertEquals(ln.partialResponseStrategy, PartialResponseStrategy.ABORT);
  assertEquals(ln.matchers.map(String), ['job="api"']);
  assertEquals(ln.withoutReplicaLabels, ["replica"]);
  assertEquals([...encodeLabelNamesRequest(ln)], [...lnReq]);

  const lnRes = new PB().s(1, "__name__").s(1, "job").s(2, "warn 1").build();
  const lr = decodeLabelNamesResponse(lnRes);
  assertEquals(lr, { names: ["__name__", "job"], warnings: ["warn 1"] });
  assertEquals([...encodeLabelNamesResponse(lr)], [...lnRes]);

  const lvReq = new PB().s(1, "job").v(2, true).v(4, -1).v(5, 5).m(7, matcher(3, "x", "y"))
    .s(8, "replica").v(9, 3).build();
  const lv = decodeLabelValuesRequest(lvReq);
  assertEquals([lv.label, lv.start, lv.end, lv.limit], ["job", -1, 5, 3]);
  assertEquals(lv.partialResponseDisabled, true);
  assertEquals([...encodeLabelValuesRequest(lv)], [...lvReq]);

  const lvRes = new PB().s(1, "api").s(1, "ü-web").build();
  const vr = decodeLabelValuesResponse(lvRes);
  assertEquals(vr, { values: ["api", "ü-web"], warnings: [] });
  assertEquals([...encodeLabelValuesResponse(vr)], [...lvRes]);
});

Deno.test("info.InfoResponse and legacy Store/Info match hand-assembled bytes, MaxInt64 round-trips", () => {
  const info = new PB()
    .m(1, labelSet("cluster", "eu", "replica", "0"))
    .s(2, "sidecar")
    .m(
      3,
      new PB().v(1, -9223372036854775808n).v(2, 9223372036854775807n).v(3, true).v(5, true)
        .m(6, new PB().m(1, labelSet("tenant", "a")).v(2, 10).v(3, 20)),
    )
    .m(4, new PB())
    .m(6, new PB())
    .m(7, new PB().v(1, 1).v(2, 2))
    .m(9, new PB())
    .build();
  const d = decodeInfoResponse(info);
  assertEquals(d.componentType, "sidecar");
  assertEquals(d.labelSets, [["cluster", "eu", "replica", "0"]]);
  assertEquals([d.minTime, d.maxTime], [INT64_MIN, INT64_MAX]);
  assertEquals([d.storeApi, d.supportsSharding, d.supportsWithoutReplicaLabels], [
    true,
    true,
    true,
  ]);
  assertEquals(d.tsdbInfos, [{ labels: ["tenant", "a"], minTime: 10, maxTime: 20 }]);
  assertEquals([d.rules, d.targets, d.status, d.metricMetadata, d.query], [
    true,
    true,
    true,
    undefined,
    undefined,
  ]);
  assertEquals(d.exemplars, { minTime: 1, maxTime: 2 });
  assertEquals([...encodeInfoResponse(d)], [...info]);

  const legacy = new PB()
    .m(1, label("cluster", "eu"))
    .v(2, 100)
    .v(3, 9223372036854775807n)
    .v(4, StoreType.STORE)
    .m(5, labelSet("cluster", "eu"))
    .build();
  const l = decodeLegacyInfoResponse(legacy);
  assertEquals(l, {
    labels: ["cluster", "eu"],
    minTime: 100,
    maxTime: INT64_MAX,
    storeType: StoreType.STORE,
    labelSets: [["cluster", "eu"]],
  });
  assertEquals(
    [...encodeLegacyInfoResponse({
      componentType: "store",
      labelSets: [["cluster", "eu"]],
      minTime: 100,
      maxTime: INT64_MAX,
    })],
    [...legacy],
  );
});

Deno.test("grpc.health.v1 messages match hand-assembled bytes", () => {
  assertEquals([...encodeHealthCheckRequest("thanos.Store")], [
    ...new PB().s(1, "thanos.Store").build(),
  ]);
  assertEquals(decodeHealthCheckRequest(new Uint8Array(0)), "");
  assertEquals([...encodeHealthCheckResponse(ServingStatus.NOT_SERVING)], [0x08, 0x02]);
  assertEquals(decodeHealthCheckResponse(new Uint8Array([0x08, 0x01])), ServingStatus.SERVING);
});

Deno.test("matchers built from tsdb Matcher encode with StoreAPI type numbers", () => {
  const bytes = encodeSeriesRequest({
    minTime: 1,
    maxTime: 2,
    matchers: [new Matcher(MatchType.NotRegexp, "a", "b.*")],
  });
  assertEquals([...bytes], [...new PB().v(1, 1).v(2, 2).m(3, matcher(3, "a", "b.*")).build()]);
});

Deno.test("snappy framing decodes a hand-built stream with stored and compressed chunks and checks CRCs", () => {
  // CRC-32C("123456789") = 0xE3069283 (standard check value), masked per the framing spec
  const digits = new TextEncoder().encode("123456789");
  const crc = 0xe3069283;
  const masked = (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
  assertEquals(maskedCrc32c(digits), masked);
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const id = [0xff, 6, 0, 0, ...new TextEncoder().encode("sNaPpY")];
  // stored chunk (type 0x01)
  const stored = [0x01, 4 + 9, 0, 0, ...le32(masked), ...digits];
  // compressed chunk (type 0x00): snappy block = varint(9) + literal tag ((9-1)<<2) + bytes
  const block = [9, (9 - 1) << 2, ...digits];
  const compressed = [0x00, 4 + block.length, 0, 0, ...le32(masked), ...block];
  // a padding chunk (0xfe) is skipped
  const padding = [0xfe, 2, 0, 0, 0, 0];
  const stream = new Uint8Array([...id, ...stored, ...padding, ...compressed]);
  assertEquals(new TextDecoder().decode(snappyFrameDecode(stream)), "123456789123456789");

  const bad = stream.slice();
  bad[id.length + 4] ^= 1; // damage the first CRC
  assertThrows(() => snappyFrameDecode(bad), Error, "checksum");
  assertThrows(
    () => snappyFrameDecode(new Uint8Array([...id, 0x02, 0, 0, 0])),
    Error,
    "unskippable",
  );

  // our encoder's output: identifier first, ≤64 KiB per chunk, round trip
  const big = new Uint8Array(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
  const enc = snappyFrameEncode(big);
  assertEquals([...enc.subarray(0, 10)], id);
  assertEquals([...snappyFrameDecode(enc)], [...big]);
  assertThrows(() => snappyFrameDecode(enc, 1000), Error, "limit");
});

Deno.test("short strings decode to their exact text also when the reader hands out a cached one", () => {
  // many distinct short strings (slot collisions certain), repeats, the empty string, same
  // lengths with different bytes and non-ASCII ones: each decodes to exactly what was written
  const words: string[] = ["", "a", "b", "job", "jab", "instance", "ü", "zürich", "x".repeat(23)];
  for (let i = 0; i < 20_000; i++) words.push(`v${(i * 7919) % 15013}`);
  for (let i = 0; i < 500; i++) words.push(words[(i * 31) % words.length]);
  const w = ProtoWriter.growable();
  for (const s of words) w.stringField(1, s === "" ? "\u0000" : s);
  const r = new ProtoReader(w.finish(), "test");
  for (const s of words) {
    assertEquals(r.tag(), 0x0a);
    assertEquals(r.string(), s === "" ? "\u0000" : s);
  }
  assert(r.eof());
  // an empty field decodes to ""
  const e = new ProtoReader(new Uint8Array([0x0a, 0x00]), "test");
  e.tag();
  assertEquals(e.string(), "");
});

Deno.test("series labels in any field layout decode like the usual name-then-value one", () => {
  const w = ProtoWriter.growable();
  w.message(1, (s) => {
    s.message(1, (l) => { // value before name
      l.stringField(2, "v1");
      l.stringField(1, "b");
    });
    s.message(1, (l) => l.stringField(1, "c")); // no value
    s.message(1, (l) => { // an unknown field after the value
      l.stringField(1, "d");
      l.stringField(2, "v2");
      l.tag(3, 0);
      l.varint(7);
    });
    s.message(1, (l) => { // the usual layout
      l.stringField(1, "e");
      l.stringField(2, "v3");
    });
    s.message(1, () => {}); // empty
  });
  const res = decodeSeriesResponse(w.finish());
  assert(res !== null && "series" in res);
  assertEquals(res.series.labels, ["b", "v1", "c", "", "d", "v2", "e", "v3", "", ""]);
});

Deno.test("labels repeating the previous series' decode to their own text, within a batch and across responses", () => {
  // sorted series: most labels equal the previous series' at the same position; the others
  // differ only in their last byte, in their length, or in a long or non-ASCII value
  const long = "a-label-value-longer-than-24-bytes";
  const sets = [
    ["__name__", "node_cpu", "cpu", "0", "instance", long + "1", "mode", "idle"],
    ["__name__", "node_cpu", "cpu", "0", "instance", long + "1", "mode", "user"],
    ["__name__", "node_cpu", "cpu", "1", "instance", long + "1", "mode", "user"],
    ["__name__", "node_cpu", "cpu", "1", "instance", long + "2", "mode", "user"],
    ["__name__", "node_cpu", "cpu", "10", "instance", "ünï", "mode", "user"],
    ["__name__", "node_cpu", "cpu", "10", "instance", "ünï"],
    ["__name__", "node_cpu", "cpu", "10", "instance", "ünï", "mode", "user"],
  ];
  const chunk = { minTime: 1, maxTime: 2, encoding: ChunkEncoding.XOR, data: new Uint8Array([7]) };
  const batch = decodeSeriesResponse(
    encodeSeriesResponseBatch(sets.map((labels) => ({ labels, chunks: [chunk] }))),
  );
  assert(batch !== null && "batch" in batch);
  assertEquals(batch.batch.map((s) => s.labels), sets);
  // the next response, in its own buffer, has other labels at the same places: none is taken
  // from the previous response
  for (const labels of [sets[0], sets[1], sets[0]]) {
    const one = decodeSeriesResponse(encodeSeriesResponseSeries({ labels, chunks: [chunk] }));
    assert(one !== null && "series" in one);
    assertEquals(one.series.labels, labels);
  }
  // a later response in the same buffer's bytes as an earlier one, rewritten in place
  const buf = encodeSeriesResponseSeries({ labels: ["a", "x"], chunks: [] });
  assertEquals(decodeSeriesResponse(buf), { series: { labels: ["a", "x"], chunks: [] } });
  buf[buf.indexOf(0x78)] = 0x79;
  assertEquals(decodeSeriesResponse(buf), { series: { labels: ["a", "y"], chunks: [] } });
});

Deno.test("a series label whose name runs past the label's end is a Label decode error", () => {
  // Series { Label (4 bytes) { name: length 5 }, Label { name "zz" } }: the name would end
  // inside the next label
  const label = [0x0a, 0x04, 0x0a, 0x05, 0x61, 0x62];
  const next = [0x0a, 0x04, 0x0a, 0x02, 0x7a, 0x7a];
  const series = [...label, ...next];
  const buf = new Uint8Array([0x0a, series.length, ...series]);
  assertThrows(() => decodeSeriesResponse(buf), ProtoDecodeError, "cannot decode Label");
});

Deno.test("one SeriesEncoder over series sharing label strings writes each series's own lengths", () => {
  // consecutive series share names and some values (the same string objects, as the index's
  // symbol caches hand them out); "é" and "e" have one UTF-16 unit but 2 and 1 UTF-8 bytes
  const values = ["e", "é", "e", "日本", "ab", "é", ""];
  const series = [];
  for (let i = 0; i < 40; i++) {
    const labels: string[] = ["__name__", "up"];
    // 36 labels: more string lengths (72) than the encoder's first array holds (64)
    for (let k = 0; k < 35; k++) labels.push(`l${k}`, values[(i + (k % 3)) % values.length]);
    if (i % 5 === 4) labels.length -= 4; // fewer labels than the previous series
    if (i === 0) labels.length = 6; // the encoder's arrays grow at the second series
    series.push({ labels, chunks: [] as StoreChunk[] });
  }
  const expect = (labels: string[]) => {
    const pb = new PB();
    for (let k = 0; k < labels.length; k += 2) {
      // proto3: an empty value is left out
      pb.m(1, labels[k + 1] === "" ? new PB().s(1, labels[k]) : label(labels[k], labels[k + 1]));
    }
    return pb;
  };
  const batch = new PB();
  for (const s of series) batch.m(1, expect(s.labels));
  assertEquals([...encodeSeriesResponseBatch(series)], [...new PB().m(4, batch).build()]);
  // one series at a time through one encoder, as the server's frame sink measures and writes
  const enc = new SeriesEncoder();
  for (const s of series) {
    const size = enc.measure(s.labels, s.chunks, 0, 0);
    const w = new ProtoWriter(new Uint8Array(size));
    enc.write(w, s.labels, s.chunks, 0, 0);
    assertEquals([...w.finish()], [...expect(s.labels).build()]);
  }
});

Deno.test("a SeriesBatch whose chunk sizes outgrow the encoder's scratch mid-batch writes every chunk's own size, as does one encoder reused across series", () => {
  // chunks of differing sizes (times past int32, payloads of 1..300 bytes, one with aggregates):
  // each chunk's length prefix must be its own, also after the kept sizes grow within a batch
  const chunkOf = (k: number): StoreChunk => ({
    minTime: 1.7e12 + k * 7200000,
    maxTime: 1.7e12 + k * 7200000 + (k % 3) * 127,
    encoding: ChunkEncoding.XOR,
    data: new Uint8Array(1 + (k * 37) % 300).fill(k & 0xff),
    ...(k === 5
      ? { aggr: { count: { encoding: ChunkEncoding.XOR, data: new Uint8Array(k) } } }
      : {}),
  });
  const series = [200, 1, 150, 0, 3].map((n, i) => ({
    labels: ["a", String(i)],
    chunks: Array.from({ length: n }, (_, k) => chunkOf(k + i * 1000)),
  }));
  const seriesPB = (s: (typeof series)[number]) => {
    const pb = new PB().m(1, label(s.labels[0], s.labels[1]));
    for (const c of s.chunks) {
      const chunk = new PB().v(1, c.minTime).v(2, c.maxTime).m(3, new PB().b(2, c.data));
      if (c.aggr?.count) chunk.m(4, new PB().b(2, c.aggr.count.data));
      pb.m(2, chunk);
    }
    return pb;
  };
  const batch = new PB();
  for (const s of series) batch.m(1, seriesPB(s));
  assertEquals([...encodeSeriesResponseBatch(series)], [...new PB().m(4, batch).build()]);
  // one encoder, one series at a time, longest first and then shorter ones
  const enc = new SeriesEncoder();
  for (const s of [series[0], series[4], series[2], series[1]]) {
    const size = enc.measure(s.labels, s.chunks, 0, s.chunks.length);
    const w = new ProtoWriter(new Uint8Array(size));
    enc.write(w, s.labels, s.chunks, 0, s.chunks.length);
    assertEquals([...w.finish()], [...seriesPB(s).build()]);
  }
});

Deno.test("ProtoReader.varint reads 1-, 2- and longer varints alike, up to the reader's end, and refuses truncated ones", () => {
  const values = [
    0,
    1,
    127,
    128,
    300,
    16383,
    16384,
    2 ** 21 - 1,
    2 ** 21,
    2 ** 35 + 7,
    2 ** 53 - 1,
  ];
  const w = ProtoWriter.growable();
  for (const v of values) w.varint(v);
  const bytes = w.finish();
  const r = new ProtoReader(bytes, "test");
  assertEquals(values.map(() => r.varint()), values);
  assert(r.eof());
  // a one-byte varint as the last byte; a two-byte one whose second byte is past the end
  assertEquals(new ProtoReader(new Uint8Array([0x96, 0x01, 0x05]), "t", 2).varint(), 5);
  assertEquals(new ProtoReader(new Uint8Array([0x96, 0x01]), "t").varint(), 150);
  const cut = new ProtoReader(new Uint8Array([0x96, 0x01, 0x05]), "cut", 0, 1);
  const e = assertThrows(() => cut.varint(), ProtoDecodeError);
  assert(e.message.includes("truncated varint"), e.message);
  assertEquals(cut.pos, 0);
});

Deno.test("varintSize is the written varint's length on both sides of every 7-bit boundary", () => {
  for (let k = 1; k <= 7; k++) {
    for (const v of [2 ** (7 * k) - 1, 2 ** (7 * k), 1.7e12 + k]) {
      if (v > Number.MAX_SAFE_INTEGER) continue;
      const w = ProtoWriter.growable();
      w.varint(v);
      assertEquals(varintSize(v), w.finish().length, `varintSize(${v})`);
    }
  }
  assertEquals(varintSize(Number.MAX_SAFE_INTEGER), 8);
  assertEquals(varintSize(2 ** 56), 9);
  assertEquals(varintSize(2 ** 63), 10);
});

Deno.test("decoded series are plain data: equal to the series they were encoded from", () => {
  const series = [
    {
      labels: ["__name__", "up", "job", "a"],
      chunks: [{ minTime: 1, maxTime: 2, encoding: ChunkEncoding.XOR, data: new Uint8Array([7]) }],
    },
    {
      labels: ["__name__", "up", "job", "b"],
      chunks: [
        { minTime: 1, maxTime: 2, encoding: ChunkEncoding.XOR, data: new Uint8Array([8, 9]) },
        { minTime: 3, maxTime: 4, encoding: ChunkEncoding.Histogram, data: new Uint8Array([1]) },
      ],
    },
  ];
  assertEquals(decodeSeriesResponse(encodeSeriesResponseBatch(series)), { batch: series });
});

Deno.test("a series' ready-encoded labels (labelsProto) give the same SeriesBatch bytes as its labels, mixed with series without them", () => {
  const long = "v".repeat(130); // a 2-byte length varint, inside a Label of 2-byte length
  const sets = [
    ["__name__", "up", "instance", "host-000:9100", "job", "api"],
    ["__name__", "up", "instance", "host-001:9100", "job", "api"],
    ["__name__", "up", "instance", "ünï 日本", "job", long],
    ["__name__", "up", "e", "", "job", "api"],
    ["__name__", "up", "instance", "host-002:9100", "job", "db"],
    [],
  ];
  const chunk = (k: number): StoreChunk => ({
    minTime: 1_700_000_000_000 + k,
    maxTime: 1_700_000_119_000 + k,
    encoding: ChunkEncoding.XOR,
    data: Uint8Array.from({ length: 20 + k }, (_, i) => (i * 31 + k) & 0xff),
  });
  const plain = sets.map((labels, i) => ({ labels, chunks: [chunk(i), chunk(i + 100)] }));
  const want = [...encodeSeriesResponseBatch(plain)];
  // every second series with its labels ready: the encoder's reuse of the previous series'
  // string lengths must not see through a series it did not measure
  for (const pick of [(i: number) => i % 2 === 0, (i: number) => i % 2 === 1, () => true]) {
    const mixed = plain.map((s, i) =>
      pick(i) ? { ...s, labelsProto: encodeLabelsProto(s.labels) } : { ...s }
    );
    assertEquals([...encodeSeriesResponseBatch(mixed)], want);
  }
  // the ready encoding is the Label messages alone, one char per byte
  const proto = encodeLabelsProto(["a", "é"]);
  assertEquals([...proto].map((c) => c.charCodeAt(0)), [...new PB().m(1, label("a", "é")).build()]);
  assertEquals(encodeLabelsProto([]), "");
  // one encoder through several batches, as the server's pool reuses it
  const enc = new SeriesEncoder();
  for (let round = 0; round < 3; round++) {
    const batch = plain.map((s, i) =>
      (i + round) % 3 === 0 ? { ...s, labelsProto: encodeLabelsProto(s.labels) } : s
    );
    const size = enc.measureBatch(batch);
    const w = new ProtoWriter(new Uint8Array(1 + varintSize(size) + size));
    w.byte(0x22);
    w.varint(size);
    enc.writeBatch(w, batch);
    assertEquals([...w.finish()], want);
  }
});

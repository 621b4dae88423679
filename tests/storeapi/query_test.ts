// The `thanos.Query` codec (storeapi/query.ts) against an independent protobuf implementation:
// protobufjs compiling storeapi/proto/query.proto (Thanos v0.42's query.proto) reads what we
// write and we read what it writes, field by field; framing of batched responses.

// deno-lint-ignore-file no-explicit-any
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import {
  decodeQueryRangeRequest,
  decodeQueryRequest,
  decodeQueryResponse,
  encodeQueryRangeRequest,
  encodeQueryRequest,
  encodeQueryResponseBatch,
  encodeQueryResponseSeries,
  encodeQueryResponseStats,
  encodeQueryResponseWarnings,
  EngineType,
  framedSeriesResponses,
  unframe,
} from "../../storeapi/query.ts";

// a computed specifier keeps protobufjs's @types/node out of type checking (as interop_test.ts)
const PROTOBUFJS = "npm:protobufjs@7.6.6";
const protobuf: any = (await import(PROTOBUFJS)).default;
const PROTO_DIR = new URL("../../storeapi/proto/", import.meta.url).pathname;
const root: any = protobuf.loadSync([PROTO_DIR + "query.proto"]);
const T = {
  QueryRequest: root.lookupType("thanos.QueryRequest"),
  QueryRangeRequest: root.lookupType("thanos.QueryRangeRequest"),
  QueryResponse: root.lookupType("thanos.QueryResponse"),
  QueryRangeResponse: root.lookupType("thanos.QueryRangeResponse"),
};
const OBJ = { longs: Number, enums: String, defaults: false };

function pb(type: any, obj: unknown): Uint8Array {
  return type.encode(type.fromObject(obj)).finish();
}

Deno.test("QueryRequest: protobufjs reads ours and we read protobufjs's, every field", () => {
  const ours = encodeQueryRequest({
    query: "sum(up)",
    queryPlanJson: new TextEncoder().encode("{}"),
    timeSeconds: 1_700_000_000,
    timeoutSeconds: 30,
    maxResolutionSeconds: 300,
    replicaLabels: ["replica", "rule_replica"],
    storeMatchers: [[new Matcher(MatchType.Regexp, "zone", "a|b")], [
      new Matcher(MatchType.NotEqual, "x", ""),
    ]],
    enableDedup: true,
    enablePartialResponse: true,
    skipChunks: true,
    shardInfo: { shardIndex: 1, totalShards: 3, by: true, labels: ["job"] },
    lookbackDeltaSeconds: 120,
    engine: EngineType.PROMETHEUS,
    responseBatchSize: 64,
  });
  const m = T.QueryRequest.toObject(T.QueryRequest.decode(ours), { ...OBJ, bytes: String });
  assertEquals(m, {
    query: "sum(up)",
    queryPlan: { json: btoa("{}") },
    timeSeconds: 1_700_000_000,
    timeoutSeconds: 30,
    maxResolutionSeconds: 300,
    replicaLabels: ["replica", "rule_replica"],
    storeMatchers: [
      { labelMatchers: [{ type: "RE", name: "zone", value: "a|b" }] },
      { labelMatchers: [{ type: "NEQ", name: "x" }] },
    ],
    enableDedup: true,
    enablePartialResponse: true,
    skipChunks: true,
    shardInfo: { shardIndex: 1, totalShards: 3, by: true, labels: ["job"] },
    lookbackDeltaSeconds: 120,
    engine: "prometheus",
    responseBatchSize: 64,
  });
  const back = decodeQueryRequest(pb(T.QueryRequest, m));
  assertEquals(back.query, "sum(up)");
  assertEquals(new TextDecoder().decode(back.queryPlanJson), "{}");
  assertEquals(
    [back.timeSeconds, back.timeoutSeconds, back.maxResolutionSeconds, back.lookbackDeltaSeconds],
    [1_700_000_000, 30, 300, 120],
  );
  assertEquals(back.replicaLabels, ["replica", "rule_replica"]);
  assertEquals(back.storeMatchers!.map((s) => s.map((x) => x.toString())), [
    ['zone=~"a|b"'],
    ['x!=""'],
  ]);
  assertEquals([back.enableDedup, back.enablePartialResponse, back.skipChunks], [true, true, true]);
  assertEquals(back.shardInfo, { shardIndex: 1, totalShards: 3, by: true, labels: ["job"] });
  assertEquals([back.engine, back.responseBatchSize], [EngineType.PROMETHEUS, 64]);
});

Deno.test("QueryRangeRequest: protobufjs reads ours and we read protobufjs's", () => {
  const ours = encodeQueryRangeRequest({
    query: "rate(x[5m])",
    startTimeSeconds: 100,
    endTimeSeconds: 200,
    intervalSeconds: 15,
    timeoutSeconds: 9,
    maxResolutionSeconds: 3,
    replicaLabels: ["r"],
    storeMatchers: [[new Matcher(MatchType.Equal, "a", "b")]],
    enableDedup: true,
    enablePartialResponse: true,
    skipChunks: true,
    shardInfo: { shardIndex: 0, totalShards: 2, by: false, labels: ["l"] },
    lookbackDeltaSeconds: 60,
    engine: EngineType.THANOS,
    responseBatchSize: 5,
  });
  const m = T.QueryRangeRequest.toObject(T.QueryRangeRequest.decode(ours), OBJ);
  assertEquals(m, {
    query: "rate(x[5m])",
    startTimeSeconds: 100,
    endTimeSeconds: 200,
    intervalSeconds: 15,
    timeoutSeconds: 9,
    maxResolutionSeconds: 3,
    replicaLabels: ["r"],
    storeMatchers: [{ labelMatchers: [{ name: "a", value: "b" }] }],
    enableDedup: true,
    enablePartialResponse: true,
    skipChunks: true,
    shardInfo: { totalShards: 2, labels: ["l"] },
    lookbackDeltaSeconds: 60,
    engine: "thanos",
    responseBatchSize: 5,
  });
  const back = decodeQueryRangeRequest(pb(T.QueryRangeRequest, m));
  assertEquals(
    [back.startTimeSeconds, back.endTimeSeconds, back.intervalSeconds, back.timeoutSeconds],
    [100, 200, 15, 9],
  );
  assertEquals([back.maxResolutionSeconds, back.lookbackDeltaSeconds, back.engine], [3, 60, 2]);
  assertEquals([back.enableDedup, back.enablePartialResponse, back.responseBatchSize], [
    true,
    true,
    5,
  ]);
  assertEquals(back.storeMatchers!.map((s) => s.map((x) => x.toString())), [['a="b"']]);
});

const series = {
  labels: ["__name__", "up", "job", "a"],
  ts: [1000, 2000, 3000],
  vs: [1, 0, NaN],
};

Deno.test("QueryResponse: each oneof member as protobufjs reads it", () => {
  const one = T.QueryResponse.toObject(
    T.QueryResponse.decode(encodeQueryResponseSeries(series)),
    OBJ,
  );
  assertEquals(one.timeseries.labels, [
    { name: "__name__", value: "up" },
    { name: "job", value: "a" },
  ]);
  assertEquals(one.timeseries.samples.length, 3);
  assertEquals(one.timeseries.samples[0], { value: 1, timestamp: 1000 });
  assertEquals(one.timeseries.samples[1], { timestamp: 2000 });
  assertEquals(Number.isNaN(one.timeseries.samples[2].value), true);
  const batch = T.QueryRangeResponse.toObject(
    T.QueryRangeResponse.decode(encodeQueryResponseBatch([series, { ...series, labels: [] }])),
    OBJ,
  );
  assertEquals(batch.timeseriesBatch.series.length, 2);
  assertEquals(batch.timeseriesBatch.series[1].labels, undefined);
  const w = T.QueryResponse.toObject(
    T.QueryResponse.decode(encodeQueryResponseWarnings(["a", "b"])),
    OBJ,
  );
  assertEquals(w, { warnings: "a, b" });
  const s = T.QueryResponse.toObject(
    T.QueryResponse.decode(encodeQueryResponseStats({ samplesTotal: 7, peakSamples: 3 })),
    OBJ,
  );
  assertEquals(s, { stats: { samplesTotal: 7, peakSamples: 3 } });
});

Deno.test("QueryResponse: we read protobufjs's members", () => {
  const ts = {
    labels: [{ name: "a", value: "1" }],
    samples: [{ value: 2.5, timestamp: 10 }, { value: 0, timestamp: 20 }],
  };
  assertEquals(decodeQueryResponse(pb(T.QueryResponse, { timeseries: ts })), {
    series: [{ labels: ["a", "1"], ts: [10, 20], vs: [2.5, 0] }],
  });
  assertEquals(
    decodeQueryResponse(pb(T.QueryResponse, { timeseriesBatch: { series: [ts, ts] } })),
    {
      series: [
        { labels: ["a", "1"], ts: [10, 20], vs: [2.5, 0] },
        { labels: ["a", "1"], ts: [10, 20], vs: [2.5, 0] },
      ],
    },
  );
  assertEquals(decodeQueryResponse(pb(T.QueryResponse, { warnings: "w" })), { warnings: "w" });
  assertEquals(
    decodeQueryResponse(pb(T.QueryResponse, { stats: { samplesTotal: 4, peakSamples: 2 } })),
    { stats: { samplesTotal: 4, peakSamples: 2 } },
  );
  // a native histogram sample is refused, not read as a float
  const h = new Uint8Array([0x12, 0x02, 0x22, 0x00]);
  assertThrows(() => decodeQueryResponse(h));
});

Deno.test("framed series responses: one frame per series, or batches of the asked size", () => {
  const many = Array.from({ length: 5 }, (_, i) => ({ ...series, labels: ["i", String(i)] }));
  const single = [...unframe(framedSeriesResponses(many, 1))].map(decodeQueryResponse);
  assertEquals(single.length, 5);
  assertEquals(single.map((f) => (f as { series: unknown[] }).series.length), [1, 1, 1, 1, 1]);
  const batched = [...unframe(framedSeriesResponses(many, 2))].map(decodeQueryResponse);
  assertEquals(batched.map((f) => (f as { series: unknown[] }).series.length), [2, 2, 1]);
  const labels = batched.flatMap((f) => (f as unknown as { series: { labels: string[] }[] }).series)
    .map((s) => s.labels[1]);
  assertEquals(labels, ["0", "1", "2", "3", "4"]);
  assertEquals(framedSeriesResponses([], 64).length, 0);
});

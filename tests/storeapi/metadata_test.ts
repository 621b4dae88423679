// Metadata API codecs (thanos.MetricMetadataRequest / Response layout) and the querier's merge.

import { assertEquals } from "../helpers/assert.ts";
import {
  decodeMetadataRequest,
  decodeMetadataResponse,
  encodeMetadataRequest,
  encodeMetadataResponse,
  encodeMetadataResponseWarning,
  mergeMetadata,
} from "../../storeapi/metadata.ts";

const C = { type: "counter", help: "Total.", unit: "" };
const G = { type: "gauge", help: "Now.", unit: "bytes" };

Deno.test("MetricMetadataRequest: metric=1, limit=2 (int32, -1 sign-extended), strategy=3", () => {
  const b = encodeMetadataRequest({ metric: "up", limit: 5, partialResponseStrategy: 1 });
  assertEquals([...b], [0x0a, 2, 0x75, 0x70, 0x10, 5, 0x18, 1]);
  assertEquals(decodeMetadataRequest(b), { metric: "up", limit: 5, partialResponseStrategy: 1 });
  const neg = encodeMetadataRequest({ metric: "", limit: -1, partialResponseStrategy: 0 });
  assertEquals(neg.length, 11);
  assertEquals(decodeMetadataRequest(neg).limit, -1);
});

Deno.test("MetricMetadataResponse: the map round-trips (entries: key=1, value=2 {metas=2})", () => {
  const m = { a_total: [C], b_bytes: [G, { ...G, help: "Other." }] };
  assertEquals(decodeMetadataResponse(encodeMetadataResponse(m)), { metadata: m });
  assertEquals(decodeMetadataResponse(encodeMetadataResponseWarning("w")), { warning: "w" });
  const one = encodeMetadataResponse({ x: [{ type: "t", help: "", unit: "" }] });
  // metadata(1) { entry(1) { key(1) "x", value(2) { metas(2) { type(1) "t" } } } }
  assertEquals([...one], [0x0a, 12, 0x0a, 10, 0x0a, 1, 0x78, 0x12, 5, 0x12, 3, 0x0a, 1, 0x74]);
});

Deno.test("mergeMetadata: entries of replicas once per metric; limit counts metrics", () => {
  const a = { a_total: [C], b_bytes: [G] };
  const b = { a_total: [C], c: [C] };
  assertEquals(mergeMetadata([a, b], -1), { a_total: [C], b_bytes: [G], c: [C] });
  assertEquals(mergeMetadata([a, { a_total: [G] }], -1), { a_total: [C, G], b_bytes: [G] });
  assertEquals(Object.keys(mergeMetadata([a, b], 2)).length, 2);
  assertEquals(mergeMetadata([a, b], 0), {});
});

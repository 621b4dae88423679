// RFC 3339 ↔ google.protobuf.Timestamp and label-map helpers shared by the Rules, Targets and
// Metadata APIs.

import { assertEquals, assertThrows } from "../helpers/assert.ts";
import {
  compareLabelMaps,
  formatRfc3339Nano,
  parseRfc3339,
  readTimestamp,
  withoutLabels,
  ZERO_TIME,
} from "../../storeapi/api_common.ts";
import { ProtoDecodeError, ProtoReader, ProtoWriter, WireType } from "../../storeapi/wire.ts";

Deno.test("parseRfc3339/formatRfc3339Nano: nanoseconds, offsets, Go's zero time", () => {
  assertEquals(parseRfc3339("1970-01-01T00:00:01.5Z"), { seconds: 1, nanos: 500_000_000 });
  assertEquals(parseRfc3339("1970-01-01T01:00:00+01:00"), { seconds: 0, nanos: 0 });
  assertEquals(parseRfc3339(ZERO_TIME), { seconds: -62135596800, nanos: 0 });
  assertEquals(formatRfc3339Nano(-62135596800, 0), ZERO_TIME);
  assertEquals(formatRfc3339Nano(1, 500_000_000), "1970-01-01T00:00:01.5Z");
  assertEquals(formatRfc3339Nano(1, 7), "1970-01-01T00:00:01.000000007Z");
  const t = "2026-12-03T20:01:53.123456789Z";
  const p = parseRfc3339(t);
  assertEquals(formatRfc3339Nano(p.seconds, p.nanos), t);
  assertThrows(() => parseRfc3339("yesterday"));
  assertThrows(() => parseRfc3339("2026-12-03 20:01:53Z"));
});

Deno.test("compareLabelMaps and withoutLabels: Prometheus label order, replica labels removed", () => {
  assertEquals(compareLabelMaps({ a: "1" }, { a: "1" }), 0);
  assertEquals(compareLabelMaps({ a: "1" }, { a: "2" }), -1);
  assertEquals(compareLabelMaps({ b: "1" }, { a: "1", c: "1" }), 1);
  assertEquals(compareLabelMaps({ a: "1" }, { a: "1", b: "1" }) < 0, true);
  assertEquals(withoutLabels({ z: "1", replica: "a", a: "2" }, new Set(["replica"])), {
    a: "2",
    z: "1",
  });
});

Deno.test("readTimestamp: the message's range (years 1–9999) or a decode error, never a crash", () => {
  const ts = (seconds: number, nanos = 0): ProtoReader => {
    const w = ProtoWriter.growable();
    w.int64Field(1, seconds);
    if (nanos !== 0) {
      w.tag(2, WireType.Varint);
      w.varint(nanos);
    }
    return new ProtoReader(w.finish(), "Timestamp");
  };
  assertEquals(readTimestamp(ts(-62135596800)), ZERO_TIME);
  assertEquals(readTimestamp(ts(253402300799, 5)), "9999-12-31T23:59:59.000000005Z");
  for (const s of [-62135596801, 253402300800, 2 ** 53 - 1, -(2 ** 53)]) {
    const e = assertThrows(() => readTimestamp(ts(s)), ProtoDecodeError);
    assertEquals(e.message.includes(`seconds ${s} out of range`), true, e.message);
  }
  assertThrows(() => readTimestamp(ts(0, 1_000_000_000)), ProtoDecodeError);
});

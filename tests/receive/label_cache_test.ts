// The decoder's cache of label sets by raw bytes (receive/label_cache.ts) and the head's series
// memo it carries (tsdb/head.ts SeriesHint): a hit gives the labels decoded the first time; the
// same labels encoded with other bytes, or in another order, still reach the same head series;
// hash collisions never mix label sets up; the cache stays within its bounds; a memo never
// crosses heads or outlives its series.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { CachedLabels, LabelCache } from "../../receive/label_cache.ts";
import {
  decodeWriteRequestProto,
  encodeWriteRequest,
  type PromSeries,
  RemoteWriteError,
} from "../../receive/remote_write.ts";
import { Head, type SeriesHint } from "../../tsdb/head.ts";
import { labelsFromObject } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const enc = new TextEncoder();

/** Protobuf bytes from numbers and strings (UTF-8). */
function bytes(...parts: (number[] | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(...enc.encode(p));
    else out.push(...p);
  }
  return new Uint8Array(out);
}

/** Field-1 `Label` message bytes: name then value, or value then name. */
function label(name: string, value: string, valueFirst = false): number[] {
  const n = [...bytes([0x0a, enc.encode(name).length], name)];
  const v = [...bytes([0x12, enc.encode(value).length], value)];
  const body = valueFirst ? [...v, ...n] : [...n, ...v];
  return [0x0a, body.length, ...body];
}

/** A sample message (field 2) with value 1.0 at `t` (< 128). */
function sample(t: number): number[] {
  const body = [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, t];
  return [0x12, body.length, ...body];
}

/** A WriteRequest of TimeSeries bodies. */
function request(...series: number[][]): Uint8Array {
  const out: number[] = [];
  for (const s of series) out.push(0x0a, s.length, ...s);
  return new Uint8Array(out);
}

function req(labels: Record<string, string>[], t = 1000): Uint8Array {
  return encodeWriteRequest({
    series: labels.map((l) => ({
      labels: labelsFromObject(l),
      timestamps: Float64Array.of(t),
      values: Float64Array.of(1),
    })),
  });
}

/** Appends each series' samples the way receive/multitsdb.ts does (ref per series + hint). */
async function append(head: Head, series: PromSeries[]): Promise<number[]> {
  const app = head.appender();
  const refs: number[] = [];
  for (const s of series) {
    let ref = 0;
    for (let i = 0; i < s.timestamps.length; i++) {
      ref = app.append(s.labels, s.timestamps[i], s.values[i], ref, s.hint);
    }
    refs.push(ref);
  }
  await app.commit();
  return refs;
}

/** A cache whose every key collides: lookups rely on the byte comparison alone. */
class CollidingCache extends LabelCache {
  override hash(): number {
    return 7;
  }
}

Deno.test("label cache: the same bytes give the cached labels and memo, decoded once", () => {
  const cache = new LabelCache();
  const body = req([{ __name__: "up", job: "a" }, { __name__: "up", job: "b" }]);
  const one = decodeWriteRequestProto(body, cache).series;
  const two = decodeWriteRequestProto(body, cache).series;
  assertEquals(cache.size, 2);
  assertEquals(two.map((s) => s.labels), [["__name__", "up", "job", "a"], [
    "__name__",
    "up",
    "job",
    "b",
  ]]);
  for (let i = 0; i < 2; i++) {
    assert(one[i].hint instanceof CachedLabels);
    assert(one[i].hint === two[i].hint, "the second decode hits the entry of the first");
    assert(one[i].labels === two[i].labels, "the labels are the cached array");
  }
  // without a cache nothing is memoised
  const none = decodeWriteRequestProto(body, null).series;
  assertEquals(none[0].hint, undefined);
  assertEquals(none[1].labels, ["__name__", "up", "job", "b"]);
});

Deno.test("label cache: other bytes for the same labels → other entries, same head series", async () => {
  const cache = new LabelCache();
  const plain = [...label("__name__", "up"), ...label("job", "a")];
  const valueFirst = [...label("__name__", "up", true), ...label("job", "a", true)];
  // an unknown field (7, varint) inside the second label
  const unknown = [
    ...label("__name__", "up"),
    0x0a,
    10,
    0x0a,
    3,
    ...enc.encode("job"),
    0x38,
    1,
    0x12,
    1,
    ...enc.encode("a"),
  ];
  // a non-minimal length varint (0x82 0x00 = 2) for the value of the first label
  const padded = [
    0x0a,
    15,
    0x0a,
    8,
    ...enc.encode("__name__"),
    0x12,
    0x82,
    0x00,
    ...enc.encode("up"),
    ...label("job", "a"),
  ];
  const decoded: PromSeries[] = [];
  for (const l of [plain, valueFirst, unknown, padded]) {
    const s = decodeWriteRequestProto(request([...l, ...sample(decoded.length + 1)]), cache)
      .series[0];
    assertEquals(s.labels, ["__name__", "up", "job", "a"]);
    decoded.push(s);
  }
  assertEquals(cache.size, 4, "four encodings, four entries");
  assertEquals(new Set(decoded.map((s) => s.hint)).size, 4);
  const head = await Head.open(null);
  const refs = await append(head, decoded);
  assertEquals(head.numSeries, 1);
  assertEquals(new Set(refs).size, 1);
  // and again, now through the memos
  const again: PromSeries[] = [];
  for (const l of [plain, valueFirst, unknown, padded]) {
    again.push(
      decodeWriteRequestProto(request([...l, ...sample(again.length + 10)]), cache).series[0],
    );
  }
  assertEquals(await append(head, again), refs);
  assertEquals(head.numSeries, 1);
  await head.close();
});

Deno.test("label cache: labels in another order reach the same head series; unsorted requests are refused", async () => {
  const cache = new LabelCache();
  const sorted = [...label("__name__", "up"), ...label("job", "a")];
  const unsorted = [...label("job", "a"), ...label("__name__", "up")];
  const e = assertThrows(
    () => decodeWriteRequestProto(request([...unsorted, ...sample(1)]), cache),
    RemoteWriteError,
  );
  assertEquals((e as RemoteWriteError).status, 409);
  assertEquals(cache.size, 0, "an invalid label set is never cached");
  assertThrows(() => decodeWriteRequestProto(request([...unsorted, ...sample(1)]), cache));
  // the head (used directly) normalises: two memos, unsorted and sorted labels, one series
  const s = decodeWriteRequestProto(request([...sorted, ...sample(1)]), cache).series[0];
  const head = await Head.open(null);
  const memo: SeriesHint = { headId: 0, ref: 0 };
  const app = head.appender();
  const a = app.append(["job", "a", "__name__", "up"], 1, 1, 0, memo);
  const b = app.append(s.labels, 2, 1, 0, s.hint);
  await app.commit();
  assertEquals(a, b);
  assertEquals(memo.ref, a);
  assertEquals(head.numSeries, 1);
  await head.close();
});

Deno.test("label cache: colliding keys are told apart byte for byte", async () => {
  const cache = new CollidingCache();
  const names = ["1", "2", "3", "11", "12"].map((v) => ({ __name__: "m", series: v }));
  const first = decodeWriteRequestProto(req(names), cache).series;
  assertEquals(cache.size, 5);
  // series whose bytes differ only in the last byte, and the same set in reverse order
  const again = decodeWriteRequestProto(req([...names].reverse(), 2000), cache).series;
  assertEquals(cache.size, 5);
  assertEquals(again.map((s) => s.labels[3]), ["12", "11", "3", "2", "1"]);
  for (let i = 0; i < 5; i++) assert(again[4 - i].hint === first[i].hint);
  const head = await Head.open(null);
  const r1 = await append(head, first);
  const r2 = await append(head, again);
  assertEquals(head.numSeries, 5);
  assertEquals(r2, [...r1].reverse());
  await head.close();
});

Deno.test("label cache: bounded by entries and bytes; evicted and kept entries stay correct", () => {
  const cache = new LabelCache({ maxEntries: 100, maxBytes: 4096 });
  const all = Array.from({ length: 1000 }, (_, i) => ({ __name__: "m", series: String(i) }));
  for (let k = 0; k < 1000; k += 50) {
    const s = decodeWriteRequestProto(req(all.slice(k, k + 50)), cache).series;
    assertEquals(s.map((x) => x.labels[3]), all.slice(k, k + 50).map((l) => l.series));
    assert(cache.size <= 200, `at most two generations of entries, got ${cache.size}`);
    assert(cache.bytes <= 2 * 4096, `at most two generations of bytes, got ${cache.bytes}`);
  }
  // a working set within one generation stays cached across rotations
  const hot = all.slice(0, 20);
  const h1 = decodeWriteRequestProto(req(hot), cache).series.map((s) => s.hint);
  for (let k = 0; k < 5; k++) {
    decodeWriteRequestProto(req(all.slice(500 + k * 30, 530 + k * 30)), cache);
    const h2 = decodeWriteRequestProto(req(hot), cache).series;
    assertEquals(h2.map((s) => s.labels[3]), hot.map((l) => l.series));
  }
  assert(h1.every((h) => h !== undefined));
  // byte bound: a key larger than 1/16 of a generation is not cached (still decoded)
  const big = decodeWriteRequestProto(req([{ __name__: "m", long: "x".repeat(400) }]), cache)
    .series[0];
  assertEquals(big.hint, undefined);
  assertEquals(big.labels[3].length, 400);
});

Deno.test("label cache: a label field after the samples is decoded, validated and not cached as the key", () => {
  const cache = new LabelCache();
  const key = [...label("__name__", "up"), ...label("job", "a")];
  const first = decodeWriteRequestProto(request([...key, ...sample(1)]), cache).series[0];
  // same key bytes, then a label after the sample
  const more = decodeWriteRequestProto(
    request([...key, ...sample(2), ...label("zone", "x")]),
    cache,
  ).series[0];
  assertEquals(more.labels, ["__name__", "up", "job", "a", "zone", "x"]);
  assertEquals(more.hint, undefined);
  assertEquals(first.labels, ["__name__", "up", "job", "a"], "the cached array is untouched");
  // the trailing label repeats a name: refused although the key is cached
  const e = assertThrows(
    () => decodeWriteRequestProto(request([...key, ...sample(3), ...label("job", "b")]), cache),
    RemoteWriteError,
  );
  assertEquals((e as RemoteWriteError).status, 409);
  assertEquals(cache.size, 1);
});

Deno.test("series memo: never crosses heads, re-resolved once its series is gone", async () => {
  const cache = new LabelCache();
  const body = req([{ __name__: "x", job: "a" }]);
  const s = decodeWriteRequestProto(body, cache).series[0];
  const a = await Head.open(null);
  const b = await Head.open(null);
  // head b already has another series with the ref head a will give x
  const other = b.appender();
  other.append(["__name__", "y"], 1, 5);
  await other.commit();
  const [refA] = await append(a, [s]);
  assertEquals(s.hint!.headId, a.id);
  const [refB] = await append(b, [decodeWriteRequestProto(body, cache).series[0]]);
  assertEquals(b.numSeries, 2, "x is a new series of head b, not appended to y");
  assertEquals(refA, 1);
  assertEquals(refB, 2);
  assertEquals(s.hint!.headId, b.id);
  // the series of head b is garbage-collected: the memo's ref is gone, the labels resolve again
  await b.truncateMemory(10_000);
  assertEquals(b.numSeries, 0);
  const [refB2] = await append(b, [
    decodeWriteRequestProto(req([{ __name__: "x", job: "a" }], 20_000), cache).series[0],
  ]);
  assert(refB2 > refB);
  const got: string[][] = [];
  const all = [new Matcher(MatchType.Regexp, "__name__", ".+")];
  for await (const ser of b.querier().select(all, { start: 0, end: 100_000 })) {
    got.push([...ser.labels]);
  }
  assertEquals(got, [["__name__", "x", "job", "a"]]);
  await a.close();
  await b.close();
});

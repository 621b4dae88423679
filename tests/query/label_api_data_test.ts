// query/label_api.ts over a stand-in queryable: the `data` JSON of series, label names and
// values is Prometheus's (sorted, unique, the union of the `match[]` sets) whether it fits one
// piece or many, and a large series answer gives the event loop turns while it is made (issue 20:
// a probe's timer runs before the answer is done), without asserting any time.

import { assert, assertEquals } from "../helpers/assert.ts";
import { countSocketReads } from "../helpers/socket_reads.ts";
import { closeIoTurns, useIoTurnPort } from "../../runutil/loop_turn.ts";
import { joinPieces, labelApiData, type LabelApiRequest } from "../../query/label_api.ts";
import type { ProxyQueryable } from "../../query/queryable.ts";
import { compareLabels, labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import type { Labels, SeriesWithChunks } from "../../tsdb/series.ts";

/** A queryable whose `select` sends `sets[i]` for the i-th call, as given (any order). */
function stub(sets: Labels[][], names: string[][] = [], values: string[][] = []) {
  let selects = 0;
  let nameCalls = 0;
  let valueCalls = 0;
  const q = {
    warnings: [] as string[],
    async *select(): AsyncGenerator<SeriesWithChunks> {
      for (const labels of sets[selects++ % sets.length]) yield { labels, chunks: [] };
    },
    labelNames: () => Promise.resolve(names[nameCalls++]),
    labelValues: () => Promise.resolve(values[valueCalls++]),
  };
  return q as unknown as ProxyQueryable;
}

const m = (v: string) => [new Matcher(MatchType.Equal, "__name__", v)];
const req = (kind: LabelApiRequest["kind"], sets: number): LabelApiRequest => ({
  kind,
  matchers: Array.from({ length: sets }, (_, i) => m(`s${i}`)),
  name: "idx",
  start: 0,
  end: 1,
});
const text = (pieces: Uint8Array[]) => new TextDecoder().decode(joinPieces(pieces));
const series = (n: number, from = 0, step = 1): Labels[] =>
  Array.from({ length: n }, (_, i) =>
    labelsFromObject({
      __name__: "many",
      idx: String(from + i * step).padStart(6, "0"),
      pad: `padding-${"x".repeat(40)}-${i % 7}`,
    }));
const json = (ls: Labels[]) => JSON.stringify(ls.map(labelsToObject));

Deno.test("series: one sorted set is written as it arrives, in pieces, byte for byte", async () => {
  const all = series(3000);
  const pieces = await labelApiData(stub([all]), req("series", 1), new AbortController().signal);
  assert(pieces.length > 1, `${pieces.length} pieces`);
  assertEquals(text(pieces), json(all));
  const small = await labelApiData(stub([all.slice(0, 2)]), req("series", 1), AbortSignal.any([]));
  assertEquals(small.length, 1);
  assertEquals(text(small), json(all.slice(0, 2)));
  assertEquals(text(await labelApiData(stub([[]]), req("series", 1), AbortSignal.any([]))), "[]");
});

Deno.test("series: the union of several match[] sets is sorted and unique", async () => {
  const a = series(500, 0, 2); // even
  const b = series(500, 0, 3); // multiples of 3: some shared with a
  const want = [...new Map([...a, ...b].map((l) => [l.join("\xff"), l])).values()]
    .sort(compareLabels);
  const got = await labelApiData(stub([a, b]), req("series", 2), AbortSignal.any([]));
  assertEquals(text(got), json(want));
});

Deno.test("series: a set not sorted and unique is still answered sorted and unique", async () => {
  const all = series(100);
  const shuffled = [...all.slice(50), ...all.slice(0, 60)]; // out of order, 10 twice
  const got = await labelApiData(stub([shuffled]), req("series", 1), AbortSignal.any([]));
  assertEquals(text(got), json(all));
  const twice = [...all.slice(0, 30), ...all.slice(29)]; // sorted, 29 twice in a row
  const got2 = await labelApiData(stub([twice]), req("series", 1), AbortSignal.any([]));
  assertEquals(text(got2), json(all));
});

Deno.test("label names and values: union of the sets, sorted, unique, JSON-escaped", async () => {
  const names = await labelApiData(
    stub([], [["job", "__name__", 'q"uote'], ["instance", "job"]]),
    req("labels", 2),
    AbortSignal.any([]),
  );
  assertEquals(text(names), JSON.stringify(["__name__", "instance", "job", 'q"uote']));
  const many = Array.from({ length: 20_000 }, (_, i) => `value-${String(i).padStart(6, "0")}`);
  const values = await labelApiData(
    stub([], [], [many]),
    req("label_values", 1),
    AbortSignal.any([]),
  );
  assert(values.length > 1, `${values.length} pieces`);
  assertEquals(text(values), JSON.stringify(many));
});

Deno.test("series: a large answer lets timers run and sockets be read while it is made (issue 20)", async () => {
  const all = series(60_000);
  // a probe: a timer set now; without turns it would run only after the whole answer
  let probeRan = false;
  const probe = setTimeout(() => probeRan = true, 0);
  useIoTurnPort(0);
  const counter = await countSocketReads();
  let doneWithProbe: boolean | undefined;
  let readsAtEnd = 0;
  try {
    const pieces = await labelApiData(stub([all]), req("series", 1), AbortSignal.any([]));
    doneWithProbe = probeRan;
    readsAtEnd = await counter.stop();
    assertEquals(text(pieces), json(all));
  } finally {
    clearTimeout(probe);
    await counter.stop();
    closeIoTurns();
  }
  assert(doneWithProbe, "the probe's timer did not run before the answer was made");
  assert(readsAtEnd >= 2, `${readsAtEnd} socket-reading turns while the answer was made`);
});

// External-label matching with every matcher type (=, !=, =~, !~) in the store's
// `matchExternalLabels` / `withExternalLabels` (Thanos `matchesExternalLabels` in
// https://github.com/thanos-io/thanos/blob/main/pkg/store/prometheus.go: a matcher on an
// external label is tested against the external value and removed from the request; one that
// does not match means the store has nothing for the request).
// The backends here ignore matchers, so the external-label logic is the only filter observed.

import { assert, assertEquals } from "../helpers/assert.ts";
import { shardMatcher } from "../../storeapi/shard.ts";
import {
  attachExternalLabels,
  matchExternalLabels,
  mergeLabelsProto,
  withExternalLabels,
} from "../../storeapi/external_labels.ts";
import {
  encodeLabelsProto,
  type SeriesRequest,
  type SeriesWithLabelsProto,
} from "../../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../../storeapi/server.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding, type Labels } from "../../tsdb/series.ts";

const EXT: Labels = ["region", "east", "replica", "a"];

function m(s: string): Matcher {
  const r = /^(\w+)(=~|!~|!=|=)"(.*)"$/.exec(s);
  if (!r) throw new Error(`bad matcher ${s}`);
  return new Matcher(r[2] as MatchType, r[1], r[3]);
}

function show(ms: Matcher[] | null): string[] | null {
  return ms === null ? null : ms.map((x) => `${x.name}${x.type}"${x.value}"`);
}

Deno.test("matchExternalLabels: every matcher type against region=east, exact remaining matchers", () => {
  // [matchers, expected remaining matchers or null (store contradicts the request)]
  const cases: [string[], string[] | null][] = [
    [['region="east"', '__name__="up"'], ['__name__="up"']],
    [['region="west"', '__name__="up"'], null],
    [['region!="east"', '__name__="up"'], null],
    [['region!="west"', '__name__="up"'], ['__name__="up"']],
    [['region=~"ea.*"', '__name__="up"'], ['__name__="up"']],
    [['region=~"east|west"', '__name__="up"'], ['__name__="up"']],
    [['region=~"we.*"', '__name__="up"'], null],
    [['region=~"eas"', '__name__="up"'], null], // regexes are fully anchored
    [['region!~"ea.*"', '__name__="up"'], null],
    [['region!~"east|west"', '__name__="up"'], null],
    [['region!~"we.*"', '__name__="up"'], ['__name__="up"']],
    [['region!~"eas"', '__name__="up"'], ['__name__="up"']],
    [['region=""', '__name__="up"'], null],
    [['region!=""', '__name__="up"'], ['__name__="up"']],
    [['region=~".+"', 'replica!="b"', '__name__="up"'], ['__name__="up"']],
    [['region=~".+"', 'replica!~"a|b"', '__name__="up"'], null],
    // matchers on labels that are not external stay in the request, whatever their type
    [['zone!="east"', 'job=~"n.*"', 'x!~"y"'], ['zone!="east"', 'job=~"n.*"', 'x!~"y"']],
  ];
  for (const [ms, want] of cases) {
    assertEquals(show(matchExternalLabels(ms.map(m), EXT)), want, ms.join(","));
  }
});

/** A backend that returns its series whatever the matchers, recording the matchers it got. */
function blindBackend(seen: string[][]): StoreBackend {
  return {
    info: () =>
      Promise.resolve({
        componentType: "sidecar",
        labelSets: [],
        minTime: 0,
        maxTime: 1000,
        supportsSharding: false,
      }),
    async *series(req: SeriesRequest): AsyncIterable<SeriesItem> {
      seen.push(show(req.matchers)!);
      for (const inst of ["i1", "i2"]) {
        yield {
          labels: ["__name__", "up", "instance", inst],
          chunks: [{
            minTime: 0,
            maxTime: 1,
            encoding: ChunkEncoding.XOR,
            data: new Uint8Array(2),
          }],
        };
      }
    },
    labelNames: () => Promise.resolve({ names: ["__name__", "instance"], warnings: [] }),
    labelValues: () => Promise.resolve({ values: ["i1", "i2"], warnings: [] }),
  };
}

async function seriesOf(b: StoreBackend, matchers: string[]): Promise<string[]> {
  const out: string[] = [];
  const req: SeriesRequest = { minTime: 0, maxTime: 1000, matchers: matchers.map(m) };
  for await (const x of b.series(req, new AbortController().signal)) {
    if (!("warning" in x)) out.push(x.labels.join(","));
  }
  return out;
}

Deno.test('withExternalLabels: up{region!="east"} and regex forms select exactly per store', async () => {
  const seen: string[][] = [];
  const east = withExternalLabels(blindBackend(seen), ["region", "east"]);
  const west = withExternalLabels(blindBackend(seen), ["region", "west"]);
  const eastSeries = ["__name__,up,instance,i1,region,east", "__name__,up,instance,i2,region,east"];
  const westSeries = ["__name__,up,instance,i1,region,west", "__name__,up,instance,i2,region,west"];
  const cases: [string[], string[], string[]][] = [
    // [matchers, east's answer, west's answer]
    [['__name__="up"', 'region="east"'], eastSeries, []],
    [['__name__="up"', 'region!="east"'], [], westSeries],
    [['__name__="up"', 'region=~"e.*"'], eastSeries, []],
    [['__name__="up"', 'region=~"w.*|x"'], [], westSeries],
    [['__name__="up"', 'region!~"e.*"'], [], westSeries],
    [['__name__="up"', 'region!~"w.*"'], eastSeries, []],
    [['__name__="up"', 'region!~"nowhere"'], eastSeries, westSeries],
  ];
  for (const [ms, wantEast, wantWest] of cases) {
    seen.length = 0;
    assertEquals(await seriesOf(east, ms), wantEast, `east ${ms.join(",")}`);
    assertEquals(await seriesOf(west, ms), wantWest, `west ${ms.join(",")}`);
    // the backend sees only the non-external matchers, and only when the store answers
    const calls = (wantEast.length > 0 ? 1 : 0) + (wantWest.length > 0 ? 1 : 0);
    assertEquals(seen, Array(calls).fill(['__name__="up"']), `backend calls ${ms.join(",")}`);
  }
});

Deno.test("withExternalLabels: seriesBatches hands over what series does, sorted across batch ends", async () => {
  // sorted as the backend has them; attaching b="x" puts the second (a=1,aa=2) before the
  // first (a=1), and that group ends only in the next batch; the last series carries the external
  // label name itself, which switches the rest of the stream to buffer-and-sort
  const input: SeriesItem[][] = [
    [{ labels: ["a", "1"], chunks: [] }],
    [{ labels: ["a", "1", "aa", "2"], chunks: [] }, { warning: "w1" }],
    [{ labels: ["a", "2"], chunks: [] }, { labels: ["a", "3"], chunks: [] }],
    [{ labels: ["a", "4", "b", "old"], chunks: [] }, { labels: ["a", "5"], chunks: [] }],
  ];
  const backend: StoreBackend = {
    info: () => Promise.reject(new Error("unused")),
    async *series() {
      for (const b of input) yield* b;
    },
    async *seriesBatches() {
      yield* input;
    },
    labelNames: () => Promise.reject(new Error("unused")),
    labelValues: () => Promise.reject(new Error("unused")),
  };
  const wrapped = withExternalLabels(backend, ["b", "x"]);
  const req: SeriesRequest = { minTime: 0, maxTime: 1000, matchers: [m('a=~".+"')] };
  const show = (x: SeriesItem) => "warning" in x ? `warning ${x.warning}` : x.labels.join(",");
  const single: string[] = [];
  for await (const x of wrapped.series(req, new AbortController().signal)) single.push(show(x));
  const batched: string[] = [];
  for await (const b of wrapped.seriesBatches!(req, new AbortController().signal)) {
    for (const x of b) batched.push(show(x));
  }
  assertEquals(single, [
    "warning w1",
    "a,1,aa,2,b,x",
    "a,1,b,x",
    "a,2,b,x",
    "a,3,b,x",
    "a,4,b,x",
    "a,5,b,x",
  ]);
  assertEquals(batched, single);
  // a backend without batches: the wrapper offers none either
  assertEquals(withExternalLabels(blindBackend([]), EXT).seriesBatches, undefined);
});

Deno.test("withExternalLabels without labels: batches pass as they are, unless a shard is asked", async () => {
  const input: SeriesItem[][] = Array.from(
    { length: 4 },
    (_, b) =>
      Array.from({ length: 10 }, (_, i) => ({
        labels: ["i", `h${b * 10 + i}`, "job", "api"],
        chunks: [],
      })),
  );
  const backend: StoreBackend = {
    info: () => Promise.reject(new Error("unused")),
    series: () => Promise.reject(new Error("unused")) as never,
    async *seriesBatches() {
      yield* input;
    },
    labelNames: () => Promise.reject(new Error("unused")),
    labelValues: () => Promise.reject(new Error("unused")),
  };
  const wrapped = withExternalLabels(backend, [], { requireMatchers: false });
  const req: SeriesRequest = { minTime: 0, maxTime: 1000, matchers: [] };
  const got: SeriesItem[][] = [];
  for await (const b of wrapped.seriesBatches!(req, new AbortController().signal)) got.push(b);
  assertEquals(got.length, input.length);
  for (let k = 0; k < input.length; k++) assert(got[k] === input[k], `batch ${k} passed as it is`);
  // a shard: only its series (hashed on the labels), whatever the batch
  const info = { shardIndex: 1, totalShards: 3, by: true, labels: ["i"] };
  const inShard = shardMatcher(info)!;
  const shard: string[] = [];
  const sharded = { ...req, shardInfo: info };
  for await (const b of wrapped.seriesBatches!(sharded, new AbortController().signal)) {
    for (const x of b) if (!("warning" in x)) shard.push(x.labels.join(","));
  }
  const want = input.flat().map((x) => (x as { labels: Labels }).labels).filter(inShard);
  assertEquals(shard, want.map((l) => l.join(",")));
  assert(shard.length > 0 && shard.length < 40);
});

Deno.test("mergeLabelsProto: a series' ready label fields merged with external labels equal encoding the merged labels", () => {
  // names around, between and after the series' own; values of 1- and 2-byte lengths, non-ASCII
  let seed = 7;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  // the series' own names and external ones apart (a shared name is a conflict, tested below)
  const ownNames = ["__name__", "a", "code", "instance", "job", "mode", "zone"];
  const extNames = ["aa", "cluster", "dc", "prometheus", "region", "replica", "zz"];
  const value = () =>
    ["up", "east", "zürich-日本", "v".repeat(130), "x".repeat(rnd(200) + 1)][rnd(5)];
  const pick = (names: string[], k: number): string[] =>
    names.filter(() => rnd(names.length) < k).flatMap((n) => [n, value()]);
  let merged = 0;
  let interleaved = 0;
  for (let t = 0; t < 400; t++) {
    const own = pick(ownNames, 1 + rnd(6));
    if (own.length === 0) continue;
    const ext = pick(extNames, rnd(4));
    const pieces = Array.from(
      { length: ext.length / 2 },
      (_, k) => encodeLabelsProto([ext[2 * k], ext[2 * k + 1]]),
    );
    const { labels, conflict } = attachExternalLabels(own, ext, new Set());
    if (conflict) continue;
    merged++;
    if (ext.length > 0 && ext[0] > own[0] && ext[0] < own[own.length - 2]) interleaved++;
    assertEquals(
      mergeLabelsProto(own, encodeLabelsProto(own), ext, pieces),
      encodeLabelsProto(labels),
      `${own} + ${ext}`,
    );
  }
  assert(merged > 100, `${merged} merges`);
  assert(interleaved > 50, `${interleaved} merges put external labels between the series' own`);
  // fields that are not the series' labels: no merge
  const own = ["a", "1", "b", "2"];
  const pieces = [encodeLabelsProto(["ab", "x"])];
  assertEquals(
    mergeLabelsProto(own, encodeLabelsProto(["a", "1"]), ["ab", "x"], pieces),
    undefined,
  );
  assertEquals(
    mergeLabelsProto(own, encodeLabelsProto([...own, "c", "3"]), ["ab", "x"], pieces),
    undefined,
  );
});

Deno.test("withExternalLabels: series with ready-encoded labels go out with the merged labels' fields, none on a conflict", async () => {
  const own = (ls: Labels): SeriesWithLabelsProto => ({
    labels: ls,
    chunks: [],
    labelsProto: encodeLabelsProto(ls),
  });
  const input: SeriesItem[] = [
    own(["__name__", "up", "instance", "h1", "job", "api"]),
    own(["__name__", "up", "instance", "h2", "job", "api", "region", "west"]), // ext name
    own(["__name__", "up", "instance", "h3", "job", "api", "replica", "b"]), // replica name
    { labels: ["__name__", "up", "instance", "h4", "job", "api"], chunks: [] }, // none ready
  ];
  const backend: StoreBackend = {
    info: () => Promise.reject(new Error("unused")),
    async *series() {
      yield* input;
    },
    async *seriesBatches() {
      yield input;
    },
    labelNames: () => Promise.reject(new Error("unused")),
    labelValues: () => Promise.reject(new Error("unused")),
  };
  const wrapped = withExternalLabels(backend, EXT);
  for (const withoutReplicaLabels of [undefined, ["replica"]]) {
    const req: SeriesRequest = {
      minTime: 0,
      maxTime: 1000,
      matchers: [m('__name__="up"')],
      withoutReplicaLabels,
    };
    const got: SeriesWithLabelsProto[] = [];
    for await (const b of wrapped.seriesBatches!(req, new AbortController().signal)) {
      for (const x of b) if (!("warning" in x)) got.push(x);
    }
    assertEquals(got.length, 4);
    const byHost = (h: string) => got.find((x) => x.labels.includes(h))!;
    const h1 = byHost("h1");
    assertEquals(
      h1.labels,
      withoutReplicaLabels
        ? ["__name__", "up", "instance", "h1", "job", "api", "region", "east"]
        : ["__name__", "up", "instance", "h1", "job", "api", "region", "east", "replica", "a"],
    );
    assertEquals(h1.labelsProto, encodeLabelsProto(h1.labels));
    // a series carrying an external or dropped label's name is relabelled: encoded afresh
    assertEquals(byHost("h2").labelsProto, undefined);
    assertEquals(byHost("h3").labelsProto, undefined);
    assertEquals(byHost("h4").labelsProto, undefined);
  }
});

// The shared postings-for-matchers (block querier and store gateway) against an in-memory
// index: Prometheus's matcher semantics, the literal-set fast paths and the memo hook.

import { assert, assertEquals } from "../helpers/assert.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import {
  ALL_POSTINGS_KEY,
  allPostings,
  postingsForMatchers,
  type PostingsReader,
} from "../../tsdb/index/postings_for_matchers.ts";
import { mergePostings } from "../../tsdb/index/postings.ts";

/** Series ref i has label set SERIES[i]. */
const SERIES: Record<string, string>[] = [
  { __name__: "up", job: "api", env: "prod" }, // 0
  { __name__: "up", job: "web", env: "dev" }, // 1
  { __name__: "up", job: "db" }, // 2
  { __name__: "errors", job: "api", env: "prod", path: "/a" }, // 3
  { __name__: "errors", job: "web", path: "/b" }, // 4
  { __name__: "errors", job: "web", env: "" }, // 5: "" is not stored, the label is unset
  { __name__: "latency", job: "api-canary", env: "staging" }, // 6
];

/** An in-memory PostingsReader that records which reads it served. */
class MemPostings implements PostingsReader {
  readonly byPair = new Map<string, Map<string, number[]>>();
  readonly calls: string[] = [];

  constructor(series: Record<string, string>[]) {
    series.forEach((ls, ref) => {
      for (const [n, v] of Object.entries(ls)) {
        if (v === "") continue;
        let vals = this.byPair.get(n);
        if (!vals) this.byPair.set(n, vals = new Map());
        let refs = vals.get(v);
        if (!refs) vals.set(v, refs = []);
        refs.push(ref);
      }
    });
  }

  postings(name: string, values: readonly string[]): Promise<Uint32Array> {
    this.calls.push(`postings ${name} ${JSON.stringify(values)}`);
    const vals = this.byPair.get(name);
    const lists = values.map((v) => Uint32Array.from(vals?.get(v) ?? []));
    return Promise.resolve(mergePostings(lists));
  }

  postingsForLabelMatching(name: string, pred: (v: string) => boolean): Promise<Uint32Array> {
    this.calls.push(`matching ${name}`);
    const lists: Uint32Array[] = [];
    for (const [v, refs] of this.byPair.get(name) ?? []) {
      if (pred(v)) lists.push(Uint32Array.from(refs));
    }
    return Promise.resolve(mergePostings(lists));
  }

  allPostings(): Promise<Uint32Array> {
    this.calls.push("all");
    return Promise.resolve(Uint32Array.from(SERIES.keys()));
  }
}

const M = (t: MatchType, n: string, v: string) => new Matcher(t, n, v);

/** Refs whose label set satisfies every matcher (an unset label reads as ""). */
function bruteForce(ms: Matcher[]): number[] {
  if (ms.length === 0) return [];
  const out: number[] = [];
  SERIES.forEach((ls, ref) => {
    if (ms.every((m) => m.matches(ls[m.name] ?? ""))) out.push(ref);
  });
  return out;
}

async function check(ms: Matcher[], want: number[]): Promise<MemPostings> {
  const ix = new MemPostings(SERIES);
  const got = Array.from(await postingsForMatchers(ix, ms));
  assertEquals(got, want, `{${ms.join(", ")}}`);
  assertEquals(got, bruteForce(ms), `{${ms.join(", ")}} vs brute force`);
  return ix;
}

Deno.test("= and != select by value; != also keeps series without the label", async () => {
  await check([M(MatchType.Equal, "job", "api")], [0, 3]);
  await check([M(MatchType.Equal, "__name__", "up"), M(MatchType.Equal, "job", "web")], [1]);
  await check([M(MatchType.Equal, "__name__", "up"), M(MatchType.NotEqual, "env", "prod")], [
    1,
    2,
  ]);
  // no narrowing matcher: subtracted from every series
  await check([M(MatchType.NotEqual, "job", "web")], [0, 2, 3, 6]);
});

Deno.test("=~ and !~ select by regex, literal sets looked up directly", async () => {
  const ix = await check([M(MatchType.Regexp, "job", "api|db")], [0, 2, 3]);
  assertEquals(ix.calls, [`postings job ["api","db"]`]);
  await check([M(MatchType.Regexp, "job", "api.*")], [0, 3, 6]);
  await check([M(MatchType.Equal, "__name__", "errors"), M(MatchType.NotRegexp, "path", "/a")], [
    4,
    5,
  ]);
  const neg = await check([M(MatchType.NotRegexp, "job", "web|db")], [0, 3, 6]);
  // the excluded literal set is fetched by value, not by scanning the label's values
  assertEquals(neg.calls, ["all", `postings job ["web","db"]`]);
});

Deno.test("matchers that match the empty string also select series without the label", async () => {
  // env="" : series without env (5 stores env="" which is the same as unset)
  await check([M(MatchType.Equal, "env", "")], [2, 4, 5]);
  await check([M(MatchType.Equal, "__name__", "errors"), M(MatchType.Equal, "env", "")], [4, 5]);
  await check([M(MatchType.Regexp, "env", "prod|")], [0, 2, 3, 4, 5]);
  await check([M(MatchType.Regexp, "path", ".*")], [0, 1, 2, 3, 4, 5, 6]);
  // env!="" : only series that have env
  await check([M(MatchType.NotEqual, "env", "")], [0, 1, 3, 6]);
  await check([M(MatchType.Regexp, "env", ".+")], [0, 1, 3, 6]);
  await check([M(MatchType.NotRegexp, "env", "")], [0, 1, 3, 6]);
  // l=~".+" with l!="x" on the same label: the != becomes a subtraction
  const ix = await check(
    [M(MatchType.Regexp, "env", ".+"), M(MatchType.NotEqual, "env", "prod")],
    [1, 6],
  );
  assert(!ix.calls.includes("all"), ix.calls.join("; "));
});

Deno.test("a label no series has", async () => {
  await check([M(MatchType.Equal, "nolabel", "x")], []);
  await check([M(MatchType.Regexp, "nolabel", "x|y")], []);
  await check([M(MatchType.Regexp, "nolabel", ".+")], []);
  await check([M(MatchType.NotEqual, "nolabel", "")], []);
  await check([M(MatchType.Equal, "nolabel", "")], [0, 1, 2, 3, 4, 5, 6]);
  await check([M(MatchType.NotEqual, "nolabel", "x")], [0, 1, 2, 3, 4, 5, 6]);
  await check([M(MatchType.Equal, "job", "api"), M(MatchType.NotRegexp, "nolabel", "a.*")], [
    0,
    3,
  ]);
  // an empty narrowing lookup stops before anything else is read
  const ix = await check(
    [M(MatchType.NotEqual, "env", "dev"), M(MatchType.Equal, "nolabel", "x")],
    [],
  );
  assertEquals(ix.calls, [`postings nolabel ["x"]`]);
});

Deno.test("no matchers select nothing; the all-series matcher selects everything", async () => {
  await check([], []);
  const ix = new MemPostings(SERIES);
  assertEquals(
    Array.from(await postingsForMatchers(ix, [M(MatchType.Equal, "", "")])),
    [0, 1, 2, 3, 4, 5, 6],
  );
});

Deno.test("agrees with brute force on random matcher combinations", async () => {
  const names = ["__name__", "job", "env", "path", "nolabel"];
  const values = ["", "up", "api", "web", "prod", "dev", "/a", ".*", ".+", "api|web", "a.*", "|x"];
  const types = [MatchType.Equal, MatchType.NotEqual, MatchType.Regexp, MatchType.NotRegexp];
  let seed = 11;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let k = 0; k < 300; k++) {
    const ms: Matcher[] = [];
    const n = 1 + rnd(3);
    for (let j = 0; j < n; j++) {
      ms.push(M(types[rnd(4)], names[rnd(names.length)], values[rnd(values.length)]));
    }
    const got = Array.from(await postingsForMatchers(new MemPostings(SERIES), ms));
    assertEquals(got, bruteForce(ms), `{${ms.join(", ")}}`);
  }
});

Deno.test("memo sees every lookup under a stable key and its result is used", async () => {
  const ix = new MemPostings(SERIES);
  const memo = new Map<string, Uint32Array>();
  const keys: string[] = [];
  const cached: PostingsReader = {
    postings: (n, v) => ix.postings(n, v),
    postingsForLabelMatching: (n, p) => ix.postingsForLabelMatching(n, p),
    allPostings: () => ix.allPostings(),
    memo: async (key, fetch) => {
      keys.push(key);
      let p = memo.get(key);
      if (!p) memo.set(key, p = await fetch());
      return p;
    },
  };
  const ms = [
    M(MatchType.Regexp, "job", "api|web"),
    M(MatchType.NotEqual, "env", "dev"),
    M(MatchType.NotEqual, "job", "api"),
  ];
  assertEquals(Array.from(await postingsForMatchers(cached, ms)), [4, 5]);
  assertEquals(Array.from(await postingsForMatchers(cached, ms)), bruteForce(ms));
  assertEquals(keys.slice(0, 3), [`pos:job=~"api|web"`, `neg:env!="dev"`, `pos:job="api"`]);
  assertEquals(ix.calls.length, 3, "second evaluation is served by the memo");
  // a memo that answers differently is believed (it is the store gateway's cache)
  memo.set(`pos:job=~"api|web"`, Uint32Array.of(4, 6));
  assertEquals(Array.from(await postingsForMatchers(cached, ms)), [4, 6]);
  memo.set(ALL_POSTINGS_KEY, Uint32Array.of(2));
  assertEquals(Array.from(await allPostings(cached)), [2]);
  assertEquals(Array.from(await allPostings(ix)), [0, 1, 2, 3, 4, 5, 6]);
});

// The compiled-matcher cache (storeapi/matchers_cache.ts, `--matcher-cache-size`): regex matchers
// of decoded requests are compiled once and reused, least recently used evicted past the size,
// `=`/`!=` and invalid regexes never cached; Thanos's thanos_matchers_cache_* metrics.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { MatchersCache } from "../../storeapi/matchers_cache.ts";
import {
  decodeLabelValuesRequest,
  decodeSeriesRequest,
  encodeLabelValuesRequest,
  encodeSeriesRequest,
} from "../../storeapi/codec.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { Registry } from "../../metrics/registry.ts";

async function metric(reg: Registry, name: string): Promise<number> {
  const l = (await reg.expose()).split("\n").find((x) => x.startsWith(name + " "));
  return l ? Number(l.slice(name.length + 1)) : NaN;
}

Deno.test("matcher cache: decoded requests share compiled regex matchers", async () => {
  const reg = new Registry();
  const cache = new MatchersCache(10, reg);
  const buf = encodeSeriesRequest({
    minTime: 0,
    maxTime: 1000,
    matchers: [
      new Matcher(MatchType.Equal, "__name__", "up"),
      new Matcher(MatchType.Regexp, "instance", "host-(1|2).*"),
      new Matcher(MatchType.NotRegexp, "job", "a.+"),
    ],
  });
  const a = decodeSeriesRequest(buf, cache.get);
  const b = decodeSeriesRequest(buf, cache.get);
  assert(a.matchers[1] === b.matchers[1] && a.matchers[2] === b.matchers[2], "regexes shared");
  assert(a.matchers[0] !== b.matchers[0], "an equality matcher is not cached");
  assertEquals(a.matchers.map(String), b.matchers.map(String));
  assert(b.matchers[1].matches("host-12") && !b.matchers[1].matches("host-3"));
  // label calls use the same cache
  const lv = decodeLabelValuesRequest(
    encodeLabelValuesRequest({
      label: "job",
      start: 0,
      end: 1,
      matchers: [new Matcher(MatchType.Regexp, "instance", "host-(1|2).*")],
    }),
    cache.get,
  );
  assert(lv.matchers[0] === a.matchers[1]);
  assertEquals(cache.length, 2);
  assertEquals(await metric(reg, "thanos_matchers_cache_requests_total"), 5);
  assertEquals(await metric(reg, "thanos_matchers_cache_hits_total"), 3);
  assertEquals(await metric(reg, "thanos_matchers_cache_items"), 2);
  assertEquals(await metric(reg, "thanos_matchers_cache_max_items"), 10);
  // without a cache: fresh matchers every time
  const c = decodeSeriesRequest(buf);
  assert(c.matchers[1] !== a.matchers[1]);
});

Deno.test("matcher cache: least recently used evicted past the size; bad regexes not cached", async () => {
  const reg = new Registry();
  const cache = new MatchersCache(2, reg);
  const x = cache.get(MatchType.Regexp, "a", "x.*");
  cache.get(MatchType.Regexp, "a", "y.*");
  assert(cache.get(MatchType.Regexp, "a", "x.*") === x); // x now most recent
  cache.get(MatchType.Regexp, "a", "z.*"); // evicts y
  assertEquals(cache.length, 2);
  assert(cache.get(MatchType.Regexp, "a", "x.*") === x);
  assertEquals(await metric(reg, "thanos_matchers_cache_evicted_total"), 1);
  // the same value under another type or name is another entry
  assert(cache.get(MatchType.NotRegexp, "a", "x.*") !== x);
  assert(cache.get(MatchType.Regexp, "b", "x.*") !== x);
  assertThrows(() => cache.get(MatchType.Regexp, "a", "(unclosed"));
  assertEquals(cache.length, 2);
  assertThrows(() => new MatchersCache(0), RangeError);
});

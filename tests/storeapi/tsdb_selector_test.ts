// The querier's TSDB selector (`--selector.relabel-config`): which endpoints and which of their
// label sets are queried and announced, and the matchers that narrow a multi-TSDB endpoint to
// the kept label sets — through the proxy's Series, LabelNames, LabelValues and Info.

import { assert, assertEquals } from "../helpers/assert.ts";
import { matchersForLabelSets, selectedLabelSets } from "../../storeapi/tsdb_selector.ts";
import { StoreProxy } from "../../storeapi/proxy.ts";
import type { ProxyEndpoint } from "../../storeapi/proxy.ts";
import type { SeriesRequest } from "../../storeapi/codec.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { ChunkEncoding, type Labels } from "../../tsdb/series.ts";
import { Relabeler } from "../../relabel/relabel.ts";
import { parseRelabelConfigs } from "../../relabel/parse.ts";
import { selectedStatuses } from "../../query/endpoints.ts";

const keepEu = new Relabeler(
  parseRelabelConfigs("- action: keep\n  source_labels: [region]\n  regex: eu.*\n"),
);

Deno.test("selected label sets: kept ones; all without rules or sets; null when none kept", () => {
  const eu = ["region", "eu1"];
  const us = ["region", "us1"];
  assertEquals(selectedLabelSets(keepEu, [eu, us]), [eu]);
  assertEquals(selectedLabelSets(keepEu, [us]), null);
  assertEquals(selectedLabelSets(keepEu, []), []);
  assertEquals(selectedLabelSets(undefined, [us]), [us]);
});

Deno.test("matchers for label sets: one regex per name, values escaped, empty when missing", () => {
  const ms = matchersForLabelSets([["region", "eu.1", "tenant", "a"], ["region", "eu2"]]);
  assertEquals(ms.map((m) => [m.type, m.name, m.value]), [
    [MatchType.Regexp, "region", "eu\\.1|eu2"],
    [MatchType.Regexp, "tenant", "a|"],
  ]);
  assert(ms[0].matches("eu.1") && !ms[0].matches("euX1") && ms[0].matches("eu2"));
  assert(ms[1].matches("") && ms[1].matches("a") && !ms[1].matches("b"));
});

/** An endpoint that records the matchers of each call and answers one series per label set. */
function endpoint(name: string, sets: Labels[], seen: string[][]): ProxyEndpoint {
  const record = (ms: Matcher[]) => seen.push([name, ...ms.map((m) => `${m.name}~${m.value}`)]);
  return {
    name,
    info: { componentType: "receive", labelSets: sets, minTime: 0, maxTime: 1000 },
    client: {
      async *series(req: SeriesRequest): AsyncIterable<SeriesItem> {
        record(req.matchers);
        for (const ls of sets.length > 0 ? sets : [[]]) {
          // a store answers only the series (TSDBs) its matchers allow
          const full = ["__name__", "up", ...ls];
          const value = (n: string) => full.includes(n) ? full[full.indexOf(n) + 1] : "";
          if (!req.matchers.every((m) => m.matches(value(m.name)))) continue;
          yield {
            labels: full,
            chunks: [{
              minTime: 0,
              maxTime: 1,
              encoding: ChunkEncoding.XOR,
              data: new Uint8Array([0, 0]),
            }],
          };
        }
      },
      labelNames: (req) => {
        record(req.matchers);
        return Promise.resolve({ names: [name], warnings: [] });
      },
      labelValues: (req) => {
        record(req.matchers);
        return Promise.resolve({ values: [name], warnings: [] });
      },
    },
  };
}

Deno.test("the proxy queries and announces only the label sets the selector keeps", async () => {
  const seen: string[][] = [];
  const eps = [
    endpoint("eu", [["region", "eu1"]], seen),
    endpoint("us", [["region", "us1"]], seen),
    endpoint("multi", [["region", "eu2"], ["region", "us2"]], seen),
    endpoint("bare", [], seen),
  ];
  const p = new StoreProxy({ endpoints: () => eps, tsdbSelector: keepEu });
  const req: SeriesRequest = {
    minTime: 0,
    maxTime: 100,
    matchers: [new Matcher(MatchType.Equal, "__name__", "up")],
  };
  const got: string[] = [];
  for await (const x of p.series(req, new AbortController().signal)) {
    if (!("warning" in x)) got.push(x.labels.join(","));
  }
  assertEquals(got, ["__name__,up", "__name__,up,region,eu1", "__name__,up,region,eu2"]);
  // `us` is not asked at all; `multi` only for its kept set; the others unchanged
  assertEquals(seen.map((s) => s.join(" ")).sort(), [
    "bare __name__~up",
    "eu __name__~up",
    "multi __name__~up region~eu2",
  ]);
  seen.length = 0;
  const names = await p.labelNames(
    { start: 0, end: 100, matchers: [] },
    new AbortController().signal,
  );
  assertEquals(names.names, ["bare", "eu", "multi"]);
  assertEquals(seen.find((s) => s[0] === "multi"), ["multi", "region~eu2"]);
  const values = await p.labelValues(
    { label: "region", start: 0, end: 100, matchers: [] },
    new AbortController().signal,
  );
  assertEquals(values.values, ["bare", "eu", "multi"]);
  const info = await p.info();
  assertEquals(info.labelSets, [["region", "eu1"], ["region", "eu2"]]);
  const statuses = selectedStatuses(
    eps.map((e) => ({ ...e, lastCheck: null, lastError: null, healthy: true, strict: false })),
    keepEu,
  );
  assertEquals(
    statuses.map((s) => [s.name, s.info?.labelSets]),
    [["eu", [["region", "eu1"]]], ["multi", [["region", "eu2"]]], ["bare", []]],
  );
});

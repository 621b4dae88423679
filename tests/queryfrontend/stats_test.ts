import { assertEquals } from "../helpers/assert.ts";
import {
  mergeSampleStats,
  readSampleStats,
  replaceStatsMember,
  statsMemberText,
} from "../../queryfrontend/stats.ts";

Deno.test("split parts' statistics merge as Cortex's StatsMerge: totals summed, the largest peak", () => {
  assertEquals(
    mergeSampleStats([
      { totalQueryableSamples: 10, peakSamples: 7 },
      null,
      { totalQueryableSamples: 5, peakSamples: 9 },
      { totalQueryableSamples: 1, peakSamples: 2 },
    ]),
    { totalQueryableSamples: 16, peakSamples: 9 },
  );
  assertEquals(mergeSampleStats([null, undefined]), null);
  assertEquals(statsMemberText(null), "");
});

Deno.test("a querier's stats member is rewritten in Cortex's form, samples only", () => {
  const body = `{"status":"success","data":{"resultType":"vector","result":[{"metric":` +
    `{"l":"\\",\\"stats\\":{"},"value":[1,"2"]}],"stats":{"timings":{"evalTotalTime":0.1},` +
    `"samples":{"totalQueryableSamples":4,"peakSamples":3}}},"warnings":["w"]}`;
  const counts = readSampleStats(JSON.parse(body).data);
  assertEquals(counts, { totalQueryableSamples: 4, peakSamples: 3 });
  const out = JSON.parse(replaceStatsMember(body, counts));
  assertEquals(out.data.stats, {
    samples: { totalQueryableSamples: 4, totalQueryableSamplesPerStep: null, peakSamples: 3 },
  });
  assertEquals(out.data.result[0].metric.l, '","stats":{');
  assertEquals(out.warnings, ["w"]);
});

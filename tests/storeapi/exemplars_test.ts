// Exemplars API codecs (thanos.ExemplarsRequest / ExemplarsResponse layout), Prometheus's JSON
// both ways, external labels, and the querier's dedup of replica series.

import { assertEquals } from "../helpers/assert.ts";
import {
  decodeExemplarsRequest,
  decodeExemplarsResponse,
  dedupExemplars,
  encodeExemplarsRequest,
  encodeExemplarsResponse,
  encodeExemplarsResponseWarning,
  type ExemplarData,
  exemplarsJSON,
  fromPromExemplars,
  withExternalLabelsOnExemplars,
} from "../../storeapi/exemplars.ts";

Deno.test("ExemplarsRequest: query=1, start=2, end=3 (int64 ms, negative too), strategy=4", () => {
  const req = { query: "up", start: -5, end: 1000, partialResponseStrategy: 1 };
  const b = encodeExemplarsRequest(req);
  assertEquals([...b.subarray(0, 6)], [0x0a, 2, 0x75, 0x70, 0x10, 0xfb]);
  assertEquals(decodeExemplarsRequest(b), req);
});

Deno.test("ExemplarsResponse: series and exemplars round-trip; value is a double (field 2)", () => {
  const d: ExemplarData = {
    seriesLabels: { __name__: "x", a: "b" },
    exemplars: [{ labels: { trace_id: "t" }, value: 1.5, ts: 1700000000123 }],
  };
  assertEquals(decodeExemplarsResponse(encodeExemplarsResponse(d)), { data: d });
  assertEquals(decodeExemplarsResponse(encodeExemplarsResponseWarning("w")), { warning: "w" });
});

Deno.test("Prometheus JSON both ways: value as Go writes it, timestamp in seconds", () => {
  const prom = [{
    seriesLabels: { __name__: "x" },
    exemplars: [{ labels: { t: "1" }, value: "6", timestamp: 1600096945.479 }],
  }];
  const ours = fromPromExemplars(prom);
  assertEquals(ours[0].exemplars[0], { labels: { t: "1" }, value: 6, ts: 1600096945479 });
  assertEquals(exemplarsJSON(ours), prom);
  assertEquals(
    exemplarsJSON([{ seriesLabels: {}, exemplars: [{ labels: {}, value: 1e21, ts: 1 }] }])[0]
      .exemplars[0].value,
    "1000000000000000000000",
  );
});

Deno.test("external labels on series; dedup keeps one series per label set without replicas", () => {
  const d = (replica: string, v: number): ExemplarData => ({
    seriesLabels: { __name__: "x", replica },
    exemplars: [{ labels: {}, value: v, ts: 1 }],
  });
  const withExt = withExternalLabelsOnExemplars([d("x", 1)], ["replica", "a"]);
  assertEquals(withExt[0].seriesLabels, { __name__: "x", replica: "a" });
  const out = dedupExemplars([d("b", 2), d("a", 1), { ...d("a", 3), seriesLabels: { y: "1" } }], [
    "replica",
  ]);
  assertEquals(out.map((x) => x.seriesLabels), [{ __name__: "x" }, { y: "1" }]);
  assertEquals(out[0].exemplars[0].value, 2);
  assertEquals(dedupExemplars([d("b", 2), d("a", 1)], []).length, 2);
});

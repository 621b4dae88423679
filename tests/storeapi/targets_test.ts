// Targets API codecs (thanos.TargetsRequest / TargetsResponse layout), the state filter,
// external labels and the querier's replica dedup.

import { assertEquals } from "../helpers/assert.ts";
import {
  type ActiveTarget,
  decodeTargetsRequest,
  decodeTargetsResponse,
  dedupTargets,
  encodeTargetsRequest,
  encodeTargetsResponse,
  encodeTargetsResponseWarning,
  filterTargets,
  type TargetDiscovery,
  withExternalLabelsOnTargets,
} from "../../storeapi/targets.ts";

function target(
  url: string,
  replica: string,
  health: ActiveTarget["health"] = "up",
  lastScrape = "2026-01-02T03:04:05.5Z",
): ActiveTarget {
  return {
    discoveredLabels: { __address__: url, replica },
    labels: { instance: url, job: "prometheus", replica },
    scrapePool: "prometheus",
    scrapeUrl: `http://${url}/metrics`,
    globalUrl: `http://${url}/metrics`,
    lastError: health === "down" ? "connection refused" : "",
    lastScrape,
    lastScrapeDuration: 0.0123,
    health,
  };
}

Deno.test("TargetsRequest: state=1, partial_response_strategy=2", () => {
  const b = encodeTargetsRequest({ state: "dropped", partialResponseStrategy: 1 });
  assertEquals([...b], [0x08, 2, 0x10, 1]);
  assertEquals(decodeTargetsRequest(b), { state: "dropped", partialResponseStrategy: 1 });
  assertEquals(decodeTargetsRequest(new Uint8Array(0)).state, "any");
});

Deno.test("TargetsResponse: active and dropped targets round-trip; health numbering DOWN=0 UP=1", () => {
  const d: TargetDiscovery = {
    activeTargets: [target("h:1", "a"), target("h:2", "a", "down"), {
      ...target("h:3", "a"),
      health: "unknown",
      lastScrape: "0001-01-01T00:00:00Z",
    }],
    droppedTargets: [{ discoveredLabels: { __address__: "h:9", job: "x" } }],
  };
  const back = decodeTargetsResponse(encodeTargetsResponse(d));
  assertEquals(back, { targets: d });
  assertEquals(decodeTargetsResponse(encodeTargetsResponseWarning("w")), { warning: "w" });
  // health is field 9, a varint: UP → 0x48 0x01 at the end of the first target
  const one = encodeTargetsResponse({ activeTargets: [target("h:1", "a")], droppedTargets: [] });
  assertEquals([...one.subarray(one.length - 2)], [0x48, 1]);
});

Deno.test("filterTargets: active, dropped, any", () => {
  const d: TargetDiscovery = {
    activeTargets: [target("h:1", "a")],
    droppedTargets: [{ discoveredLabels: { a: "b" } }],
  };
  assertEquals(filterTargets(d, "active").droppedTargets, []);
  assertEquals(filterTargets(d, "dropped").activeTargets, []);
  assertEquals(filterTargets(d, "any"), d);
});

Deno.test("withExternalLabelsOnTargets: discovered and target labels get them", () => {
  const d = withExternalLabelsOnTargets({
    activeTargets: [{ ...target("h:1", "x") }],
    droppedTargets: [{ discoveredLabels: { a: "b" } }],
  }, ["replica", "b"]);
  assertEquals(d.activeTargets[0].labels.replica, "b");
  assertEquals(d.activeTargets[0].discoveredLabels.replica, "b");
  assertEquals(d.droppedTargets[0].discoveredLabels, { a: "b", replica: "b" });
});

Deno.test("dedupTargets: an HA pair's targets once each; a down replica wins, then the later scrape", () => {
  const d: TargetDiscovery = {
    activeTargets: [
      target("h:1", "a"),
      target("h:2", "a", "up", "2026-01-02T03:04:00Z"),
      target("h:1", "b", "down"),
      target("h:2", "b", "up", "2026-01-02T03:04:09Z"),
    ],
    droppedTargets: [
      { discoveredLabels: { __address__: "h:9", replica: "a" } },
      { discoveredLabels: { __address__: "h:9", replica: "b" } },
    ],
  };
  const out = dedupTargets(d, ["replica"]);
  assertEquals(out.activeTargets.map((t) => [t.scrapeUrl, t.health, t.lastScrape]), [
    ["http://h:1/metrics", "down", "2026-01-02T03:04:05.5Z"],
    ["http://h:2/metrics", "up", "2026-01-02T03:04:09Z"],
  ]);
  assertEquals(out.activeTargets[0].labels, { instance: "h:1", job: "prometheus" });
  assertEquals(out.droppedTargets, [{ discoveredLabels: { __address__: "h:9" } }]);
  // without replica labels both replicas stay
  assertEquals(dedupTargets(d, []).activeTargets.length, 4);
});

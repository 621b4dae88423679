import { assertEquals } from "../helpers/assert.ts";
import { parseReplicaLabels, requestReplicaLabels } from "../../query/replica_labels.ts";

Deno.test("replica labels: repeated and comma-separated values, trimmed and deduplicated", () => {
  assertEquals(parseReplicaLabels([]), []);
  assertEquals(parseReplicaLabels(["replica"]), ["replica"]);
  assertEquals(
    parseReplicaLabels(["replica, rule_replica", "replica", " zone ", "", ",,"]),
    ["replica", "rule_replica", "zone"],
  );
});

Deno.test("replica labels: the request parameter overrides the flag only when it names any", () => {
  const flag = ["replica"];
  assertEquals(requestReplicaLabels([], flag), ["replica"]);
  assertEquals(requestReplicaLabels([""], flag), ["replica"]);
  assertEquals(requestReplicaLabels(["rule_replica"], flag), ["rule_replica"]);
  assertEquals(requestReplicaLabels(["a,b", " b ", "c"], flag), ["a", "b", "c"]);
});

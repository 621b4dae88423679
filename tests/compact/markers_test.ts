// Markers in Thanos's JSON (Go json.Marshal of pkg/block/metadata's marker structs).

import { assertEquals } from "../helpers/assert.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import {
  encodeDeletionMark,
  encodeNoCompactMark,
  markForDeletion,
  markForNoCompact,
  markForNoDownsample,
  parseDeletionMark,
  readMarker,
} from "../../block/markers.ts";

const ID = "01HQ0000000000000000000000";

Deno.test("markers encode as Go's json.Marshal", () => {
  assertEquals(
    encodeDeletionMark({ id: ID, version: 1, details: "x<y", deletion_time: 1700000000 }),
    `{"id":"${ID}","version":1,"details":"x\\u003cy","deletion_time":1700000000}`,
  );
  assertEquals(
    encodeNoCompactMark({ id: ID, version: 1, no_compact_time: 5, reason: "manual" }),
    `{"id":"${ID}","version":1,"no_compact_time":5,"reason":"manual"}`,
  );
});

Deno.test("markers are written once, read back, and bad ones are ignored", async () => {
  const b = new MemoryBucket();
  assertEquals(await markForDeletion(b, ID, "source of compacted block", { now: 1_000_000 }), true);
  assertEquals(await markForDeletion(b, ID, "again", { now: 2_000_000 }), false);
  const m = await readMarker(b, ID, "deletion-mark.json");
  assertEquals(m?.deletion_time, 1000);
  assertEquals(m?.details, "source of compacted block");
  await markForNoCompact(b, ID, "manual", "", { now: 3000 });
  assertEquals((await readMarker(b, ID, "no-compact-mark.json"))?.reason, "manual");
  await markForNoDownsample(b, ID, "manual", "d");
  assertEquals((await readMarker(b, ID, "no-downsample-mark.json"))?.version, 1);
  await b.upload(`${ID}/no-compact-mark.json`, new TextEncoder().encode("{"));
  assertEquals(await readMarker(b, "01HQ0000000000000000000001", "no-compact-mark.json"), null);
  assertEquals(typeof parseDeletionMark(`{"id":"${ID}","version":2,"deletion_time":1}`), "string");
});

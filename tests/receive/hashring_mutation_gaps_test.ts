// Exact-value checks found missing by the mutation check (scripts/mutations.ts, issue 21):
// ketama's wrap-around to the first section and filepath.Match tenant globs that must match the
// whole tenant and never let `*` cross a `/`
// (https://github.com/thanos-io/thanos/blob/main/docs/components/receive.md#hashring-configuration-file).

import { assert, assertEquals } from "../helpers/assert.ts";
import { newHashring, parseHashrings, seriesHash, xxhash64 } from "../../receive/hashring.ts";

Deno.test("ketama: series hashed above the last section wrap to the first section", () => {
  const eps = ["node-a", "node-b", "node-c", "node-d"];
  const perNode = 2;
  const rf = 2;
  // independent reference: sections `<address>:<i>` (i from 1) sorted by xxHash64; a series goes
  // to the first section whose hash ≥ its hash, wrapping to section 0, and its replicas are the
  // next distinct endpoints walking forward around the ring
  const sections = eps.flatMap((e) =>
    Array.from({ length: perNode }, (_, i) => ({ h: xxhash64(`${e}:${i + 1}`), e }))
  ).sort((x, y) => (x.h < y.h ? -1 : x.h > y.h ? 1 : 0));
  const maxH = sections[sections.length - 1].h;
  const h = newHashring(parseHashrings(JSON.stringify([{ endpoints: eps }])), "ketama", rf, {
    sectionsPerNode: perNode,
  });
  let wrapped = 0;
  for (let k = 0; k < 400; k++) {
    const labels = ["__name__", "up", "k", String(k)];
    const v = seriesHash("tenant", labels);
    let idx = sections.findIndex((s) => s.h >= v);
    if (idx < 0) {
      idx = 0;
      wrapped++;
    }
    const want: string[] = [];
    for (let j = idx; want.length < rf; j = (j + 1) % sections.length) {
      if (!want.includes(sections[j].e)) want.push(sections[j].e);
    }
    for (let n = 0; n < rf; n++) {
      assertEquals(h.get("tenant", labels, n), want[n], `series k=${k} replica ${n}`);
    }
  }
  assert(wrapped > 0, `no series hashed above the last section ${maxH.toString(16)}`);
});

Deno.test("tenant globs match the whole tenant, and `*` does not cross `/`", () => {
  const h = newHashring(
    parseHashrings(JSON.stringify([
      {
        hashring: "globs",
        tenants: ["x?z", "team-*"],
        tenant_matcher_type: "glob",
        endpoints: ["g1"],
      },
      { hashring: "default", endpoints: ["d1"] },
    ])),
    "hashmod",
    1,
  );
  const owner = (t: string) => h.get(t, ["__name__", "up"], 0);
  assertEquals(owner("xyz"), "g1");
  assertEquals(owner("xyzw"), "d1", "a glob matches the whole tenant, not a prefix");
  assertEquals(owner("team-a"), "g1");
  assertEquals(owner("team-a/b"), "d1", "`*` stops at a path separator (filepath.Match)");
  assertEquals(owner("team-/"), "d1");
});

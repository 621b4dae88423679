// ui/src/blocks.ts without a browser: blocks grouped by external labels and resolution (titled
// by the --label value when the block has it), and timeline rows that never put overlapping
// blocks side by side.

import { assertEquals } from "../helpers/assert.ts";
import { type BlockMeta, groupBlocks, timelineRows } from "../../ui/src/blocks.ts";

function b(
  ulid: string,
  minTime: number,
  maxTime: number,
  labels: Record<string, string>,
  resolution = 0,
): BlockMeta {
  return {
    ulid,
    minTime,
    maxTime,
    compaction: { level: 1 },
    thanos: { labels, downsample: { resolution } },
  };
}

Deno.test("blocks group by labels and resolution, titled by the label value", () => {
  const groups = groupBlocks([
    b("3", 20, 30, { region: "west", r: "1" }),
    b("1", 0, 10, { region: "east", r: "1" }),
    b("2", 10, 20, { region: "east", r: "1" }),
    b("4", 0, 10, { region: "east", r: "1" }, 300_000),
    b("5", 0, 10, { r: "2" }),
  ], "region");
  assertEquals(
    groups.map((g) => [g.title, g.resolution, g.blocks.map((x) => x.ulid)]),
    [
      ["east", 0, ["1", "2"]],
      ["east", 300_000, ["4"]],
      ["west", 0, ["3"]],
      ['{r="2"}', 0, ["5"]],
    ],
  );
  // without --label the title is the label set
  assertEquals(groupBlocks([b("1", 0, 1, { a: "x" })], "")[0].title, '{a="x"}');
});

Deno.test("timeline rows: adjacent blocks share a row, overlapping ones do not", () => {
  const rows = timelineRows([
    b("a", 0, 10, {}),
    b("b", 5, 15, {}), // overlaps a
    b("c", 10, 20, {}), // adjacent to a
    b("d", 12, 30, {}), // overlaps b and c
  ]);
  assertEquals(rows.map((r) => r.map((x) => x.ulid)), [["a", "c"], ["b"], ["d"]]);
});

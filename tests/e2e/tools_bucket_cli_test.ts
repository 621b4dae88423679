// `thanos tools bucket inspect|ls` run as a user would, on a bucket holding blocks written by
// our block writer: the figures printed are the blocks' real series/samples/chunks counts.

import { assert, assertEquals } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { createBlocksFromSeries } from "../../tsdb/block_writer.ts";
import { Block } from "../../tsdb/block.ts";
import { BlockQuerier } from "../../tsdb/querier.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const H = 3600_000;

async function thanos(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

/** Splits one CSV line (quoted fields may hold commas). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/(?:"([^"]*)"|([^,]*))(?:,|$)/g)) {
    if (m.index === line.length && out.length > 0) break;
    out.push(m[1] ?? m[2] ?? "");
  }
  return out;
}

const count = (s: string) => Number(s.replaceAll(",", ""));

Deno.test("tools bucket inspect prints the real figures of blocks our writer made", async () => {
  await withTempDir(async (dir) => {
    const start = Date.UTC(2024, 0, 1);
    const ds = generateDataset({ series: 50, start, end: start + 4 * H, stepMs: 15_000, seed: 7 });
    const metas = await createBlocksFromSeries(`${dir}/bucket`, ds.series, {
      thanos: { labels: { region: "east" }, downsample: { resolution: 0 }, source: "sidecar" },
    });
    assertEquals(metas.length, 2);
    // Count what the blocks really hold, independently of meta.json.
    const counted = new Map<string, { series: number; samples: number; chunks: number }>();
    for (const m of metas) {
      const b = await Block.open(`${dir}/bucket/${m.ulid}`);
      const c = { series: 0, samples: 0, chunks: 0 };
      const all = [new Matcher(MatchType.Regexp, "__name__", ".+")];
      for await (const s of new BlockQuerier(b).select(all, { start: -Infinity, end: Infinity })) {
        c.series++;
        for (const ch of s.chunks) {
          c.chunks++;
          c.samples += (ch.data[0] << 8) | ch.data[1];
        }
      }
      await b.close();
      counted.set(m.ulid, c);
    }
    const cfg = `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${dir}/bucket\n`;
    const r = await thanos(["tools", "bucket", "inspect", cfg, "--output=csv"]);
    assertEquals(r.code, 0, r.err);
    const lines = r.out.trim().split("\n");
    const header = csvFields(lines[0]);
    const col = (name: string) => header.indexOf(name);
    assert(col("ULID") >= 0 && col("#SERIES") >= 0, `unexpected header ${lines[0]}`);
    assertEquals(lines.length, 1 + metas.length);
    for (const line of lines.slice(1)) {
      const f = csvFields(line);
      const c = counted.get(f[col("ULID")]);
      assert(c, `unknown block in ${line}`);
      assertEquals(count(f[col("#SERIES")]), c.series);
      assertEquals(count(f[col("#SAMPLES")]), c.samples);
      assertEquals(count(f[col("#CHUNKS")]), c.chunks);
      assert(line.includes("region=east"), line);
    }
    const ls = await thanos(["tools", "bucket", "ls", cfg]);
    assertEquals(ls.code, 0, ls.err);
    assertEquals(ls.out.trim().split("\n").sort(), metas.map((m) => m.ulid).sort());
  });
});

Deno.test("a bad bucket config exits 2 with one line naming the problem", async () => {
  for (
    const [cfg, want] of [
      ["type: S3\nconfig:\n  endpoint: x:9000", "bucket"],
      ["type: FILESYSTEM\nconfig:\n  directory: /tmp\n  colour: blue", "colour"],
      ["type: GCS\nconfig:\n  bucket: b", "FILESYSTEM, S3"],
      ["type: FILESYSTEM\nconfig:\n  directory: [1, 2]", "directory"],
    ]
  ) {
    const r = await thanos(["tools", "bucket", "ls", `--objstore.config=${cfg}`]);
    assertEquals(r.code, 2, `${cfg}: ${r.err}`);
    const err = r.err.trim();
    assertEquals(err.split("\n").length, 1, err);
    assert(err.includes(want), `${cfg}: ${err}`);
  }
});

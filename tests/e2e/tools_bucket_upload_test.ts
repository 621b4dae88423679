// `thanos tools bucket upload-blocks` run as a user would (`main.ts tools bucket upload-blocks`):
// the blocks of --path land in the bucket with the --label external labels and
// `thanos.source: bucket.upload`, meta.json last (files listed with sizes); a second run uploads
// nothing; no --label is refused as in Thanos.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { fsConfig } from "../helpers/compact_bucket.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { writeBlock } from "../../tsdb/block_writer.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { parseBlockMeta } from "../../tsdb/meta.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const H = 3600_000;

async function thanos(args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const td = new TextDecoder();
  return { code: o.code, out: td.decode(o.stdout) + td.decode(o.stderr) };
}

Deno.test({
  name: "tools bucket upload-blocks uploads local blocks with the given labels, once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const local = await dirs.make();
    const bdir = await dirs.make();
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % (2 * H));
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const series = generateDataset({
        series: 5,
        start: t0 + i * 2 * H,
        end: t0 + (i + 1) * 2 * H,
        stepMs: 60_000,
        seed: i + 1,
      }).series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
      const m = await writeBlock(local, series, {
        minTime: t0 + i * 2 * H,
        maxTime: t0 + (i + 1) * 2 * H,
      });
      ids.push(m.ulid);
    }
    const args = [
      "tools",
      "bucket",
      "upload-blocks",
      `--objstore.config=${fsConfig(bdir)}`,
      `--path=${local}`,
      '--label=cluster="eu1"',
      "--label=replica=r0",
    ];
    const refused = await thanos(args.filter((a) => !a.startsWith("--label")));
    assertEquals(refused.code, 1, refused.out);
    assert(refused.out.includes("no external labels configured"), refused.out);

    const r = await thanos(args);
    assertEquals(r.code, 0, r.out);
    assert(r.out.includes("uploaded=2"), r.out);
    const bucket = new FilesystemBucket(bdir);
    for (const id of ids) {
      const text = new TextDecoder().decode(await bucket.get(`${id}/meta.json`));
      const m = parseBlockMeta(text, id);
      assertEquals(m.thanos?.labels, { cluster: "eu1", replica: "r0" });
      assertEquals(m.thanos?.source, "bucket.upload");
      for (const f of m.thanos?.files ?? []) {
        if (f.rel_path === "meta.json") continue;
        const size = (await Deno.stat(`${bdir}/${id}/${f.rel_path}`)).size;
        assertEquals(size, f.size_bytes, f.rel_path);
      }
    }
    const again = await thanos(args);
    assertEquals(again.code, 0, again.out);
    assert(again.out.includes("uploaded=0"), again.out);
  },
});

// A bucket for the bucket web UI's tests: two groups of real 2h blocks (our block writer,
// uploaded with the shipper's protocol), a 5m-resolution copy of one block, a deletion mark and
// a no-compact mark; plus starting `tools bucket web` / `compact --wait` on it.

import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { type BlockMeta, encodeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";
import { markForDeletion, markForNoCompact } from "../../block/markers.ts";
import { fsConfig, uploadSeriesBlocks } from "./compact_bucket.ts";
import { freePort } from "./ports.ts";
import { answers200, type Proc, spawnMain } from "./thanos.ts";

const H = 3600_000;

/** What the fixture bucket holds. */
export interface WebBucket {
  dir: string;
  config: string;
  east: BlockMeta[];
  west: BlockMeta[];
  /** The 5m copy of `east[0]` (meta.json and index only: the UI reads metas). */
  downsampled: BlockMeta;
  /** `east[1]` carries deletion-mark.json, `west[0]` no-compact-mark.json. */
  deleted: string;
  noCompact: string;
}

/** Writes the fixture into a FILESYSTEM bucket at `dir` (blocks staged in `work`). */
export async function writeWebBucket(dir: string, work: string): Promise<WebBucket> {
  const bucket = new FilesystemBucket(dir);
  const end = Math.floor(Date.now() / (2 * H)) * 2 * H - 4 * H;
  const data = (seed: number) =>
    generateDataset({ series: 12, start: end - 6 * H, end, stepMs: 60_000, seed })
      .series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
  const east = await uploadSeriesBlocks(bucket, `${work}/east`, data(1), {
    region: "east",
    replica: "a",
  });
  const west = await uploadSeriesBlocks(bucket, `${work}/west`, data(2), {
    region: "west",
    replica: "a",
  });
  const src = east[0];
  const downsampled: BlockMeta = {
    ...src,
    ulid: newULID(),
    thanos: { ...src.thanos!, downsample: { resolution: 300_000 }, source: "compactor" },
  };
  await bucket.upload(`${downsampled.ulid}/index`, await bucket.get(`${src.ulid}/index`));
  await bucket.upload(
    `${downsampled.ulid}/meta.json`,
    new TextEncoder().encode(encodeBlockMeta(downsampled)),
  );
  await markForDeletion(bucket, east[1].ulid, "test: replaced");
  await markForNoCompact(bucket, west[0].ulid, "manual", "test: keep");
  return {
    dir,
    config: fsConfig(dir),
    east,
    west,
    downsampled,
    deleted: east[1].ulid,
    noCompact: west[0].ulid,
  };
}

/** Starts `main.ts <args> --http-address=127.0.0.1:<port>` and waits for /-/ready. */
export async function startWeb(args: string[], name: string): Promise<{ p: Proc; url: string }> {
  const port = freePort();
  const p = spawnMain([...args, `--http-address=127.0.0.1:${port}`], port, name);
  const url = `http://127.0.0.1:${port}`;
  await p.waitFor(() => answers200(`${url}/-/ready`), "readiness", 60_000);
  return { p, url };
}

/** Data of `/api/v1/blocks` (or its `loaded` view) once a refresh has happened (bounded wait). */
export async function refreshedBlocks(
  url: string,
  view: "global" | "loaded" = "global",
): Promise<{ label: string; blocks: BlockMeta[]; refreshedAt: string; err: unknown }> {
  const q = view === "loaded" ? "?view=loaded" : "";
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${url}/api/v1/blocks${q}`, { signal: AbortSignal.timeout(5000) });
    const body = await r.json();
    if (!body.data.refreshedAt.startsWith("0001-")) return body.data;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${url}/api/v1/blocks${q} never refreshed`);
}

// Downloading a block from the bucket into a local directory (compactor, downsampler, tools):
// index, chunk segments and tombstones, optionally checked against the sizes meta.json lists,
// and meta.json last, so a local directory with meta.json is a complete download.

import type { Bucket } from "../objstore/bucket.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { writeFileAtomic } from "../runutil/atomic_file.ts";
import { type BlockMeta, encodeBlockMeta } from "../tsdb/meta.ts";

/** A block in the bucket is incomplete or its files disagree with its meta.json. */
export class BlockDownloadError extends Error {
  override name = "BlockDownloadError";
  constructor(readonly block: string, message: string) {
    super(message);
  }
}

/** Options of {@link downloadBlock}. */
export interface DownloadBlockOptions {
  /** The block's meta.json as already fetched: its file sizes are checked and it is written. */
  meta?: BlockMeta;
  /** Files fetched at once (`--block-files-concurrency`); default 1. */
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * Downloads block `id` into `dir` (replacing what is there): `index`, `chunks/*` and
 * `tombstones`, then `meta.json` (the given meta, else the bucket's). Throws
 * BlockDownloadError when the index is missing or a file's size differs from meta.json.
 */
export async function downloadBlock(
  bucket: Bucket,
  id: string,
  dir: string,
  opts: DownloadBlockOptions = {},
): Promise<void> {
  const { meta, signal } = opts;
  const names: string[] = [];
  for await (const n of bucket.iter(`${id}/`, { recursive: true, signal })) {
    const rel = n.slice(id.length + 1);
    if (rel === "index" || rel.startsWith("chunks/") || rel === "tombstones") names.push(rel);
  }
  if (!names.includes("index")) {
    throw new BlockDownloadError(id, `block ${id} has no index in the bucket`);
  }
  await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  await Deno.mkdir(`${dir}/chunks`, { recursive: true });
  await forEachConcurrent(names, Math.max(1, opts.concurrency ?? 1), async (rel) => {
    const data = await bucket.get(`${id}/${rel}`, signal);
    const want = meta?.thanos?.files?.find((f) => f.rel_path === rel)?.size_bytes;
    if (want !== undefined && want !== data.length) {
      throw new BlockDownloadError(
        id,
        `block ${id}: ${rel} has ${data.length} bytes, meta.json lists ${want}`,
      );
    }
    await Deno.writeFile(`${dir}/${rel}`, data);
  }, signal);
  const metaBytes = meta !== undefined
    ? encodeBlockMeta(meta)
    : await bucket.get(`${id}/meta.json`, signal);
  await writeFileAtomic(`${dir}/meta.json`, metaBytes);
}

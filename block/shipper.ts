// The shipper (Thanos's https://github.com/thanos-io/thanos/blob/main/pkg/shipper/shipper.go,
// uploading with `Upload` of https://github.com/thanos-io/thanos/blob/main/pkg/block/block.go):
// uploads new blocks of a local TSDB directory to the bucket, oldest first, chunks then index then
// meta.json last, so a block in the bucket with a meta.json is always complete; a crash mid-upload
// leaves a block without meta.json, which the next sync uploads again. Uploaded blocks are recorded
// in `thanos.shipper.json` (atomically).

import { createHash } from "node:crypto";
import { type Bucket, isObjectNotFound, uploadFileByStream } from "../objstore/bucket.ts";
import { type Counter, type Gauge, Registry } from "../metrics/registry.ts";
import {
  type BlockMeta,
  encodeBlockMeta,
  META_FILENAME,
  parseBlockMeta,
  readBlockMeta,
  type ThanosFile,
  writeBlockMeta,
} from "../tsdb/meta.ts";
import { isULID } from "../tsdb/ulid.ts";
import type { Logger } from "../logging/log.ts";
import { writeFileAtomic } from "../runutil/atomic_file.ts";
import { forEachConcurrent } from "../runutil/gate.ts";

/** Version of the shipper state file. */
export const SHIPPER_META_VERSION = 1;
/** Default name of the shipper state file in the TSDB directory. */
export const DEFAULT_SHIPPER_META_FILE = "thanos.shipper.json";

/** Contents of `thanos.shipper.json`. */
export interface ShipperMeta {
  version: number;
  /** ULIDs of blocks known to be in the bucket. */
  uploaded: string[];
}

/** A block cannot be uploaded (bad meta, empty external labels, overlap in the bucket). */
export class UploadError extends Error {
  override name = "UploadError";
}

/**
 * Reads the shipper state file; a missing, unreadable or wrong-version file counts as empty
 * (the bucket's meta.json checks keep that safe), and `onInvalid` is told why.
 */
export async function readShipperMeta(
  path: string,
  onInvalid?: (why: string) => void,
): Promise<ShipperMeta> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) onInvalid?.(`cannot read ${path}: ${e}`);
    return { version: SHIPPER_META_VERSION, uploaded: [] };
  }
  try {
    const o = JSON.parse(text) as Partial<ShipperMeta>;
    if (o.version !== SHIPPER_META_VERSION) {
      onInvalid?.(`${path}: unexpected version ${JSON.stringify(o.version)}, want 1`);
      return { version: SHIPPER_META_VERSION, uploaded: [] };
    }
    const uploaded = Array.isArray(o.uploaded) ? o.uploaded.filter(isULID) : [];
    return { version: SHIPPER_META_VERSION, uploaded };
  } catch (e) {
    onInvalid?.(`${path}: not valid JSON: ${(e as Error).message}`);
    return { version: SHIPPER_META_VERSION, uploaded: [] };
  }
}

/** Writes the shipper state file as Go does (tab indent), atomically (see writeFileAtomic). */
export async function writeShipperMeta(path: string, meta: ShipperMeta): Promise<void> {
  const body = meta.uploaded.length === 0
    ? `{\n\t"version": ${meta.version},\n\t"uploaded": []\n}\n`
    : `{\n\t"version": ${meta.version},\n\t"uploaded": [\n${
      meta.uploaded.map((u) => `\t\t${JSON.stringify(u)}`).join(",\n")
    }\n\t]\n}\n`;
  await writeFileAtomic(path, body);
}

/** Go's RFC3339Nano of a time: fractional seconds without trailing zeros. */
export function rfc3339Nano(d: Date): string {
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => frac ? `.${frac}Z` : "Z");
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash("sha256");
  const f = await Deno.open(path, { read: true });
  // the readable closes the file once consumed
  for await (const part of f.readable) h.update(part);
  return h.digest("hex");
}

/** Sorted names of the chunk segment files of a block. */
export async function segmentFiles(blockDir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(`${blockDir}/chunks`)) if (e.isFile) out.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Options of {@link uploadBlock}. */
export interface UploadBlockOptions {
  /** `""` or `"SHA256"` (`--hash-func`). */
  hashFunc?: string;
  /** Chunk files uploaded in parallel (0 or 1: one by one). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Time stamped into `thanos.upload_time` (default now). */
  now?: () => Date;
  /**
   * Accept a block without external labels (Thanos's `block.UploadPromBlock`, for blocks only
   * used with Prometheus: `tools bucket rewrite --prom-blocks`).
   */
  allowEmptyLabels?: boolean;
}

/**
 * Uploads a local block directory as Thanos's `block.Upload` does: every `chunks/*` file, then
 * `index`, then meta.json (with `thanos.files` and `upload_time`) last. Returns the meta as
 * uploaded. Throws UploadError when the block is not uploadable.
 */
export async function uploadBlock(
  bucket: Bucket,
  blockDir: string,
  opts: UploadBlockOptions = {},
): Promise<BlockMeta> {
  const id = blockDir.replace(/\/+$/, "").split("/").pop()!;
  if (!isULID(id)) throw new UploadError(`block directory ${blockDir} is not named by a ULID`);
  const meta = await readBlockMeta(blockDir);
  if (meta.ulid !== id) {
    throw new UploadError(`${blockDir}/meta.json names block ${meta.ulid}, not ${id}`);
  }
  if (
    !opts.allowEmptyLabels && (!meta.thanos || Object.keys(meta.thanos.labels ?? {}).length === 0)
  ) {
    throw new UploadError(
      `block ${id}: empty external labels are not allowed for Thanos block (meta.json thanos.labels)`,
    );
  }
  const chunkNames = await segmentFiles(blockDir);
  const sha = opts.hashFunc === "SHA256";
  const files: ThanosFile[] = [];
  for (const n of chunkNames) {
    const p = `${blockDir}/chunks/${n}`;
    const f: ThanosFile = { rel_path: `chunks/${n}`, size_bytes: (await Deno.stat(p)).size };
    if (sha) f.hash = { hashFunc: "SHA256", value: await fileSha256(p) };
    files.push(f);
  }
  const indexPath = `${blockDir}/index`;
  const indexFile: ThanosFile = {
    rel_path: "index",
    size_bytes: (await Deno.stat(indexPath)).size,
  };
  if (sha) indexFile.hash = { hashFunc: "SHA256", value: await fileSha256(indexPath) };
  files.push(indexFile, { rel_path: META_FILENAME });
  files.sort((a, b) => (a.rel_path < b.rel_path ? -1 : a.rel_path > b.rel_path ? 1 : 0));

  const put = (name: string, path: string) =>
    bucket.uploadFile
      ? bucket.uploadFile(name, path, opts.signal)
      : uploadFileByStream(bucket, name, path, opts.signal);
  await forEachConcurrent(
    chunkNames,
    opts.concurrency ?? 1,
    (n) => put(`${id}/chunks/${n}`, `${blockDir}/chunks/${n}`),
  );
  await put(`${id}/index`, indexPath);
  const out: BlockMeta = {
    ...meta,
    thanos: {
      ...(meta.thanos ?? { labels: {}, downsample: { resolution: 0 }, source: "" }),
      files,
      upload_time: rfc3339Nano((opts.now ?? (() => new Date()))()),
    },
  };
  // meta.json last: a block whose meta.json is in the bucket is complete
  await bucket.upload(
    `${id}/${META_FILENAME}`,
    new TextEncoder().encode(encodeBlockMeta(out)),
    opts.signal,
  );
  return out;
}

/** Options of {@link Shipper}. */
export interface ShipperOptions {
  /** The TSDB directory (`--tsdb.path`). */
  dir: string;
  bucket: Bucket;
  /** External labels to stamp into `thanos.labels` (read at each upload). */
  labels: () => Record<string, string>;
  /** `thanos.source`, e.g. `sidecar`. */
  source: string;
  /** Also upload compacted (level > 1) blocks, after checking the bucket for overlaps. */
  uploadCompacted?: boolean;
  /** Name of the state file inside `dir` (default `thanos.shipper.json`). */
  metaFileName?: string;
  hashFunc?: string;
  uploadConcurrency?: number;
  /**
   * A block whose meta.json cannot be read (Thanos's `WithSkipCorruptedBlocks`): `false` fails
   * the pass before any upload (Thanos's default); `true` skips it, uploads the others, then
   * fails the pass naming the count; unset: skipped with a warning, the pass succeeds (the roles
   * without Thanos's hidden flag).
   */
  skipCorruptedBlocks?: boolean;
  /**
   * Thanos's `WithAllowOutOfOrderUploads`: a failed upload is logged and the next blocks are
   * still uploaded (the pass then fails naming the count; the failed block is retried on the
   * next one), and compacted blocks are uploaded without the overlap check. Default: the pass
   * stops at the first failure, so uploads stay in time order.
   */
  allowOutOfOrderUploads?: boolean;
  registry?: Registry;
  logger?: Logger;
}

interface LocalBlock {
  id: string;
  meta: BlockMeta;
}

/** Uploads new blocks of one TSDB directory; call `sync()` periodically. */
export class Shipper {
  private readonly metaPath: string;
  private readonly m: {
    syncs: Counter;
    syncFailures: Counter;
    uploads: Counter;
    uploadFailures: Counter;
    corrupted: Counter;
    compactedDone?: Gauge;
  };

  constructor(private readonly opts: ShipperOptions) {
    this.metaPath = `${opts.dir}/${opts.metaFileName ?? DEFAULT_SHIPPER_META_FILE}`;
    const r = opts.registry ?? new Registry();
    const counter = (name: string, help: string): Counter => {
      const c = r.counter({ name, help });
      c.labels(); // exposed as 0 before the first event, like client_golang
      return c;
    };
    this.m = {
      syncs: counter("thanos_shipper_dir_syncs_total", "Total number of dir syncs"),
      syncFailures: counter(
        "thanos_shipper_dir_sync_failures_total",
        "Total number of failed dir syncs",
      ),
      uploads: counter("thanos_shipper_uploads_total", "Total number of uploaded blocks"),
      uploadFailures: counter(
        "thanos_shipper_upload_failures_total",
        "Total number of block upload failures",
      ),
      corrupted: counter(
        "thanos_shipper_corrupted_blocks_total",
        "Total number of corrupted blocks",
      ),
    };
    if (opts.uploadCompacted) {
      this.m.compactedDone = r.gauge({
        name: "thanos_shipper_upload_compacted_done",
        help: "If 1 it means shipper uploaded all compacted blocks from the filesystem.",
      });
      this.m.compactedDone.set(0);
    }
  }

  /** Path of the state file. */
  get metaFilePath(): string {
    return this.metaPath;
  }

  /**
   * Local blocks with a readable meta.json, oldest (by minTime) first, and the number of blocks
   * whose meta.json is unreadable (see `skipCorruptedBlocks`; throws when it is false).
   */
  private async localBlocks(): Promise<{ blocks: LocalBlock[]; corrupted: number }> {
    const out: LocalBlock[] = [];
    let corrupted = 0;
    for await (const e of Deno.readDir(this.opts.dir)) {
      if (!e.isDirectory || !isULID(e.name)) continue;
      try {
        const meta = await readBlockMeta(`${this.opts.dir}/${e.name}`);
        out.push({ id: e.name, meta });
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue; // deleted meanwhile
        const why = (err as Error).message;
        if (this.opts.skipCorruptedBlocks === false) {
          throw new UploadError(`read metadata for block ${this.opts.dir}/${e.name}: ${why}`);
        }
        this.m.corrupted.inc();
        corrupted++;
        if (this.opts.skipCorruptedBlocks) {
          this.opts.logger?.error("read metadata for block", { block: e.name, err: why });
        } else {
          this.opts.logger?.warn("skipping block with an unreadable meta.json", {
            block: e.name,
            err: why,
          });
        }
      }
    }
    out.sort((a, b) => a.meta.minTime - b.meta.minTime || (a.id < b.id ? -1 : 1));
    return { blocks: out, corrupted };
  }

  /**
   * One pass: uploads every new block in order and stops at the first failure (so uploads
   * stay ordered by time). Resolves to the number of blocks uploaded; throws on failure.
   */
  async sync(signal?: AbortSignal): Promise<number> {
    this.m.syncs.inc();
    try {
      return await this.syncOnce(signal);
    } catch (e) {
      this.m.syncFailures.inc();
      throw e;
    }
  }

  private async syncOnce(signal?: AbortSignal): Promise<number> {
    const log = this.opts.logger;
    const state = await readShipperMeta(
      this.metaPath,
      (why) => log?.warn("shipper state file is invalid, starting afresh", { err: why }),
    );
    const known = new Set(state.uploaded);
    const { blocks, corrupted } = await this.localBlocks();
    const uploaded: string[] = [];
    let count = 0;
    let uploadErrs = 0;
    let bucketMetas: BlockMeta[] | null = null;
    let pendingCompacted = false;
    const save = () => writeShipperMeta(this.metaPath, { version: SHIPPER_META_VERSION, uploaded });
    try {
      for (const { id, meta } of blocks) {
        signal?.throwIfAborted();
        if (known.has(id)) {
          uploaded.push(id);
          continue;
        }
        if ((meta.stats.numSamples ?? 0) === 0) {
          log?.debug("ignoring empty block", { block: id });
          continue;
        }
        if (meta.compaction.level > 1 && !this.opts.uploadCompacted) continue;
        if (await this.opts.bucket.exists(`${id}/${META_FILENAME}`, signal)) {
          uploaded.push(id);
          continue;
        }
        if (meta.compaction.level > 1) pendingCompacted = true;
        if (meta.compaction.level > 1 && !this.opts.allowOutOfOrderUploads) {
          bucketMetas ??= await this.bucketMetas(signal);
          const over = overlapping(meta, bucketMetas, this.opts.labels());
          if (over !== null) {
            throw new UploadError(
              `found overlap or error during sync, cannot upload compacted block ${id} ` +
                `[${meta.minTime}, ${meta.maxTime}): it overlaps block ${over.ulid} ` +
                `[${over.minTime}, ${over.maxTime}) in the bucket`,
            );
          }
        }
        try {
          await this.upload(id, meta, signal);
        } catch (e) {
          this.m.uploadFailures.inc();
          const msg = `upload of block ${id} failed: ${(e as Error).message}`;
          if (!this.opts.allowOutOfOrderUploads || signal?.aborted) throw new UploadError(msg);
          // retried on the next pass; the later blocks go now
          log?.error("shipping failed", { block: id, err: (e as Error).message });
          uploadErrs++;
          continue;
        }
        uploaded.push(id);
        count++;
        this.m.uploads.inc();
        await save();
        log?.info("upload new block", { id });
      }
      if (this.m.compactedDone && !pendingCompacted) this.m.compactedDone.set(1);
    } finally {
      // keep only blocks still present locally (plus what this pass confirmed)
      await save();
    }
    const skipped = this.opts.skipCorruptedBlocks ? corrupted : 0;
    if (uploadErrs > 0 || skipped > 0) {
      // Thanos's message: failed uploads / corrupted blocks; what could go went
      throw new UploadError(
        `failed to sync ${uploadErrs}/${skipped} blocks (${count} uploaded)`,
      );
    }
    return count;
  }

  /** Metas of every complete block in the bucket. */
  private async bucketMetas(signal?: AbortSignal): Promise<BlockMeta[]> {
    const out: BlockMeta[] = [];
    for await (const name of this.opts.bucket.iter("", { signal })) {
      const id = name.replace(/\/$/, "");
      if (!isULID(id)) continue;
      let text: string;
      try {
        text = new TextDecoder().decode(
          await this.opts.bucket.get(`${id}/${META_FILENAME}`, signal),
        );
      } catch (e) {
        if (isObjectNotFound(e)) continue; // partial upload
        throw e;
      }
      out.push(parseBlockMeta(text, `${id}/${META_FILENAME}`));
    }
    return out;
  }

  private async upload(id: string, meta: BlockMeta, signal?: AbortSignal): Promise<void> {
    const src = `${this.opts.dir}/${id}`;
    const updir = `${this.opts.dir}/thanos/upload/${id}`;
    // a crash may have left a staging dir behind: start clean
    await Deno.remove(updir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.mkdir(`${updir}/chunks`, { recursive: true });
    try {
      // hard links: Prometheus may delete the block (retention) while we upload it
      for (const n of await segmentFiles(src)) {
        await Deno.link(`${src}/chunks/${n}`, `${updir}/chunks/${n}`);
      }
      await Deno.link(`${src}/index`, `${updir}/index`);
      const labels = this.opts.labels();
      const staged: BlockMeta = {
        ...meta,
        thanos: {
          ...meta.thanos,
          labels,
          downsample: meta.thanos?.downsample ?? { resolution: 0 },
          source: this.opts.source,
          segment_files: await segmentFiles(updir),
        },
      };
      await writeBlockMeta(updir, staged);
      await uploadBlock(this.opts.bucket, updir, {
        hashFunc: this.opts.hashFunc,
        concurrency: this.opts.uploadConcurrency,
        signal,
      });
    } finally {
      await Deno.remove(updir, { recursive: true }).catch(() => {});
    }
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] === a[k]);
}

/** The first bucket block with the same external labels whose time range overlaps `meta`'s. */
function overlapping(
  meta: BlockMeta,
  bucket: readonly BlockMeta[],
  labels: Record<string, string>,
): BlockMeta | null {
  for (const b of bucket) {
    if (!sameLabels(b.thanos?.labels ?? {}, labels)) continue;
    if (b.ulid === meta.ulid) continue;
    if (meta.minTime < b.maxTime && b.minTime < meta.maxTime) return b;
  }
  return null;
}

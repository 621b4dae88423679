// WAL checkpoints as Prometheus 2.42 writes them: `<wal>/checkpoint.NNNNNNNN/` is a directory of
// WAL segments holding what is still needed of every segment up to NNNNNNNN (series still in the
// head, samples and tombstones not older than the head's new minimum time), so the segments it
// covers can be deleted. See tsdb/wlog/checkpoint.go at
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/wlog/checkpoint.go
// A new checkpoint also folds in the previous one; it is written to `checkpoint.NNNNNNNN.tmp`,
// fsynced, then renamed, and the older checkpoints are deleted.

import {
  decodeSamples,
  decodeSeries,
  decodeTombstones,
  encodeSamples,
  encodeSeries,
  encodeTombstones,
  RecordType,
  recordType,
  type RefTombstone,
} from "./records.ts";
import { readRecords, Wal } from "./wal.ts";
import { renameDirAtomic } from "../../runutil/atomic_file.ts";

const PREFIX = "checkpoint.";
/** Bytes of re-encoded records buffered before they are logged to the checkpoint. */
const FLUSH_BYTES = 1 << 20;

/** Name of checkpoint `i` in `walDir`. */
export function checkpointName(walDir: string, i: number): string {
  return `${walDir}/${PREFIX}${String(i).padStart(8, "0")}`;
}

async function listCheckpoints(walDir: string): Promise<{ name: string; index: number }[]> {
  const out: { name: string; index: number }[] = [];
  for await (const e of Deno.readDir(walDir)) {
    const m = /^checkpoint\.(\d+)$/.exec(e.name);
    if (m === null) continue;
    if (!e.isDirectory) throw new Error(`${walDir}/${e.name}: checkpoint is not a directory`);
    out.push({ name: e.name, index: Number(m[1]) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** The newest checkpoint of `walDir`, or null when there is none. */
export async function lastCheckpoint(
  walDir: string,
): Promise<{ dir: string; index: number } | null> {
  const cps = await listCheckpoints(walDir);
  if (cps.length === 0) return null;
  const c = cps[cps.length - 1];
  return { dir: `${walDir}/${c.name}`, index: c.index };
}

/** Deletes the checkpoints of `walDir` with an index below `maxIndex`. */
export async function deleteCheckpoints(walDir: string, maxIndex: number): Promise<void> {
  for (const c of await listCheckpoints(walDir)) {
    if (c.index >= maxIndex) break;
    await Deno.remove(`${walDir}/${c.name}`, { recursive: true });
  }
}

/**
 * Writes checkpoint `to` from the previous checkpoint (if any) and segments [from, to] of
 * `walDir`: series kept when `keep(ref)`; samples kept when `t >= mint` and `keep(ref)`;
 * tombstones kept when `keep(ref)` and one of their intervals ends at or after `mint`. Other
 * record types (exemplars, metadata, histograms) are not carried over. Older checkpoints are
 * deleted afterwards.
 */
export async function checkpoint(
  walDir: string,
  from: number,
  to: number,
  keep: (ref: number) => boolean,
  mint: number,
  opts: { compress?: boolean } = {},
): Promise<{ dir: string; droppedSeries: number; droppedSamples: number }> {
  const prev = await lastCheckpoint(walDir);
  if (prev !== null) {
    if (from > prev.index + 1) {
      throw new Error(
        `unexpected gap to last checkpoint: expected segment ${prev.index + 1}, requested ${from}`,
      );
    }
    from = prev.index + 1;
  }
  const dir = checkpointName(walDir, to);
  const tmp = `${dir}.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  let droppedSeries = 0;
  let droppedSamples = 0;
  const cp = await Wal.open(tmp, { compress: opts.compress ?? false });
  try {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const push = async (rec: Uint8Array) => {
      pending.push(rec);
      pendingBytes += rec.length;
      if (pendingBytes >= FLUSH_BYTES) {
        await cp.log(...pending);
        pending = [];
        pendingBytes = 0;
      }
    };
    const sources: AsyncIterable<Uint8Array>[] = [];
    if (prev !== null) sources.push(readRecords(prev.dir));
    if (from <= to) sources.push(readRecords(walDir, Math.max(from, 0), to));
    for (const src of sources) {
      for await (const rec of src) {
        switch (recordType(rec)) {
          case RecordType.Series: {
            const all = decodeSeries(rec);
            const kept = all.filter((s) => keep(s.ref));
            droppedSeries += all.length - kept.length;
            if (kept.length > 0) await push(encodeSeries(kept));
            break;
          }
          case RecordType.Samples: {
            const b = decodeSamples(rec);
            let k = 0;
            for (let i = 0; i < b.n; i++) {
              if (b.ts[i] >= mint && keep(b.refs[i])) {
                if (k !== i) {
                  b.refs[k] = b.refs[i];
                  b.ts[k] = b.ts[i];
                  // Float64Array to Float64Array copy of one element keeps the NaN payload
                  b.vs.copyWithin(k, i, i + 1);
                }
                k++;
              }
            }
            droppedSamples += b.n - k;
            if (k > 0) await push(encodeSamples({ ...b, n: k }));
            break;
          }
          case RecordType.Tombstones: {
            const kept: RefTombstone[] = decodeTombstones(rec).filter((t) =>
              keep(t.ref) && t.intervals.some((iv) => iv.maxt >= mint)
            );
            if (kept.length > 0) await push(encodeTombstones(kept));
            break;
          }
          default:
            break;
        }
      }
    }
    if (pending.length > 0) await cp.log(...pending);
  } catch (e) {
    await cp.close().catch(() => {});
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  await cp.close();
  await renameDirAtomic(tmp, dir);
  await deleteCheckpoints(walDir, to);
  return { dir, droppedSeries, droppedSamples };
}

// Atomic file replacement: the one copy of "write a temporary file, fsync it, rename it over the
// target, fsync the directory". Readers see either the old file or the complete new one, and a
// crash never leaves a half-written file under the final name. This is what Prometheus' and
// Thanos' `fileutil` helpers do for meta.json, tombstones and the shipper state
// (https://github.com/prometheus/prometheus/blob/main/tsdb/fileutil/fileutil.go,
// https://github.com/thanos-io/thanos/blob/main/pkg/runutil/runutil.go).

/** Options of {@link writeFileAtomic} and {@link writeFileAtomicWith}. */
export interface AtomicWriteOptions {
  /**
   * Checked before the temporary file is created, between chunks of a streamed content and
   * right before the rename; an abort rejects with the signal's reason (nothing is replaced).
   */
  signal?: AbortSignal;
  /**
   * Infix of the temporary file's name, `.<base><tmpMarker><random>` in the target's directory
   * (default `.tmp-`). Callers that list the directory can skip names containing it.
   */
  tmpMarker?: string;
  /** Permission bits of the new file (default 0o666 before the umask, like `Deno.writeFile`). */
  mode?: number;
}

/** Content of an atomic write: bytes, UTF-8 text, or a stream of bytes. */
export type AtomicContent = Uint8Array | string | ReadableStream<Uint8Array>;

/**
 * Writes `content` to `path` atomically (see the module comment). The parent directory must
 * exist. On any failure the temporary file is removed and an existing `path` is left untouched.
 * A stream is cancelled with the error when writing it fails.
 */
export function writeFileAtomic(
  path: string,
  content: AtomicContent,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  return writeFileAtomicWith(path, async (f) => {
    if (content instanceof ReadableStream) {
      const reader = content.getReader();
      try {
        while (true) {
          opts.signal?.throwIfAborted();
          const { done, value } = await reader.read();
          if (done) break;
          await writeAll(f, value);
        }
      } catch (e) {
        await reader.cancel(e).catch(() => undefined);
        throw e;
      } finally {
        reader.releaseLock();
      }
    } else {
      await writeAll(f, typeof content === "string" ? new TextEncoder().encode(content) : content);
    }
  }, opts);
}

/**
 * Like {@link writeFileAtomic}, with the content produced by `write`: it gets the open temporary
 * file (which it must not close) and its path (for tools that write by path, such as
 * `Deno.copyFile`, which keeps the file's identity so the final fsync still covers it).
 */
export async function writeFileAtomicWith(
  path: string,
  write: (file: Deno.FsFile, tmpPath: string) => Promise<void>,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  opts.signal?.throwIfAborted();
  const dir = dirOf(path);
  const tmp = tempPathFor(path, opts.tmpMarker ?? ".tmp-");
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true, mode: opts.mode });
    try {
      await write(f, tmp);
      opts.signal?.throwIfAborted();
      // durable before it becomes visible: a power loss must not expose an empty file
      await f.sync();
    } finally {
      try {
        f.close();
      } catch {
        // already closed: nothing to release
      }
    }
    opts.signal?.throwIfAborted();
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => undefined);
    throw e;
  }
  // persist the rename itself
  await syncDir(dir);
}

/**
 * Moves the complete directory `from` to `to`, replacing whatever is at `to`, as Prometheus'
 * `fileutil.Replace` does for a freshly written block (`<ulid>.tmp-for-creation` → `<ulid>`):
 * fsync of `from` (its entries), removal of `to`, rename, fsync of the parent directory. A
 * directory cannot be swapped in a single rename when the target is not empty, so unlike
 * {@link writeFileAtomic} there is a moment without `to`; readers must treat a missing block
 * directory as "not there yet". `from` is left in place on failure (its writer removes it).
 */
export async function renameDirAtomic(from: string, to: string): Promise<void> {
  await syncDir(from);
  try {
    await Deno.remove(to, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.rename(from, to);
  await syncDir(dirOf(to));
}

/** Suffix of a directory {@link removeDirAtomic} is removing (Prometheus's name for blocks). */
export const TMP_FOR_DELETION = ".tmp-for-deletion";
/** Suffix of a block directory being written, renamed away once complete (Prometheus's name). */
export const TMP_FOR_CREATION = ".tmp-for-creation";

/**
 * Removes the directory `dir` so that a crash never leaves part of it under its name, as
 * Prometheus deletes a block (`<ulid>` → `<ulid>.tmp-for-deletion`, then RemoveAll): renames it
 * to `tmp` (default `<dir>.tmp-for-deletion`; a leftover there is removed first), fsyncs the
 * parent, then removes `tmp`. The caller removes leftover `tmp` dirs when it starts. A missing
 * `dir` is not an error.
 */
export async function removeDirAtomic(
  dir: string,
  tmp = `${dir}${TMP_FOR_DELETION}`,
): Promise<void> {
  await Deno.remove(tmp, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  try {
    await Deno.rename(dir, tmp);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  await syncDir(dirOf(tmp));
  await Deno.remove(tmp, { recursive: true });
}

/**
 * fsyncs the directory `dir`, persisting renames and new entries in it. A no-op on Windows, and
 * file systems that cannot sync a directory (EINVAL, unsupported) are not an error.
 */
export async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let d: Deno.FsFile;
  try {
    d = await Deno.open(dir, { read: true });
  } catch (e) {
    if (cannotSyncDir(e)) return;
    throw e;
  }
  try {
    await d.sync();
  } catch (e) {
    if (!cannotSyncDir(e)) throw e;
  } finally {
    d.close();
  }
}

function cannotSyncDir(e: unknown): boolean {
  if (e instanceof Deno.errors.NotSupported) return true;
  const code = (e as { code?: unknown } | null)?.code;
  return code === "EINVAL" || code === "ENOTSUP" || code === "EOPNOTSUPP";
}

/** Writes all of `data` at `f`'s current position (a write may take several calls). */
export async function writeAll(f: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await f.write(data.subarray(off));
}

/** The directory part of `path` (`.` when it has none). */
function dirOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (i < 0) return ".";
  return i === 0 ? path.slice(0, 1) : path.slice(0, i);
}

/** A fresh temporary name next to `path`: `.<base><marker><random>`. */
function tempPathFor(path: string, marker: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const rand = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  return `${path.slice(0, i + 1)}.${path.slice(i + 1)}${marker}${rand}`;
}

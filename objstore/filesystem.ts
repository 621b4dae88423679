// FILESYSTEM bucket: objects are files under one directory. Uploads write a temporary file in the
// target directory and rename it into place, so a crash never leaves a half-written object under
// its final name (temporary files are invisible to listings).

import {
  type Bucket,
  InvalidObjectNameError,
  type IterOptions,
  type ObjectAttributes,
  ObjectNotFoundError,
} from "./bucket.ts";
import { writeFileAtomic, writeFileAtomicWith } from "../runutil/atomic_file.ts";

/** Marker inside temporary upload file names; listings skip names containing it. */
const TMP_MARKER = ".thanos-upload-tmp-";

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound ||
    (e instanceof Error && "code" in e && (e as { code?: string }).code === "ENOENT");
}

function isDirError(e: unknown): boolean {
  return e instanceof Deno.errors.IsADirectory ||
    (e instanceof Error && /EISDIR|Is a directory/.test(e.message));
}

function joinPath(a: string, b: string): string {
  return a.endsWith("/") ? a + b : `${a}/${b}`;
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

function abortIf(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
}

/** A bucket backed by a local directory (`type: FILESYSTEM`, `directory: ...`). */
export class FilesystemBucket implements Bucket {
  readonly name: string;
  /** Absolute root directory. */
  readonly root: string;

  constructor(directory: string) {
    let root = directory.startsWith("/") ? directory : joinPath(Deno.cwd(), directory);
    root = root.replace(/\/+$/, "") || "/";
    this.root = root;
    this.name = `fs: ${root}`;
  }

  private path(name: string): string {
    if (name === "") throw new InvalidObjectNameError(name, "object name is empty");
    if (name.startsWith("/")) throw new InvalidObjectNameError(name, "must not start with /");
    if (name.includes("\0")) throw new InvalidObjectNameError(name, "contains a NUL byte");
    for (const seg of name.split("/")) {
      if (seg === "..") throw new InvalidObjectNameError(name, "must not contain '..'");
    }
    return joinPath(this.root, name);
  }

  async get(name: string, signal?: AbortSignal): Promise<Uint8Array> {
    const p = this.path(name);
    abortIf(signal);
    try {
      return await Deno.readFile(p, { signal });
    } catch (e) {
      if (isNotFound(e) || isDirError(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
  }

  async getRange(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const p = this.path(name);
    if (offset < 0) throw new RangeError(`getRange ${name}: negative offset ${offset}`);
    abortIf(signal);
    let f: Deno.FsFile;
    try {
      f = await Deno.open(p, { read: true });
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
    try {
      const st = await f.stat();
      if (!st.isFile) throw new ObjectNotFoundError(this.name, name);
      const end = length < 0 ? st.size : Math.min(st.size, offset + length);
      const n = Math.max(0, end - offset);
      const out = new Uint8Array(n);
      if (n === 0) return out;
      await f.seek(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await f.read(out.subarray(got));
        if (r === null) break;
        got += r;
      }
      return got === n ? out : out.subarray(0, got);
    } finally {
      f.close();
    }
  }

  // The object's path, with its directory created (the atomic write needs the parent).
  private async prepare(name: string, signal?: AbortSignal): Promise<string> {
    const p = this.path(name);
    abortIf(signal);
    await Deno.mkdir(dirname(p), { recursive: true });
    return p;
  }

  async upload(
    name: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    const p = await this.prepare(name, signal);
    await writeFileAtomic(p, data, { signal, tmpMarker: TMP_MARKER });
  }

  async uploadFile(name: string, path: string, signal?: AbortSignal): Promise<void> {
    const p = await this.prepare(name, signal);
    // copyFile writes into the open temporary file's inode, so its fsync covers the copy
    await writeFileAtomicWith(p, (_f, tmp) => Deno.copyFile(path, tmp), {
      signal,
      tmpMarker: TMP_MARKER,
    });
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    const p = this.path(name);
    abortIf(signal);
    try {
      const st = await Deno.stat(p);
      if (!st.isFile) throw new ObjectNotFoundError(this.name, name);
      await Deno.remove(p);
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
    // Like Thanos: remove parent directories left empty, so listings do not show them.
    let d = dirname(p);
    while (d.length > this.root.length && d.startsWith(this.root)) {
      try {
        await Deno.remove(d);
      } catch {
        break; // not empty (or gone): stop climbing
      }
      d = dirname(d);
    }
  }

  async exists(name: string, signal?: AbortSignal): Promise<boolean> {
    const p = this.path(name);
    abortIf(signal);
    try {
      return (await Deno.stat(p)).isFile;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async attributes(name: string, signal?: AbortSignal): Promise<ObjectAttributes> {
    const p = this.path(name);
    abortIf(signal);
    try {
      const st = await Deno.stat(p);
      if (!st.isFile) throw new ObjectNotFoundError(this.name, name);
      return { size: st.size, lastModified: st.mtime ?? new Date(0) };
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(this.name, name);
      throw e;
    }
  }

  async *iter(dir: string, opts?: IterOptions): AsyncIterable<string> {
    const d = dir.replace(/\/+$/, "");
    if (d.startsWith("/") || d.split("/").includes("..")) {
      throw new InvalidObjectNameError(dir, "directory must be relative and must not contain '..'");
    }
    yield* this.walk(d === "" ? "" : d + "/", opts?.recursive ?? false, opts?.signal);
  }

  private async *walk(
    prefix: string,
    recursive: boolean,
    signal?: AbortSignal,
  ): AsyncIterable<string> {
    abortIf(signal);
    const abs = prefix === "" ? this.root : joinPath(this.root, prefix.slice(0, -1));
    const entries: { name: string; dir: boolean }[] = [];
    try {
      for await (const e of Deno.readDir(abs)) {
        if (e.name.includes(TMP_MARKER)) continue;
        let isDir = e.isDirectory;
        if (e.isSymlink) {
          const st = await Deno.stat(joinPath(abs, e.name)).catch(() => null);
          if (st === null) continue;
          isDir = st.isDirectory;
        }
        entries.push({ name: e.name, dir: isDir });
      }
    } catch (e) {
      if (isNotFound(e) || e instanceof Deno.errors.NotADirectory) return;
      throw e;
    }
    // Sort like object stores do: directories compare as "name/".
    const keyOf = (e: { name: string; dir: boolean }) => e.dir ? e.name + "/" : e.name;
    entries.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    for (const e of entries) {
      if (e.dir) {
        if (recursive) {
          yield* this.walk(prefix + e.name + "/", true, signal);
        } else if (!(await this.isEmptyDir(joinPath(abs, e.name)))) {
          yield prefix + e.name + "/";
        }
      } else {
        yield prefix + e.name;
      }
    }
  }

  private async isEmptyDir(p: string): Promise<boolean> {
    try {
      for await (const e of Deno.readDir(p)) {
        if (!e.name.includes(TMP_MARKER)) return false;
      }
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    }
    return true;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

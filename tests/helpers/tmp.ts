// Temporary directories for tests, removed even when the test fails.

/** Creates a temp dir (prefix `thanos-ts-`), runs `fn` in it and removes it afterwards. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T> | T,
  prefix = "thanos-ts-",
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await removeQuietly(dir);
  }
}

/** Removes `path` recursively; a path that is already gone is not an error. */
export async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Collects temp dirs made during one test; `cleanup()` (call it in `finally`) removes them all.
 * Usable with `await using` too.
 */
export class TempDirs implements AsyncDisposable {
  private readonly dirs: string[] = [];

  /** Creates and records a new temp dir. */
  async make(prefix = "thanos-ts-"): Promise<string> {
    const d = await Deno.makeTempDir({ prefix });
    this.dirs.push(d);
    return d;
  }

  /** Removes every recorded dir. */
  async cleanup(): Promise<void> {
    const dirs = this.dirs.splice(0);
    for (const d of dirs) await removeQuietly(d);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup();
  }
}

/** Copies the directory `from` to `to` (created), files and subdirectories; symlinks as files. */
export async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import {
  renameDirAtomic,
  syncDir,
  writeFileAtomic,
  writeFileAtomicWith,
} from "../../runutil/atomic_file.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

Deno.test("writeFileAtomic: text, bytes and streams land; no temp file is left", async () => {
  await withTempDir(async (dir) => {
    await writeFileAtomic(`${dir}/a.txt`, "hello");
    await writeFileAtomic(`${dir}/b.bin`, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(`${dir}/c.txt`, streamOf("str", "eam"));
    assertEquals(await Deno.readTextFile(`${dir}/a.txt`), "hello");
    assertEquals(await Deno.readFile(`${dir}/b.bin`), new Uint8Array([1, 2, 3]));
    assertEquals(await Deno.readTextFile(`${dir}/c.txt`), "stream");
    // replacing an existing file
    await writeFileAtomic(`${dir}/a.txt`, "bye");
    assertEquals(await Deno.readTextFile(`${dir}/a.txt`), "bye");
    await writeFileAtomic(`${dir}/empty`, "");
    assertEquals(await Deno.readTextFile(`${dir}/empty`), "");
    assertEquals(await names(dir), ["a.txt", "b.bin", "c.txt", "empty"]);
  });
});

Deno.test("writeFileAtomicWith: a throwing writer leaves the target untouched and no temp", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/meta.json`;
    await Deno.writeTextFile(path, "old");
    let tmpSeen = "";
    const err = await assertRejects(
      () =>
        writeFileAtomicWith(path, async (f, tmp) => {
          tmpSeen = tmp;
          await f.write(new TextEncoder().encode("half"));
          throw new Error("disk on fire");
        }),
      Error,
      "disk on fire",
    );
    assert(err);
    assert(tmpSeen.startsWith(`${dir}/.meta.json.tmp-`), tmpSeen);
    assertEquals(await Deno.readTextFile(path), "old");
    assertEquals(await names(dir), ["meta.json"]);
  });
});

Deno.test("writeFileAtomic: a failing stream is cancelled; target and directory unchanged", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/obj`;
    await Deno.writeTextFile(path, "old");
    let cancelled: unknown;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error("network reset"));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    await assertRejects(() => writeFileAtomic(path, stream), Error, "network reset");
    assertEquals(await Deno.readTextFile(path), "old");
    assertEquals(await names(dir), ["obj"]);
    // a stream that fails while being consumed by us (not errored) is cancelled with the error
    const ctl = new AbortController();
    let n = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        if (++n === 3) ctl.abort(new Error("stop"));
        c.enqueue(new Uint8Array([n]));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    await assertRejects(
      () => writeFileAtomic(path, endless, { signal: ctl.signal }),
      Error,
      "stop",
    );
    assertEquals((cancelled as Error).message, "stop");
    assertEquals(await Deno.readTextFile(path), "old");
    assertEquals(await names(dir), ["obj"]);
  });
});

Deno.test("writeFileAtomic: abort and rename failures clean up; tmpMarker names the temp", async () => {
  await withTempDir(async (dir) => {
    const ctl = new AbortController();
    ctl.abort(new Error("shutting down"));
    await assertRejects(
      () => writeFileAtomic(`${dir}/x`, "data", { signal: ctl.signal }),
      Error,
      "shutting down",
    );
    assertEquals(await names(dir), []);
    // the target is a non-empty directory: the rename fails after the temp file was written
    await Deno.mkdir(`${dir}/d/sub`, { recursive: true });
    await assertRejects(() => writeFileAtomic(`${dir}/d`, "data"));
    assertEquals(await names(dir), ["d"]);
    // the temp name carries the caller's marker
    let tmpName = "";
    await writeFileAtomicWith(`${dir}/o`, async (f, tmp) => {
      tmpName = tmp;
      await f.write(new Uint8Array([7]));
    }, { tmpMarker: ".upload-tmp-" });
    assert(tmpName.startsWith(`${dir}/.o.upload-tmp-`), tmpName);
    assertEquals(await Deno.readFile(`${dir}/o`), new Uint8Array([7]));
    // a missing parent directory is an error, not a silent mkdir
    await assertRejects(() => writeFileAtomic(`${dir}/nope/x`, "data"), Deno.errors.NotFound);
  });
});

Deno.test("writeFileAtomicWith: writing by path (copyFile) is synced and renamed", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/src`, "copied");
    await writeFileAtomicWith(`${dir}/dst`, (_f, tmp) => Deno.copyFile(`${dir}/src`, tmp));
    assertEquals(await Deno.readTextFile(`${dir}/dst`), "copied");
    assertEquals(await names(dir), ["dst", "src"]);
  });
});

Deno.test("renameDirAtomic replaces the target directory; syncDir accepts directories", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/blk.tmp-for-creation`);
    await Deno.writeTextFile(`${dir}/blk.tmp-for-creation/meta.json`, "new");
    await Deno.mkdir(`${dir}/blk`);
    await Deno.writeTextFile(`${dir}/blk/stale`, "old");
    await renameDirAtomic(`${dir}/blk.tmp-for-creation`, `${dir}/blk`);
    assertEquals(await names(dir), ["blk"]);
    assertEquals(await names(`${dir}/blk`), ["meta.json"]);
    // no previous target
    await Deno.mkdir(`${dir}/fresh.tmp`);
    await renameDirAtomic(`${dir}/fresh.tmp`, `${dir}/fresh`);
    assertEquals(await names(dir), ["blk", "fresh"]);
    await syncDir(dir);
    await assertRejects(() => syncDir(`${dir}/missing`), Deno.errors.NotFound);
  });
});

// Each role runs with exactly the permissions its flags grant: its real work succeeds, while
// a read outside its paths, a connection to an address it was not given, and starting a
// process fail with Deno's permission error.

import { assertEquals } from "../helpers/assert.ts";
import {
  assertDenied,
  assertNeighboursDenied,
  type NeighbourProbe,
  runSandboxed,
} from "../helpers/sandbox.ts";
import { writeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";

Deno.test("tools bucket ls reads its bucket and nothing else", async () => {
  const dir = await Deno.makeTempDir();
  const secret = await Deno.makeTempFile();
  try {
    const ulid = newULID(Date.UTC(2024, 0, 1));
    await Deno.mkdir(`${dir}/bucket/${ulid}`, { recursive: true });
    await writeBlockMeta(`${dir}/bucket/${ulid}`, {
      ulid,
      minTime: 0,
      maxTime: 7200000,
      stats: {},
      compaction: { level: 1, sources: [ulid] },
      version: 1,
    });
    await Deno.writeTextFile(
      `${dir}/bucket.yml`,
      `type: FILESYSTEM\nconfig:\n  directory: ${dir}/bucket\n`,
    );
    // next to the grants (bucket.yml: read; bucket/: read only, the tool never writes it): a
    // sibling of the config file, the directory holding both, a name that only starts like the
    // bucket directory, writing the config file or a new file beside it, and writing into the
    // bucket
    await Deno.writeTextFile(`${dir}/sibling.txt`, "not for the tool");
    await Deno.writeTextFile(`${dir}/bucket-other.txt`, "not for the tool");
    const neighbours: NeighbourProbe[] = [
      { op: "read", path: `${dir}/sibling.txt` },
      { op: "readDir", path: dir },
      { op: "read", path: `${dir}/bucket-other.txt` },
      { op: "write", path: `${dir}/bucket.yml` },
      { op: "write", path: `${dir}/new.txt` },
      { op: "write", path: `${dir}/bucket/new.txt` },
    ];
    const r = await runSandboxed(
      ["tools", "bucket", "ls", `--objstore.config-file=${dir}/bucket.yml`],
      { kind: "exit" },
      secret,
      neighbours,
    );
    assertEquals(r.code, 0, r.out + r.logs.join("\n"));
    assertEquals(r.out.trim(), ulid);
    assertDenied("read outside the bucket", r.read);
    assertDenied("connection to an unnamed address", r.connect);
    assertDenied("starting a process", r.spawn);
    assertNeighboursDenied(neighbours, r);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(secret);
  }
});

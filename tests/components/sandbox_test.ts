// Each role runs with exactly the permissions its flags grant: its real work succeeds, while
// a read outside its paths, a connection to an address it was not given, and starting a
// process fail with Deno's permission error.

import { assert, assertEquals } from "../helpers/assert.ts";
import { type PreparedRole, prepareRole } from "../../main.ts";
import { workerPermissions } from "../../components/permissions.ts";
import { writeBlockMeta } from "../../tsdb/meta.ts";
import { newULID } from "../../tsdb/ulid.ts";

interface ProbeResult {
  code: number;
  out: string;
  read: string;
  connect: string;
  spawn: string;
}

async function runProbe(argv: string[], forbiddenPath: string): Promise<ProbeResult> {
  const p = await prepareRole(argv);
  assert(!("kind" in p), "kind" in p ? p.text : "");
  const role = p as PreparedRole;
  const worker = new Worker(new URL("./sandbox_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions: workerPermissions(role.permissions) },
  });
  try {
    return await new Promise<ProbeResult>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data as ProbeResult);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage({ raw: role.raw, forbiddenPath, forbiddenAddr: "127.0.0.1:19999" });
    });
  } finally {
    worker.terminate();
  }
}

function assertDenied(what: string, result: string): void {
  assert(result.startsWith("NotCapable"), `${what} should be denied, got: ${result}`);
}

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
    const r = await runProbe(
      ["tools", "bucket", "ls", `--objstore.config-file=${dir}/bucket.yml`],
      secret,
    );
    assertEquals(r.code, 0, r.out);
    assertEquals(r.out.trim(), ulid);
    assertDenied("read outside the bucket", r.read);
    assertDenied("connection to an unnamed address", r.connect);
    assertDenied("starting a process", r.spawn);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(secret);
  }
});

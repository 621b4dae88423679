// `thanos receive` runs with exactly the permissions its flags grant: it accepts a remote write
// into its tenant's TSDB under --tsdb.path and answers Info and Series over gRPC, while a read
// outside its paths, a connection to an address it was not given and starting a process fail
// with Deno's permission error.

import { assert, assertEquals } from "../../helpers/assert.ts";
import { freePort } from "../../helpers/ports.ts";
import { TempDirs } from "../../helpers/tmp.ts";
import { postSeries, series } from "../../helpers/receive_lab.ts";
import {
  assertDenied,
  assertNeighboursDenied,
  type NeighbourProbe,
  runSandboxed,
} from "../../helpers/sandbox.ts";
import { StoreClient } from "../../../storeapi/client.ts";
import { labelsToObject } from "../../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../../tsdb/matchers.ts";

/** Polls /-/ready of `http` every 50 ms for up to 30 s. */
async function waitReady(http: string): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://${http}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) return true;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

Deno.test("receive ingests and serves within the permissions its flags grant", async () => {
  const dirs = new TempDirs();
  const root = await dirs.make();
  const secret = `${await dirs.make()}/secret.txt`;
  await Deno.writeTextFile(secret, "not for the receiver");
  // The probe waits for this file before its forbidden attempts; the test writes it once it has
  // written to the receiver and read back from it (the bucket directory is granted read+write).
  const done = `${root}/bucket/test-done`;
  try {
    await Deno.mkdir(`${root}/bucket`);
    await Deno.writeTextFile(
      `${root}/bucket.yml`,
      `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
    );
    const http = `127.0.0.1:${freePort()}`;
    const grpc = `127.0.0.1:${freePort()}`;
    const rw = `127.0.0.1:${freePort()}`;
    // next to the grants (bucket.yml: read; bucket/ and data/: read+write)
    await Deno.writeTextFile(`${root}/sibling.txt`, "not for the receiver");
    await Deno.writeTextFile(`${root}/data-other.txt`, "not for the receiver");
    await Deno.writeTextFile(`${root}/bucket-other.txt`, "not for the receiver");
    const neighbours: NeighbourProbe[] = [
      { op: "read", path: `${root}/sibling.txt` },
      { op: "readDir", path: root },
      { op: "read", path: `${root}/data-other.txt` },
      { op: "read", path: `${root}/bucket-other.txt` },
      { op: "write", path: `${root}/bucket.yml` },
      { op: "write", path: `${root}/new.txt` },
    ];
    const sandboxed = runSandboxed(
      [
        "receive",
        `--tsdb.path=${root}/data`,
        `--objstore.config-file=${root}/bucket.yml`,
        `--http-address=${http}`,
        `--grpc-address=${grpc}`,
        `--remote-write.address=${rw}`,
        '--label=replica="r0"',
        "--grpc-grace-period=1s",
        "--http-grace-period=1s",
      ],
      { kind: "file", path: done },
      secret,
      neighbours,
    );
    // the role's real work, driven from the test while the probe waits
    let work: Error | undefined;
    try {
      assert(await waitReady(http), "receiver not ready");
      const now = Date.now();
      const w = await postSeries(`http://${rw}/api/v1/receive`, [
        series({ __name__: "up", job: "a" }, [[now - 30_000, 1], [now - 15_000, 1]]),
        series({ __name__: "up", job: "b" }, [[now - 15_000, 0]]),
      ]);
      assertEquals(w.status, 200, w.body);
      const client = new StoreClient(grpc);
      try {
        const info = await client.info();
        assertEquals(
          info.labelSets.map(labelsToObject),
          [{ replica: "r0", tenant_id: "default-tenant" }],
        );
        assert(info.minTime <= now - 30_000, `minTime ${info.minTime}`);
        let n = 0;
        let chunks = 0;
        for await (
          const s of client.series({
            minTime: 0,
            maxTime: now + 60_000,
            matchers: [new Matcher(MatchType.Equal, "__name__", "up")],
          })
        ) {
          if ("warning" in s) throw new Error(s.warning);
          n++;
          chunks += s.chunks.length;
        }
        assertEquals(n, 2);
        assert(chunks >= 2, `chunks ${chunks}`);
      } finally {
        client.close();
      }
    } catch (e) {
      work = e as Error;
    } finally {
      await Deno.writeTextFile(done, "");
    }
    const r = await sandboxed;
    if (work) throw new Error(`${work.message}\n${r.logs.join("\n")}`);
    assert(r.ready, r.logs.join("\n"));
    assertEquals(r.code, 0, r.logs.join("\n"));
    assertDenied("read outside the tsdb path and bucket", r.read);
    assertDenied("connection to an unnamed address", r.connect);
    assertDenied("starting a process", r.spawn);
    assertNeighboursDenied(neighbours, r);
    assert((await Deno.stat(`${root}/data/default-tenant`)).isDirectory);
  } finally {
    await dirs.cleanup();
  }
});

// `thanos store` runs with exactly the permissions its flags grant: it syncs its bucket, writes
// its data dir and serves gRPC and HTTP, while a read outside its paths, a connection to an
// address it was not given and starting a process fail with Deno's permission error.

import { assert, assertEquals } from "../../helpers/assert.ts";
import { freePort } from "../../helpers/ports.ts";
import { TempDirs } from "../../helpers/tmp.ts";
import {
  assertDenied,
  assertNeighboursDenied,
  type NeighbourProbe,
  runSandboxed,
} from "../../helpers/sandbox.ts";
import { writeBlock } from "../../../tsdb/block_writer.ts";
import { labelsFromObject } from "../../../tsdb/labels.ts";

Deno.test("store serves its bucket within the permissions its flags grant", async () => {
  const dirs = new TempDirs();
  const root = await dirs.make();
  const secret = `${await dirs.make()}/secret.txt`;
  await Deno.writeTextFile(secret, "not for the store");
  try {
    const ts = new Float64Array([0, 15_000, 30_000]);
    const vs = new Float64Array([1, 2, 3]);
    await writeBlock(`${root}/bucket`, [
      { labels: labelsFromObject({ __name__: "up", job: "a" }), ts, vs },
      { labels: labelsFromObject({ __name__: "up", job: "b" }), ts, vs },
    ], {
      minTime: 0,
      maxTime: 7_200_000,
      thanos: { labels: { cluster: "x" }, downsample: { resolution: 0 }, source: "test" },
    });
    await Deno.writeTextFile(
      `${root}/bucket.yml`,
      `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`,
    );
    // blocks whose meta.json is a symlink out of the bucket: to a valid meta.json with its own
    // labels, and to a text file (as /etc/passwd would be); neither is read nor logged
    const outside = await dirs.make();
    await Deno.writeTextFile(
      `${outside}/meta.json`,
      JSON.stringify({
        ulid: "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        minTime: 0,
        maxTime: 7_200_000,
        stats: {},
        compaction: { level: 1, sources: ["01HZZZZZZZZZZZZZZZZZZZZZZZ"] },
        version: 1,
        thanos: { labels: { leaked: "outside-label" }, downsample: { resolution: 0 } },
      }),
    );
    await Deno.writeTextFile(`${outside}/passwd`, "root:x:0:0:outside-secret-line\n");
    for (
      const [id, target] of [
        ["01HZZZZZZZZZZZZZZZZZZZZZZZ", `${outside}/meta.json`],
        ["01HYYYYYYYYYYYYYYYYYYYYYYY", `${outside}/passwd`],
      ]
    ) {
      await Deno.mkdir(`${root}/bucket/${id}`);
      await Deno.symlink(target, `${root}/bucket/${id}/meta.json`);
    }
    const http = `127.0.0.1:${freePort()}`;
    const grpc = `127.0.0.1:${freePort()}`;
    // next to the grants (bucket.yml: read; bucket/ and data/: read+write): a sibling of the
    // config file, the parent of the data dir, names that only start like the granted
    // directories, and writing the config file or a new file beside it
    await Deno.writeTextFile(`${root}/sibling.txt`, "not for the store");
    await Deno.writeTextFile(`${root}/data-other.txt`, "not for the store");
    await Deno.writeTextFile(`${root}/bucket-other.txt`, "not for the store");
    const neighbours: NeighbourProbe[] = [
      { op: "read", path: `${root}/sibling.txt` },
      { op: "readDir", path: root },
      { op: "read", path: `${root}/data-other.txt` },
      { op: "read", path: `${root}/bucket-other.txt` },
      { op: "write", path: `${root}/bucket.yml` },
      { op: "write", path: `${root}/new.txt` },
      // the store only reads its bucket: no write grant for it
      { op: "write", path: `${root}/bucket/new.txt` },
    ];
    // the test client connects from inside the worker: granted exactly the store's addresses
    const r = await runSandboxed(
      [
        "store",
        `--objstore.config-file=${root}/bucket.yml`,
        `--data-dir=${root}/data`,
        `--http-address=${http}`,
        `--grpc-address=${grpc}`,
        "--grpc-grace-period=1s",
        "--http-grace-period=1s",
      ],
      { kind: "series", http, grpc },
      secret,
      neighbours,
    );
    assert(r.ready, r.logs.join("\n"));
    assertEquals(r.series, 2, r.logs.join("\n"));
    const logs = r.logs.join("\n");
    // (read, the text file's first bytes would be quoted in a parse error, and the other block
    // would be loaded with its index looked up)
    assert(!logs.includes("root:x:0:0") && !logs.includes("outside-secret-line"), logs);
    assert(!logs.includes("loading block failed"), logs);
    assertEquals(r.code, 0, r.logs.join("\n"));
    assertDenied("read outside the data dir and bucket", r.read);
    assertDenied("connection to an unnamed address", r.connect);
    assertDenied("starting a process", r.spawn);
    assertNeighboursDenied(neighbours, r);
    assert((await Deno.stat(`${root}/data/meta-syncer`)).isDirectory);
  } finally {
    await dirs.cleanup();
  }
});

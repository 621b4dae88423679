// The sidecar role runs with exactly the permissions its flags grant: it reaches its Prometheus,
// reads its TSDB directory and uploads to its bucket, while a read outside its paths, a
// connection to an address it was not given, and starting a process fail with NotCapable.

import { assert, assertEquals } from "../../helpers/assert.ts";
import { e2eTest } from "../../helpers/peers.ts";
import { PROMETHEUS } from "../../helpers/prometheus.ts";
import { freePort } from "../../helpers/ports.ts";
import { TempDirs } from "../../helpers/tmp.ts";
import {
  assertDenied,
  assertNeighboursDenied,
  type NeighbourProbe,
  runSandboxed,
} from "../../helpers/sandbox.ts";
import { createBlocksFromSeries } from "../../../tsdb/block_writer.ts";
import { labelsFromObject } from "../../../tsdb/labels.ts";
import { LabPrometheus } from "../../helpers/sidecar_lab.ts";

e2eTest(
  "sidecar reaches its Prometheus, TSDB and bucket and nothing else",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const dir = await dirs.make();
    const secret = `${await dirs.make()}/secret.txt`;
    await Deno.writeTextFile(secret, "secret");
    const prom = new LabPrometheus({
      dataDir: `${dir}/data`,
      externalLabels: { region: "east" },
      extraFlags: ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"],
    });
    try {
      const t = Math.floor(Date.now() / 7_200_000) * 7_200_000 - 4 * 3600_000;
      const ts = Float64Array.from({ length: 60 }, (_, i) => t + i * 60_000);
      const [meta] = await createBlocksFromSeries(`${dir}/data`, [{
        labels: labelsFromObject({ __name__: "sandboxed" }),
        ts,
        vs: new Float64Array(60),
      }]);
      await prom.start();
      await Deno.writeTextFile(
        `${dir}/bucket.yml`,
        `type: FILESYSTEM\nconfig:\n  directory: ${dir}/bucket\n`,
      );
      // next to the grants (bucket.yml: read; data/ and bucket/: read+write): a sibling of the
      // config file, the parent of the TSDB directory, a name that only starts like it, and
      // writing the config file or a new file beside it
      await Deno.writeTextFile(`${dir}/sibling.txt`, "not for the sidecar");
      await Deno.writeTextFile(`${dir}/data-other.txt`, "not for the sidecar");
      const neighbours: NeighbourProbe[] = [
        { op: "read", path: `${dir}/sibling.txt` },
        { op: "readDir", path: dir },
        { op: "read", path: `${dir}/data-other.txt` },
        { op: "write", path: `${dir}/bucket.yml` },
        { op: "write", path: `${dir}/new.txt` },
      ];
      const r = await runSandboxed(
        [
          "sidecar",
          `--prometheus.url=${prom.url}`,
          `--tsdb.path=${dir}/data`,
          `--objstore.config-file=${dir}/bucket.yml`,
          `--http-address=127.0.0.1:${freePort()}`,
          `--grpc-address=127.0.0.1:${freePort()}`,
          "--shipper.sync-interval=1s",
          "--http-grace-period=0s",
          "--grpc-grace-period=0s",
        ],
        // the sidecar's own work inside the sandbox: reach Prometheus, upload to the bucket
        { kind: "file", path: `${dir}/bucket/${meta.ulid}/meta.json` },
        secret,
        neighbours,
      );
      const logs = r.logs.join("\n");
      assert(r.ready, `the sidecar uploaded its block within the sandbox:\n${logs}`);
      assertEquals(r.code, 0, logs);
      for (const [what, res] of [["read", r.read], ["connect", r.connect], ["spawn", r.spawn]]) {
        assertDenied(what, res);
      }
      assertNeighboursDenied(neighbours, r);
    } finally {
      await prom.dispose();
      await dirs.cleanup();
    }
  },
);

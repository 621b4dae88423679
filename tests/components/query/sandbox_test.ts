// `thanos query` runs within exactly the permissions its flags grant: it answers a query over
// its store, while a read outside its paths, a connection to an address it was not given, and
// starting a process fail with Deno's permission error; the run signal stops it with exit 0.

import { assert, assertEquals } from "../../helpers/assert.ts";
import { freePort } from "../../helpers/ports.ts";
import { withTempDir } from "../../helpers/tmp.ts";
import { smallDataset, startStore, withLabels, writeBlocks } from "../../helpers/query_e2e.ts";
import {
  assertDenied,
  assertNeighboursDenied,
  type NeighbourProbe,
  runSandboxed,
} from "../../helpers/sandbox.ts";

Deno.test({
  name: "query serves the API over its stores within the permissions its flags grant",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const ds = smallDataset(3, 10);
      await writeBlocks(`${dir}/blocks`, withLabels(ds, {}));
      const store = await startStore(`${dir}/blocks`, { region: "east" });
      const secret = `${dir}/secret.txt`;
      await Deno.writeTextFile(secret, "not for the querier");
      const http = `127.0.0.1:${freePort()}`;
      try {
        const r = await runSandboxed(
          [
            "query",
            `--http-address=${http}`,
            `--grpc-address=127.0.0.1:${freePort()}`,
            `--store=127.0.0.1:${store.port}`,
            "--http-grace-period=1s",
            "--grpc-grace-period=1s",
          ],
          {
            kind: "http",
            http,
            path: `/api/v1/query?query=count(up)&time=${(ds.end - 60_000) / 1000}`,
          },
          secret,
        );
        assert(r.ready, `query never became ready:\n${r.logs.join("\n")}`);
        assertEquals(r.workStatus, 200, r.workBody);
        const body = JSON.parse(r.workBody);
        assertEquals(body.status, "success");
        assertEquals(body.data.result.length, 1, r.workBody);
        for (
          const [what, res] of [["read", r.read], ["connect", r.connect], ["spawn", r.spawn]]
        ) {
          assertDenied(what, res);
        }
        assertEquals(r.code, 0, r.logs.join("\n"));
      } finally {
        await store.stop();
      }
    });
  },
});

Deno.test({
  name: "query discovers its store from --store.sd-files: reads that file, nothing beside it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const ds = smallDataset(3, 10);
      await writeBlocks(`${dir}/blocks`, withLabels(ds, {}));
      const store = await startStore(`${dir}/blocks`, { region: "east" });
      // the store is only named in the SD file: answering the query needs its read grant;
      // next to it, a sibling file, its directory, the parent directory, a name that only
      // starts like the file, and writing it must be denied. (A glob value grants the glob's
      // directory instead; components/permissions_test.ts checks both forms.)
      await Deno.mkdir(`${dir}/sd`);
      await Deno.writeTextFile(
        `${dir}/sd/stores.json`,
        JSON.stringify([{ targets: [`127.0.0.1:${store.port}`] }]),
      );
      const secret = `${dir}/secret.txt`;
      await Deno.writeTextFile(secret, "not for the querier");
      await Deno.writeTextFile(`${dir}/sd/other.json`, "[]");
      await Deno.writeTextFile(`${dir}/sd/stores.json.bak`, "[]");
      const neighbours: NeighbourProbe[] = [
        { op: "read", path: `${dir}/sd/other.json` },
        { op: "readDir", path: `${dir}/sd` },
        { op: "readDir", path: dir },
        { op: "read", path: `${dir}/sd/stores.json.bak` },
        { op: "write", path: `${dir}/sd/stores.json` },
      ];
      const http = `127.0.0.1:${freePort()}`;
      try {
        const r = await runSandboxed(
          [
            "query",
            `--http-address=${http}`,
            `--grpc-address=127.0.0.1:${freePort()}`,
            `--store.sd-files=${dir}/sd/stores.json`,
            "--http-grace-period=1s",
            "--grpc-grace-period=1s",
          ],
          {
            kind: "http",
            http,
            path: `/api/v1/query?query=count(up)&time=${(ds.end - 60_000) / 1000}`,
          },
          secret,
          neighbours,
        );
        assert(r.ready, `query never became ready:\n${r.logs.join("\n")}`);
        assertEquals(r.workStatus, 200, r.workBody);
        const body = JSON.parse(r.workBody);
        assertEquals(body.status, "success");
        assertEquals(body.data.result.length, 1, `${r.workBody}\n${r.logs.join("\n")}`);
        // file discovery grants any address (targets are known only at run time), so only the
        // file-system and process limits are probed here
        assertDenied("read", r.read);
        assertDenied("spawn", r.spawn);
        assertNeighboursDenied(neighbours, r);
        assertEquals(r.code, 0, r.logs.join("\n"));
      } finally {
        await store.stop();
      }
    });
  },
});

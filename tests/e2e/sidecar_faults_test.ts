// Faults around the sidecar: Prometheus stopped (sidecar not ready, Info fails, the querier marks
// it unhealthy) and back (recovery without restart); a Prometheus without external labels (the
// sidecar exits saying how to set them); the sidecar SIGKILLed mid-upload and restarted (bucket
// consistent, every block's meta.json uploaded exactly once).

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { createBlocksFromOpenMetrics, PROMTOOL } from "../helpers/promtool.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import {
  s3ConfigYaml,
  s3rverMissing,
  startFaultProxy,
  startS3Server,
  TEST_BUCKET,
} from "../helpers/s3.ts";
import { spawnMain } from "../helpers/thanos.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import { isULID } from "../../tsdb/ulid.ts";
import {
  api,
  eventually,
  type LabProc,
  LabPrometheus,
  startLabQuerier,
  startSidecar,
} from "../helpers/sidecar_lab.ts";

const s3Missing = await s3rverMissing();

async function ready(url: string): Promise<number> {
  const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(5000) });
  await r.body?.cancel();
  return r.status;
}

e2eTest(
  "Prometheus down: sidecar not ready, Info fails, querier marks it unhealthy; back: recovers",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const dir = await dirs.make();
    const prom = new LabPrometheus({ dataDir: `${dir}/data`, externalLabels: { region: "east" } });
    const procs: LabProc[] = [];
    const client = { c: null as StoreClient | null };
    try {
      await prom.start();
      const sc = await startSidecar(prom.url, [`--tsdb.path=${dir}/data`]);
      procs.push(sc);
      const q = await startLabQuerier([sc.grpc]);
      procs.push(q);
      client.c = new StoreClient(sc.grpc, { timeoutMs: 3000 });
      assertEquals((await client.c.info()).labelSets, [["region", "east"]]);

      await prom.stop();
      await eventually("sidecar not ready", async () => (await ready(sc.http)) === 503, 15_000);
      let infoErr: unknown;
      try {
        await client.c.info();
      } catch (e) {
        infoErr = e;
      }
      assert(
        infoErr instanceof GrpcError && infoErr.code === GrpcStatus.UNAVAILABLE,
        `Info fails while Prometheus is down: ${infoErr}`,
      );
      await eventually("querier shows the sidecar unhealthy", async () => {
        const st = await api<Record<string, { name: string; lastError: string | null }[]>>(
          q.http,
          "stores",
        );
        const all = Object.values(st).flat();
        return all.some((s) => s.name === sc.grpc && s.lastError !== null);
      }, 20_000);

      await prom.start(true);
      await eventually("sidecar ready again", async () => (await ready(sc.http)) === 200, 20_000);
      assertEquals((await client.c.info()).labelSets, [["region", "east"]]);
      await eventually("querier shows the sidecar healthy", async () => {
        const st = await api<Record<string, { name: string; lastError: string | null }[]>>(
          q.http,
          "stores",
        );
        return Object.values(st).flat().some((s) => s.name === sc.grpc && s.lastError === null);
      }, 20_000);
      assert(sc.alive, "the sidecar recovered without a restart");
    } finally {
      for (const p of procs) await p.stop();
      await prom.dispose();
      await dirs.cleanup();
    }
  },
);

e2eTest(
  "a Prometheus without external labels makes the sidecar exit with a message saying how to set them",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const dir = await dirs.make();
    const prom = new LabPrometheus({ dataDir: `${dir}/data`, externalLabels: {} });
    try {
      await prom.start();
      const http = freePort();
      const p = spawnMain(
        [
          "sidecar",
          `--prometheus.url=${prom.url}`,
          `--http-address=127.0.0.1:${http}`,
          `--grpc-address=127.0.0.1:${freePort()}`,
          `--tsdb.path=${dir}/data`,
        ],
        http,
        "sidecar",
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        p.status,
        new Promise<null>((r) => timer = setTimeout(() => r(null), 30_000)),
      ]);
      clearTimeout(timer);
      if (status === null) await p.stop();
      assert(status !== null, "the sidecar exits");
      assertEquals(status!.code, 1, p.logs());
      assert(p.logs().includes("no external labels configured"), p.logs());
      assert(p.logs().includes("external_labels"), p.logs());
    } finally {
      await prom.dispose();
      await dirs.cleanup();
    }
  },
);

e2eTest(
  "sidecar SIGKILLed mid-upload and restarted: bucket consistent, each block uploaded exactly once",
  { peers: [PROMETHEUS, PROMTOOL], missing: () => s3Missing },
  async () => {
    const dirs = new TempDirs();
    const dir = await dirs.make();
    const server = await startS3Server();
    const proxy = startFaultProxy(server.endpoint);
    let prom: LabPrometheus | undefined;
    let sc: LabProc | undefined;
    try {
      // 3 backfilled 2h blocks
      const end = Math.floor(Date.now() / 7_200_000) * 7200 - 7200;
      const lines = ["# TYPE kill_test gauge"];
      for (let t = end - 6 * 3600; t < end; t += 60) lines.push(`kill_test{a="1"} ${t % 97} ${t}`);
      lines.push("# EOF", "");
      await Deno.writeTextFile(`${dir}/in.om`, lines.join("\n"));
      await createBlocksFromOpenMetrics(`${dir}/in.om`, `${dir}/data`, { quiet: true });
      const blocks = [...Deno.readDirSync(`${dir}/data`)].map((e) => e.name).filter(isULID);
      assertEquals(blocks.length, 3);
      prom = new LabPrometheus({
        dataDir: `${dir}/data`,
        externalLabels: { region: "east" },
        extraFlags: [
          "--storage.tsdb.min-block-duration=2h",
          "--storage.tsdb.max-block-duration=2h",
        ],
      });
      await prom.start();
      await Deno.writeTextFile(`${dir}/bucket.yml`, s3ConfigYaml(proxy.endpoint));
      const args = [`--tsdb.path=${dir}/data`, `--objstore.config-file=${dir}/bucket.yml`];
      // the second block's index upload never completes
      const sorted = blocks.sort();
      proxy.fault = (req, url) =>
        req.method === "PUT" && url.pathname.endsWith(`${sorted[1]}/index`) ? "hang" : "forward";
      sc = await startSidecar(prom.url, args);
      await eventually("upload stuck on the index", () => Promise.resolve(proxy.hanging > 0));
      await sc.stop(1000, "SIGKILL");
      proxy.fault = () => "forward";
      // successful meta.json uploads, as "PUT <path>"
      const metaPuts = () =>
        proxy.requests
          .filter((r) =>
            r.method === "PUT" && r.status > 0 && r.status < 300 && r.path.endsWith("/meta.json")
          )
          .map((r) => `${r.method} ${r.path}`);
      assertEquals(metaPuts().length, 1, "only the first block was complete before the kill");

      sc = await startSidecar(prom.url, args);
      await eventually(
        "every block uploaded",
        () => Promise.resolve(metaPuts().length === 3),
        30_000,
      );
      await new Promise((r) => setTimeout(r, 2500)); // a few more shipper passes
      const puts = metaPuts().sort();
      assertEquals(
        puts,
        sorted.map((id) => `PUT /${TEST_BUCKET}/${id}/meta.json`),
        "each meta.json once",
      );
      // every block with a meta.json has all its files
      for (const id of sorted) {
        for (const f of ["chunks/000001", "index", "meta.json"]) {
          const r = await fetch(`http://${server.endpoint}/${TEST_BUCKET}/${id}/${f}`, {
            method: "HEAD",
          });
          await r.body?.cancel();
          assertEquals(r.status, 200, `${id}/${f}`);
        }
      }
      const state = JSON.parse(await Deno.readTextFile(`${dir}/data/thanos.shipper.json`));
      assertEquals(state.uploaded.sort(), sorted);
    } finally {
      await sc?.stop();
      await prom?.dispose();
      await proxy.close();
      await server.stop();
      await dirs.cleanup();
    }
  },
);

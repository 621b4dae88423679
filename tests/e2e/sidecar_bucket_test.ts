// Long-term storage through the sidecar: Prometheus (2h blocks, history backfilled with promtool)
// and a sidecar with a bucket (FILESYSTEM, S3 on a real S3 server, AZURE on Azurite). Blocks appear in the
// bucket with a correct meta.json; after Prometheus's local copy is deleted, a store gateway over
// the bucket plus the querier answer over the uploaded history exactly as Prometheus did.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { createBlocksFromOpenMetrics, PROMTOOL } from "../helpers/promtool.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { s3ConfigYaml, s3rverMissing, startS3Server } from "../helpers/s3.ts";
import { azureConfigYaml, azuriteMissing, startAzurite } from "../helpers/azurite.ts";
import { createBucket, parseBucketConfig } from "../../objstore/config.ts";
import { parseBlockMeta } from "../../tsdb/meta.ts";
import { isULID } from "../../tsdb/ulid.ts";
import {
  type ApiSeries,
  eventually,
  type LabProc,
  LabPrometheus,
  range,
  startLabQuerier,
  startSidecar,
  startStoreGateway,
} from "../helpers/sidecar_lab.ts";

const s3Missing = await s3rverMissing();
const azMissing = await azuriteMissing();

function canon(series: ApiSeries[], extra: Record<string, string> = {}): string[] {
  return series.map((s) =>
    JSON.stringify([
      Object.entries({ ...s.metric, ...extra }).sort(([a], [b]) => (a < b ? -1 : 1)),
      s.values,
    ])
  ).sort();
}

async function longTermStorage(bucketYaml: (dir: string) => Promise<string>): Promise<void> {
  const dirs = new TempDirs();
  const procs: LabProc[] = [];
  let prom: LabPrometheus | undefined;
  try {
    const dir = await dirs.make();
    // 6h of history for 4 series, ending at the last full 2h boundary before now - 2h
    const end = Math.floor(Date.now() / 7_200_000) * 7200 - 7200;
    const start = end - 6 * 3600;
    const lines = ["# TYPE lts_value gauge"];
    for (let t = start; t < end; t += 30) {
      for (const inst of ["a", "b", "c", "d"]) {
        lines.push(`lts_value{inst="${inst}"} ${(t / 30) % 101 + inst.charCodeAt(0)} ${t}`);
      }
    }
    lines.push("# EOF", "");
    await Deno.writeTextFile(`${dir}/in.om`, lines.join("\n"));
    await createBlocksFromOpenMetrics(`${dir}/in.om`, `${dir}/data`, { quiet: true });
    const local = [...Deno.readDirSync(`${dir}/data`)].map((e) => e.name).filter(isULID).sort();
    assertEquals(local.length, 3);

    prom = new LabPrometheus({
      dataDir: `${dir}/data`,
      externalLabels: { region: "east", replica: "A" },
      extraFlags: ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"],
    });
    await prom.start();
    const yaml = await bucketYaml(dir);
    await Deno.writeTextFile(`${dir}/bucket.yml`, yaml);
    const sc = await startSidecar(prom.url, [
      `--tsdb.path=${dir}/data`,
      `--objstore.config-file=${dir}/bucket.yml`,
    ]);
    procs.push(sc);

    const bucket = await createBucket(parseBucketConfig(yaml));
    try {
      await eventually("all blocks in the bucket", async () => {
        for (const id of local) if (!(await bucket.exists(`${id}/meta.json`))) return false;
        return true;
      }, 30_000);
      for (const id of local) {
        const m = parseBlockMeta(
          new TextDecoder().decode(await bucket.get(`${id}/meta.json`)),
          `${id}/meta.json`,
        );
        assertEquals(m.ulid, id);
        assertEquals(m.thanos!.labels, { region: "east", replica: "A" });
        assertEquals(m.thanos!.source, "sidecar");
        assertEquals(m.thanos!.downsample.resolution, 0);
        assertEquals(m.thanos!.files!.map((f) => f.rel_path), [
          "chunks/000001",
          "index",
          "meta.json",
        ]);
        const idx = await bucket.attributes(`${id}/index`);
        assertEquals(m.thanos!.files![1].size_bytes, idx.size);
        assertEquals(m.compaction.level, 1);
      }
    } finally {
      await bucket.close();
    }
    const metrics = await (await fetch(`${sc.http}/metrics`)).text();
    assert(metrics.includes("thanos_shipper_uploads_total 3"), metrics);

    const expr = "lts_value";
    const want = canon(await range(prom.url, expr, start, end - 30, 60), {
      region: "east",
      replica: "A",
    });
    assertEquals(want.length, 4);

    // Prometheus and its local copy go away; the bucket is all that is left
    await sc.stop();
    procs.length = 0;
    await prom.dispose();
    prom = undefined;
    await Deno.remove(`${dir}/data`, { recursive: true });

    const store = await startStoreGateway(`${dir}/bucket.yml`, `${dir}/store`);
    procs.push(store);
    const q = await startLabQuerier([store.grpc]);
    procs.push(q);
    await eventually("history through the store gateway", async () => {
      const got = await range(q.http, expr, start, end - 30, 60);
      return got.length === 4;
    }, 30_000);
    assertEquals(canon(await range(q.http, expr, start, end - 30, 60)), want);
  } finally {
    for (const p of procs) await p.stop();
    await prom?.dispose();
    await dirs.cleanup();
  }
}

e2eTest(
  "long-term storage: sidecar uploads to a FILESYSTEM bucket; store gateway serves the history",
  { peers: [PROMETHEUS, PROMTOOL] },
  () =>
    longTermStorage((dir) =>
      Promise.resolve(`type: FILESYSTEM\nconfig:\n  directory: ${dir}/bucket\n`)
    ),
);

e2eTest(
  "long-term storage: sidecar uploads to S3; store gateway serves the history",
  { peers: [PROMETHEUS, PROMTOOL], missing: () => s3Missing },
  async () => {
    const server = await startS3Server();
    try {
      await longTermStorage(() => Promise.resolve(s3ConfigYaml(server.endpoint)));
    } finally {
      await server.stop();
    }
  },
);

e2eTest(
  "long-term storage: sidecar uploads to AZURE (Azurite); store gateway serves the history",
  { peers: [PROMETHEUS, PROMTOOL], missing: () => azMissing },
  async () => {
    const server = await startAzurite();
    try {
      await longTermStorage(() => Promise.resolve(azureConfigYaml(server.endpoint)));
    } finally {
      await server.stop();
    }
  },
);

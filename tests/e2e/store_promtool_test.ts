// `thanos store` run as a user runs it (`deno run main.ts store …`) over blocks that promtool
// built, in a filesystem bucket and in an S3 server: the samples it streams over gRPC equal
// what `promtool tsdb dump --match` prints, with the external labels added; label names and
// values equal the data's; a restart with a warm --data-dir reads no index-header again; SIGTERM
// stops it with exit code 0.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest, requireE2E } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import * as promtool from "../helpers/promtool.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { s3ConfigYaml, s3rverMissing, startS3Server } from "../helpers/s3.ts";
import { generateDataset, writeOpenMetricsFile } from "../../scripts/dataset.ts";
import { formatGoFloat } from "../../strconv/float.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { dropLabels, getLabel, labelsGoString, labelsToObject } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { parseMetricSelector } from "../../promql/parser.ts";
import { createBucket, parseBucketConfig } from "../../objstore/config.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import type { SeriesWithChunks } from "../../tsdb/series.ts";

const H = 3_600_000;
const START = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const END = START + 6 * H;
const EXT = { cluster: "eu1", replica: "a" };
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Selector and time range pairs checked against promtool. */
const QUERIES: { match: string; mint: number; maxt: number }[] = [
  { match: '{__name__="http_requests_total",job="api"}', mint: START, maxt: END },
  {
    match: '{__name__=~"node_.*|up",instance!="host-000:9100"}',
    mint: START + H,
    maxt: START + 3 * H + 7_000,
  },
  { match: '{job="db",method="GET",code=~"2..|5.."}', mint: START + 5 * H, maxt: END + H },
  { match: '{__name__=~"weird_values|label_escapes_total"}', mint: START, maxt: END },
  {
    match: '{__name__="http_request_duration_seconds_bucket",le="+Inf"}',
    mint: START + 119_000,
    maxt: START + 2 * H,
  },
];

interface Prepared {
  dirs: TempDirs;
  tsdbDir: string;
  blocks: string[];
}

/** Generates a data set, has promtool build blocks from it, and adds the thanos meta section. */
async function prepareBlocks(): Promise<Prepared> {
  const dirs = new TempDirs();
  const root = await dirs.make("thanos-store-e2e-");
  const tsdbDir = `${root}/tsdb`;
  const ds = generateDataset({ series: 300, start: START, end: END, stepMs: 30_000, seed: 11 });
  await writeOpenMetricsFile(ds, `${root}/data.om`);
  await promtool.createBlocksFromOpenMetrics(`${root}/data.om`, tsdbDir, { quiet: true });
  const blocks: string[] = [];
  for await (const e of Deno.readDir(tsdbDir)) {
    if (!e.isDirectory || !/^[0-9A-Z]{26}$/.test(e.name)) continue;
    blocks.push(e.name);
    const path = `${tsdbDir}/${e.name}/meta.json`;
    const meta = JSON.parse(await Deno.readTextFile(path));
    meta.thanos = { labels: EXT, downsample: { resolution: 0 }, source: "test" };
    await Deno.writeTextFile(path, JSON.stringify(meta, null, "\t") + "\n");
  }
  assert(blocks.length >= 3, `promtool made ${blocks.length} blocks`);
  return { dirs, tsdbDir, blocks: blocks.sort() };
}

/** Uploads the blocks like Thanos: chunks, index, then meta.json. */
async function uploadBlocks(bucket: Bucket, p: Prepared): Promise<void> {
  for (const id of p.blocks) {
    const dir = `${p.tsdbDir}/${id}`;
    for await (const c of Deno.readDir(`${dir}/chunks`)) {
      await bucket.upload(`${id}/chunks/${c.name}`, await Deno.readFile(`${dir}/chunks/${c.name}`));
    }
    await bucket.upload(`${id}/index`, await Deno.readFile(`${dir}/index`));
    await bucket.upload(`${id}/meta.json`, await Deno.readFile(`${dir}/meta.json`));
  }
}

interface StoreProcess {
  grpc: string;
  http: string;
  stderr: () => string;
  stop(): Promise<number>;
}

/** Starts `deno run -A main.ts store …` and waits until /-/ready answers 200 (≤ 90 s). */
async function startStore(configFile: string, dataDir: string): Promise<StoreProcess> {
  const grpcPort = freePort();
  const httpPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "store",
      `--objstore.config-file=${configFile}`,
      `--data-dir=${dataDir}`,
      `--grpc-address=127.0.0.1:${grpcPort}`,
      `--http-address=127.0.0.1:${httpPort}`,
      "--grpc-grace-period=5s",
      "--http-grace-period=5s",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const drain = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (err += t) }),
  ).catch(() => undefined);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const proc: StoreProcess = {
    grpc: `127.0.0.1:${grpcPort}`,
    http: `http://127.0.0.1:${httpPort}`,
    stderr: () => err,
    stop: async () => {
      if (!exited) child.kill("SIGTERM");
      const killer = setTimeout(() => {
        if (!exited) child.kill("SIGKILL");
      }, 20_000);
      const s = await status;
      clearTimeout(killer);
      await drain;
      return s.code;
    },
  };
  const deadline = Date.now() + 90_000;
  for (let i = 0; i < 900 && Date.now() < deadline; i++) {
    if (exited) break;
    try {
      const res = await fetch(`${proc.http}/-/ready`);
      await res.body?.cancel();
      if (res.status === 200) return proc;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await proc.stop();
  throw new Error(`store did not become ready:\n${err.slice(-3000)}`);
}

async function metricValue(http: string, line: string): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const m = text.split("\n").find((l) => l.startsWith(line + " "));
  return m ? Number(m.slice(line.length + 1)) : 0;
}

/** Our samples in promtool's dump format, with the external labels removed (after checking them). */
function dumpLines(series: SeriesWithChunks[], mint: number, maxt: number): string[] {
  const out: string[] = [];
  for (const s of series) {
    for (const [k, v] of Object.entries(EXT)) assertEquals(getLabel(s.labels, k), v);
    const ls = labelsGoString(dropLabels(s.labels, Object.keys(EXT)));
    for (const c of s.chunks) {
      const { ts, vs } = decodeXorSamples(c.data);
      for (let i = 0; i < ts.length; i++) {
        if (ts[i] >= mint && ts[i] <= maxt) out.push(`${ls} ${formatGoFloat(vs[i])} ${ts[i]}`);
      }
    }
  }
  return out;
}

async function collect(it: AsyncIterable<unknown>): Promise<SeriesWithChunks[]> {
  const out: SeriesWithChunks[] = [];
  for await (const s of it) {
    if (!(s as { warning?: string }).warning) out.push(s as SeriesWithChunks);
  }
  return out;
}

/** Checks every query and the label APIs against promtool over the same blocks. */
async function compareWithPromtool(p: Prepared, store: StoreProcess): Promise<void> {
  const client = new StoreClient(store.grpc);
  try {
    for (const q of QUERIES) {
      const want =
        (await promtool.dump(p.tsdbDir, { match: q.match, minTime: q.mint, maxTime: q.maxt }))
          .split("\n").filter((l) => l !== "");
      const got = dumpLines(
        await collect(client.series({
          minTime: q.mint,
          maxTime: q.maxt,
          matchers: parseMetricSelector(q.match),
        })),
        q.mint,
        q.maxt,
      );
      assert(want.length > 0, `promtool selects samples for ${q.match}`);
      assertEquals(got.sort(), want.sort(), q.match);
    }
    // matchers on external labels: matching ones are dropped, contradicting ones select nothing
    const up = await collect(client.series({
      minTime: START,
      maxTime: END,
      matchers: [
        new Matcher(MatchType.Equal, "cluster", "eu1"),
        new Matcher(MatchType.Equal, "__name__", "up"),
      ],
    }));
    assert(up.length > 0);
    const none = await collect(client.series({
      minTime: START,
      maxTime: END,
      matchers: [
        new Matcher(MatchType.Equal, "cluster", "us1"),
        new Matcher(MatchType.Equal, "__name__", "up"),
      ],
    }));
    assertEquals(none.length, 0);

    // label names and values: those of the data (promtool's full dump) plus external labels
    const all = (await promtool.dump(p.tsdbDir)).split("\n").filter((l) => l !== "");
    const names = new Set<string>(Object.keys(EXT));
    const jobs = new Set<string>();
    const metricNames = new Set<string>();
    for (const line of all) {
      const sel = line.slice(0, line.lastIndexOf("}") + 1);
      const ls = labelsToObject(
        parseMetricSelector(sel).flatMap((m) => [m.name, m.value]),
      );
      for (const k of Object.keys(ls)) names.add(k);
      if (ls.job) jobs.add(ls.job);
      metricNames.add(ls.__name__);
    }
    const ln = await client.labelNames({ start: START, end: END, matchers: [] });
    assertEquals(ln.names, [...names].sort());
    const lv = await client.labelValues({
      label: "__name__",
      start: START,
      end: END,
      matchers: [],
    });
    assertEquals(lv.values, [...metricNames].sort());
    const lj = await client.labelValues({ label: "job", start: START, end: END, matchers: [] });
    assertEquals(lj.values, [...jobs].sort());
    const lc = await client.labelValues({ label: "cluster", start: START, end: END, matchers: [] });
    assertEquals(lc.values, ["eu1"]);
    const info = await client.info();
    assertEquals(info.componentType, "store");
    assertEquals(info.labelSets.map(labelsToObject), [EXT]);
  } finally {
    client.close();
  }
}

/** The whole scenario over one bucket config. */
async function scenario(p: Prepared, configFile: string, dataDir: string): Promise<void> {
  let store = await startStore(configFile, dataDir);
  try {
    await compareWithPromtool(p, store);
    const built = await metricValue(
      store.http,
      'thanos_bucket_store_index_header_opens_total{origin="built"}',
    );
    assertEquals(built, p.blocks.length);
    assertEquals(await store.stop(), 0, `exit code after SIGTERM\n${store.stderr().slice(-2000)}`);

    store = await startStore(configFile, dataDir);
    const client = new StoreClient(store.grpc);
    try {
      const got = await collect(client.series({
        minTime: START,
        maxTime: END,
        matchers: parseMetricSelector('{__name__="up",job="api"}'),
      }));
      assert(got.length > 0);
    } finally {
      client.close();
    }
    assertEquals(
      await metricValue(
        store.http,
        'thanos_bucket_store_data_fetched_bytes_total{data_type="index-header"}',
      ),
      0,
      "warm restart reads no index-header bytes",
    );
    assertEquals(
      await metricValue(store.http, 'thanos_bucket_store_index_header_opens_total{origin="disk"}'),
      p.blocks.length,
    );
  } finally {
    const code = await store.stop();
    assertEquals(code, 0, store.stderr().slice(-2000));
  }
}

e2eTest("thanos store over a filesystem bucket serves promtool's blocks like promtool dumps them", {
  peers: [promtool.PROMTOOL],
}, async () => {
  const p = await prepareBlocks();
  try {
    const root = await p.dirs.make("thanos-store-fs-");
    const cfgText = `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`;
    await Deno.mkdir(`${root}/bucket`);
    const bucket = await createBucket(parseBucketConfig(cfgText));
    await uploadBlocks(bucket, p);
    await bucket.close();
    await Deno.writeTextFile(`${root}/bucket.yml`, cfgText);
    await scenario(p, `${root}/bucket.yml`, `${root}/data`);
  } finally {
    await p.dirs.cleanup();
  }
});

// ---- S3 (s3rver in a child process)

const s3Missing = await s3rverMissing();
if (s3Missing && requireE2E()) console.warn(s3Missing);

e2eTest("thanos store over an S3 bucket serves promtool's blocks like promtool dumps them", {
  peers: [promtool.PROMTOOL],
  missing: () => s3Missing,
}, async () => {
  const p = await prepareBlocks();
  const root = await p.dirs.make("thanos-store-s3-");
  const server = await startS3Server().catch(async (e) => {
    await p.dirs.cleanup();
    throw e;
  });
  try {
    const cfgText = s3ConfigYaml(server.endpoint);
    const bucket = await createBucket(parseBucketConfig(cfgText));
    await uploadBlocks(bucket, p);
    await bucket.close();
    await Deno.writeTextFile(`${root}/bucket.yml`, cfgText);
    await scenario(p, `${root}/bucket.yml`, `${root}/data`);
  } finally {
    await server.stop();
    await p.dirs.cleanup();
  }
});

Deno.test({
  name: "thanos store with an unreachable bucket is healthy but not ready, and stops with 0",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    try {
      const root = await dirs.make("thanos-store-down-");
      await Deno.writeTextFile(
        `${root}/bucket.yml`,
        `type: S3\nconfig:\n  bucket: x\n  endpoint: 127.0.0.1:${freePort()}\n  insecure: true\n` +
          "  access_key: a\n  secret_key: b\n",
      );
      const grpcPort = freePort();
      const httpPort = freePort();
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "store",
          `--objstore.config-file=${root}/bucket.yml`,
          `--data-dir=${root}/data`,
          `--grpc-address=127.0.0.1:${grpcPort}`,
          `--http-address=127.0.0.1:${httpPort}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      try {
        let healthy = 0;
        for (let i = 0; i < 300 && healthy !== 200; i++) {
          try {
            const r = await fetch(`http://127.0.0.1:${httpPort}/-/healthy`);
            await r.body?.cancel();
            healthy = r.status;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        assertEquals(healthy, 200);
        const ready = await fetch(`http://127.0.0.1:${httpPort}/-/ready`);
        assertEquals(ready.status, 503, await ready.text());
      } finally {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        const st = await child.status;
        clearTimeout(timer);
        const err = await stderr;
        assertEquals(st.code, 0, err.slice(-2000));
      }
    } finally {
      await dirs.cleanup();
    }
  },
});

// Out-of-order ingestion in `thanos receive` end to end (issue 18): remote-write requests mixing
// in-order samples with older ones inside `--tsdb.out-of-order.time-window` are acknowledged;
// a sample older than the window and a changed newest sample are refused with 409; the
// receiver's StoreAPI answers every acknowledged sample in timestamp order, also after a
// SIGKILL (the WBL is replayed); the shipped blocks — in-order and out-of-order ones — hold each
// acknowledged sample exactly once, as promtool 2.42 dumps and analyzes them.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { analyze, dump } from "../helpers/promtool.ts";
import { postSeries, type ReceiveCluster, series, startReceivers } from "../helpers/receive_lab.ts";
import { eventually } from "../helpers/sidecar_lab.ts";
import { copyDir, TempDirs } from "../helpers/tmp.ts";
import { fsConfig, runCompactor, servedBlocks } from "../helpers/compact_bucket.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { getLabel } from "../../tsdb/labels.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { type BlockMeta, parseBlockMeta } from "../../tsdb/meta.ts";
import { isULID } from "../../tsdb/ulid.ts";

const M = 60_000;
const T0 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const WINDOW = 20 * M;
const SERIES = 3;

/** Acknowledged samples per series index: t → v. */
type Acked = Map<number, number>[];

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** Samples of every `ooo_probe` series through the StoreAPI (overlapping chunks must agree). */
async function queryStore(grpc: string): Promise<Map<number, number>[]> {
  const out: Map<number, number>[] = Array.from({ length: SERIES }, () => new Map());
  const client = new StoreClient(grpc);
  try {
    for await (
      const it of client.series({
        minTime: T0 - 2 * 60 * M,
        maxTime: T0 + 6 * 60 * M,
        matchers: [new Matcher(MatchType.Equal, "__name__", "ooo_probe")],
      })
    ) {
      if ("warning" in it) throw new Error(`warning: ${it.warning}`);
      const s = Number(getLabel(it.labels, "s"));
      for (const c of it.chunks) {
        const { ts, vs } = decodeXorSamples(c.data);
        for (let i = 0; i < ts.length; i++) {
          const prev = out[s].get(ts[i]);
          assert(prev === undefined || prev === vs[i], `s=${s} t=${ts[i]}: ${prev} and ${vs[i]}`);
          out[s].set(ts[i], vs[i]);
        }
      }
    }
  } finally {
    client.close();
  }
  return out;
}

function assertSame(got: Map<number, number>[], want: Acked, what: string): void {
  for (let s = 0; s < SERIES; s++) {
    const g = [...got[s]].sort((a, b) => a[0] - b[0]);
    const w = [...want[s]].sort((a, b) => a[0] - b[0]);
    assertEquals(g.length, w.length, `${what}: number of samples of s=${s}`);
    assertEquals(g, w, `${what}: samples of s=${s}`);
  }
}

/** Block metas in a bucket directory (complete uploads only). */
async function bucketMetas(dir: string): Promise<BlockMeta[]> {
  const out: BlockMeta[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!isULID(e.name)) continue;
      try {
        out.push(parseBlockMeta(await Deno.readTextFile(`${dir}/${e.name}/meta.json`), e.name));
      } catch { /* upload in progress */ }
    }
  } catch { /* no bucket dir yet */ }
  return out;
}

/**
 * Dumps each block of `metas` alone with promtool (after `promtool tsdb analyze`) and checks
 * that every acknowledged sample `want(s, t)` selects is in exactly one of them, and nothing else.
 */
async function assertEachSampleOnce(
  metas: BlockMeta[],
  bucketDir: string,
  scratch: string,
  acked: Acked,
  want: (s: number, t: number) => boolean,
  what: string,
): Promise<void> {
  const seen = new Map<string, number>();
  for (const m of metas) {
    await analyze(`${bucketDir}/${m.ulid}`);
    const one = `${scratch}/${m.ulid}-data`;
    await copyDir(`${bucketDir}/${m.ulid}`, `${one}/${m.ulid}`); // promtool skips symlinks
    for (const line of (await dump(one)).split("\n")) {
      const x = line.match(/s="(\d+)"\} (\S+) (\d+)$/);
      if (!x) continue;
      const key = `${x[1]}/${x[3]}=${Number(x[2])}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  }
  let expected = 0;
  for (let s = 0; s < SERIES; s++) {
    for (const [t, val] of acked[s]) {
      if (!want(s, t)) continue; // still in the head
      assertEquals(seen.get(`${s}/${t}=${val}`), 1, `${what}: s=${s} t=${t} in exactly one block`);
      expected++;
    }
  }
  assertEquals(seen.size, expected, `${what}: the blocks hold no sample that was not acknowledged`);
  assert(expected > 0);
}

e2eTest(
  "receive: out-of-order samples within the window are acknowledged, queried, survive SIGKILL and are shipped once in blocks",
  { peers: ["promtool"] },
  async () => {
    const dirs = new TempDirs();
    let cluster: ReceiveCluster | undefined;
    try {
      const bucketDir = `${await dirs.make()}/bucket`;
      const bucketFile = `${bucketDir}.yml`;
      await Deno.writeTextFile(
        bucketFile,
        `type: FILESYSTEM\nconfig:\n  directory: ${bucketDir}\n`,
      );
      cluster = await startReceivers(dirs, {
        n: 1,
        replicationFactor: 1,
        extraFlags: [
          `--objstore.config-file=${bucketFile}`,
          "--tsdb.min-block-duration=30m",
          "--tsdb.max-block-duration=30m",
          "--tsdb.out-of-order.time-window=20m",
          "--tsdb.out-of-order.cap-max=8",
        ],
      });
      const node = cluster.nodes[0];
      const acked: Acked = Array.from({ length: SERIES }, () => new Map());
      const oooTimes = new Set<string>();
      const rand = rng(18);
      let v = 0;
      let headMax = -Infinity;
      let maxOoo = -Infinity;
      // 24 requests of 5 minutes each: in-order samples every 15 s, then out-of-order ones
      for (let k = 0; k < 24; k++) {
        const start = T0 + k * 5 * M;
        const req = [];
        const pending: [number, number, number][] = [];
        for (let s = 0; s < SERIES; s++) {
          const samples: [number, number][] = [];
          for (let t = start; t < start + 5 * M; t += 15_000) samples.push([t, ++v]);
          const newest = start + 5 * M - 15_000;
          for (let j = 0; k > 0 && j < 4; j++) {
            // behind the newest sample of this request, and within the window of the head's max
            let t = Math.max(headMax, newest) - 1 - Math.floor(rand() * (WINDOW - 2));
            if (t % 15_000 === 0) t += 7;
            if (t < T0 || t >= start || oooTimes.has(`${s}/${t}`)) continue;
            oooTimes.add(`${s}/${t}`);
            samples.push([t, ++v]);
            if (t > maxOoo) maxOoo = t;
          }
          for (const [t, val] of samples) pending.push([s, t, val]);
          req.push(series({ __name__: "ooo_probe", s: String(s) }, samples));
        }
        const r = await postSeries(node.writeUrl, req);
        assertEquals(r.status, 200, `request ${k}: ${r.body}`);
        for (const [s, t, val] of pending) acked[s].set(t, val);
        headMax = start + 5 * M - 15_000;
      }
      assert(oooTimes.size > 100, `out-of-order samples written: ${oooTimes.size}`);

      // older than the window: refused as Prometheus's "too old sample", 409 like other conflicts
      const old = await postSeries(node.writeUrl, [
        series({ __name__: "ooo_probe", s: "0" }, [[headMax - WINDOW - 1, 1]]),
      ]);
      assertEquals(old.status, 409, old.body);
      assert(old.body.includes("too old sample"), old.body);
      // a new value for the newest in-order timestamp: duplicate, 409
      const dup = await postSeries(node.writeUrl, [
        series({ __name__: "ooo_probe", s: "0" }, [[headMax, -1]]),
      ]);
      assertEquals(dup.status, 409, dup.body);
      assert(dup.body.includes("duplicate sample for timestamp"), dup.body);

      assertSame(await queryStore(node.grpc), acked, "before the kill");
      await cluster.kill(0);
      await cluster.restart(0);
      assertSame(await queryStore(node.grpc), acked, "after SIGKILL and restart");

      // in-order samples one more hour: the head is cut into blocks, the out-of-order samples
      // go into out-of-order blocks, everything is shipped
      const req = [];
      for (let s = 0; s < SERIES; s++) {
        const samples: [number, number][] = [];
        for (let t = headMax + 15_000; t <= headMax + 60 * M; t += 15_000) samples.push([t, ++v]);
        for (const [t, val] of samples) acked[s].set(t, val);
        req.push(series({ __name__: "ooo_probe", s: String(s) }, samples));
      }
      const r = await postSeries(node.writeUrl, req);
      assertEquals(r.status, 200, r.body);

      const tenantDir = `${node.dataDir}/default-tenant`;
      let metas: BlockMeta[] = [];
      await eventually(
        "every local block shipped, out-of-order ones past the last such sample",
        async () => {
          metas = await bucketMetas(bucketDir);
          const local = [...Deno.readDirSync(tenantDir)].filter((e) => isULID(e.name)).map((e) =>
            e.name
          );
          const shipped = new Set(metas.map((m) => m.ulid));
          const ooo = metas.filter((m) => m.compaction.hints?.includes("from-out-of-order"));
          return local.length > 0 && local.every((id) => shipped.has(id)) &&
            ooo.some((m) => m.maxTime > maxOoo);
        },
        120_000,
      );
      for (const m of metas) {
        assertEquals(m.thanos?.source, "receive");
        assertEquals(m.compaction.level, 1);
      }
      const inOrderEnd = Math.max(
        ...metas.filter((m) => !m.compaction.hints?.includes("from-out-of-order")).map((m) =>
          m.maxTime
        ),
      );
      assert(inOrderEnd > maxOoo, "in-order blocks cover the out-of-order samples' range");

      // promtool reads each block alone: every acknowledged sample below the last in-order
      // block's end (and every out-of-order one) is in exactly one block
      const inBlocks = (s: number, t: number) => t < inOrderEnd || oooTimes.has(`${s}/${t}`);
      await assertEachSampleOnce(metas, bucketDir, await dirs.make(), acked, inBlocks, "shipped");

      // Thanos's compactor with vertical compaction merges the overlapping blocks: the blocks it
      // serves afterwards do not overlap and still hold each sample once
      await cluster.stop();
      cluster = undefined;
      const run = await runCompactor(fsConfig(bucketDir), await dirs.make(), [
        "--compact.enable-vertical-compaction",
      ]);
      assertEquals(run.code, 0, run.logs.slice(-3000));
      const served = [...(await servedBlocks(new FilesystemBucket(bucketDir))).values()].sort((
        x,
        y,
      ) => x.minTime - y.minTime);
      for (let i = 1; i < served.length; i++) {
        assert(served[i].minTime >= served[i - 1].maxTime, "served blocks overlap");
      }
      assert(served.length < metas.length, "the compactor merged blocks");
      await assertEachSampleOnce(
        served,
        bucketDir,
        await dirs.make(),
        acked,
        inBlocks,
        "compacted",
      );
      console.log(
        `receive out-of-order: ${oooTimes.size} out-of-order samples acknowledged, ` +
          `${metas.length} blocks shipped (${
            metas.filter((m) => m.compaction.hints?.includes("from-out-of-order")).length
          } out-of-order), ${served.length} after vertical compaction`,
      );
    } finally {
      await cluster?.stop();
      await dirs.cleanup();
    }
  },
);

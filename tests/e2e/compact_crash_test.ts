// Crash safety of `thanos compact` (issue 15, must-show 4): the compactor is SIGKILLed at random
// moments while it compacts, downsamples, applies retention and cleans up, against a FILESYSTEM
// bucket and against S3 (npm s3rver), and restarted each time with the same data directory, while
// "sidecars" keep uploading 2h blocks between restarts. After a final uninterrupted run the bucket
// must be consistent:
// - every block a reader sees (Thanos's meta filters: partial uploads, deletion marks, duplicates)
//   is complete: every file meta.json lists is there with its size, the index and chunks read;
// - within a group and resolution no two served blocks overlap (no duplicates of the same data);
// - no lost or duplicated samples: per group, the dump (tsdb/promtool.ts, promtool's format) of
//   the served raw blocks equals the dump of the uploaded source blocks, and their sample counts
//   add up to the sources';
// - the 2d blocks got their 5m downsampled copy; the group under retention is gone;
// - every other object belongs to a partial upload (no meta.json), which readers ignore;
// - `tools bucket verify`'s checks (compact/verify.ts) find no issue.
// The kill count per backend is COMPACT_CRASH_KILLS (default 20, about 20 s per backend); longer
// runs: `COMPACT_CRASH_KILLS=100 deno test -A tests/e2e/compact_crash_test.ts`.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  fsConfig,
  runCompactor,
  servedBlocks,
  spawnCompactor,
  uploadSeriesBlocks,
} from "../helpers/compact_bucket.ts";
import { s3ConfigYaml, s3TestGate, startS3Server } from "../helpers/s3.ts";
import { getJSON, startQuerier } from "../helpers/query_e2e.ts";
import { startComponent } from "../helpers/thanos.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { createBucket, parseBucketConfig } from "../../objstore/config.ts";
import type { Bucket } from "../../objstore/bucket.ts";
import { FilesystemBucket } from "../../objstore/filesystem.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { downloadBlock } from "../../block/download.ts";
import type { BlockMeta } from "../../tsdb/meta.ts";
import { tsdbDump } from "../../tsdb/promtool.ts";
import { Block } from "../../tsdb/block.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import { VERIFY_ISSUES, verifyBucket } from "../../compact/verify.ts";
import type { RawSeries } from "../../tsdb/block_writer.ts";

const H = 3600_000;
const DAY = 24 * H;
/** A multiple of 2d: blocks 0–23 of a group fill one 2d range. */
const T0 = 1_699_920_000_000 - (1_699_920_000_000 % (2 * DAY));
const GROUPS = ["a", "b"];

/** Outcome of {@link crashRun}. */
export interface CrashRunResult {
  kills: number;
  /** Kills per step (the last log message before the kill). */
  steps: Map<string, number>;
  finishedRuns: number;
  partialLeftovers: number;
  servedBlocks: number;
  seconds: number;
}

/** A deterministic PRNG (mulberry32) so a failing kill schedule can be replayed by seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function dumpText(dir: string): Promise<string> {
  let out = "";
  await tsdbDump(dir, { minTime: -Infinity, maxTime: Infinity, matchers: [] }, (s) => {
    out += s;
  });
  return out;
}

/** Outcome of {@link killRandomly}. */
interface KillLoopResult {
  killed: number;
  finished: number;
  /** Kills per step (the last log message before the kill). */
  steps: Map<string, number>;
}

/**
 * Starts the compactor again and again, SIGKILLing it `kills` times at a random moment after it
 * started working (bounded: 6 × kills attempts); `between(attempt)` runs after each attempt.
 */
async function killRandomly(
  objstoreConfig: string,
  dataDir: string,
  flags: string[],
  kills: number,
  random: () => number,
  between: (attempt: number) => Promise<void>,
): Promise<KillLoopResult> {
  let killed = 0;
  let finished = 0;
  const steps = new Map<string, number>();
  // the work phase of the last uninterrupted run bounds the random kill delay
  let workMs = 1500;
  for (let attempt = 0; killed < kills && attempt < kills * 6; attempt++) {
    const p = spawnCompactor(objstoreConfig, dataDir, flags);
    // wait (bounded) until it starts working, then kill it after a random delay
    const startBy = Date.now() + 30_000;
    while (p.alive && Date.now() < startBy && !p.logs().includes("start sync of metas")) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const workStart = Date.now();
    const delay = Math.floor(random() * workMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      p.status.then(() => "exited" as const),
      new Promise<"kill">((r) => timer = setTimeout(() => r("kill"), delay)),
    ]);
    clearTimeout(timer);
    const stopped = p.logs().includes('msg="compactor stopped"');
    if (outcome === "kill" && p.alive && !stopped) {
      // the step it was in: its last log message
      const msgs = [...p.logs().matchAll(/msg="([^"]*)"/g)];
      const step = msgs.length > 0 ? msgs[msgs.length - 1][1] : "(starting)";
      await p.stop(0, "SIGKILL");
      killed++;
      steps.set(step, (steps.get(step) ?? 0) + 1);
      // killed before it got past the meta sync (slow on S3): aim later next time
      if (step.startsWith("start sync")) workMs = Math.min(workMs * 1.5, 20_000);
    } else {
      const st = await p.status;
      assertEquals(st.code, 0, p.logs().slice(-3000));
      finished++;
      // it finished before the kill: aim inside a run as long as this one (runs get shorter
      // once the bucket is compacted, and a fast machine finishes them sooner)
      workMs = Math.max(50, Math.floor((Date.now() - workStart) * 0.8));
    }
    await between(attempt);
  }
  return { killed, finished, steps };
}

/**
 * Uploads blocks progressively, kills the compactor `kills` times at random moments after it
 * started working, runs it once more to completion, and checks the bucket (throws on a defect).
 */
export async function crashRun(
  dirs: TempDirs,
  objstoreConfig: string,
  kills: number,
  seed: number,
): Promise<CrashRunResult> {
  const began = performance.now();
  const random = rng(seed);
  const bucket: Bucket = await createBucket(parseBucketConfig(objstoreConfig));
  try {
    // sources: two groups of 26 2h blocks (one 2d range + 2 blocks) and an old group that
    // retention deletes
    const ds = generateDataset({
      series: 20,
      start: T0,
      end: T0 + 52 * H,
      stepMs: 300_000,
      seed: 7,
      specialValues: false,
    });
    const series: RawSeries[] = ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs }));
    const scratch = new FilesystemBucket(await dirs.make());
    const srcDirs = new Map<string, string>();
    const pending: { dir: string; meta: BlockMeta }[][] = [];
    for (const g of GROUPS) {
      const dir = await dirs.make();
      srcDirs.set(g, dir);
      const metas = await uploadSeriesBlocks(scratch, dir, series, { cluster: g });
      assertEquals(metas.length, 26);
      metas.forEach((meta, i) => (pending[i] ??= []).push({ dir, meta }));
    }
    const oldStart = T0 - 60 * DAY;
    const old = generateDataset({
      series: 5,
      start: oldStart,
      end: oldStart + 6 * H,
      stepMs: 300_000,
      seed: 8,
      specialValues: false,
    });
    const oldDir = await dirs.make();
    const oldMetas = await uploadSeriesBlocks(
      bucket,
      oldDir,
      old.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs })),
      { cluster: "old" },
    );
    // raw retention: everything that ended before T0 − 20d (only the old group)
    const keepHours = Math.floor((Date.now() - (T0 - 20 * DAY)) / H);
    const flags = [
      "--downsampling.disable=false",
      `--retention.resolution-raw=${keepHours}h`,
      "--log.level=info",
    ];
    let next = 0;
    const uploadNext = async (n: number) => {
      for (let i = 0; i < n && next < pending.length; i++, next++) {
        for (const { dir, meta } of pending[next]) await uploadBlock(bucket, `${dir}/${meta.ulid}`);
      }
    };
    await uploadNext(8);

    const dataDir = await dirs.make();
    const uploadEvery = Math.max(1, Math.floor(kills / (pending.length - 8)));
    const { killed, finished, steps } = await killRandomly(
      objstoreConfig,
      dataDir,
      flags,
      kills,
      random,
      async (attempt) => {
        // the sidecars upload a block now and then: spread over the kills, so there is work
        // to interrupt until the end
        if (attempt % uploadEvery === 0) await uploadNext(1);
      },
    );
    assert(killed >= kills, `only ${killed} kills in ${kills * 6} attempts`);
    await uploadNext(pending.length);

    const final = await runCompactor(objstoreConfig, dataDir, flags);
    assertEquals(final.code, 0, final.logs.slice(-3000));

    // --- the bucket after the final run
    const served = [...(await servedBlocks(bucket)).values()];
    const objects = new Map<string, Map<string, number>>();
    for await (const n of bucket.iter("", { recursive: true })) {
      const [id, ...rest] = n.split("/");
      let m = objects.get(id);
      if (!m) objects.set(id, m = new Map());
      m.set(rest.join("/"), (await bucket.attributes(n)).size);
    }
    // complete: every listed file present with its size, index and chunks readable
    const local = await dirs.make();
    for (const m of served) {
      const files = objects.get(m.ulid)!;
      assert(files.has("meta.json") && files.has("index"), `${m.ulid} incomplete`);
      for (const f of m.thanos?.files ?? []) {
        if (f.rel_path === "meta.json") continue;
        assertEquals(files.get(f.rel_path), f.size_bytes, `${m.ulid}/${f.rel_path}`);
      }
      await downloadBlock(bucket, m.ulid, `${local}/${m.ulid}`, { meta: m });
      const b = await Block.open(`${local}/${m.ulid}`);
      await b.close();
    }
    // no overlaps within a group and resolution
    const byGroup = new Map<string, BlockMeta[]>();
    for (const m of served) {
      const k = `${m.thanos?.labels.cluster}/${m.thanos?.downsample.resolution}`;
      byGroup.set(k, [...(byGroup.get(k) ?? []), m].sort((x, y) => x.minTime - y.minTime));
    }
    for (const [k, ms] of byGroup) {
      for (let i = 1; i < ms.length; i++) {
        assert(
          ms[i].minTime >= ms[i - 1].maxTime,
          `${k}: ${ms[i - 1].ulid} overlaps ${ms[i].ulid}`,
        );
      }
    }
    // no lost or duplicated samples; 5m copies of the 2d blocks
    for (const g of GROUPS) {
      const raw = byGroup.get(`${g}/0`) ?? [];
      const dir = await dirs.make();
      for (const m of raw) await Deno.rename(`${local}/${m.ulid}`, `${dir}/${m.ulid}`);
      const want = await dumpText(srcDirs.get(g)!);
      assert(want.length > 0);
      assert((await dumpText(dir)) === want, `group ${g}: samples differ from the sources`);
      const srcSamples = pending.reduce(
        (n, ps) =>
          n +
          ps.filter((p) => p.dir === srcDirs.get(g)).reduce(
            (a, p) => a + (p.meta.stats.numSamples ?? 0),
            0,
          ),
        0,
      );
      assertEquals(raw.reduce((n, m) => n + (m.stats.numSamples ?? 0), 0), srcSamples, g);
      const big = raw.find((m) => m.maxTime - m.minTime === 2 * DAY);
      assert(big, `group ${g}: no 2d block`);
      const m5 = byGroup.get(`${g}/300000`) ?? [];
      assert(
        m5.some((m) => m.minTime === big.minTime && m.maxTime === big.maxTime),
        `group ${g}: no 5m block for ${big.ulid}`,
      );
    }
    // `tools bucket verify` finds nothing (overlaps, index health, duplicated compactions)
    const issues = await verifyBucket(bucket, { issues: VERIFY_ISSUES });
    assertEquals(issues.map((f) => `${f.issue}: ${f.message}`), []);
    // retention removed the old group entirely
    assert(!byGroup.has("old/0"), "retention left old blocks");
    for (const m of oldMetas) assert(!objects.has(m.ulid), `old block ${m.ulid} not deleted`);
    // everything else is a partial upload, which readers ignore
    const servedIds = new Set(served.map((m) => m.ulid));
    let partial = 0;
    for (const [id, files] of objects) {
      if (servedIds.has(id)) continue;
      assert(
        !files.has("meta.json"),
        `${id} has meta.json but is not served: ${[...files.keys()]}`,
      );
      partial++;
    }
    return {
      kills: killed,
      steps,
      finishedRuns: finished,
      partialLeftovers: partial,
      servedBlocks: served.length,
      seconds: (performance.now() - began) / 1000,
    };
  } finally {
    await bucket.close();
  }
}

const KILLS = Number(Deno.env.get("COMPACT_CRASH_KILLS") ?? 20);

function report(backend: string, r: CrashRunResult): void {
  console.log(
    `${backend}: ${r.kills} SIGKILLs, ${r.finishedRuns} runs finished before their kill, ` +
      `${r.servedBlocks} blocks served, ${r.partialLeftovers} partial uploads left (ignored), ` +
      `${r.seconds.toFixed(1)} s; killed after: ${
        [...r.steps].map(([k, n]) => `${n}× "${k}"`).join(", ")
      }`,
  );
}

Deno.test({
  name: "compact crash safety: SIGKILLed at random moments, FILESYSTEM bucket stays consistent",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    report("FILESYSTEM", await crashRun(dirs, fsConfig(await dirs.make()), KILLS, 1));
  },
});

Deno.test({
  name: "compact crash safety: SIGKILLed at random moments, S3 bucket stays consistent",
  ...(await s3TestGate()),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dirs = new TempDirs();
    const s3 = await startS3Server();
    try {
      report("S3", await crashRun(dirs, s3ConfigYaml(s3.endpoint), KILLS, 2));
    } finally {
      await s3.stop();
    }
  },
});

Deno.test({
  name: "compact crash safety: the store gateway serves every uploaded sample once throughout",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A store gateway (1 s syncs, deletion marks honoured after 2 s) and a querier serve the
    // bucket while "sidecars" upload 2h blocks and the compactor (deletions 6 s after marking)
    // is SIGKILLed at random moments, then runs to completion twice. The querier is asked for
    // the number of samples over and over; each answer must count every sample once: never
    // more than uploaded so far (no duplicate served), never less than was uploaded 3 s
    // before (a store sync plus slack; no sample lost), never less than the previous answer.
    await using dirs = new TempDirs();
    const bucketDir = await dirs.make();
    const cfg = fsConfig(bucketDir);
    const bucket = new FilesystemBucket(bucketDir);
    const ds = generateDataset({
      series: 20,
      start: T0,
      end: T0 + 52 * H,
      stepMs: 300_000,
      seed: 9,
      specialValues: false,
    });
    const src = await dirs.make();
    const metas = await uploadSeriesBlocks(
      new FilesystemBucket(await dirs.make()),
      src,
      ds.series.map((s) => ({ labels: s.labels, ts: s.ts, vs: s.vs })),
      { cluster: "served" },
    );
    // samples uploaded: `started` counts blocks whose upload began, `done` those finished
    let started = 0;
    const done: { at: number; samples: number }[] = [{ at: 0, samples: 0 }];
    let next = 0;
    const uploadNext = async () => {
      if (next >= metas.length) return;
      const m = metas[next++];
      started += m.stats.numSamples ?? 0;
      await uploadBlock(bucket, `${src}/${m.ulid}`);
      done.push({
        at: Date.now(),
        samples: done[done.length - 1].samples + (m.stats.numSamples ?? 0),
      });
    };
    for (let i = 0; i < 8; i++) await uploadNext();
    const store = await startComponent("store", [
      `--objstore.config=${cfg}`,
      `--data-dir=${await dirs.make()}`,
      "--sync-block-duration=1s",
      "--ignore-deletion-marks-delay=2s",
      "--consistency-delay=0s",
      "--log.level=warn",
    ]);
    const procs: { stop(): Promise<void> }[] = [store];
    try {
      const q = await startQuerier([`--store=${store.grpc}`]);
      procs.push(q);
      // every sample counted once: one count_over_time per metric name (it drops the name)
      const names = [...new Set(ds.series.map((s) => labelsToObject(s.labels).__name__))];
      const expr = names.map((n) => `sum(count_over_time(${n}[60h]))`).join(" + ");
      const url = `${q.url}/api/v1/query?query=${encodeURIComponent(expr)}&time=${
        (T0 + 52 * H) / 1000
      }`;
      const ask = async () => {
        const r = await getJSON(url);
        const v = (r.body.data as { result?: { value: [number, string] }[] } | undefined)
          ?.result?.[0]?.value?.[1];
        return r.status === 200 && v !== undefined ? Number(v) : `${r.status} ${r.text}`;
      };
      let checks = 0;
      let last = 0;
      const wrong: string[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const asked = Date.now();
          const upper = started;
          const lower = done.filter((d) => d.at <= asked - 3000).pop()!.samples;
          const v = await ask().catch((e) => String(e));
          checks++;
          if (typeof v !== "number" || v > upper || v < lower || v < last) {
            wrong.push(
              `${new Date(asked).toISOString()}: ${v} (expected ${lower}…${upper}, ` +
                `previous ${last})`,
            );
          }
          if (typeof v === "number") last = v;
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const flags = ["--delete-delay=6s", "--downsampling.disable=false", "--log.level=info"];
      const dataDir = await dirs.make();
      let res: KillLoopResult;
      try {
        res = await killRandomly(cfg, dataDir, flags, Math.min(KILLS, 10), rng(3), uploadNext);
        while (next < metas.length) await uploadNext();
        for (let i = 0; i < 2; i++) {
          const run = await runCompactor(cfg, dataDir, flags);
          assertEquals(run.code, 0, run.logs.slice(-3000));
          await new Promise((r) => setTimeout(r, 7000));
        }
      } finally {
        polling = false;
        await poller;
      }
      assert(
        wrong.length === 0,
        `${wrong.length} of ${checks} answers wrong:\n${wrong.join("\n")}`,
      );
      assertEquals(last, started, "the final answer counts every sample");
      // the work really happened: a compacted 2d block is what the store serves now
      const served = [...(await servedBlocks(bucket)).values()];
      assert(served.some((m) => m.maxTime - m.minTime === 48 * H), "no 2d block");
      console.log(
        `store gateway during ${res.killed} SIGKILLs (${
          [...res.steps].map(([k, n]) => `${n}× "${k}"`).join(", ")
        }) and the final runs: ${checks} answers, each counting every uploaded sample once`,
      );
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
});

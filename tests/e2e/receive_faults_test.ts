// Faults and long-term storage of `thanos receive`:
// - three receivers with RF=3; a writer sends 1 sample/s for a set of series (and a real
//   Prometheus remote-writes its own metrics) through receiver r0 while r2 is SIGKILLed
//   mid-ingest. Every write answered 2xx is found afterwards, queries stay complete through the
//   two others while r2 is down, and r2, started again, replays its WAL (everything it served
//   before the kill is still there) and takes new writes again;
// - receivers with 15 s blocks ship them to a FILESYSTEM bucket with Thanos's meta (labels =
//   `--label`s + tenant, source receive, level 1); a store gateway over the bucket plus the
//   receivers answer a range spanning bucket and heads without gaps or duplicates.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import {
  api,
  type ApiSeries,
  eventually,
  instant,
  type LabProc,
  startLabQuerier,
  startStoreGateway,
} from "../helpers/sidecar_lab.ts";
import {
  postSeries,
  type ReceiveCluster,
  RemoteWritingPrometheus,
  series,
  startReceivers,
} from "../helpers/receive_lab.ts";
import { parseBlockMeta } from "../../tsdb/meta.ts";
import { isULID } from "../../tsdb/ulid.ts";

/** Sends one sample per second for `names` series to `url`; records what was acknowledged. */
class Writer {
  /** Acknowledged sample timestamps (ms) per series `id`. */
  readonly acked = new Map<string, number[]>();
  readonly failures: string[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(readonly url: string, readonly metric: string, readonly ids: string[]) {
    for (const id of ids) this.acked.set(id, []);
  }

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        const t = Math.floor(Date.now() / 1000) * 1000;
        try {
          const r = await postSeries(
            this.url,
            this.ids.map((id) => series({ __name__: this.metric, id }, [[t, t / 1000]])),
          );
          if (r.status === 200) { for (const id of this.ids) this.acked.get(id)!.push(t); }
          else this.failures.push(`${r.status} ${r.body.slice(0, 200)}`);
        } catch (e) {
          this.failures.push((e as Error).message);
        }
        const next = t + 1000;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now() + 20)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Raw samples `id → [t ms]` of `metric` in [startMs, endMs] through `queryUrl`. */
async function rawTimestamps(
  queryUrl: string,
  metric: string,
  startMs: number,
  endMs: number,
): Promise<Map<string, number[]>> {
  const w = Math.ceil((endMs - startMs) / 1000) + 1;
  const r = await instant(queryUrl, `${metric}[${w}s]`, endMs / 1000);
  const out = new Map<string, number[]>();
  for (const s of r as ApiSeries[]) {
    const key = s.metric.id;
    if (out.has(key)) {
      throw new Error(`duplicate series id=${key}: ${JSON.stringify(r.map((x) => x.metric))}`);
    }
    const ts = s.values!.map(([t]) => Math.round(t * 1000)).filter((t) =>
      t >= startMs && t <= endMs
    );
    for (let i = 1; i < ts.length; i++) {
      if (ts[i] <= ts[i - 1]) throw new Error(`duplicate samples in id=${key} at ${ts[i]}`);
    }
    out.set(key, ts);
  }
  return out;
}

/** Waits until Prometheus had every sample up to `t` (s) acknowledged by the receiver. */
async function waitSentUntil(promUrl: string, t: number): Promise<void> {
  await eventually(`Prometheus to have sent everything up to ${t}`, async () => {
    const r = await instant(
      promUrl,
      "max(prometheus_remote_storage_queue_highest_sent_timestamp_seconds)",
    );
    return r.length === 1 && Number(r[0].value![1]) >= t;
  }, 30_000);
}

/** Raw samples `id → [t ms]` of `metric` over every replica (no deduplication): their union. */
async function unionTimestamps(
  queryUrl: string,
  metric: string,
  startMs: number,
  endMs: number,
): Promise<Map<string, number[]>> {
  const w = Math.ceil((endMs - startMs) / 1000) + 1;
  const d = await api<{ result: ApiSeries[] }>(queryUrl, "query", {
    query: `${metric}[${w}s]`,
    time: endMs / 1000,
    dedup: "false",
  });
  const out = new Map<string, Set<number>>();
  for (const s of d.result) {
    const set = out.get(s.metric.id) ?? new Set<number>();
    for (const [t] of s.values!) set.add(Math.round(t * 1000));
    out.set(s.metric.id, set);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
}

/** Asserts every acknowledged timestamp in [startMs, endMs] is present for every id. */
function assertHasAcked(
  got: Map<string, number[]>,
  w: Writer,
  startMs: number,
  endMs: number,
  what: string,
): number {
  let n = 0;
  for (const [id, acked] of w.acked) {
    const have = new Set(got.get(id) ?? []);
    const missing = acked.filter((t) => t >= startMs && t <= endMs && !have.has(t));
    assertEquals(missing, [], `${what}: id=${id} lost acknowledged samples`);
    n += acked.filter((t) => t >= startMs && t <= endMs).length;
  }
  return n;
}

function dumpLogs(cluster: ReceiveCluster | undefined): void {
  if (!cluster) return;
  console.error(
    cluster.nodes.map((n) => `--- ${n.name}\n${n.proc.logs().slice(-2500)}`).join("\n"),
  );
}

e2eTest(
  "receive: a receiver SIGKILLed mid-ingest with RF=3 loses nothing acknowledged and catches up",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    let cluster: ReceiveCluster | undefined;
    let prom: RemoteWritingPrometheus | undefined;
    const queriers: LabProc[] = [];
    let writer: Writer | undefined;
    try {
      cluster = await startReceivers(dirs, { n: 3, replicationFactor: 3 });
      prom = new RemoteWritingPrometheus(
        { dataDir: `${await dirs.make()}/prom`, externalLabels: {} },
        cluster.nodes[0].writeUrl,
      );
      await prom.start();
      const q = await startLabQuerier(cluster.grpcAddresses, ["--query.replica-label=replica"]);
      queriers.push(q);
      // a querier over r2 alone, to see what r2 itself holds
      const q2 = await startLabQuerier([cluster.nodes[2].grpc]);
      queriers.push(q2);

      const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
      writer = new Writer(cluster.nodes[0].writeUrl, "fault_probe", ids);
      const t0 = Date.now();
      writer.start();
      await new Promise((r) => setTimeout(r, 6000));

      // what r2 holds just before it dies
      const beforeKill = Date.now() - 1500;
      const r2Before = await rawTimestamps(q2.http, "fault_probe", t0 - 1000, beforeKill);
      assertEquals(r2Before.size, ids.length, "r2 holds every series before the kill");
      await cluster.kill(2);
      const killedAt = Date.now();
      await new Promise((r) => setTimeout(r, 6000));

      // while r2 is down: every acknowledged sample is answered through r0 and r1
      const downEnd = Date.now() - 1500;
      const during = await rawTimestamps(q.http, "fault_probe", t0 - 1000, downEnd);
      const nDuring = assertHasAcked(during, writer, t0 - 1000, downEnd, "r2 down");
      const ackedWhileDown = writer.acked.get("s0")!.filter((t) => t > killedAt).length;
      assert(ackedWhileDown >= 3, `writes kept being acknowledged while r2 was down`);

      await cluster.restart(2);
      const restartedAt = Date.now();
      // r0 and r1 retry r2 once their backoff (up to --receive-forward-max-backoff, 5s) is over:
      // keep writing until r2 has taken new samples of every series
      await eventually("r2 to take new writes after its restart", async () => {
        const m = await rawTimestamps(q2.http, "fault_probe", restartedAt, Date.now());
        return ids.every((id) => (m.get(id) ?? []).length >= 2);
      }, 30_000);
      await writer.stop();
      const end = Date.now();
      // let the forwards still running after each write's quorum finish
      await new Promise((r) => setTimeout(r, 2000));

      // r2 replayed its WAL: everything it served before the kill is still there
      await eventually("the querier over r2 to reconnect", async () => {
        const m = await rawTimestamps(q2.http, "fault_probe", t0 - 1000, end);
        return m.size === ids.length;
      }, 20_000);
      const r2After = await rawTimestamps(q2.http, "fault_probe", t0 - 1000, end);
      for (const [id, ts] of r2Before) {
        const have = new Set(r2After.get(id) ?? []);
        const lost = ts.filter((t) => !have.has(t));
        assertEquals(lost, [], `r2 lost samples of id=${id} it had before the kill`);
      }
      // and it takes new writes again
      for (const id of ids) {
        const fresh = (r2After.get(id) ?? []).filter((t) => t > restartedAt);
        assert(fresh.length >= 2, `r2 got no new samples of id=${id} after its restart`);
      }
      // over the three: every acknowledged write of the whole run is stored (on at least one
      // receiver), and the deduplicated answer has each of them exactly once
      const union = await unionTimestamps(q.http, "fault_probe", t0 - 1000, end);
      const nAll = assertHasAcked(union, writer, t0 - 1000, end, "after restart (any replica)");
      // Deduplicated, each sample appears once. Thanos's penalty deduplication
      // (https://thanos.io/tip/components/query.md/#deduplication) skips the samples of the
      // other replicas within twice the scrape interval after it switches away from a replica
      // with a gap: r2's hole costs at most 2 samples per series right after the kill.
      const all = await rawTimestamps(q.http, "fault_probe", t0 - 1000, end);
      let skipped = 0;
      for (const [id, acked] of writer.acked) {
        const have = new Set(all.get(id) ?? []);
        const missing = acked.filter((t) => t >= t0 - 1000 && t <= end && !have.has(t));
        assert(
          missing.length <= 2 && missing.every((t) => t >= killedAt - 1000 && t <= killedAt + 3000),
          `deduplicated id=${id} misses ${missing} (kill at ${killedAt})`,
        );
        skipped += missing.length;
      }
      // Prometheus's own remote write went on through the outage: every sample of its `up`
      // that Prometheus sent before the end is stored on some receiver
      await waitSentUntil(prom.url, end / 1000);
      const w = Math.ceil((end - t0) / 1000);
      const promUp = (await instant(prom.url, `up[${w}s]`, end / 1000))[0].values!.map(([t]) =>
        Math.round(t * 1000)
      );
      const stored = await api<{ result: ApiSeries[] }>(q.http, "query", {
        query: `up[${w}s]`,
        time: end / 1000,
        dedup: "false",
      });
      const storedUp = new Set(
        stored.result.flatMap((s) => s.values!.map(([t]) => Math.round(t * 1000))),
      );
      const lostUp = promUp.filter((t) => !storedUp.has(t));
      assertEquals(lostUp, [], "samples of Prometheus's up missing on every receiver");
      console.log(
        `kill: ${nDuring} acknowledged samples all answered while r2 was down ` +
          `(${ackedWhileDown} writes acknowledged during the outage); ${nAll} acknowledged ` +
          `samples over the run all stored, ${promUp.length} samples of Prometheus's up too (${skipped} skipped by dedup penalty at the switch); r2 kept ${
            [...r2Before.values()].reduce((a, b) => a + b.length, 0)
          } samples across SIGKILL; write failures: ${writer.failures.length}`,
      );
    } catch (e) {
      dumpLogs(cluster);
      throw e;
    } finally {
      await writer?.stop();
      for (const p of queriers) await p.stop();
      await prom?.dispose();
      await cluster?.stop();
      await dirs.cleanup();
    }
  },
);

e2eTest(
  "receive: short blocks are shipped with Thanos meta; store gateway + receivers answer without gaps",
  { peers: [] },
  async () => {
    const dirs = new TempDirs();
    let cluster: ReceiveCluster | undefined;
    const procs: LabProc[] = [];
    let writer: Writer | undefined;
    try {
      const bucketDir = `${await dirs.make()}/bucket`;
      const bucketFile = `${bucketDir}.yml`;
      await Deno.writeTextFile(
        bucketFile,
        `type: FILESYSTEM\nconfig:\n  directory: ${bucketDir}\n`,
      );
      const blockMs = 15_000;
      cluster = await startReceivers(dirs, {
        n: 2,
        replicationFactor: 2,
        extraFlags: [
          `--objstore.config-file=${bucketFile}`,
          "--tsdb.min-block-duration=15s",
          "--tsdb.max-block-duration=15s",
        ],
      });
      const ids = Array.from({ length: 10 }, (_, i) => `b${i}`);
      writer = new Writer(cluster.nodes[0].writeUrl, "block_probe", ids);
      const t0 = Date.now();
      writer.start();

      // at least one block per receiver in the bucket
      const metas = async () => {
        const out = [];
        try {
          for (const e of Deno.readDirSync(bucketDir)) {
            if (!isULID(e.name)) continue;
            try {
              const text = await Deno.readTextFile(`${bucketDir}/${e.name}/meta.json`);
              out.push(parseBlockMeta(text, `${e.name}/meta.json`));
            } catch { /* not complete yet */ }
          }
        } catch { /* no bucket dir yet */ }
        return out;
      };
      await eventually("blocks of both receivers in the bucket", async () => {
        const ms = await metas();
        const replicas = new Set(ms.map((m) => m.thanos?.labels?.replica));
        return replicas.has("r0") && replicas.has("r1");
      }, 60_000);
      await new Promise((r) => setTimeout(r, 3000));
      await writer.stop();
      const end = Date.now();

      const uploaded = await metas();
      let blockMax = 0;
      for (const m of uploaded) {
        assertEquals(m.thanos!.source, "receive");
        assertEquals(m.thanos!.downsample.resolution, 0);
        assertEquals(m.compaction.level, 1);
        assertEquals(m.thanos!.labels.tenant_id, "default-tenant");
        assert(["r0", "r1"].includes(m.thanos!.labels.replica), JSON.stringify(m.thanos!.labels));
        assertEquals(Object.keys(m.thanos!.labels).sort(), ["replica", "tenant_id"]);
        assertEquals(
          m.thanos!.files!.map((f) => f.rel_path),
          ["chunks/000001", "index", "meta.json"],
        );
        const idx = await Deno.stat(`${bucketDir}/${m.ulid}/index`);
        assertEquals(m.thanos!.files![1].size_bytes, idx.size);
        assert(m.maxTime - m.minTime <= blockMs, `block ${m.ulid} spans ${m.maxTime - m.minTime}`);
        blockMax = Math.max(blockMax, m.maxTime);
      }
      assert(blockMax > t0 && blockMax < end, "the range spans blocks and heads");

      const store = await startStoreGateway(bucketFile, `${await dirs.make()}/store`);
      procs.push(store);
      const qStore = await startLabQuerier([store.grpc], ["--query.replica-label=replica"]);
      procs.push(qStore);
      const q = await startLabQuerier(
        [store.grpc, ...cluster.grpcAddresses],
        ["--query.replica-label=replica"],
      );
      procs.push(q);

      // the bucket alone: exactly the acknowledged samples before the newest block's end
      const start = t0 - 1000;
      await eventually("the bucket through the store gateway", async () => {
        const m = await rawTimestamps(qStore.http, "block_probe", start, end);
        return m.size === ids.length;
      }, 30_000);
      const fromBucket = await rawTimestamps(qStore.http, "block_probe", start, end);
      for (const [id, acked] of writer.acked) {
        const want = acked.filter((t) => t < blockMax);
        const got = (fromBucket.get(id) ?? []).filter((t) => t < blockMax);
        assertEquals(got, want, `bucket copy of id=${id}`);
      }
      // bucket + receivers: every acknowledged sample exactly once, nothing else
      const both = await rawTimestamps(q.http, "block_probe", start, end);
      assertEquals(both.size, ids.length);
      let n = 0;
      for (const [id, acked] of writer.acked) {
        assertEquals(both.get(id), acked.filter((t) => t >= start && t <= end), `id=${id}`);
        n += acked.length;
      }
      console.log(
        `blocks: ${uploaded.length} blocks shipped (newest ends ${
          ((end - blockMax) / 1000).toFixed(1)
        }s before the end of the range); ${n} samples over ${
          ((end - t0) / 1000).toFixed(0)
        }s answered exactly once from bucket + heads`,
      );
    } catch (e) {
      dumpLogs(cluster);
      throw e;
    } finally {
      await writer?.stop();
      for (const p of procs) await p.stop();
      await cluster?.stop();
      await dirs.cleanup();
    }
  },
);

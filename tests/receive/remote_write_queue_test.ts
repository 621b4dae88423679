// The stateless ruler's storage against a remote write receiver in the test (decoded with
// receive/remote_write.ts): labels (external labels, write relabelling), stale markers, retries
// and drops by status, the saved WAL position and replay after a reopen, and WAL truncation into
// a checkpoint that still names the series.

import { assert, assertEquals } from "../helpers/assert.ts";
import { freePort } from "../helpers/ports.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { parseRemoteWriteConfig } from "../../promclient/endpoints_config.ts";
import { RemoteWriteStorage } from "../../receive/remote_write_queue.ts";
import { decodeWriteRequest } from "../../receive/remote_write.ts";
import { labelsFromObject, labelsToObject } from "../../tsdb/labels.ts";
import { isStaleAt } from "../../tsdb/value.ts";
import { listSegments } from "../../tsdb/wal/wal.ts";
import { lastCheckpoint } from "../../tsdb/wal/checkpoint.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

interface Got {
  labels: Record<string, string>;
  t: number;
  v: number;
  stale: boolean;
}

/** A receiver answering `status()` for each request; accepted samples land in `got`. */
function receiver(status: () => number) {
  const got: Got[] = [];
  let requests = 0;
  const port = freePort();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    requests++;
    const body = new Uint8Array(await req.arrayBuffer());
    const code = status();
    if (code !== 200) return new Response("nope", { status: code });
    assertEquals(req.headers.get("content-encoding"), "snappy");
    assertEquals(req.headers.get("x-prometheus-remote-write-version"), "0.1.0");
    for (const s of decodeWriteRequest(body).series) {
      for (let i = 0; i < s.timestamps.length; i++) {
        got.push({
          labels: labelsToObject(s.labels),
          t: s.timestamps[i],
          v: s.values[i],
          stale: isStaleAt(s.values, i),
        });
      }
    }
    return new Response(null, { status: 204 });
  });
  return { url: `http://127.0.0.1:${port}/api/v1/write`, got, requests: () => requests, server };
}

function config(url: string, extra = "") {
  return parseRemoteWriteConfig(
    `remote_write:\n- url: ${url}\n  name: t\n  queue_config:\n    batch_send_deadline: 20ms\n` +
      `    min_backoff: 5ms\n    max_backoff: 20ms\n${extra}`,
  );
}

async function until(what: string, fn: () => boolean | Promise<boolean>): Promise<void> {
  // bounded (30 s): generous for a loaded CI machine
  for (let i = 0; i < 3000; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function open(dir: string, url: string, registry = new Registry(), extra = "") {
  return RemoteWriteStorage.open(dir, {
    configs: config(url, extra),
    httpConfigs: [{}],
    externalLabels: labelsFromObject({ replica: "A", job: "ruler" }),
    walCompression: true,
    logger: quiet,
    registry,
  });
}

/**
 * Runs `s`'s senders until `stop()`: aborts them, awaits the run and closes the queue. Also its
 * `await using` disposal, so a failed assertion cannot leave a run going against a removed
 * directory (one failure would otherwise become an uncaught error in the file's later tests).
 */
function start(s: RemoteWriteStorage): AsyncDisposable & { stop(): Promise<void> } {
  const abort = new AbortController();
  const run = s.run(abort.signal);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      abort.abort();
      try {
        await run;
      } finally {
        await s.close();
      }
    })();
  return { stop, [Symbol.asyncDispose]: stop };
}

async function commit(s: RemoteWriteStorage, name: string, t: number, v: number, stale = false) {
  const app = s.appender();
  const ls = labelsFromObject({ __name__: name, job: "own" });
  if (stale) app.appendStale(ls, t);
  else app.append(ls, t, v);
  await app.commit();
}

Deno.test("remote write queue: labels, write relabelling, stale markers", async () => {
  await using tmp = new TempDirs();
  const rx = receiver(() => 200);
  const extra = "  write_relabel_configs:\n  - source_labels: [__name__]\n    regex: dropped\n" +
    "    action: drop\n";
  const s = await open(await tmp.make("d"), rx.url, new Registry(), extra);
  const stop = new AbortController();
  const running = s.run(stop.signal);
  try {
    const app = s.appender();
    app.append(labelsFromObject({ __name__: "kept", job: "own" }), 1000, 1.5);
    app.append(labelsFromObject({ __name__: "dropped" }), 1000, 2);
    app.appendStale(labelsFromObject({ __name__: "kept", job: "own" }), 2000);
    await app.commit();
    await until("two samples", () => rx.got.length >= 2);
    // the series' own job wins over the external one; replica is added
    assertEquals(rx.got.map((g) => [g.labels, g.t, g.stale]), [
      [{ __name__: "kept", job: "own", replica: "A" }, 1000, false],
      [{ __name__: "kept", job: "own", replica: "A" }, 2000, true],
    ]);
    assertEquals(rx.got[0].v, 1.5);
  } finally {
    stop.abort();
    await running;
    await s.close();
    await rx.server.shutdown();
  }
});

Deno.test("remote write queue: 5xx retried until accepted, 4xx dropped and counted", async () => {
  await using tmp = new TempDirs();
  const answers = [503, 500, 200, 400, 200];
  const rx = receiver(() => answers.shift() ?? 200);
  const registry = new Registry();
  const s = await open(await tmp.make("d"), rx.url, registry);
  const stop = new AbortController();
  const running = s.run(stop.signal);
  try {
    await commit(s, "m", 1000, 1);
    await until("first sample", () => rx.got.length === 1);
    await commit(s, "m", 2000, 2); // answered 400: dropped
    await until("the 400", () => rx.requests() === 4);
    await commit(s, "m", 3000, 3);
    await until("third sample", () => rx.got.length === 2);
    assertEquals(rx.got.map((g) => g.t), [1000, 3000]);
    // the receiver has the sample; the queue counts it once the answer is back
    await until(
      "samples counted",
      async () =>
        /prometheus_remote_storage_samples_total\{[^}]*\} 2\n/.test(await registry.expose()),
    );
    const text = await registry.expose();
    assert(/prometheus_remote_storage_samples_retried_total\{[^}]*\} 2\n/.test(text), text);
    assert(/prometheus_remote_storage_samples_failed_total\{[^}]*\} 1\n/.test(text), text);
    assert(/prometheus_remote_storage_samples_total\{[^}]*\} 2\n/.test(text), text);
  } finally {
    stop.abort();
    await running;
    await s.close();
    await rx.server.shutdown();
  }
});

Deno.test("remote write queue: unsent records are replayed after a reopen, sent ones are not", async () => {
  await using tmp = new TempDirs();
  const dir = await tmp.make("d");
  let up = true;
  const rx = receiver(() => up ? 200 : 503);
  try {
    const s1 = await open(dir, rx.url);
    await using q1 = start(s1);
    await commit(s1, "m", 1000, 1);
    await until("first sample", () => rx.got.length === 1);
    up = false;
    await commit(s1, "m", 2000, 2);
    await commit(s1, "m", 3000, 3);
    const seen = rx.requests();
    await until("retries", () => rx.requests() > seen + 2);
    await q1.stop();

    up = true;
    const s2 = await open(dir, rx.url);
    await using q2 = start(s2);
    await until("replayed samples", () => rx.got.length === 3);
    await commit(s2, "m", 4000, 4);
    await until("new sample", () => rx.got.length === 4);
    await q2.stop();
    assertEquals(rx.got.map((g) => [g.t, g.v]), [[1000, 1], [2000, 2], [3000, 3], [4000, 4]]);
    assertEquals(rx.got[1].labels, { __name__: "m", job: "own", replica: "A" });
  } finally {
    await rx.server.shutdown();
  }
});

Deno.test("remote write queue: truncation checkpoints the series and deletes sent segments", async () => {
  await using tmp = new TempDirs();
  const dir = await tmp.make("d");
  let up = true;
  const rx = receiver(() => up ? 200 : 503);
  try {
    const s1 = await open(dir, rx.url);
    // a new queue's position is written at open (the WAL's start): the file's existence alone
    // does not show that the sent sample's position was saved (a race under load)
    const progress = `${dir}/remote-write-t.json`;
    const readProgress = () => Deno.readTextFile(progress).catch(() => null);
    const atOpen = await readProgress();
    await using q1 = start(s1);
    await commit(s1, "m", 1000, 1); // the series record is in the first segment
    await until("first sample", () => rx.got.length === 1);
    // the receiver has it; the queue records its position once the answer is back
    await until("position saved", async () => {
      const now = await readProgress();
      return now !== null && now !== atOpen;
    });
    const [first] = await listSegments(`${dir}/wal`);
    await s1.truncate(); // caught up: a new segment
    up = false;
    await commit(s1, "m", 2000, 2); // same series: a samples record only, not sent yet
    await s1.truncate(); // not caught up: no new segment; the first one is all sent
    const segs = await listSegments(`${dir}/wal`);
    assert(!segs.includes(first), `segment ${first} still there: ${segs}`);
    assertEquals((await lastCheckpoint(`${dir}/wal`))?.index, first);
    await q1.stop();

    up = true;
    const s2 = await open(dir, rx.url);
    await using q2 = start(s2);
    await until("replayed sample", () => rx.got.length === 2);
    await q2.stop();
    // the replayed sample's series comes from the checkpoint
    assertEquals(rx.got[1], {
      labels: { __name__: "m", job: "own", replica: "A" },
      t: 2000,
      v: 2,
      stale: false,
    });
  } finally {
    await rx.server.shutdown();
  }
});

Deno.test("remote write queue: past the in-memory bound, records wait in the WAL and all arrive in order", async () => {
  await using tmp = new TempDirs();
  let up = false;
  const rx = receiver(() => up ? 200 : 503);
  const s = await RemoteWriteStorage.open(await tmp.make("d"), {
    configs: config(rx.url),
    httpConfigs: [{}],
    externalLabels: [],
    walCompression: false,
    logger: quiet,
    registry: new Registry(),
    maxPendingSamples: 3,
  });
  const stop = new AbortController();
  const running = s.run(stop.signal);
  try {
    // 20 commits while the remote is down: at most 3 samples are held in memory
    for (let i = 1; i <= 10; i++) await commit(s, "m", i * 1000, i);
    await until("retries", () => rx.requests() > 2);
    up = true;
    for (let i = 11; i <= 20; i++) await commit(s, "m", i * 1000, i);
    await until("all samples", () => rx.got.length >= 20);
    await commit(s, "m", 21_000, 21);
    await until("the last sample", () => rx.got.length >= 21);
    assertEquals(rx.got.map((g) => g.v), Array.from({ length: 21 }, (_, i) => i + 1));
  } finally {
    stop.abort();
    await running;
    await s.close();
    await rx.server.shutdown();
  }
});

Deno.test("remote write queue: past the bound after a reopen, new commits in the active segment are read back too", async () => {
  await using tmp = new TempDirs();
  const dir = await tmp.make("d");
  let up = false;
  const rx = receiver(() => up ? 200 : 503);
  const opts = {
    configs: config(rx.url),
    httpConfigs: [{}],
    externalLabels: [],
    walCompression: false,
    logger: quiet,
    registry: new Registry(),
    maxPendingSamples: 3,
  };
  try {
    const s1 = await RemoteWriteStorage.open(dir, opts);
    for (let i = 1; i <= 8; i++) await commit(s1, "m", i * 1000, i);
    await s1.close();
    // replay overflows in the old segment; commits 9…16 land in the new active one
    const s2 = await RemoteWriteStorage.open(dir, { ...opts, registry: new Registry() });
    await using q2 = start(s2);
    for (let i = 9; i <= 16; i++) await commit(s2, "m", i * 1000, i);
    up = true;
    await until("all samples", () => rx.got.length >= 16);
    await q2.stop();
    assertEquals(rx.got.map((g) => g.v), Array.from({ length: 16 }, (_, i) => i + 1));
  } finally {
    await rx.server.shutdown();
  }
});

// MultiTSDB: a TSDB per tenant under <dir>/<tenant>, tenant label as external label in Info and
// series, replay on open, conflicts counted, limits, nothing stored from a rejected write,
// shipping with Thanos meta labels, idle-tenant pruning.

import { assert, assertEquals, assertRejects, assertThrows } from "../helpers/assert.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { MultiTSDB, type MultiTSDBOptions } from "../../receive/multitsdb.ts";
import {
  decodeWriteRequest,
  encodeWriteRequest,
  type PromSeries,
  RemoteWriteError,
} from "../../receive/remote_write.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";
import { MemoryBucket } from "../../objstore/memory.ts";
import { INT64_MAX, INT64_MIN, type SeriesRequest } from "../../storeapi/codec.ts";
import type { SeriesItem, StoreBackend } from "../../storeapi/server.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import { parseBlockMeta } from "../../tsdb/meta.ts";
import type { Block } from "../../tsdb/block.ts";
import { beyondSizeRetention } from "../../tsdb/db.ts";
import type { Labels } from "../../tsdb/series.ts";
import { labelsToObject } from "../../tsdb/labels.ts";
import { isStaleAt, setStaleAt } from "../../tsdb/value.ts";

const signal = new AbortController().signal;
const eq = (n: string, v: string) => new Matcher(MatchType.Equal, n, v);

function opts(dir: string, over: Partial<MultiTSDBOptions> = {}): MultiTSDBOptions {
  return {
    dir,
    tenantLabelName: "tenant_id",
    defaultTenant: "default-tenant",
    externalLabels: ["replica", "r0"],
    retentionMs: 0,
    blockRangeMs: 7_200_000,
    walCompression: false,
    logger: new Logger("error"),
    registry: new Registry(),
    fsync: { mode: "none" },
    ...over,
  };
}

function ser(labels: Labels, samples: [number, number][]): PromSeries {
  return {
    labels,
    timestamps: Float64Array.from(samples.map((s) => s[0])),
    values: Float64Array.from(samples.map((s) => s[1])),
  };
}

interface Got {
  labels: Labels;
  ts: number[];
  vs: Float64Array;
}

async function query(st: StoreBackend, ...matchers: Matcher[]): Promise<Got[]> {
  const req: SeriesRequest = { minTime: INT64_MIN, maxTime: INT64_MAX, matchers };
  const out: Got[] = [];
  for await (const x of st.series(req, signal) as AsyncIterable<SeriesItem>) {
    if ("warning" in x) throw new Error(x.warning);
    const ts: number[] = [];
    const parts: Float64Array[] = [];
    for (const c of x.chunks) {
      const d = decodeXorSamples(c.data);
      ts.push(...d.ts);
      parts.push(d.vs.slice());
    }
    const vs = new Float64Array(ts.length);
    let k = 0;
    for (const p of parts) {
      new Uint32Array(vs.buffer, k * 8, p.length * 2).set(new Uint32Array(p.buffer));
      k += p.length;
    }
    out.push({ labels: x.labels, ts, vs });
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("tenants get separate TSDBs with the tenant label; replayed on open", async () => {
  await withTempDir(async (dir) => {
    let m = await MultiTSDB.open(opts(dir));
    const up = ["__name__", "up", "job", "x"];
    const stale = ser(up, [[3000, 0]]);
    setStaleAt(stale.values, 0);
    let out = await m.write("a", [ser(up, [[1000, 1], [2000, 2]]), stale]);
    assertEquals(out, { appended: 3, outOfOrder: 0, outOfBounds: 0, duplicate: 0 });
    await m.write("b", [ser(up, [[1000, 10]])]);
    assertEquals(m.tenants(), ["a", "b"]);
    assert(await exists(`${dir}/a/wal`), "tenant a in <dir>/a");
    assert(await exists(`${dir}/b/wal`), "tenant b in <dir>/b");

    const check = async () => {
      const st = m.store();
      const info = await st.info();
      assertEquals(info.componentType, "receive");
      assertEquals(info.labelSets, [
        ["replica", "r0", "tenant_id", "a"],
        ["replica", "r0", "tenant_id", "b"],
      ]);
      assertEquals(info.minTime, 1000);
      assertEquals(info.maxTime, INT64_MAX);
      const all = await query(st, eq("__name__", "up"));
      assertEquals(all.map((g) => g.labels), [
        ["__name__", "up", "job", "x", "replica", "r0", "tenant_id", "a"],
        ["__name__", "up", "job", "x", "replica", "r0", "tenant_id", "b"],
      ]);
      const onlyA = await query(st, eq("__name__", "up"), eq("tenant_id", "a"));
      assertEquals(onlyA.length, 1);
      assertEquals(onlyA[0].ts, [1000, 2000, 3000]);
      assert(isStaleAt(onlyA[0].vs, 2), "stale marker stored");
      assertEquals(
        (await st.labelValues(
          { label: "tenant_id", start: INT64_MIN, end: INT64_MAX, matchers: [] },
          signal,
        )).values,
        ["a", "b"],
      );
      assertEquals(
        (await st.labelNames({ start: INT64_MIN, end: INT64_MAX, matchers: [] }, signal)).names,
        ["__name__", "job", "replica", "tenant_id"],
      );
    };
    await check();
    await m.close();
    m = await MultiTSDB.open(opts(dir));
    try {
      assertEquals(m.tenants(), ["a", "b"]);
      await check();
      out = await m.write("a", [ser(up, [[4000, 4]])]);
      assertEquals(out.appended, 1);
    } finally {
      await m.close();
    }
  });
});

Deno.test("conflicts are counted, the rest of the request is stored", async () => {
  await withTempDir(async (dir) => {
    const reg = new Registry();
    const m = await MultiTSDB.open(opts(dir, { blockRangeMs: 10_000, registry: reg }));
    try {
      const s = ["__name__", "m"];
      await m.write("t", [ser(s, [[100_000, 1]])]);
      const out = await m.write("t", [
        ser(s, [[90_000, 1]]), // out of bounds: below maxt - range/2
        ser(s, [[99_000, 1]]), // out of order
        ser(s, [[100_000, 2]]), // duplicate sample for timestamp
        ser(s, [[100_000, 1]]), // exact duplicate: accepted silently, not a conflict
        ser(["__name__", "ok"], [[99_000, 5]]), // a new series: fine
      ]);
      assertEquals(out, { appended: 1, outOfOrder: 1, outOfBounds: 1, duplicate: 1 });
      assertEquals((await query(m.store(), eq("__name__", "ok"))).length, 1);
      const text = await reg.expose();
      assert(text.includes('prometheus_tsdb_head_series{tenant="t"} 2'), text);
      assert(text.includes('prometheus_tsdb_out_of_order_samples_total{tenant="t"} 1'), text);
    } finally {
      await m.close();
    }
  });
});

Deno.test("--tsdb.out-of-order.time-window: older samples within it are stored, older ones are too old", async () => {
  await withTempDir(async (dir) => {
    const reg = new Registry();
    const m = await MultiTSDB.open(
      opts(dir, { blockRangeMs: 10_000, oooWindowMs: 30_000, registry: reg }),
    );
    try {
      const s = ["__name__", "m"];
      await m.write("t", [ser(s, [[100_000, 1]])]);
      const out = await m.write("t", [
        ser(s, [[90_000, 2]]), // below maxt - range/2, within the window: stored
        ser(s, [[99_000, 3]]), // older than the newest, within the window: stored
        ser(s, [[69_999, 4]]), // older than maxt - window: too old
        ser(s, [[100_000, 5]]), // duplicate sample for timestamp, as without a window
      ]);
      assertEquals(out, { appended: 2, outOfOrder: 0, outOfBounds: 0, duplicate: 1, tooOld: 1 });
      const got = await query(m.store(), eq("__name__", "m"));
      assertEquals(got[0].ts, [90_000, 99_000, 100_000]);
      assertEquals([...got[0].vs], [2, 3, 1]);
      const text = await reg.expose();
      assert(text.includes('prometheus_tsdb_too_old_samples_total{tenant="t"} 1'), text);
      assert(
        text.includes('prometheus_tsdb_head_out_of_order_samples_appended_total{tenant="t"} 2'),
        text,
      );
    } finally {
      await m.close();
    }
  });
});

Deno.test("pruneIdle flushes out-of-order samples into out-of-order blocks too", async () => {
  await withTempDir(async (dir) => {
    const bucket = new MemoryBucket();
    const m = await MultiTSDB.open(
      opts(dir, { blockRangeMs: 10_000, bucket, oooWindowMs: 60_000 }),
    );
    try {
      const old = Date.now() - 3_600_000;
      await m.write("idle", [ser(["__name__", "m"], [[old + 40_000, 1]])]);
      await m.write("idle", [ser(["__name__", "m"], [[old + 5_000, 2], [old + 25_000, 3]])]);
      await m.pruneIdle(600_000);
      assertEquals(m.tenants(), []);
      let n = 0;
      let ooo = 0;
      for (const k of bucket.objects.keys()) {
        if (!k.endsWith("/meta.json")) continue;
        const meta = parseBlockMeta(new TextDecoder().decode(bucket.objects.get(k)!.data), k);
        n += meta.stats.numSamples ?? 0;
        if (meta.compaction.hints?.includes("from-out-of-order")) ooo++;
      }
      assertEquals(n, 3, "every sample shipped once");
      assertEquals(ooo, 2, "the two out-of-order samples lie in two block ranges");
    } finally {
      await m.close();
    }
  });
});

Deno.test("rejected writes store nothing: invalid sample, head series limit, bad tenant", async () => {
  await withTempDir(async (dir) => {
    const m = await MultiTSDB.open(opts(dir, { headSeriesLimit: (t) => (t === "lim" ? 2 : 0) }));
    try {
      // an unvalidated non-integer timestamp after valid series: the whole call is rolled back
      const e = await assertRejects(
        () =>
          m.write("t", [
            ser(["__name__", "good"], [[1000, 1]]),
            ser(["__name__", "bad"], [[1.5, 1]]),
          ]),
        RemoteWriteError,
      );
      assertEquals((e as RemoteWriteError).status, 400);
      assertEquals(await query(m.store(), eq("__name__", "good")), []);

      await m.write("lim", [ser(["__name__", "a"], [[1, 1]]), ser(["__name__", "b"], [[1, 1]])]);
      const e2 = await assertRejects(
        () => m.write("lim", [ser(["__name__", "c"], [[2, 1]])]),
        RemoteWriteError,
        "tenant is above active series limit",
      );
      assertEquals((e2 as RemoteWriteError).status, 429);
      assertEquals(await query(m.store(), eq("__name__", "c")), []);

      for (const bad of ["", "..", "a/b", "../escape"]) {
        const e3 = await assertRejects(() => m.write(bad, []), RemoteWriteError, "tenant");
        assertEquals((e3 as RemoteWriteError).status, 400);
      }
      assert(!(await exists(`${dir}/../escape`)));
    } finally {
      await m.close();
    }
  });
});

Deno.test("sync cuts due blocks and ships them with thanos labels + tenant, source receive", async () => {
  await withTempDir(async (dir) => {
    const bucket = new MemoryBucket();
    const m = await MultiTSDB.open(opts(dir, { blockRangeMs: 10_000, bucket }));
    try {
      const s = ["__name__", "m"];
      const samples: [number, number][] = [];
      for (let t = 0; t <= 40_000; t += 1000) samples.push([t, t]);
      await m.write("acme", [ser(s, samples)]);
      await m.sync();
      const metas = [...bucket.objects.keys()].filter((k) => k.endsWith("/meta.json"));
      assert(metas.length >= 1, `blocks shipped: ${[...bucket.objects.keys()]}`);
      for (const k of metas) {
        const meta = parseBlockMeta(new TextDecoder().decode(bucket.objects.get(k)!.data), k);
        assertEquals(meta.thanos?.labels, { replica: "r0", tenant_id: "acme" });
        assertEquals(meta.thanos?.source, "receive");
      }
      // every sample still readable once: blocks + head
      const got = await query(m.store(), eq("__name__", "m"));
      assertEquals(got[0].ts, samples.map((x) => x[0]));
    } finally {
      await m.close();
    }
  });
});

Deno.test("--hash-func=SHA256: shipped blocks' meta.json records each file's SHA-256", async () => {
  await withTempDir(async (dir) => {
    const bucket = new MemoryBucket();
    const m = await MultiTSDB.open(opts(dir, { blockRangeMs: 10_000, bucket, hashFunc: "SHA256" }));
    try {
      const samples: [number, number][] = [];
      for (let t = 0; t <= 40_000; t += 1000) samples.push([t, t]);
      await m.write("acme", [ser(["__name__", "m"], samples)]);
      await m.sync();
      const metas = [...bucket.objects.keys()].filter((k) => k.endsWith("/meta.json"));
      assert(metas.length >= 1, `blocks shipped: ${[...bucket.objects.keys()]}`);
      for (const k of metas) {
        const meta = JSON.parse(new TextDecoder().decode(bucket.objects.get(k)!.data));
        const block = k.slice(0, -"meta.json".length);
        for (const f of meta.thanos.files) {
          if (f.rel_path === "meta.json") {
            assertEquals(f.hash, undefined);
            continue;
          }
          const d = await crypto.subtle.digest(
            "SHA-256",
            new Uint8Array(bucket.objects.get(block + f.rel_path)!.data),
          );
          const hex = [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
          assertEquals(f.hash, { hashFunc: "SHA256", value: hex }, f.rel_path);
        }
      }
    } finally {
      await m.close();
    }
  });
});

Deno.test("pruneIdle flushes, ships and removes idle tenants only", async () => {
  await withTempDir(async (dir) => {
    const bucket = new MemoryBucket();
    const m = await MultiTSDB.open(opts(dir, { blockRangeMs: 10_000, bucket }));
    try {
      const old = Date.now() - 3_600_000;
      const samples: [number, number][] = [];
      for (let i = 0; i < 25; i++) samples.push([old + i * 1000, i]);
      await m.write("idle", [ser(["__name__", "m"], samples)]);
      await m.write("busy", [ser(["__name__", "m"], [[Date.now(), 1]])]);
      await m.pruneIdle(0); // disabled
      assertEquals(m.tenants(), ["busy", "idle"]);
      await m.pruneIdle(600_000);
      assertEquals(m.tenants(), ["busy"]);
      assert(!(await exists(`${dir}/idle`)), "idle tenant dir removed");
      assert(await exists(`${dir}/busy`));
      // the idle tenant's samples are all in the bucket, labelled
      let n = 0;
      for (const k of bucket.objects.keys()) {
        if (!k.endsWith("/meta.json")) continue;
        const meta = parseBlockMeta(new TextDecoder().decode(bucket.objects.get(k)!.data), k);
        assertEquals(meta.thanos?.labels.tenant_id, "idle");
        n += meta.stats.numSamples ?? 0;
      }
      assertEquals(n, 25);
      // writing again recreates the tenant
      const out = await m.write("idle", [ser(["__name__", "m"], [[Date.now(), 1]])]);
      assertEquals(out.appended, 1);
      assertEquals(m.tenants(), ["busy", "idle"]);
    } finally {
      await m.close();
    }
  });
});

Deno.test("a pruned tenant is renamed before its files go; a removal a crash cut short is finished at start", async () => {
  await withTempDir(async (dir) => {
    let m = await MultiTSDB.open(opts(dir, { blockRangeMs: 10_000, bucket: new MemoryBucket() }));
    try {
      const old = Date.now() - 3_600_000;
      await m.write("idle", [ser(["__name__", "m"], [[old, 1], [old + 1000, 2]])]);
      await m.write("busy", [ser(["__name__", "m"], [[Date.now(), 1]])]);
      await m.pruneIdle(600_000);
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["busy"]);
    } finally {
      await m.close();
    }
    // what a kill during the removal leaves: the renamed tenant with part of a block (its index
    // already gone); a tenant dir under that name would not open
    const left = `${dir}/.gone.tmp-for-deletion/01HZZZZZZZZZZZZZZZZZZZZZZZ`;
    await Deno.mkdir(`${left}/chunks`, { recursive: true });
    await Deno.writeTextFile(`${left}/meta.json`, "{}");
    m = await MultiTSDB.open(opts(dir));
    try {
      assertEquals(m.tenants(), ["busy"]);
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["busy"]);
    } finally {
      await m.close();
    }
  });
});

Deno.test("concurrent writes to one tenant open it once", async () => {
  await withTempDir(async (dir) => {
    const m = await MultiTSDB.open(opts(dir));
    try {
      const outs = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) => m.write("t", [ser(["__name__", `m${i}`], [[1000, i]])]),
        ),
      );
      assertEquals(outs.reduce((a, o) => a + o.appended, 0), 20);
      assertEquals(m.tenants(), ["t"]);
      assertEquals(
        (await query(m.store(), new Matcher(MatchType.Regexp, "__name__", "m.*"))).length,
        20,
      );
    } finally {
      await m.close();
    }
    await assertRejects(() => m.write("t", []), RemoteWriteError);
  });
});

Deno.test("a decoded request's series share one sample buffer: each keeps its own values", async () => {
  await withTempDir(async (dir) => {
    const m = await MultiTSDB.open(opts(dir));
    try {
      // a request as the decoder hands it over: views into one buffer per request, at offsets
      const req: PromSeries[] = Array.from(
        { length: 20 },
        (_, i) =>
          ser(["__name__", "up", "i", String(i).padStart(2, "0")], [[1000, i * 1.5], [2000, -i]]),
      );
      const body = snappyBlockCompress(encodeWriteRequest({ series: req }));
      const decoded = decodeWriteRequest(body).series;
      assert(
        decoded[1].values.byteOffset > 0 && decoded[1].values.buffer === decoded[0].values.buffer,
      );
      const out = await m.write("default-tenant", decoded);
      assertEquals(out.appended, 40);
      const got = await query(m.store(), eq("__name__", "up"));
      assertEquals(got.length, 20);
      for (const [i, g] of got.entries()) {
        assertEquals(g.ts, [1000, 2000]);
        assertEquals([...g.vs], [i * 1.5, -i], `series ${i}`);
      }
    } finally {
      await m.close();
    }
  });
});

Deno.test("decoded series in several arena buffers (grown mid-request) and plain series, mixed in one write", async () => {
  await withTempDir(async (dir) => {
    const m = await MultiTSDB.open(opts(dir));
    try {
      const n = 3000;
      const long = ser(
        ["__name__", "long"],
        Array.from({ length: n }, (_, i) => [1000 + i * 15, i / 4] as [number, number]),
      );
      for (let i = 0; i < n; i += 11) setStaleAt(long.values, i);
      const short = (name: string, v: number) => ser(["__name__", name], [[1000, v], [2000, -v]]);
      // the decoder's arena is sized from the body: the long series makes it grow, so "a" and
      // "long"/"z" live in different buffers
      const body = snappyBlockCompress(
        encodeWriteRequest({ series: [short("a", 1), long, short("z", 26)] }),
      );
      const decoded = decodeWriteRequest(body).series;
      assert(decoded[0].values.buffer !== decoded[2].values.buffer, "the arena grew");
      // plain series as views at offsets of one shared buffer
      const shared = new Float64Array(8);
      const view = (name: string, v: number, at: number): PromSeries => {
        shared.set([1000, 2000], at);
        shared.set([v, -v], at + 2);
        return {
          labels: ["__name__", name],
          timestamps: shared.subarray(at, at + 2),
          values: shared.subarray(at + 2, at + 4),
        };
      };
      const out = await m.write("default-tenant", [view("p", 7, 0), ...decoded, view("q", 8, 4)]);
      assertEquals(out.appended, n + 8);
      const got = await query(m.store(), new Matcher(MatchType.Regexp, "__name__", ".+"));
      assertEquals(got.map((g) => g.labels[1]), ["a", "long", "p", "q", "z"]);
      for (const [name, v] of [["a", 1], ["p", 7], ["q", 8], ["z", 26]] as const) {
        const g = got.find((x) => x.labels[1] === name)!;
        assertEquals(g.ts, [1000, 2000]);
        assertEquals([...g.vs], [v, -v], name);
      }
      const g = got.find((x) => x.labels[1] === "long")!;
      assertEquals(g.ts.length, n);
      for (let i = 0; i < n; i++) {
        assertEquals(g.ts[i], 1000 + i * 15);
        if (i % 11 === 0) assert(isStaleAt(g.vs, i), `stale marker ${i}`);
        else assertEquals(g.vs[i], i / 4);
      }
    } finally {
      await m.close();
    }
  });
});

Deno.test("--tsdb.too-far-in-future.time-window: future samples are out of bounds", async () => {
  await withTempDir(async (dir) => {
    const reg = new Registry();
    const m = await MultiTSDB.open(opts(dir, { tooFarInFutureMs: 60_000, registry: reg }));
    try {
      const now = Date.now();
      const out = await m.write("t", [
        ser(["__name__", "near"], [[now, 1], [now + 30_000, 2]]), // within now + 1m
        ser(["__name__", "far"], [[now + 3_600_000, 3]]), // an hour ahead: refused
        ser(["__name__", "mixed"], [[now - 1000, 4], [now + 600_000, 5]]),
      ]);
      assertEquals(out, { appended: 3, outOfOrder: 0, outOfBounds: 2, duplicate: 0 });
      assertEquals((await query(m.store(), eq("__name__", "near")))[0].ts, [now, now + 30_000]);
      assertEquals(await query(m.store(), eq("__name__", "far")), []);
      assertEquals((await query(m.store(), eq("__name__", "mixed")))[0].ts, [now - 1000]);
      const text = await reg.expose();
      assert(text.includes('prometheus_tsdb_out_of_bound_samples_total{tenant="t"} 2'), text);
    } finally {
      await m.close();
    }
    // without the window the same future sample is stored
    const m2 = await MultiTSDB.open(opts(`${dir}/plain`));
    try {
      const out = await m2.write("t", [ser(["__name__", "far"], [[Date.now() + 3_600_000, 3]])]);
      assertEquals(out.appended, 1);
    } finally {
      await m2.close();
    }
  });
});

/** ULID directories (blocks) of a tenant. */
function blockDirs(dir: string): string[] {
  return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && /^[0-9A-Z]{26}$/.test(e.name))
    .map((e) => e.name).sort();
}

Deno.test("--tsdb.max-retention-bytes: Prometheus's size retention, newest block first", () => {
  const b = (maxTime: number) => ({ meta: { maxTime } }) as unknown as Block;
  const [b1, b2, b3] = [b(1000), b(2000), b(3000)];
  const sized = [{ block: b1, bytes: 100 }, { block: b3, bytes: 100 }, { block: b2, bytes: 100 }];
  // head 50: newest (b3) → 150, b2 → 250, b1 → 350
  assertEquals(beyondSizeRetention(sized, 0, 50).size, 0);
  assertEquals(beyondSizeRetention(sized, 350, 50).size, 0);
  assertEquals([...beyondSizeRetention(sized, 349, 50)], [b1]);
  assertEquals([...beyondSizeRetention(sized, 250, 50)], [b1]);
  assertEquals(new Set(beyondSizeRetention(sized, 249, 50)), new Set([b2, b1]));
  // the head alone over the limit: every block goes, the newest too
  assertEquals(beyondSizeRetention(sized, 40, 50).size, 3);
});

Deno.test("--tsdb.max-retention-bytes: blocks over the size go, unshipped ones stay", async () => {
  await withTempDir(async (dir) => {
    const s = ["__name__", "m"];
    const samples: [number, number][] = [];
    for (let t = 0; t <= 60_000; t += 1000) samples.push([t, t]);
    // no limit: blocks are cut and kept
    const plain = await MultiTSDB.open(opts(`${dir}/plain`, { blockRangeMs: 10_000 }));
    try {
      await plain.write("t", [ser(s, samples)]);
      await plain.sync();
      assert(blockDirs(`${dir}/plain/t`).length >= 2, "blocks cut");
    } finally {
      await plain.close();
    }
    // a limit below the WAL's size: every block is deleted, the head's samples stay
    const tiny = await MultiTSDB.open(opts(`${dir}/tiny`, { blockRangeMs: 10_000, maxBytes: 1 }));
    try {
      await tiny.write("t", [ser(s, samples)]);
      await tiny.sync();
      assertEquals(blockDirs(`${dir}/tiny/t`), []);
      const got = (await query(tiny.store(), eq("__name__", "m")))[0].ts;
      assert(got.length > 0 && got[0] > 0, `head samples only: ${got}`);
      assertEquals(got[got.length - 1], 60_000);
    } finally {
      await tiny.close();
    }
    // with a bucket: shipped blocks are deleted, blocks whose upload fails are kept
    for (const failing of [false, true]) {
      const bucket = new MemoryBucket();
      if (failing) bucket.upload = () => Promise.reject(new Error("bucket down"));
      const d = `${dir}/bucket-${failing}`;
      const m = await MultiTSDB.open(opts(d, { blockRangeMs: 10_000, maxBytes: 1, bucket }));
      try {
        await m.write("t", [ser(s, samples)]);
        await m.sync().catch(() => {});
        const shipped = [...bucket.objects.keys()].filter((k) => k.endsWith("/meta.json"));
        if (failing) {
          assertEquals(shipped, []);
          assert(blockDirs(`${d}/t`).length >= 2, "unshipped blocks kept");
        } else {
          assert(shipped.length >= 2, `shipped: ${shipped}`);
          assertEquals(blockDirs(`${d}/t`), []);
        }
      } finally {
        await m.close();
      }
    }
  });
});

Deno.test("--shipper.allow-out-of-order-uploads: newer blocks ship past a failing one", async () => {
  await withTempDir(async (dir) => {
    const s = ["__name__", "m"];
    const samples: [number, number][] = [];
    for (let t = 0; t <= 60_000; t += 1000) samples.push([t, t]);
    for (const allow of [false, true]) {
      const bucket = new MemoryBucket();
      const upload = bucket.upload.bind(bucket);
      let failing: string | null = null;
      bucket.upload = (name: string, data: Uint8Array | ReadableStream<Uint8Array>) => {
        failing ??= name.slice(0, 26); // the first (oldest) block never gets through
        if (name.startsWith(failing)) return Promise.reject(new Error("injected failure"));
        return upload(name, data);
      };
      const m = await MultiTSDB.open(opts(`${dir}/${allow}`, {
        blockRangeMs: 10_000,
        bucket,
        shipperAllowOutOfOrderUploads: allow,
      }));
      try {
        await m.write("t", [ser(s, samples)]);
        await assertRejects(() => m.sync());
        const shipped = [...bucket.objects.keys()].filter((k) => k.endsWith("/meta.json"));
        if (allow) assert(shipped.length >= 1, "newer blocks shipped");
        else assertEquals(shipped, [], "uploads stop at the failing block");
      } finally {
        await m.close();
      }
    }
  });
});

Deno.test("--tsdb.max-exemplars: exemplars of existing series stored per tenant, queried", async () => {
  await withTempDir(async (dir) => {
    const m = await MultiTSDB.open(opts(dir, { maxExemplars: 100 }));
    try {
      const s = ["__name__", "req", "path", "/a"];
      const ex = (ts: number) => ({ labels: ["trace_id", `t${ts}`], value: 1, timestamp: ts });
      // a sample and an exemplar; then, as Prometheus sends them, an exemplar-only series
      await m.write("acme", [{ ...ser(s, [[1000, 1]]), exemplars: [ex(1000)] }]);
      await m.write("acme", [{ ...ser(s, []), exemplars: [ex(2000)] }]);
      // an exemplar of a series the head does not have is dropped (Thanos's writer)
      await m.write("acme", [{ ...ser(["__name__", "nope"], []), exemplars: [ex(3000)] }]);
      // out of order → counted as a conflict
      const o = await m.write("acme", [{ ...ser(s, []), exemplars: [ex(1500)] }]);
      assertEquals(o.exemplarsOutOfOrder, 1);
      await m.write("other", [{ ...ser(s, [[1000, 1]]), exemplars: [ex(1000)] }]);
      const all = m.exemplars(0, 10_000, [[eq("__name__", "req")]]);
      assertEquals(
        all.map((r) => [labelsToObject(r.seriesLabels), r.exemplars.map((e) => e.timestamp)]),
        [
          [{ __name__: "req", path: "/a", replica: "r0", tenant_id: "acme" }, [1000, 2000]],
          [{ __name__: "req", path: "/a", replica: "r0", tenant_id: "other" }, [1000]],
        ],
      );
      assertEquals(m.exemplars(0, 10_000, [[eq("__name__", "nope")]]), []);
      // a matcher on an external label selects tenants
      const acme = m.exemplars(0, 10_000, [[eq("tenant_id", "acme"), eq("path", "/a")]]);
      assertEquals(acme.length, 1);
      // only external-label matchers: refused as Thanos does
      assertThrows(
        () => m.exemplars(0, 10_000, [[eq("tenant_id", "acme")]]),
        Error,
        "no matchers specified",
      );
    } finally {
      await m.close();
    }
    // without the flag nothing is stored
    const off = await MultiTSDB.open(opts(`${dir}/off`));
    try {
      await off.write("t", [{
        ...ser(["__name__", "x"], [[1000, 1]]),
        exemplars: [{ labels: [], value: 1, timestamp: 1000 }],
      }]);
      assertEquals(off.exemplars(0, 10_000, [[eq("__name__", "x")]]), []);
    } finally {
      await off.close();
    }
  });
});

// TsdbStore: Info (receive, label set, time range), Series with external-label matching,
// skipChunks, limit, time range, without_replica_labels, and the label APIs.

import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { dbMinTime, TsdbStore } from "../../store/tsdb_store.ts";
import { INT64_MAX, INT64_MIN, type SeriesRequest } from "../../storeapi/codec.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import type { SeriesItem } from "../../storeapi/server.ts";
import { Head } from "../../tsdb/head.ts";
import { DB } from "../../tsdb/db.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";
import { decodeXorSamples } from "../../tsdb/chunkenc/xor.ts";
import type { SeriesWithChunks } from "../../tsdb/series.ts";
import { withTempDir } from "../helpers/tmp.ts";
import { shardMatcher } from "../../storeapi/shard.ts";

const eq = (n: string, v: string) => new Matcher(MatchType.Equal, n, v);
const re = (n: string, v: string) => new Matcher(MatchType.Regexp, n, v);
const signal = new AbortController().signal;

async function headWith(): Promise<Head> {
  const head = await Head.open(null);
  const app = head.appender();
  for (let t = 0; t < 10; t++) {
    app.append(["__name__", "up", "job", "a"], 1000 + t * 1000, t);
    app.append(["__name__", "up", "job", "b"], 1000 + t * 1000, 10 + t);
    app.append(["__name__", "other", "job", "a"], 1000 + t * 1000, 1);
  }
  await app.commit();
  return head;
}

async function collect(it: AsyncIterable<SeriesItem>): Promise<SeriesWithChunks[]> {
  const out: SeriesWithChunks[] = [];
  for await (const x of it) {
    assert(!("warning" in x), "no warnings");
    out.push(x as SeriesWithChunks);
  }
  return out;
}

function req(over: Partial<SeriesRequest>): SeriesRequest {
  return { minTime: INT64_MIN, maxTime: INT64_MAX, matchers: [], ...over };
}

Deno.test("TsdbStore Info advertises receive, its label set and time range", async () => {
  const head = await headWith();
  const st = new TsdbStore(head.querier(), {
    externalLabels: ["replica", "r1", "tenant_id", "t"],
    minTime: () => head.minTime,
  });
  const info = await st.info();
  assertEquals(info.componentType, "receive");
  assertEquals(info.labelSets, [["replica", "r1", "tenant_id", "t"]]);
  assertEquals(info.minTime, 1000);
  assertEquals(info.maxTime, INT64_MAX);
  assertEquals(info.tsdbInfos, [{
    labels: ["replica", "r1", "tenant_id", "t"],
    minTime: 1000,
    maxTime: INT64_MAX,
  }]);
  assertEquals(info.supportsWithoutReplicaLabels, true);
  const bare = await new TsdbStore(head.querier(), { externalLabels: [] }).info();
  assertEquals(bare.labelSets, []);
  assertEquals(bare.minTime, INT64_MIN);
});

Deno.test("TsdbStore Series: matchers, external labels attached, chunks intact", async () => {
  const head = await headWith();
  const st = new TsdbStore(head.querier(), { externalLabels: ["replica", "r1"] });
  const got = await collect(st.series(req({ matchers: [eq("__name__", "up")] }), signal));
  assertEquals(got.map((s) => s.labels), [
    ["__name__", "up", "job", "a", "replica", "r1"],
    ["__name__", "up", "job", "b", "replica", "r1"],
  ]);
  const d = decodeXorSamples(got[1].chunks[0].data);
  assertEquals([...d.ts], Array.from({ length: 10 }, (_, t) => 1000 + t * 1000));
  assertEquals([...d.vs], Array.from({ length: 10 }, (_, t) => 10 + t));
  // matching the external label: kept; contradicting it: nothing
  assertEquals(
    (await collect(st.series(req({ matchers: [eq("replica", "r1"), eq("job", "b")] }), signal)))
      .length,
    1,
  );
  assertEquals(
    (await collect(st.series(req({ matchers: [re("replica", "r2|r3"), eq("job", "a")] }), signal)))
      .length,
    0,
  );
  // only external-label matchers: InvalidArgument as Thanos's TSDBStore
  const e = await assertRejects(
    () => collect(st.series(req({ matchers: [eq("replica", "r1")] }), signal)),
    GrpcError,
  );
  assertEquals((e as GrpcError).code, GrpcStatus.INVALID_ARGUMENT);
});

Deno.test("TsdbStore Series: skipChunks, limit, time range, without_replica_labels", async () => {
  const head = await headWith();
  const st = new TsdbStore(head.querier(), { externalLabels: ["replica", "r1"] });
  const all = [re("__name__", ".+")];
  const skip = await collect(st.series(req({ matchers: all, skipChunks: true }), signal));
  assertEquals(skip.length, 3);
  assert(skip.every((s) => s.chunks.length === 0));
  assertEquals((await collect(st.series(req({ matchers: all, limit: 2 }), signal))).length, 2);
  assertEquals(
    (await collect(st.series(req({ matchers: all, minTime: 20_000, maxTime: 30_000 }), signal)))
      .length,
    0,
  );
  assertEquals(
    (await collect(st.series(req({ matchers: all, minTime: 5000, maxTime: 5000 }), signal)))
      .length,
    3,
  );
  const noReplica = await collect(
    st.series(req({ matchers: [eq("job", "b")], withoutReplicaLabels: ["replica"] }), signal),
  );
  assertEquals(noReplica.map((s) => s.labels), [["__name__", "up", "job", "b"]]);
});

Deno.test("TsdbStore label names and values include external labels", async () => {
  const head = await headWith();
  const st = new TsdbStore(head.querier(), { externalLabels: ["replica", "r1"] });
  const r = { start: INT64_MIN, end: INT64_MAX, matchers: [] };
  assertEquals((await st.labelNames(r, signal)).names, ["__name__", "job", "replica"]);
  assertEquals(
    (await st.labelValues({ ...r, label: "__name__" }, signal)).values,
    ["other", "up"],
  );
  assertEquals((await st.labelValues({ ...r, label: "replica" }, signal)).values, ["r1"]);
  assertEquals(
    (await st.labelValues({ ...r, label: "job", matchers: [eq("__name__", "other")] }, signal))
      .values,
    ["a"],
  );
  assertEquals(
    (await st.labelValues({ ...r, label: "job", matchers: [eq("replica", "zz")] }, signal)).values,
    [],
  );
  assertEquals(
    (await st.labelValues({ ...r, label: "job", limit: 1 }, signal)).values,
    ["a"],
  );
  assertEquals((await st.labelNames({ ...r, start: 50_000, end: 60_000 }, signal)).names, []);
});

Deno.test("dbMinTime: oldest block, else head, INT64_MAX when empty", async () => {
  await withTempDir(async (dir) => {
    const db = await DB.open(dir, { chunkRangeMs: 10_000, fsync: { mode: "none" } });
    try {
      assertEquals(dbMinTime(db), INT64_MAX);
      const app = db.appender();
      for (let t = 0; t <= 30_000; t += 1000) app.append(["__name__", "x"], 3000 + t, 1);
      await app.commit();
      assertEquals(dbMinTime(db), 3000);
      await db.compact();
      assert(db.blocks.length > 0);
      assertEquals(dbMinTime(db), db.blocks[0].meta.minTime);
      const st = new TsdbStore(db.querier(), {
        externalLabels: ["r", "1"],
        minTime: () => dbMinTime(db),
      });
      // head + block merged: every sample once
      const got = await collect(st.series(req({ matchers: [eq("__name__", "x")] }), signal));
      assertEquals(got.length, 1);
      let n = 0;
      for (const c of got[0].chunks) n += decodeXorSamples(c.data).ts.length;
      assertEquals(n, 31);
    } finally {
      await db.close();
    }
  });
});

Deno.test("TsdbStore Series (receive, rule): vertical shards on the labels as sent", async () => {
  const head = await Head.open(null);
  const app = head.appender();
  for (let i = 0; i < 30; i++) app.append(["__name__", "up", "job", `j${i}`], 1000, i);
  await app.commit();
  const st = new TsdbStore(head.querier(), { externalLabels: ["replica", "r1"] });
  assert((await st.info()).supportsSharding);
  const all = [re("__name__", ".+")];
  for (const withoutReplica of [false, true]) {
    const base = req({
      matchers: all,
      withoutReplicaLabels: withoutReplica ? ["replica"] : undefined,
    });
    const whole = (await collect(st.series(base, signal))).map((s) => s.labels);
    const parts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const info = { shardIndex: i, totalShards: 3, by: false, labels: ["__name__"] };
      const got = (await collect(st.series({ ...base, shardInfo: info }, signal))).map((s) =>
        s.labels
      );
      // hashed over the labels it answers with: the replica label only when it is sent
      const m = shardMatcher(info)!;
      assertEquals(got, whole.filter(m), `shard ${i}, without replica ${withoutReplica}`);
      assert(got.length > 0 && got.length < whole.length);
      parts.push(...got.map((l) => l.join(",")));
    }
    assertEquals(parts.sort(), whole.map((l) => l.join(",")).sort());
  }
});

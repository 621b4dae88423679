// The seed deployment of `thanos receive` on one machine: three receivers in one hashring
// (each `--label=replica="r<i>"`), a real Prometheus 2.42 scraping itself and two exporters every
// second and remote-writing to one receiver, and `thanos query --query.replica-label=replica`
// over the three. For every series Prometheus has, the raw samples in the window and a
// query_range over it are exactly what Prometheus's own API answers, one series each (no
// duplicates); with dedup=false each series shows up RF times. The RF=3 run also checks tenancy
// by header (separate TSDBs, `tenant_id`) and that bad input gets Thanos's status codes with a
// message, stores nothing, and leaves the receiver serving.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { type Exporter, startExporter } from "../helpers/exporter.ts";
import {
  api,
  type ApiSeries,
  eventually,
  instant,
  type LabProc,
  range,
  startLabQuerier,
} from "../helpers/sidecar_lab.ts";
import {
  postRaw,
  postSeries,
  type ReceiveCluster,
  RemoteWritingPrometheus,
  series,
  startReceivers,
} from "../helpers/receive_lab.ts";
import { snappyBlockCompress } from "../../storeapi/snappy.ts";

const TENANT_LABEL = "tenant_id";

/** `series → samples` of an API answer; labels in `drop` removed; throws on a duplicate series. */
function canon(
  result: ApiSeries[],
  drop: string[],
  keep: (t: number) => boolean = () => true,
): Map<string, [number, string][]> {
  const out = new Map<string, [number, string][]>();
  for (const s of result) {
    const m = Object.entries(s.metric).filter(([k]) => !drop.includes(k)).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    );
    const key = JSON.stringify(m);
    if (out.has(key)) throw new Error(`duplicate series ${key}`);
    const vals = (s.values ?? []).filter(([t]) => keep(t));
    for (let i = 1; i < vals.length; i++) {
      if (vals[i][0] <= vals[i - 1][0]) throw new Error(`duplicate/unsorted samples in ${key}`);
    }
    if (vals.length > 0) out.set(key, vals);
  }
  return out;
}

/** Compares two canonical answers; returns a description of the first differences. */
function diff(
  want: Map<string, [number, string][]>,
  got: Map<string, [number, string][]>,
): string[] {
  const problems: string[] = [];
  for (const [k, v] of want) {
    const g = got.get(k);
    if (!g) problems.push(`missing series ${k} (${v.length} samples)`);
    else if (JSON.stringify(g) !== JSON.stringify(v)) {
      problems.push(
        `series ${k} differs: want ${v.length} samples ${JSON.stringify(v.slice(0, 3))}…, ` +
          `got ${g.length} ${JSON.stringify(g.slice(0, 3))}…`,
      );
    }
  }
  for (const k of got.keys()) if (!want.has(k)) problems.push(`extra series ${k}`);
  return problems.slice(0, 10);
}

/** Waits until Prometheus has had every sample up to `t` (s) acknowledged by the receiver. */
async function waitSent(prom: RemoteWritingPrometheus, t: number): Promise<void> {
  await eventually(`Prometheus to have sent everything up to ${t}`, async () => {
    const r = await instant(
      prom.url,
      "max(prometheus_remote_storage_queue_highest_sent_timestamp_seconds)",
    );
    return r.length === 1 && Number(r[0].value![1]) >= t + 1;
  }, 30_000);
}

/** Everything Prometheus has in [start, end) compared with the deduplicating querier. */
async function compareWithPrometheus(
  promUrl: string,
  queryUrl: string,
  start: number,
  end: number,
): Promise<{ series: number; samples: number; rangeSeries: number }> {
  const window = Math.ceil(end - start) + 2;
  const sel = `{__name__=~".+"}[${window}s]`;
  const inWindow = (t: number) => t >= start && t < end;
  const want = canon(await instant(promUrl, sel, end), [], inWindow);
  const got = canon(await instant(queryUrl, sel, end), [TENANT_LABEL], inWindow);
  const problems = diff(want, got);
  assertEquals(problems, [], `raw samples differ from Prometheus:\n${problems.join("\n")}`);
  let samples = 0;
  for (const v of want.values()) samples += v.length;

  const q = '{__name__=~".+"}';
  const rs = Math.ceil(start) + 1;
  const re = Math.floor(end) - 1;
  const wantRange = canon(await range(promUrl, q, rs, re, 1), []);
  const gotRange = canon(await range(queryUrl, q, rs, re, 1), [TENANT_LABEL]);
  const rangeProblems = diff(wantRange, gotRange);
  assertEquals(rangeProblems, [], `query_range differs:\n${rangeProblems.join("\n")}`);
  return { series: want.size, samples, rangeSeries: wantRange.size };
}

/** Copies of each series the querier sees without deduplication. */
async function copiesPerSeries(queryUrl: string, expr: string, at: number): Promise<number[]> {
  const d = await api<{ result: ApiSeries[] }>(queryUrl, "query", {
    query: expr,
    time: at,
    dedup: "false",
  });
  const byKey = new Map<string, number>();
  for (const s of d.result) {
    const m = { ...s.metric };
    delete m.replica;
    const k = JSON.stringify(Object.entries(m).sort());
    byKey.set(k, (byKey.get(k) ?? 0) + 1);
  }
  return [...byKey.values()];
}

interface Lab {
  cluster: ReceiveCluster;
  prom: RemoteWritingPrometheus;
  querier: LabProc;
  exporters: Exporter[];
}

async function withLab(
  rf: number,
  fn: (lab: Lab) => Promise<void>,
): Promise<void> {
  const dirs = new TempDirs();
  const exporters = [startExporter(), startExporter()];
  let cluster: ReceiveCluster | undefined;
  let prom: RemoteWritingPrometheus | undefined;
  let querier: LabProc | undefined;
  try {
    cluster = await startReceivers(dirs, { n: 3, replicationFactor: rf });
    prom = new RemoteWritingPrometheus({
      dataDir: `${await dirs.make()}/prom`,
      externalLabels: {},
      targets: exporters.map((e) => e.target),
    }, cluster.nodes[0].writeUrl);
    await prom.start();
    querier = await startLabQuerier(cluster.grpcAddresses, ["--query.replica-label=replica"]);
    await fn({ cluster, prom, querier, exporters });
  } catch (e) {
    const logs = cluster?.nodes.map((n) => `--- ${n.name}\n${n.proc.logs().slice(-2000)}`) ?? [];
    console.error(logs.join("\n"));
    throw e;
  } finally {
    await querier?.stop();
    await prom?.dispose();
    await cluster?.stop();
    for (const e of exporters) await e.stop();
    await dirs.cleanup();
  }
}

/** Must-show 1 for one replication factor; returns the figures. */
async function seedDeployment(lab: Lab, rf: number, ingestMs: number): Promise<string> {
  const { prom, querier } = lab;
  await eventually("the querier to see all three receivers with data", async () => {
    const r = await api<{ result: ApiSeries[] }>(querier.http, "query", {
      query: 'count(count by (replica) ({__name__=~"go_.+|prometheus_build_info"}))',
      dedup: "false",
    });
    return r.result.length === 1 && Number(r.result[0].value![1]) === 3;
  }, 40_000);
  const start = Date.now() / 1000;
  await new Promise((r) => setTimeout(r, ingestMs));
  const end = Date.now() / 1000 - 1;
  await waitSent(prom, end);
  const f = await compareWithPrometheus(prom.url, querier.http, start, end);
  assert(f.series > 100, `only ${f.series} series`);
  // every job's targets made it: Prometheus itself and both exporters
  const up = await instant(querier.http, "up", end);
  assertEquals(up.length, 3, JSON.stringify(up.map((s) => s.metric)));
  // without deduplication every series is stored RF times (one copy per owner)
  const copies = await copiesPerSeries(querier.http, '{__name__=~"lab_.+|up"}', end);
  assert(copies.length >= 6, `copies: ${copies}`);
  assert(copies.every((c) => c === rf), `copies per series ${copies}, want ${rf}`);
  return `RF=${rf}: ${f.series} series, ${f.samples} raw samples over ${
    (end - start).toFixed(1)
  }s identical to Prometheus; query_range identical for ${f.rangeSeries} series; ` +
    `${rf} copies each without dedup`;
}

e2eTest(
  "receive: three receivers with RF=3 hold exactly what Prometheus has; tenants; bad input",
  { peers: [PROMETHEUS] },
  async (t) => {
    await withLab(3, async (lab) => {
      const summary = await seedDeployment(lab, 3, 10_000);
      console.log(summary);

      await t.step("two tenants by header land in separate TSDBs", async () => {
        const now = Date.now();
        const rw = lab.cluster.nodes[1].writeUrl;
        for (const tenant of ["a", "b"]) {
          const r = await postSeries(rw, [
            series({ __name__: "tenant_probe", who: tenant }, [[now - 2000, 1], [now - 1000, 2]]),
          ], { "THANOS-TENANT": tenant });
          assertEquals(r.status, 200, r.body);
        }
        const q = lab.querier.http;
        await eventually("both tenants queryable", async () => {
          return (await instant(q, "tenant_probe", now / 1000)).length === 2;
        }, 10_000);
        const all = await instant(q, "tenant_probe", now / 1000);
        assertEquals(
          all.map((s) => [s.metric.who, s.metric[TENANT_LABEL]]).sort(),
          [["a", "a"], ["b", "b"]],
        );
        // the querier learns the new tenants' label sets from the receivers' Info (refreshed
        // every second here); until then a tenant_id matcher prunes the receivers, as in Thanos
        const filtered = `tenant_probe{${TENANT_LABEL}="a"}`;
        await eventually("the querier to know tenant a", async () => {
          return (await instant(q, filtered, now / 1000)).length > 0;
        }, 10_000);
        const onlyA = await instant(q, filtered, now / 1000);
        assertEquals(onlyA.map((s) => s.metric.who), ["a"]);
        assertEquals(onlyA[0].value![1], "2");
        // one TSDB per tenant on every owner (RF=3: all three), next to the default tenant's
        for (const n of lab.cluster.nodes) {
          const names = [...Deno.readDirSync(n.dataDir)].filter((e) => e.isDirectory)
            .map((e) => e.name).sort();
          for (const want of ["a", "b", "default-tenant"]) {
            assert(names.includes(want), `${n.name}: ${names}`);
          }
        }
      });

      await t.step("bad input: Thanos's status, a message, nothing stored", async () => {
        const rw = lab.cluster.nodes[0].writeUrl;
        const now = Date.now();
        const ok = (c: string) =>
          series({ __name__: "rejected_probe", case: c }, [[now - 1000, 1], [now, 2]]);
        const raw = (labels: string[][], samples: [number, number][]) => ({
          labels: labels.flat(),
          timestamps: Float64Array.from(samples.map((s) => s[0])),
          values: Float64Array.from(samples.map((s) => s[1])),
        });
        const cases: {
          name: string;
          send: () => Promise<{ status: number; body: string }>;
          status: number;
          says: RegExp;
        }[] = [
          {
            name: "garbage body",
            send: () => postRaw(rw, new TextEncoder().encode("this is not snappy at all!!")),
            status: 400,
            says: /snappy/i,
          },
          {
            name: "bad snappy",
            // a valid length header, then a copy that refers before the start of the output
            send: () => postRaw(rw, Uint8Array.from([0x20, 0x01, 0x05, 0x00])),
            status: 400,
            says: /snappy/i,
          },
          {
            name: "wrong protobuf",
            send: () =>
              postRaw(rw, snappyBlockCompress(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1]))),
            status: 400,
            says: /proto|unexpected|truncated|length/i,
          },
          {
            name: "unsorted labels",
            send: () =>
              postSeries(rw, [
                ok("unsorted"),
                raw([["__name__", "rejected_probe_x"], ["b", "1"], ["a", "2"]], [[now, 1]]),
              ]),
            status: 409,
            says: /out of order labels/,
          },
          {
            name: "duplicate label names",
            send: () =>
              postSeries(rw, [
                ok("duplicate"),
                raw([["__name__", "rejected_probe_x"], ["a", "1"], ["a", "2"]], [[now, 1]]),
              ]),
            status: 409,
            says: /duplicate label names/,
          },
          {
            name: "empty label name",
            send: () =>
              postSeries(rw, [
                ok("empty"),
                raw([["", "x"], ["__name__", "rejected_probe_x"]], [[now, 1]]),
              ]),
            status: 409,
            says: /empty name/,
          },
          {
            name: "NaN timestamp",
            send: () => postRaw(rw, snappyBlockCompress(nanTimestampRequest(now))),
            status: 400,
            says: /timestamp/i,
          },
          {
            name: "100 MiB body",
            send: () => postRaw(rw, hugeSnappyBody(100 << 20)),
            status: 413,
            says: /too large|exceeds|limit/i,
          },
        ];
        const seen: string[] = [];
        for (const c of cases) {
          const r = await c.send();
          seen.push(`${c.name} → ${r.status} ${r.body.trim().slice(0, 100)}`);
          assertEquals(r.status, c.status, `${c.name}: ${r.body}`);
          assert(c.says.test(r.body), `${c.name}: message ${JSON.stringify(r.body)}`);
        }

        // conflicts on samples: out of order and too old (beyond the head's appendable window)
        const first = await postSeries(rw, [
          series({ __name__: "conflict_probe" }, [[now, 10]]),
        ]);
        assertEquals(first.status, 200, first.body);
        const ooo = await postSeries(rw, [
          series({ __name__: "conflict_probe" }, [[now - 10_000, 9]]),
        ]);
        seen.push(`out of order → ${ooo.status} ${ooo.body.trim().slice(0, 100)}`);
        assertEquals(ooo.status, 409, ooo.body);
        assert(/out of order/i.test(ooo.body), ooo.body);
        const old = await postSeries(rw, [
          series({ __name__: "conflict_probe_old" }, [[now - 3 * 3600_000, 1]]),
        ]);
        seen.push(`too old → ${old.status} ${old.body.trim().slice(0, 100)}`);
        assertEquals(old.status, 409, old.body);
        assert(/out of bounds|too old/i.test(old.body), old.body);
        console.log(seen.join("\n"));

        // still serving: a good write is accepted and visible; nothing of the rejected ones is
        const good = await postSeries(rw, [series({ __name__: "after_bad_input" }, [[now, 1]])]);
        assertEquals(good.status, 200, good.body);
        const q = lab.querier.http;
        await eventually("the good write after bad input", async () => {
          return (await instant(q, "after_bad_input", now / 1000)).length === 1;
        }, 10_000);
        const leaked = await instant(q, '{__name__=~"rejected_probe.*"}', now / 1000);
        assertEquals(leaked, [], "a rejected request stored something");
        const conflicted = await instant(q, "conflict_probe", now / 1000 + 1);
        assertEquals(conflicted.map((s) => s.value![1]), ["10"]);
        for (const n of lab.cluster.nodes) assert(n.proc.alive, `${n.name} died`);
      });
    });
  },
);

e2eTest(
  "receive: three receivers with RF=2 hold exactly what Prometheus has, two copies each",
  { peers: [PROMETHEUS] },
  async () => {
    await withLab(2, async (lab) => {
      console.log(await seedDeployment(lab, 2, 8_000));
    });
  },
);

/** A WriteRequest whose sample timestamp is a 64-bit float NaN (wire type fixed64). */
function nanTimestampRequest(now: number): Uint8Array {
  const str = (field: number, s: string) => {
    const b = new TextEncoder().encode(s);
    return [(field << 3) | 2, b.length, ...b];
  };
  const label = (n: string, v: string) => {
    const body = [...str(1, n), ...str(2, v)];
    return [(1 << 3) | 2, body.length, ...body];
  };
  const nanBits = new Uint8Array(new Float64Array([NaN]).buffer);
  const value = new Uint8Array(new Float64Array([now]).buffer);
  // Sample { double value = 1; int64 timestamp = 2 } with timestamp sent as a double
  const sample = [(1 << 3) | 1, ...value, (2 << 3) | 1, ...nanBits];
  const ts = [...label("__name__", "rejected_probe_nan"), (2 << 3) | 2, sample.length, ...sample];
  return Uint8Array.from([(1 << 3) | 2, ts.length, ...ts]);
}

/** A snappy block declaring `n` bytes and carrying them as literals (a valid, huge body). */
function hugeSnappyBody(n: number): Uint8Array {
  const header: number[] = [];
  for (let v = n;; v = Math.floor(v / 128)) {
    if (v < 128) {
      header.push(v);
      break;
    }
    header.push((v % 128) | 0x80);
  }
  // one literal of n bytes: tag 0xfc (61 << 2: 4-byte length follows), length - 1 little endian
  const lit = [0xfc, (n - 1) & 0xff, ((n - 1) >> 8) & 0xff, ((n - 1) >> 16) & 0xff, (n - 1) >>> 24];
  const out = new Uint8Array(header.length + lit.length + n);
  out.set(header, 0);
  out.set(lit, header.length);
  return out;
}

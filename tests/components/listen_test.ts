// Every role starts with listen addresses in each form Go accepts — `:port` (all interfaces),
// `0.0.0.0:port`, `[::]:port`, a hostname — and answers on them: the launcher derives a
// permission grant Deno accepts for each form (components/permissions.ts, listenTargets).
// The servers bind all interfaces here; the test connects through 127.0.0.1.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { smallDataset, T0, writeBlocks } from "../helpers/query_e2e.ts";
import { postSeries, series } from "../helpers/receive_lab.ts";
import { eventually, LabPrometheus } from "../helpers/sidecar_lab.ts";
import { answers200, type Proc, spawnMain, startComponent } from "../helpers/thanos.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { listenTargets } from "../../components/permissions.ts";
import { dualStackWildcard } from "../../main.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { GrpcError, GrpcStatus } from "../../storeapi/grpc.ts";
import { Matcher, MatchType } from "../../tsdb/matchers.ts";

Deno.test("listen addresses in every Go form become grants Deno accepts", () => {
  assertEquals(listenTargets(":10902"), ["0.0.0.0:10902"]);
  assertEquals(listenTargets("0.0.0.0:10902"), ["0.0.0.0:10902"]);
  assertEquals(listenTargets("[::]:10901"), ["[::]:10901"]);
  assertEquals(listenTargets("[::1]:10901"), ["[::1]:10901"]);
  assertEquals(listenTargets("127.0.0.1:9"), ["127.0.0.1:9"]);
  assertEquals(listenTargets("localhost:10902", { localhost: ["127.0.0.1", "::1"] }), [
    "localhost:10902",
    "127.0.0.1:10902",
    "[::1]:10902",
  ]);
  for (const t of [":10902", "[::]:1", "[::1]:2", "localhost:3"]) {
    // Deno refuses a malformed grant when the worker is created; these must all be accepted
    const w = new Worker(new URL("data:text/javascript,"), {
      type: "module",
      deno: { permissions: { net: listenTargets(t, { localhost: ["127.0.0.1"] }) } },
    } as WorkerOptions);
    w.terminate();
  }
});

interface RunningQuery {
  http: string;
  stop(): Promise<void>;
}

/** GET `/api/v1/query` on the querier; the result vector. */
async function instant(q: RunningQuery, expr: string, timeMs: number): Promise<unknown[]> {
  const u = `${q.http}/api/v1/query?query=${encodeURIComponent(expr)}&time=${timeMs / 1000}`;
  const r = await fetch(u, { signal: AbortSignal.timeout(10_000) });
  const body = await r.json();
  assertEquals(r.status, 200, JSON.stringify(body));
  return body.data.result as unknown[];
}

e2eTest(
  "store, query, receive, sidecar and compact serve on :port, 0.0.0.0, [::] and hostname forms",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const procs: Proc[] = [];
    let prom: LabPrometheus | undefined;
    try {
      const root = await dirs.make();
      // store: `:port` on both listeners, over a FILESYSTEM bucket with one block set
      await writeBlocks(`${root}/bucket`, smallDataset(1, 5).series);
      const bucket = `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`;
      const store = await startComponent("store", [
        `--objstore.config=${bucket}`,
        `--data-dir=${root}/store`,
        "--log.level=warn",
        "--index-cache.config=type: IN-MEMORY\nconfig:\n  max_size: 64MB\n  max_item_size: 8MB\n",
      ], { listenHost: "", timeoutMs: 60_000 });
      procs.push(store);
      // the IN-MEMORY index cache config took effect
      const storeMetrics = await (await fetch(`${store.http}/metrics`)).text();
      const gauge = (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, "m").exec(storeMetrics)?.[1]);
      assertEquals(gauge("thanos_store_index_cache_max_size_bytes"), 64 * 1024 * 1024);
      assertEquals(gauge("thanos_store_index_cache_max_item_size_bytes"), 8 * 1024 * 1024);

      // receive: `0.0.0.0:port` for HTTP and gRPC, `:port` for remote write
      const rw = freePort();
      const receive = await startComponent("receive", [
        `--remote-write.address=:${rw}`,
        `--tsdb.path=${root}/receive`,
        `--label=replica="r0"`,
        "--log.level=warn",
      ], { listenHost: "0.0.0.0", timeoutMs: 60_000 });
      procs.push(receive);
      const now = Date.now();
      const wrote = await postSeries(`http://127.0.0.1:${rw}/api/v1/receive`, [
        series({ __name__: "listen_probe", form: "colon-port" }, [[now, 42]]),
      ]);
      assertEquals(wrote.status, 200, wrote.body);

      // sidecar: `[::]:port` (dual stack: reached through 127.0.0.1)
      prom = new LabPrometheus({ dataDir: `${root}/prom`, externalLabels: { replica: "p0" } });
      await prom.start();
      const sidecar = await startComponent("sidecar", [
        `--prometheus.url=${prom.url}`,
        "--log.level=warn",
      ], { listenHost: "[::]", name: "sidecar" });
      procs.push(sidecar);

      // compact: a hostname (`localhost:port`), waiting for work so it keeps serving
      const cport = freePort();
      const compact = spawnMain(
        [
          "compact",
          `--http-address=localhost:${cport}`,
          `--objstore.config=${bucket}`,
          `--data-dir=${root}/compact`,
          "--wait",
          "--wait-interval=1h",
          "--http-grace-period=0s",
          "--log.level=warn",
        ],
        cport,
        "compact",
      );
      procs.push(compact);
      await compact.waitFor(
        () => answers200(`http://127.0.0.1:${cport}/-/healthy`),
        "start (/-/healthy)",
        60_000,
      );

      // query: `:port`, over the three StoreAPIs above, reached on their all-interfaces ports
      const query = await startComponent("query", [
        `--endpoint=${store.grpc}`,
        `--endpoint=${receive.grpc}`,
        `--endpoint=${sidecar.grpc}`,
        "--log.level=warn",
      ], { listenHost: "", name: "querier" });
      procs.push(query);

      const fromStore = await instant(query, 'count({__name__=~".+"})', T0 + 3600_000);
      assertEquals(fromStore.length, 1, "the store's block answers through the querier");

      // the querier's own StoreAPI (on `:port`) enforces --store.limits.request-series
      const limited = await startComponent("query", [
        `--endpoint=${store.grpc}`,
        "--store.limits.request-series=2",
        "--log.level=warn",
      ], { listenHost: "", name: "limited querier" });
      procs.push(limited);
      const client = new StoreClient(limited.grpc);
      try {
        let err: unknown;
        await eventually("the limited querier sees the store", async () => {
          try {
            for await (
              const _ of client.series({
                minTime: T0,
                maxTime: T0 + 3 * 3600_000,
                matchers: [new Matcher(MatchType.Regexp, "__name__", ".+")],
              })
            ) { /* drain */ }
            return false;
          } catch (e) {
            err = e;
            return e instanceof GrpcError && e.code === GrpcStatus.RESOURCE_EXHAUSTED;
          }
        });
        assert(String((err as GrpcError).details).includes("series limit"), String(err));
      } finally {
        client.close();
      }
      await eventually("receive's sample through the querier", async () => {
        return (await instant(query, "listen_probe", now)).length === 1;
      });
      await eventually("Prometheus's up through the sidecar", async () => {
        const r = await instant(query, 'up{job="prometheus"}', Date.now()) as {
          metric: Record<string, string>;
        }[];
        return r.length === 1 && r[0].metric.replica === "p0";
      });
      const m = await fetch(`http://127.0.0.1:${cport}/metrics`);
      assert((await m.text()).includes("thanos_compact_iterations_total"));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await prom?.stop();
      await dirs.cleanup();
    }
  },
);

Deno.test({
  name: "`:port` listens on IPv6 too where the system has dual-stack sockets, as Go does",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dual = await dualStackWildcard();
    const q = await startComponent("query", ["--log.level=warn"], { listenHost: "", name: "q" });
    try {
      const port = new URL(q.http).port;
      assert(await answers200(`http://127.0.0.1:${port}/-/ready`), "IPv4 loopback");
      let v6 = false;
      try {
        v6 = await answers200(`http://[::1]:${port}/-/ready`);
      } catch { /* refused: IPv4 only */ }
      // where `[::]` is dual-stack (IPv6 present, bindv6only off), Go's `:port` takes IPv6 too
      assertEquals(v6, dual, dual ? "no answer on [::1]" : "answered on [::1] without dual-stack");
    } finally {
      await q.stop();
    }
  },
});

// The argument lists real deployments give Thanos start our binary unchanged and it serves
// (issue 18, must-show 2). Each list is copied from its generator, with only what a cluster
// fills in replaced by test values: ports (the host part is kept as written), `$(OBJSTORE_CONFIG)`
// (the kubelet expands it to the bucket config), paths, and DNS names of services (a `dnssrv+`
// SRV name becomes a `dns+localhost:port` endpoint: DNS discovery still runs).
// - kube-thanos query and store (jsonnet/kube-thanos/kube-thanos-query.libsonnet and
//   kube-thanos-store.libsonnet with their default params,
//   https://github.com/thanos-io/kube-thanos/tree/main/jsonnet/kube-thanos);
// - bitnami/charts thanos query and storegateway (templates/query/deployment.yaml and
//   templates/storegateway/statefulset.yaml with default values,
//   https://github.com/bitnami/charts/tree/main/bitnami/thanos/templates);
// - the Prometheus Operator's sidecar (pkg/prometheus/server/statefulset.go, thanos sidecar
//   container with an object storage config, https://github.com/prometheus-operator/prometheus-operator).

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { freePort } from "../helpers/ports.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { smallDataset, T0, writeBlocks } from "../helpers/query_e2e.ts";
import { eventually, LabPrometheus } from "../helpers/sidecar_lab.ts";
import { answers200, type Proc, spawnMain } from "../helpers/thanos.ts";
import { TempDirs } from "../helpers/tmp.ts";

interface Started {
  proc: Proc;
  http: string;
  grpc: number;
}

/** Starts `thanos <args>` and waits until `/-/ready` on `httpPort` answers 200. */
async function start(name: string, args: string[], httpPort: number): Promise<Proc> {
  const p = spawnMain(args, httpPort, name);
  await p.waitFor(
    () => answers200(`http://127.0.0.1:${httpPort}/-/ready`),
    "start (/-/ready)",
    60_000,
  );
  return p;
}

async function instant(http: string, expr: string, timeMs: number): Promise<unknown[]> {
  const u = `${http}/api/v1/query?query=${encodeURIComponent(expr)}&time=${timeMs / 1000}`;
  const r = await fetch(u, { signal: AbortSignal.timeout(10_000) });
  const body = await r.json();
  assertEquals(r.status, 200, JSON.stringify(body));
  return body.data.result as unknown[];
}

e2eTest(
  "kube-thanos and bitnami query/store argument lists and the Prometheus Operator's sidecar arguments start and serve",
  { peers: [PROMETHEUS] },
  async () => {
    const dirs = new TempDirs();
    const procs: Proc[] = [];
    let prom: LabPrometheus | undefined;
    try {
      const root = await dirs.make();
      await writeBlocks(`${root}/bucket`, smallDataset(3, 5).series);
      const objstore = `type: FILESYSTEM\nconfig:\n  directory: ${root}/bucket\n`;
      await Deno.writeTextFile(`${root}/objstore.yml`, objstore);

      // kube-thanos store (kube-thanos-store.libsonnet, default params)
      const ks = { http: freePort(), grpc: freePort() };
      const kubeStore: Started = {
        proc: await start("kube-thanos store", [
          "store",
          "--log.level=info",
          "--log.format=logfmt",
          `--data-dir=${root}/kube-store`,
          `--grpc-address=0.0.0.0:${ks.grpc}`,
          `--http-address=0.0.0.0:${ks.http}`,
          `--objstore.config=${objstore}`,
          "--ignore-deletion-marks-delay=24h",
        ], ks.http),
        http: `http://127.0.0.1:${ks.http}`,
        grpc: ks.grpc,
      };
      procs.push(kubeStore.proc);

      // bitnami storegateway (templates/storegateway/statefulset.yaml, default values)
      const bs = { http: freePort(), grpc: freePort() };
      const bitnamiStore: Started = {
        proc: await start("bitnami store", [
          "store",
          "--log.level=info",
          "--log.format=logfmt",
          `--grpc-address=0.0.0.0:${bs.grpc}`,
          `--http-address=0.0.0.0:${bs.http}`,
          `--data-dir=${root}/bitnami-store`,
          `--objstore.config-file=${root}/objstore.yml`,
        ], bs.http),
        http: `http://127.0.0.1:${bs.http}`,
        grpc: bs.grpc,
      };
      procs.push(bitnamiStore.proc);

      // Prometheus as the operator runs it next to the sidecar (compaction off: 2h blocks)
      prom = new LabPrometheus({
        dataDir: `${root}/prometheus`,
        externalLabels: { prometheus: "monitoring/k8s", prometheus_replica: "prometheus-k8s-0" },
        extraFlags: [
          "--storage.tsdb.min-block-duration=2h",
          "--storage.tsdb.max-block-duration=2h",
        ],
      });
      await prom.start();
      // Prometheus Operator sidecar: `:port` listen addresses, http-client JSON, objstore
      const sc = { http: freePort(), grpc: freePort() };
      const sidecar = await start("operator sidecar", [
        "sidecar",
        `--prometheus.url=${prom.url}/`,
        `--grpc-address=:${sc.grpc}`,
        `--http-address=:${sc.http}`,
        `--objstore.config=${objstore}`,
        `--tsdb.path=${root}/prometheus`,
        "--log.level=info",
        "--log.format=logfmt",
        '--prometheus.http-client={"tls_config": {"insecure_skip_verify":true}}',
      ], sc.http);
      procs.push(sidecar);

      // kube-thanos query (kube-thanos-query.libsonnet, default params)
      const kq = { http: freePort(), grpc: freePort() };
      const kubeQuery = await start("kube-thanos query", [
        "query",
        `--grpc-address=0.0.0.0:${kq.grpc}`,
        `--http-address=0.0.0.0:${kq.http}`,
        "--log.level=info",
        "--log.format=logfmt",
        "--query.replica-label=prometheus_replica",
        "--query.replica-label=rule_replica",
        `--endpoint=dns+localhost:${kubeStore.grpc}`,
        `--endpoint=dns+localhost:${sc.grpc}`,
        "--query.auto-downsampling",
      ], kq.http);
      procs.push(kubeQuery);

      // bitnami query (templates/query/deployment.yaml, default values plus query.stores)
      const bq = { http: freePort(), grpc: freePort() };
      const bitnamiQuery = await start("bitnami query", [
        "query",
        "--log.level=info",
        "--log.format=logfmt",
        `--grpc-address=0.0.0.0:${bq.grpc}`,
        `--http-address=0.0.0.0:${bq.http}`,
        "--query.replica-label=replica",
        `--endpoint=127.0.0.1:${bitnamiStore.grpc}`,
        `--endpoint=127.0.0.1:${sc.grpc}`,
        "--alert.query-url=http://thanos-query.monitoring.svc.cluster.local:9090",
      ], bq.http);
      procs.push(bitnamiQuery);
      assert(
        bitnamiQuery.logs().includes("--alert.query-url") &&
          bitnamiQuery.logs().includes("has no effect in this build"),
        "the querier says --alert.query-url has no effect here",
      );

      for (const [name, port] of [["kube-thanos", kq.http], ["bitnami", bq.http]] as const) {
        const http = `http://127.0.0.1:${port}`;
        await eventually(`${name} query: the store's blocks`, async () => {
          const r = await instant(http, 'count({__name__=~".+"})', T0 + 3600_000);
          return r.length === 1;
        }, 30_000);
        await eventually(`${name} query: Prometheus's up through the sidecar`, async () => {
          const r = await instant(http, 'up{job="prometheus"}', Date.now()) as {
            metric: Record<string, string>;
          }[];
          return r.length === 1 && r[0].metric.prometheus === "monitoring/k8s";
        }, 30_000);
      }
      // kube-thanos's replica label is deduplicated away
      const up = await instant(`http://127.0.0.1:${kq.http}`, "up", Date.now()) as {
        metric: Record<string, string>;
      }[];
      assert(up.length > 0 && up.every((s) => !("prometheus_replica" in s.metric)));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await prom?.stop();
      await dirs.cleanup();
    }
  },
);

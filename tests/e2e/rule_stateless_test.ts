// The stateless ruler (`--remote-write.config`), the ruler's `--query.config` and
// `--alertmanagers.config`, through the real CLI (`main.ts rule …`, sandboxed role) next to a
// real Prometheus 2.42 (query API and remote write receiver) and a real Alertmanager 0.25.
// - stateless: a recording rule `vector(time())` evaluated every second arrives in Prometheus by
//   remote write with the ruler's `--label`s and every value equal to its timestamp; the ruler
//   is killed (-9), restarted against an unreachable remote (its results wait in the WAL), killed
//   again, and restarted against Prometheus: every evaluation of each run is in Prometheus, one
//   second apart (gaps only where no ruler ran), nothing lost; `for` state restored from the
//   queriers after a restart; our own `thanos receive` as the remote (tenant from a header): the
//   receiver killed (-9) and restarted, the evaluations made meanwhile arrive;
// - `--query.config`: a querier reached over https (`tls_config.ca_file`) through `path_prefix`
//   with basic auth from `http_config`; `--alertmanagers.config`: an Alertmanager found by `file_sd_configs` under a
//   `timeout` receives the firing alert; `--web.route-prefix` / `--web.external-prefix` move the
//   API, UI and reload under the prefix (the querier is a real Prometheus behind a proxy that
//   serves it under /prom/ only with the ruler's basic auth).

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS, startPrometheus } from "../helpers/prometheus.ts";
import { ALERTMANAGER, amAlerts, startAlertmanager } from "../helpers/alertmanager.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { startComponent, type ThanosProc } from "../helpers/thanos.ts";
import { startReceivers } from "../helpers/receive_lab.ts";
import { makeCerts } from "../helpers/certs.ts";

const RULES = `groups:
- name: rw
  interval: 1s
  rules:
  - record: rw_time
    expr: vector(time())
`;

async function samples(prom: string, selector: string): Promise<[number, number][]> {
  const u = `${prom}/api/v1/query?query=${encodeURIComponent(`${selector}[10m]`)}`;
  const body = await (await fetch(u)).json();
  const res = body.data.result as { metric: Record<string, string>; values: [number, string][] }[];
  if (res.length === 0) return [];
  assertEquals(res.length, 1, JSON.stringify(res.map((r) => r.metric)));
  return res[0].values.map(([t, v]) => [Math.round(t * 1000), Number(v)]);
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

async function until(what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 600 && Date.now() < deadline; i++) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

e2eTest("rule: stateless remote write survives kill -9 and an unreachable remote", {
  peers: [PROMETHEUS],
}, async () => {
  const tmp = new TempDirs();
  const prom = await startPrometheus({
    dataDir: await tmp.make("prom"),
    config: "global:\n  scrape_interval: 1s\n",
    extraFlags: ["--web.enable-remote-write-receiver"],
  });
  let ruler: ThanosProc | undefined;
  try {
    const dir = await tmp.make("rule");
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const rw = (url: string) =>
      `remote_write:\n- url: ${url}\n  name: main\n  queue_config:\n` +
      "    batch_send_deadline: 1s\n    min_backoff: 50ms\n    max_backoff: 500ms\n";
    const good = rw(`${prom.url}/api/v1/write`);
    const dead = rw(`http://127.0.0.1:${freePort()}/api/v1/write`);
    const start = (cfg: string) =>
      startComponent("rule", [
        `--data-dir=${dir}/data`,
        `--rule-file=${dir}/rules.yaml`,
        `--query=${prom.url}`,
        '--label=ruler_cluster="eu"',
        '--label=replica="A"',
        `--remote-write.config=${cfg}`,
      ]);
    const sel = 'rw_time{ruler_cluster="eu",replica="A"}';

    let missed = 0; // iterations the rulers themselves missed (under load): allowed gaps
    const missedOf = (r: ThanosProc) =>
      metric(r.http, "prometheus_rule_group_iterations_missed_total");
    // 1: results arrive with the ruler's labels
    ruler = await start(good);
    await until("first samples", async () => (await samples(prom.url, sel)).length >= 3);
    // the StoreAPI is not served in stateless mode, rules still are
    const rules = await (await fetch(`${ruler.http}/api/v1/rules`)).json();
    assertEquals(rules.data.groups[0].rules[0].name, "rw_time");
    missed += await missedOf(ruler);
    await ruler.stop(1000, "SIGKILL");

    // 2: the remote is unreachable: evaluations are committed to the WAL and retried
    ruler = await start(dead);
    const r2 = ruler;
    await until(
      "retries",
      async () => await metric(r2.http, "prometheus_remote_storage_samples_retried_total") > 0,
    );
    await until(
      "evaluations",
      async () => await metric(r2.http, "prometheus_rule_evaluations_total") >= 4,
    );
    const before = await samples(prom.url, sel);
    missed += await missedOf(ruler);
    await ruler.stop(1000, "SIGKILL");
    const killedAt = Date.now();

    // 3: back to Prometheus: the WAL is replayed and what run 2 evaluated arrives
    ruler = await start(good);
    const r3 = ruler;
    await until("replayed samples", async () => {
      const s = await samples(prom.url, sel);
      return s.length > 0 && s[s.length - 1][0] > killedAt + 2000;
    });
    await until(
      "samples sent",
      async () => await metric(r3.http, "prometheus_remote_storage_samples_total") > 0,
    );
    const all = await samples(prom.url, sel);
    assert(all.length >= before.length + 4, `${all.length} samples, ${before.length} before run 2`);
    for (const [t, v] of all) assertEquals(v, t / 1000, `value at ${t}`);
    // one second apart, except across the two restarts (no ruler then)
    missed += await missedOf(r3);
    const gaps = all.slice(1).filter(([t], i) => t - all[i][0] !== 1000);
    assert(gaps.length <= 2 + missed, `gaps ${JSON.stringify(gaps)} in ${JSON.stringify(all)}`);
    // run 2's evaluations (after run 1's last sample) are there
    const run2 = all.filter(([t]) => t > before[before.length - 1][0] && t < killedAt);
    assert(run2.length >= 3, `run 2 delivered ${run2.length} samples: ${JSON.stringify(all)}`);
    assertEquals(await metric(r3.http, "prometheus_remote_storage_samples_failed_total"), 0);
  } finally {
    await ruler?.stop();
    await prom.stop();
    await tmp.cleanup();
  }
});

e2eTest(
  "rule: --query.config (https, path_prefix, basic auth), --alertmanagers.config (file SD), --web.route-prefix",
  {
    peers: [PROMETHEUS, ALERTMANAGER, "openssl"],
  },
  async () => {
    const tmp = new TempDirs();
    const dir = await tmp.make("cfg");
    const prom = await startPrometheus({
      dataDir: await tmp.make("prom"),
      config: "global:\n  scrape_interval: 1s\n",
    });
    // in front of Prometheus: its API under /prom, only with the ruler's basic auth
    const want = `Basic ${btoa("ruler:s3cret")}`;
    let proxied = 0;
    const proxyPort = freePort();
    await makeCerts(dir);
    const proxy = Deno.serve({
      hostname: "127.0.0.1",
      port: proxyPort,
      cert: await Deno.readTextFile(`${dir}/server.pem`),
      key: await Deno.readTextFile(`${dir}/server.key`),
      onListen() {},
    }, (req) => {
      const u = new URL(req.url);
      if (req.headers.get("authorization") !== want) return new Response("no", { status: 401 });
      if (!u.pathname.startsWith("/prom/")) return new Response("no", { status: 404 });
      proxied++;
      return fetch(prom.url + u.pathname.slice(5) + u.search, {
        method: req.method,
        headers: { "content-type": req.headers.get("content-type") ?? "text/plain" },
        body: req.body,
      });
    });
    const am = await startAlertmanager(await tmp.make("am"));
    let ruler: ThanosProc | undefined;
    try {
      await Deno.writeTextFile(
        `${dir}/rules.yaml`,
        "groups:\n- name: a\n  interval: 1s\n  rules:\n  - alert: AlwaysOn\n" +
          "    expr: vector(1)\n    labels:\n      severity: page\n",
      );
      await Deno.writeTextFile(`${dir}/password`, "s3cret\n");
      const promHost = `127.0.0.1:${proxyPort}`;
      const query = `- static_configs: ["${promHost}"]\n  scheme: https\n  path_prefix: /prom/\n` +
        `  http_config:\n    basic_auth:\n      username: ruler\n` +
        `      password_file: ${dir}/password\n    tls_config:\n      ca_file: ${dir}/ca.pem\n`;
      await Deno.writeTextFile(`${dir}/query.yaml`, query);
      await Deno.writeTextFile(
        `${dir}/am_sd.json`,
        JSON.stringify([{ targets: [new URL(am.url).host] }]),
      );
      const alerting = `alertmanagers:\n- file_sd_configs:\n  - files: ["${dir}/am_sd.json"]\n` +
        "  timeout: 5s\n  api_version: v2\n";
      ruler = await startComponent("rule", [
        `--data-dir=${dir}/data`,
        `--rule-file=${dir}/rules.yaml`,
        `--query.config-file=${dir}/query.yaml`,
        `--alertmanagers.config=${alerting}`,
        '--label=replica="A"',
        "--web.route-prefix=/ruler/",
        "--web.external-prefix=/ext",
      ]);
      // --web.route-prefix: API, UI and reload under /ruler; / redirects there; probes and
      // /metrics stay at the root. The UI's links use --web.external-prefix.
      const root = await fetch(`${ruler.http}/`, { redirect: "manual" });
      await root.body?.cancel();
      assertEquals([root.status, root.headers.get("location")], [302, "/ruler"]);
      const api = await fetch(`${ruler.http}/ruler/api/v1/rules`);
      assertEquals((await api.json()).data.groups[0].name, "a");
      const unprefixed = await fetch(`${ruler.http}/api/v1/rules`);
      await unprefixed.body?.cancel();
      assertEquals(unprefixed.status, 404);
      const page = await (await fetch(`${ruler.http}/ruler/alerts`)).text();
      assert(page.includes('content="/ext"'), page.slice(0, 500));
      await until(
        "the alert in Alertmanager",
        async () =>
          (await amAlerts(am.url)).some((a) =>
            a.labels.alertname === "AlwaysOn" && a.labels.replica === "A"
          ),
      );
      const r = ruler;
      const failures = await metric(r.http, "prometheus_rule_evaluation_failures_total");
      assertEquals(failures, 0, r.logs().slice(-3000));
      assert(proxied > 0);
      // (after the failure count: a reload may cut an evaluation in flight short)
      const reload = await fetch(`${r.http}/ruler/-/reload`, { method: "POST" });
      await reload.body?.cancel();
      assertEquals(reload.status, 200);
    } finally {
      await ruler?.stop();
      await proxy.shutdown();
      await am.stop();
      await prom.stop();
      await tmp.cleanup();
    }
  },
);

e2eTest("rule: stateless mode restores the for state from the queriers", {
  peers: [PROMETHEUS],
}, async () => {
  const tmp = new TempDirs();
  const prom = await startPrometheus({
    dataDir: await tmp.make("prom"),
    config: "global:\n  scrape_interval: 1s\n",
    extraFlags: ["--web.enable-remote-write-receiver"],
  });
  let ruler: ThanosProc | undefined;
  try {
    const dir = await tmp.make("rule");
    await Deno.writeTextFile(
      `${dir}/rules.yaml`,
      "groups:\n- name: p\n  interval: 1s\n  rules:\n  - alert: Pending\n    expr: vector(1)\n" +
        "    for: 10m\n",
    );
    const rw = `remote_write:\n- url: ${prom.url}/api/v1/write\n  name: main\n` +
      "  queue_config:\n    batch_send_deadline: 1s\n";
    const start = () =>
      startComponent("rule", [
        `--data-dir=${dir}/data`,
        `--rule-file=${dir}/rules.yaml`,
        `--query=${prom.url}`,
        '--label=replica="A"',
        "--for-grace-period=1m",
        // the replica label is not on the alert: ignoring it must not change the lookup
        "--restore-ignored-label=replica",
        `--remote-write.config=${rw}`,
      ]);
    const activeAt = async (r: ThanosProc): Promise<number | null> => {
      const body = await (await fetch(`${r.http}/api/v1/alerts`)).json();
      const a = body.data.alerts[0];
      return a ? Date.parse(a.activeAt) : null;
    };
    ruler = await start();
    const r1 = ruler;
    await until("a pending alert", async () => (await activeAt(r1)) !== null);
    const first = (await activeAt(r1))!;
    await until(
      "5 ALERTS_FOR_STATE samples in Prometheus",
      async () => (await samples(prom.url, 'ALERTS_FOR_STATE{alertname="Pending"}')).length >= 5,
    );
    await ruler.stop();
    const restartedAt = Date.now();
    ruler = await start();
    const r2 = ruler;
    // restored after the second evaluation: activeAt moves back by the pending time served
    await until("the restored activeAt", async () => {
      const a = await activeAt(r2);
      return a !== null && a < restartedAt - 3000;
    });
    const restored = (await activeAt(r2))!;
    assert(restored >= first, `restored ${restored} before the first activeAt ${first}`);
  } finally {
    await ruler?.stop();
    await prom.stop();
    await tmp.cleanup();
  }
});

e2eTest("rule: stateless ruler → thanos receive (tenant header) survives the receiver's kill -9", {
  peers: [],
}, async () => {
  const tmp = new TempDirs();
  const receivers = await startReceivers(tmp, { n: 1, replicationFactor: 1 });
  let query: ThanosProc | undefined;
  let ruler: ThanosProc | undefined;
  try {
    query = await startComponent("query", [
      `--endpoint=${receivers.grpcAddresses[0]}`,
      "--query.replica-label=replica",
    ]);
    const dir = await tmp.make("rule");
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const rw = `remote_write:\n- url: ${receivers.nodes[0].writeUrl}\n  name: recv\n` +
      "  headers:\n    THANOS-TENANT: team-a\n  queue_config:\n    batch_send_deadline: 1s\n" +
      "    min_backoff: 50ms\n    max_backoff: 500ms\n";
    // the ruler evaluates through the querier that reads the receiver it writes to
    ruler = await startComponent("rule", [
      `--data-dir=${dir}/data`,
      `--rule-file=${dir}/rules.yaml`,
      `--query=${query.http}`,
      '--label=ruler="B"',
      `--remote-write.config=${rw}`,
    ]);
    const r = ruler;
    const sel = 'rw_time{ruler="B",tenant_id="team-a"}';
    await until(
      "samples in the receiver",
      async () => (await samples(query!.http, sel)).length >= 3,
    );
    await receivers.kill(0);
    await until(
      "retries while the receiver is down",
      async () => await metric(r.http, "prometheus_remote_storage_samples_retried_total") > 0,
    );
    const downFrom = Date.now();
    await new Promise((res) => setTimeout(res, 3000));
    await receivers.restart(0);
    await until("samples after the restart", async () => {
      const s = await samples(query!.http, sel);
      return s.length > 0 && s[s.length - 1][0] > Date.now() - 2000;
    });
    const all = await samples(query.http, sel);
    for (const [t, v] of all) assertEquals(v, t / 1000, `value at ${t}`);
    // the evaluations made while the receiver was down arrived: one second apart throughout
    const down = all.filter(([t]) => t >= downFrom && t < downFrom + 3000);
    assert(down.length >= 2, `${down.length} samples from the outage: ${JSON.stringify(all)}`);
    // (an iteration the ruler itself missed under load is the only allowed gap)
    const missed = await metric(r.http, "prometheus_rule_group_iterations_missed_total");
    const gaps = all.slice(1).filter(([t], i) => t - all[i][0] !== 1000);
    assert(gaps.length <= missed, `gaps ${JSON.stringify(gaps)}, ${missed} missed`);
  } finally {
    await ruler?.stop();
    await query?.stop();
    await receivers.stop();
    await tmp.cleanup();
  }
});

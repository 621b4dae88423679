// `thanos query-frontend --query-frontend.org-id-header` and
// `--query-frontend.slow-query-logs-user-header` through the real CLI, in front of a real
// Prometheus 2.42: with `--query-frontend.log-queries-longer-than=-1s` every API request logs a
// `slow query detected` line whose `org_id` is the first org-ID header set (then THANOS-TENANT,
// else "anonymous") and whose `remote_user` is the user header's value (without the flag: the
// basic-auth user), while the answers stay Prometheus's.

import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { startPrometheus } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { freePort } from "../helpers/ports.ts";
import { answers200, type Proc, spawnMain } from "../helpers/thanos.ts";

/** Starts the frontend at info level with `flags`; resolves once ready. */
async function startFrontend(downstream: string, flags: string[]) {
  const port = freePort();
  const p = spawnMain(
    [
      "query-frontend",
      `--http-address=127.0.0.1:${port}`,
      "--http-grace-period=1s",
      `--query-frontend.downstream-url=${downstream}`,
      "--query-frontend.log-queries-longer-than=-1s",
      "--log.format=logfmt",
      ...flags,
    ],
    port,
    "query-frontend",
  );
  const url = `http://127.0.0.1:${port}`;
  await p.waitFor(() => answers200(`${url}/-/ready`), "start (/-/ready)");
  return { p, url };
}

/** The fields of the frontend's `slow query detected` lines so far (values unquoted). */
function slowLines(p: Proc): Record<string, string>[] {
  return p.logs().split("\n").filter((l) => l.includes('msg="slow query detected"')).map((l) => {
    const out: Record<string, string> = {};
    for (const m of l.matchAll(/([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      out[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
    }
    return out;
  });
}

/** Waits (bounded) for the `n`th slow-query line and returns it. */
async function nthSlowLine(p: Proc, n: number): Promise<Record<string, string>> {
  for (let i = 0; i < 100; i++) {
    const lines = slowLines(p);
    if (lines.length >= n) return lines[n - 1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no slow query line #${n}; logs:\n${p.logs().slice(-3000)}`);
}

e2eTest(
  "query-frontend: org_id and remote_user of the slow-query log come from the configured headers",
  { peers: ["prometheus"] },
  async () => {
    await using dirs = new TempDirs();
    const procs: { stop(): Promise<void> }[] = [];
    try {
      const prom = await startPrometheus({
        dataDir: await dirs.make(),
        config: "global:\n  scrape_interval: 1h\n",
        extraFlags: ["--log.level=warn"],
      });
      procs.push(prom);
      const withFlags = await startFrontend(prom.url, [
        "--query-frontend.org-id-header=X-Org",
        "--query-frontend.org-id-header=X-Scope-OrgID",
        "--query-frontend.slow-query-logs-user-header=X-Grafana-User",
      ]);
      procs.push(withFlags.p);
      const plain = await startFrontend(prom.url, []);
      procs.push(plain.p);

      // on the step grid: the frontend aligns ranges to the step (Thanos default)
      const now = Math.floor(Date.now() / 60_000) * 60;
      const qs = `query=${encodeURIComponent("vector(1) + 1")}&start=${now - 7200}&end=${now}` +
        "&step=60";
      const ask = async (base: string, headers: Record<string, string>) => {
        const r = await fetch(`${base}/api/v1/query_range?${qs}`, { headers });
        const body = await r.json();
        assertEquals([r.status, body.status], [200, "success"]);
        return body;
      };
      const direct = await (await fetch(`${prom.url}/api/v1/query_range?${qs}`)).json();

      const a = await ask(withFlags.url, {
        "X-Scope-OrgID": "second",
        "X-Org": "first",
        "X-Grafana-User": "alice",
        "Authorization": `Basic ${btoa("bob:secret")}`,
      });
      assertEquals(a.data, direct.data, "the answer is Prometheus's");
      const l1 = await nthSlowLine(withFlags.p, 1);
      assertEquals([l1.org_id, l1.remote_user, l1.path], ["first", "alice", "/api/v1/query_range"]);
      assertEquals([l1.param_step, l1.query_range_hours, l1.query_range_human], [
        "60",
        "2",
        "2h0m0s",
      ]);
      await ask(withFlags.url, { "X-Scope-OrgID": "second" });
      assertEquals((await nthSlowLine(withFlags.p, 2)).org_id, "second");
      await ask(withFlags.url, { "THANOS-TENANT": "acme" });
      const l3 = await nthSlowLine(withFlags.p, 3);
      assertEquals([l3.org_id, l3.remote_user], ["acme", ""]);

      await ask(plain.url, { "X-Org": "ignored", "Authorization": `Basic ${btoa("bob:secret")}` });
      const p1 = await nthSlowLine(plain.p, 1);
      assertEquals([p1.org_id, p1.remote_user], ["anonymous", "bob"]);
      assert(!p1.remote_addr.startsWith("-"), JSON.stringify(p1));
    } finally {
      for (const p of procs.reverse()) await p.stop();
    }
  },
);

e2eTest(
  "query-frontend: --query-frontend.org-id-header with a custom tenant header is refused at start",
  { peers: [] },
  async () => {
    const p = spawnMain(
      [
        "query-frontend",
        `--http-address=127.0.0.1:${freePort()}`,
        "--query-frontend.org-id-header=X-Org",
        "--query-frontend.tenant-header=X-Tenant",
      ],
      0,
      "query-frontend",
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      p.status,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 30_000)),
    ]);
    clearTimeout(timer);
    if (status === null) await p.stop();
    assert(status !== null, "the frontend kept running");
    assertEquals(status.code, 1, p.logs());
    assert(
      p.logs().includes(
        "query-frontend.org-id-header and query-frontend.tenant-header cannot be used together",
      ),
      p.logs(),
    );
  },
);

// The reloader: env substitution into the output file, reloads on config and rule changes (and
// only then), gzipped configs, retries while Prometheus refuses; and against a real Prometheus,
// an edited config template reaches Prometheus through POST /-/reload.

import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { PROMETHEUS } from "../helpers/prometheus.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { EnvSubstError, expandEnv, Reloader } from "../../promclient/reloader.ts";
import { PrometheusClient } from "../../promclient/client.ts";
import { eventually, LabPrometheus } from "../helpers/sidecar_lab.ts";

Deno.test("expandEnv substitutes $(VAR) and names unset variables", () => {
  const env = (n: string) => ({ CLUSTER: "eu1" } as Record<string, string>)[n];
  assertEquals(expandEnv("cluster: $(CLUSTER) $x ${Y}", env), "cluster: eu1 $x ${Y}");
  assertThrows(() => expandEnv("a: $(NOPE)", env, "prom.yml.tmpl"), EnvSubstError, '"NOPE"');
});

Deno.test("reloader writes the substituted config and reloads on changes only", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  await Deno.mkdir(`${dir}/rules`);
  await Deno.writeTextFile(`${dir}/tmpl.yml`, "replica: $(REPLICA)\n");
  let reloads = 0;
  let fail = false;
  const r = new Reloader({
    configFile: `${dir}/tmpl.yml`,
    configEnvsubstFile: `${dir}/out.yml`,
    ruleDirs: [`${dir}/rules`],
    reload: () => {
      if (fail) return Promise.reject(new Error("HTTP 503"));
      reloads++;
      return Promise.resolve();
    },
    env: (n) => (n === "REPLICA" ? "A" : undefined),
  });
  const signal = new AbortController().signal;
  assertEquals(await r.apply(signal), true);
  assertEquals(await Deno.readTextFile(`${dir}/out.yml`), "replica: A\n");
  assertEquals(await r.apply(signal), false, "nothing changed");
  await Deno.writeTextFile(`${dir}/rules/a.yml`, "groups: []\n");
  assertEquals(await r.apply(signal), true, "a new rule file");
  // a failed reload is retried by the next apply
  await Deno.writeTextFile(`${dir}/tmpl.yml`, "replica: $(REPLICA)-x\n");
  fail = true;
  let threw = false;
  try {
    await r.apply(signal);
  } catch {
    threw = true;
  }
  assert(threw);
  fail = false;
  assertEquals(await r.apply(signal), true);
  assertEquals(await Deno.readTextFile(`${dir}/out.yml`), "replica: A-x\n");
  assertEquals(reloads, 3);
});

Deno.test("reloader reads gzipped config files", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  const gz = new Uint8Array(
    await new Response(
      new Blob([new TextEncoder().encode("a: $(V)\n")]).stream().pipeThrough(
        new CompressionStream("gzip"),
      ),
    ).arrayBuffer(),
  );
  await Deno.writeFile(`${dir}/cfg.yml.gz`, gz);
  const r = new Reloader({
    configFile: `${dir}/cfg.yml.gz`,
    configEnvsubstFile: `${dir}/out.yml`,
    reload: () => Promise.resolve(),
    env: () => "1",
  });
  await r.apply(new AbortController().signal);
  assertEquals(await Deno.readTextFile(`${dir}/out.yml`), "a: 1\n");
});

Deno.test("reloader run() notices a file change without waiting for the watch interval", async () => {
  await using dirs = new TempDirs();
  const dir = await dirs.make();
  await Deno.writeTextFile(`${dir}/cfg.yml`, "a: 1\n");
  let reloads = 0;
  const r = new Reloader({
    configFile: `${dir}/cfg.yml`,
    watchIntervalMs: 60_000,
    reload: () => {
      reloads++;
      return Promise.resolve();
    },
    env: () => undefined,
  });
  const ac = new AbortController();
  const running = r.run(ac.signal);
  try {
    await eventually("initial reload", () => Promise.resolve(reloads === 1), 5000);
    await new Promise((res) => setTimeout(res, 200));
    await Deno.writeTextFile(`${dir}/cfg.yml`, "a: 2\n");
    await eventually("reload after the edit", () => Promise.resolve(reloads === 2), 5000);
  } finally {
    ac.abort();
    await running;
  }
});

e2eTest(
  "an edited config template reaches a real Prometheus through the reloader",
  { peers: [PROMETHEUS] },
  async () => {
    await using dirs = new TempDirs();
    const dir = await dirs.make();
    const prom = new LabPrometheus({ dataDir: `${dir}/data`, externalLabels: { replica: "A" } });
    const client = new PrometheusClient(prom.url);
    try {
      await prom.start();
      const tmpl = `${dir}/prom.yml.tmpl`;
      await Deno.writeTextFile(tmpl, prom.config().replace('replica: "A"', "replica: $(REPLICA)"));
      let replica = "B";
      const r = new Reloader({
        configFile: tmpl,
        configEnvsubstFile: prom.configFile,
        watchIntervalMs: 60_000,
        reload: (s) => client.reload(s),
        env: (n) => (n === "REPLICA" ? replica : undefined),
      });
      const ac = new AbortController();
      const running = r.run(ac.signal);
      try {
        await eventually(
          "replica B in Prometheus",
          async () => labelsOf(await client.externalLabels()) === "replica=B",
          15_000,
        );
        replica = "C";
        await Deno.writeTextFile(tmpl, (await Deno.readTextFile(tmpl)) + "\n");
        await eventually(
          "replica C in Prometheus",
          async () => labelsOf(await client.externalLabels()) === "replica=C",
          15_000,
        );
      } finally {
        ac.abort();
        await running;
      }
    } finally {
      client.close();
      await prom.dispose();
    }
  },
);

function labelsOf(ls: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < ls.length; i += 2) out.push(`${ls[i]}=${ls[i + 1]}`);
  return out.join(",");
}

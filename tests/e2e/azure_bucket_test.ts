// Long-term storage on AZURE end to end, through the real CLI (sandboxed roles with the grants
// derived from the bucket config): blocks written by our block writer are uploaded with the
// shipper's upload protocol to Azurite; `tools bucket ls|inspect` list them, and a store gateway
// plus a querier serve their series.

import { assert, assertEquals } from "../helpers/assert.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { azureConfigYaml, azuriteTestGate, startAzurite, TEST_TLS } from "../helpers/azurite.ts";
import {
  api,
  eventually,
  type LabProc,
  startLabQuerier,
  startStoreGateway,
} from "../helpers/sidecar_lab.ts";
import { createBucket, parseBucketConfig } from "../../objstore/config.ts";
import { uploadBlock } from "../../block/shipper.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { createBlocksFromSeries } from "../../tsdb/block_writer.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const H = 3600_000;

async function thanos(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

const gate = await azuriteTestGate();

Deno.test({
  name: "AZURE: uploaded blocks are listed by tools bucket and served by a store gateway",
  ignore: gate.ignore,
  async fn() {
    const dirs = new TempDirs();
    const srv = await startAzurite();
    const procs: LabProc[] = [];
    try {
      const dir = await dirs.make();
      const start = Date.UTC(2024, 0, 1);
      const ds = generateDataset({
        series: 40,
        start,
        end: start + 4 * H,
        stepMs: 30_000,
        seed: 3,
      });
      const metas = await createBlocksFromSeries(`${dir}/blocks`, ds.series, {
        thanos: { labels: { region: "east" }, downsample: { resolution: 0 }, source: "sidecar" },
      });
      assert(metas.length >= 2, `expected ≥ 2 blocks, got ${metas.length}`);
      const yaml = azureConfigYaml(srv.endpoint);
      await Deno.writeTextFile(`${dir}/bucket.yml`, yaml);
      const bucket = await createBucket(parseBucketConfig(yaml));
      for (const m of metas) await uploadBlock(bucket, `${dir}/blocks/${m.ulid}`);
      await bucket.close();

      const ls = await thanos([
        "tools",
        "bucket",
        "ls",
        `--objstore.config-file=${dir}/bucket.yml`,
      ]);
      assertEquals(ls.code, 0, ls.err);
      assertEquals(ls.out.trim().split("\n").sort(), metas.map((m) => m.ulid).sort());
      const inspect = await thanos([
        "tools",
        "bucket",
        "inspect",
        `--objstore.config=${yaml}`,
        "--output=csv",
      ]);
      assertEquals(inspect.code, 0, inspect.err);
      const lines = inspect.out.trim().split("\n");
      assertEquals(lines.length, 1 + metas.length, inspect.out);
      for (const m of metas) {
        const line = lines.find((l) => l.startsWith(m.ulid));
        assert(line?.includes("region=east"), `${m.ulid} in ${inspect.out}`);
      }

      const store = await startStoreGateway(`${dir}/bucket.yml`, `${dir}/store`);
      procs.push(store);
      const q = await startLabQuerier([store.grpc]);
      procs.push(q);
      const canon = (o: Record<string, string>) =>
        JSON.stringify(Object.entries(o).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
      const want = ds.series.map((s) => {
        const o: Record<string, string> = { region: "east" };
        for (let i = 0; i < s.labels.length; i += 2) o[s.labels[i]] = s.labels[i + 1];
        return canon(o);
      }).sort();
      let got: string[] = [];
      await eventually("series through the store gateway", async () => {
        const series = await api<Record<string, string>[]>(q.http, "series", {
          "match[]": '{region="east"}',
          start: start / 1000,
          end: (start + 4 * H) / 1000,
        });
        got = series.map(canon).sort();
        return got.length === want.length;
      }, 60_000);
      assertEquals(got, want);
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await srv.stop();
      await dirs.cleanup();
    }
  },
});

Deno.test("AZURE: token credentials are refused at start with one line naming the field", async () => {
  const base = "type: AZURE\nconfig:\n  storage_account: acct\n  container: c\n";
  for (
    const [extra, want] of [
      ["  user_assigned_id: 0000-1111\n", "config.user_assigned_id"],
      ["", "storage_account_key"],
      ["  storage_account_key: k\n  storage_connection_string: x\n", "cannot both be set"],
    ]
  ) {
    const r = await thanos(["tools", "bucket", "ls", `--objstore.config=${base}${extra}`]);
    assertEquals(r.code, 2, `${extra}: ${r.err}`);
    const err = r.err.trim();
    assertEquals(err.split("\n").length, 1, err);
    assert(err.includes(want), `${extra}: ${err}`);
  }
});

Deno.test({
  name: "AZURE over HTTPS through the sandboxed CLI: the blob host and the CA file are granted",
  ignore: gate.ignore,
  async fn() {
    const srv = await startAzurite({ tls: true });
    try {
      const yaml = azureConfigYaml(
        srv.endpoint,
        `  http_config:\n    tls_config:\n      ca_file: ${TEST_TLS.ca}\n`,
        "https",
      );
      const perms = await thanos([
        "tools",
        "bucket",
        "ls",
        `--objstore.config=${yaml}`,
        "--print-permissions",
      ]);
      assertEquals(perms.code, 0, perms.err);
      const line = (k: string) => perms.out.split("\n").find((l) => l.startsWith(`${k}:`)) ?? "";
      assert(line("net").split(/[ ,]/).includes(srv.endpoint), perms.out);
      assert(line("read").includes(TEST_TLS.ca), perms.out);
      const bucket = await createBucket(parseBucketConfig(yaml));
      await bucket.upload("01ARZ3NDEKTSV4RRFFQ69G5FAV/meta.json", new TextEncoder().encode("{}"));
      await bucket.close();
      const ls = await thanos(["tools", "bucket", "ls", `--objstore.config=${yaml}`]);
      // the object is listed (a block without a valid meta.json is not a block: no output), and
      // the command reached the server over TLS inside its sandbox
      assertEquals(ls.code, 0, ls.err);
      assert(!ls.err.includes("NotCapable") && !ls.err.includes("Requires"), ls.err);
      // without the CA file the same command fails on the certificate: the one above did connect
      const untrusted = await thanos([
        "tools",
        "bucket",
        "ls",
        `--objstore.config=${azureConfigYaml(srv.endpoint, "", "https")}`,
      ]);
      assert(untrusted.code !== 0, untrusted.out);
      assert(/certificate|issuer/i.test(untrusted.err), untrusted.err);
    } finally {
      await srv.stop();
    }
  },
});

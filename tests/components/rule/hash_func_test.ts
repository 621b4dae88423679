// `thanos rule --hash-func` through the real CLI: with SHA256 the shipper records the SHA-256 of
// every uploaded file but meta.json in the bucket's meta.json (`thanos.files[].hash`, Thanos's
// format: {"hashFunc":"SHA256","value":"<hex>"}); with the default "" no hash is recorded.
// https://thanos.io/tip/components/rule.md#flags

import { assert, assertEquals } from "../../helpers/assert.ts";
import { startComponent } from "../../helpers/thanos.ts";
import { TempDirs } from "../../helpers/tmp.ts";
import { createBlocksFromSeries } from "../../../tsdb/block_writer.ts";
import { labelsFromObject } from "../../../tsdb/labels.ts";

async function sha256Hex(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface UploadedFile {
  rel_path: string;
  size_bytes?: number;
  hash?: { hashFunc: string; value: string };
}

/** Starts a ruler over a data dir holding one block; returns the uploaded meta.json's files. */
async function shipOne(dir: string, hashFlags: string[]): Promise<
  { files: UploadedFile[]; local: string }
> {
  const data = `${dir}/data`;
  const bucket = `${dir}/bucket`;
  await Deno.mkdir(bucket, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bucket.yml`,
    `type: FILESYSTEM\nconfig:\n  directory: ${bucket}\n`,
  );
  const t0 = Date.now() - 3 * 3600_000;
  const ts = Float64Array.from({ length: 120 }, (_, i) => t0 + i * 15_000);
  const [meta] = await createBlocksFromSeries(data, [
    { labels: labelsFromObject({ __name__: "up", job: "a" }), ts, vs: ts.map((_, i) => i) },
  ]);
  const r = await startComponent("rule", [
    `--data-dir=${data}`,
    `--rule-file=${dir}/rules/*.yml`,
    "--query=127.0.0.1:1",
    '--label=replica="r1"',
    `--objstore.config-file=${dir}/bucket.yml`,
    ...hashFlags,
  ], { name: "rule-hash-func", readyPath: "/-/healthy" });
  try {
    const path = `${bucket}/${meta.ulid}/meta.json`;
    for (let i = 0; i < 100; i++) {
      try {
        const m = JSON.parse(await Deno.readTextFile(path));
        return { files: m.thanos.files, local: `${data}/${meta.ulid}` };
      } catch { /* not uploaded yet */ }
      await new Promise((res) => setTimeout(res, 300));
    }
    throw new Error(`block ${meta.ulid} not uploaded; logs:\n${r.logs().slice(-3000)}`);
  } finally {
    await r.stop();
  }
}

Deno.test({
  name: "thanos rule --hash-func=SHA256 records each uploaded file's hash in meta.json",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    try {
      const { files, local } = await shipOne(await dirs.make(), ["--hash-func=SHA256"]);
      const names = files.map((f) => f.rel_path);
      assert(names.includes("index") && names.includes("meta.json"), JSON.stringify(files));
      assert(names.some((n) => n.startsWith("chunks/")), JSON.stringify(files));
      for (const f of files) {
        if (f.rel_path === "meta.json") {
          assertEquals(f.hash, undefined);
          continue;
        }
        assertEquals(f.hash, {
          hashFunc: "SHA256",
          value: await sha256Hex(`${local}/${f.rel_path}`),
        });
      }
    } finally {
      await dirs.cleanup();
    }
  },
});

Deno.test({
  name: "thanos rule without --hash-func records no hashes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    try {
      const { files } = await shipOne(await dirs.make(), []);
      assert(files.length >= 3, JSON.stringify(files));
      for (const f of files) assertEquals(f.hash, undefined, f.rel_path);
    } finally {
      await dirs.cleanup();
    }
  },
});

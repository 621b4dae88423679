// The single-executable promise: the program's module graph is compile-ready (static imports,
// or dynamic ones of a literal module in the graph; no reads of the source tree at run time),
// and — when a denort runtime is available — the compiled binary runs.

import { assert, assertEquals } from "../helpers/assert.ts";
import { artifactName, compileArgs, compileTarget, hostTarget } from "../../scripts/compile.ts";
import { V8_FLAGS } from "../../components/v8_flags.ts";
import { freePort } from "../helpers/ports.ts";
import { generateDataset } from "../../scripts/dataset.ts";
import { createBlocksFromSeries } from "../../tsdb/block_writer.ts";
import { moduleGraph, ROOT } from "../helpers/module_graph.ts";

Deno.test("program modules use only static imports and never read the source tree", async () => {
  const files = new Set([
    ...await moduleGraph("main.ts"),
    ...await moduleGraph("components/worker.ts"),
  ]);
  assert(files.size > 5, `module graph too small: ${[...files].join(", ")}`);
  const problems: string[] = [];
  for (const f of files) {
    if (!f.endsWith(".ts")) continue;
    const src = await Deno.readTextFile(f);
    const rel = f.slice(ROOT.length);
    // dynamic import(), except in comments; a string-literal relative specifier whose module
    // `deno info` lists in the graph is embedded by `deno compile` like a static import
    // (https://docs.deno.com/runtime/reference/cli/compile/#dynamic-imports), so it may stay,
    // and so may a literal `node:` built-in, which is part of the runtime itself
    for (const line of src.split("\n")) {
      const code = line.replace(/\/\/.*$/, "");
      if (/(^|[^.\w])import\s*\(/.test(code)) {
        const builtin = /(?:^|[^.\w])import\s*\(\s*"node:[a-z_/]+"\s*\)/.test(code);
        const lit = /(?:^|[^.\w])import\s*\(\s*"(\.{1,2}\/[^"]+)"\s*\)/.exec(code);
        const target = lit ? new URL(lit[1], `file://${f}`).pathname : "";
        if (!builtin && (!lit || !files.has(target))) {
          problems.push(`${rel}: dynamic import: ${line.trim()}`);
        }
      }
      if (/Deno\.(readFile|readTextFile|open|readDir)\w*\([^)]*import\.meta/.test(code)) {
        problems.push(`${rel}: reads the source tree at run time: ${line.trim()}`);
      }
    }
  }
  assertEquals(problems, []);
});

Deno.test("the worker entry is the one module compile must --include", async () => {
  const src = await Deno.readTextFile(`${ROOT}main.ts`);
  assert(src.includes('new URL("./components/worker.ts", import.meta.url)'));
  const script = await Deno.readTextFile(`${ROOT}scripts/compile.ts`);
  assert(script.includes('"components/worker.ts"'));
});

Deno.test("the compiled binary bakes in every flag, whatever the builder's DENO_V8_FLAGS", () => {
  const flagsOf = (args: string[]) => args.filter((a) => a.startsWith("--v8-flags"));
  const flags = ["--max-semi-space-size=8", "--heap-growing-percent=50"];
  const args = compileArgs("x86_64-unknown-linux-gnu", "/tmp/out", flags);
  assertEquals(flagsOf(args), [`--v8-flags=${flags.join(",")}`]);
  // before the entry module: later words are the program's own arguments
  assert(args.indexOf(flagsOf(args)[0]) < args.indexOf("main.ts"));
  // by default the program's own list
  const ours = flagsOf(compileArgs("x86_64-unknown-linux-gnu", "/tmp/out"));
  assertEquals(ours, V8_FLAGS.length ? [`--v8-flags=${V8_FLAGS.join(",")}`] : []);
});

const denort = Deno.env.get("DENORT_BIN");

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${url}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

// Without DENORT_BIN this test cannot run (`deno compile` would download the denort runtime,
// and there is no network here); it is then reported as ignored, its name saying why, and
// `.ci/run` lists it by name after the summary.
const COMPILED_BINARY_TEST =
  "compiled binary prints its version, serves the UI from query and a bucket from store";

Deno.test({
  name: denort ? COMPILED_BINARY_TEST : `${COMPILED_BINARY_TEST} (skipped: DENORT_BIN not set)`,
  ignore: !denort,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir();
    const children: Deno.ChildProcess[] = [];
    try {
      const bin = await compileTarget(hostTarget(), out);
      assert(bin.endsWith(artifactName(hostTarget())));
      const v = await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output();
      assertEquals(v.code, 0);
      assert(new TextDecoder().decode(v.stdout).includes("thanos, version"));
      const bad = await new Deno.Command(bin, { args: ["nope"], stderr: "piped" }).output();
      assertEquals(bad.code, 2);

      const start = Date.UTC(2024, 0, 1);
      const ds = generateDataset({
        series: 20,
        start,
        end: start + 2 * 3600_000,
        stepMs: 15_000,
        seed: 1,
      });
      await createBlocksFromSeries(`${out}/bucket`, ds.series, {
        thanos: { labels: { region: "east" }, downsample: { resolution: 0 }, source: "sidecar" },
      });
      const [sg, sh, qg, qh] = [freePort(), freePort(), freePort(), freePort()];
      const run = (args: string[]) => {
        const c = new Deno.Command(bin, { args, stdout: "null", stderr: "null" }).spawn();
        children.push(c);
        return c;
      };
      const store = run([
        "store",
        `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${out}/bucket\n`,
        `--data-dir=${out}/store`,
        `--grpc-address=127.0.0.1:${sg}`,
        `--http-address=127.0.0.1:${sh}`,
      ]);
      const query = run([
        "query",
        `--store=127.0.0.1:${sg}`,
        `--grpc-address=127.0.0.1:${qg}`,
        `--http-address=127.0.0.1:${qh}`,
      ]);
      await waitReady(`http://127.0.0.1:${sh}`);
      await waitReady(`http://127.0.0.1:${qh}`);
      const page = await (await fetch(`http://127.0.0.1:${qh}/graph`)).text();
      assert(page.includes("<html"), page.slice(0, 200));
      let n = 0;
      for (let i = 0; i < 50 && n === 0; i++) {
        const r = await (await fetch(
          `http://127.0.0.1:${qh}/api/v1/query?query=count({region="east"})&time=${
            (start + 3600_000) / 1000
          }`,
        )).json();
        n = r.data?.result?.length ?? 0;
        if (n === 0) await new Promise((r) => setTimeout(r, 200));
      }
      assertEquals(n, 1);
      for (const c of [query, store]) c.kill("SIGTERM");
      assertEquals((await query.status).code, 0);
      assertEquals((await store.status).code, 0);
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch {
          // already exited
        }
      }
      await Deno.remove(out, { recursive: true });
    }
  },
});

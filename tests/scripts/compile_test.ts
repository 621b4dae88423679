// The single-executable promise: the program's module graph is compile-ready (static imports,
// no reads of the source tree at run time), and — when a denort runtime is available — the
// compiled binary runs.

import { assert, assertEquals } from "../helpers/assert.ts";
import { artifactName, compileTarget, hostTarget } from "../../scripts/compile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Local source files in the module graph of `entry` (via `deno info --json`). */
async function moduleGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; kind?: string }[];
  };
  return info.modules.map((m) => m.specifier).filter((s) => s.startsWith("file://")).map((s) =>
    new URL(s).pathname
  );
}

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
    // dynamic import(), except in comments
    for (const line of src.split("\n")) {
      const code = line.replace(/\/\/.*$/, "");
      if (/(^|[^.\w])import\s*\(/.test(code)) {
        problems.push(`${rel}: dynamic import: ${line.trim()}`);
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

const denort = Deno.env.get("DENORT_BIN");
Deno.test({
  name: "compiled binary for this host prints its version and help",
  ignore: !denort,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      const bin = await compileTarget(hostTarget(), out);
      assert(bin.endsWith(artifactName(hostTarget())));
      const v = await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output();
      assertEquals(v.code, 0);
      assert(new TextDecoder().decode(v.stdout).includes("thanos, version"));
      const bad = await new Deno.Command(bin, { args: ["nope"], stderr: "piped" }).output();
      assertEquals(bad.code, 2);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
if (!denort) {
  console.log(
    "compile_test: skipping the compiled-binary test: DENORT_BIN is not set and the denort " +
      "runtime cannot be downloaded here",
  );
}

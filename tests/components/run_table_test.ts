// The Workers' module graphs: a role's config and main modules, and the OpenTelemetry SDK, are
// loaded by `import()` when needed, so a Worker compiles and holds only the code it runs.

import { assert, assertEquals } from "../helpers/assert.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Repository-relative files `entry` loads before running any code (static imports only). */
async function staticGraph(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length > 0) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) todo.push(d.code.specifier);
    }
  }
  return new Set(
    [...seen].filter((s) => s.startsWith(`file://${ROOT}`)).map((s) =>
      s.slice(`file://${ROOT}`.length)
    ),
  );
}

Deno.test("the role Worker loads no role's config or main module until that role runs", async () => {
  const files = await staticGraph("components/worker.ts");
  assert(files.has("components/run_table.ts"), [...files].join(", "));
  const roles = [
    "store",
    "query",
    "sidecar",
    "receive",
    "compact",
    "query-frontend",
    "rule",
    "tools",
  ];
  const eager = roles.flatMap((r) => [`components/${r}/main.ts`, `components/${r}/config.ts`])
    .filter((f) => files.has(f));
  assertEquals(eager, []);
});

Deno.test("the OpenTelemetry SDK loads only when tracing starts, in every Worker", async () => {
  for (
    const entry of [
      "components/worker.ts",
      "components/store/main.ts",
      "components/query/main.ts",
      "query/eval_worker.ts",
    ]
  ) {
    const files = await staticGraph(entry);
    assert(files.size > 3, `${entry}: module graph too small`);
    assertEquals(files.has("tracing/setup.ts"), false, `${entry} loads tracing/setup.ts`);
  }
});

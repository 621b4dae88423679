// The Workers' module graphs: a role's config and main modules, and the OpenTelemetry SDK, are
// loaded by `import()` when needed, so a Worker compiles and holds only the code it runs.

import { assert, assertEquals } from "../helpers/assert.ts";
import { staticExternals, staticGraph } from "../helpers/module_graph.ts";

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

Deno.test("an evaluation Worker starts without node:tls, node:zlib, node:crypto or snappyjs", async () => {
  // each costs a Worker's start several ms (~35 ms together); TLS dials, compressed gRPC
  // messages and hashmod relabelling load or replace them when used (storeapi/grpc.ts loadCodecs)
  const ext = await staticExternals("query/eval_worker.ts");
  assert(ext.size > 0, "no external modules found: the graph was not read");
  const heavy = [...ext].filter((s) =>
    ["node:tls", "node:zlib", "node:crypto", "node:https"].includes(s) || s.includes("snappyjs")
  );
  assertEquals(heavy, []);
});

// `--request.logging-config(-file)` through the real CLI: the launcher refuses a config Thanos
// refuses (one line, exit 2); a querier given a config file (read through its grant) logs its
// HTTP API requests and gRPC calls as Thanos does; a store gateway logs its gRPC calls only.

import { assert, assertEquals } from "../helpers/assert.ts";
import { prepareRole } from "../../main.ts";
import { startComponent } from "../helpers/thanos.ts";
import { StoreClient } from "../../storeapi/client.ts";
import { TempDirs } from "../helpers/tmp.ts";
import { requestLogForRole, requestLogFromFlags } from "../../components/request_logging.ts";

const DEBUG_ALL = "options:\n  level: DEBUG\n  decision:\n    log_start: true\n    log_end: true\n";

Deno.test("the launcher refuses a request logging config Thanos refuses, on one line", async () => {
  for (
    const [argv, want] of [
      [[
        "query",
        "--request.logging-config=options:\n  level: LOUD\n  decision:\n    log_end: true",
      ], "format of level"],
      [["store", "--request.logging-config=grpc:\n  optionz: {}"], "field optionz not found"],
      [
        ["sidecar", "--request.logging-config=options:\n  decision:\n    log_start: true"],
        "level field is empty",
      ],
    ] as [string[], string][]
  ) {
    const r = await prepareRole(argv);
    assert("kind" in r, argv.join(" "));
    assertEquals(r.code, 2, r.text);
    assertEquals(r.text.split("\n").length, 1, r.text);
    assert(r.text.includes("--request.logging-config") && r.text.includes(want), r.text);
  }
  const ok = await prepareRole(["query", `--request.logging-config=${DEBUG_ALL}`]);
  assert(!("kind" in ok), "kind" in ok ? ok.text : "");
});

Deno.test("each role logs the protocols Thanos wires request logging into", () => {
  const cfg = requestLogFromFlags(
    {
      command: ["query"],
      values: { "request.logging-config": [DEBUG_ALL] },
      files: {},
      args: [],
    } as unknown as Parameters<typeof requestLogFromFlags>[0],
  );
  assert(cfg.http !== null && cfg.grpc !== null);
  assertEquals(requestLogForRole("store", cfg).http, null);
  assert(requestLogForRole("store", cfg).grpc !== null);
  assertEquals(requestLogForRole("query-frontend", cfg).grpc, null);
  assert(requestLogForRole("rule", cfg).http !== null);
});

Deno.test({
  name: "thanos query, store and rule log requests per --request.logging-config(-file)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    try {
      const dir = await dirs.make();
      await Deno.writeTextFile(`${dir}/reqlog.yml`, DEBUG_ALL);
      const q = await startComponent("query", [
        "--log.level=debug",
        `--request.logging-config-file=${dir}/reqlog.yml`,
      ], { name: "query-reqlog" });
      try {
        const r = await fetch(`${q.http}/api/v1/labels`, { headers: { "X-Request-ID": "abc" } });
        assertEquals(r.status, 200, await r.text());
        const c = new StoreClient(q.grpc);
        try {
          await c.info();
        } finally {
          c.close();
        }
      } finally {
        await q.stop();
      }
      const ql = q.logs().split("\n").filter((l) => l.includes('call"'));
      const http = ql.filter((l) => l.includes('http.method="GET /api/v1/labels"'));
      assertEquals(http.length, 2, ql.join("\n"));
      assert(http[1].includes('msg="finished call"') && http[1].includes("http.request_id=abc"));
      assert(http[1].includes("http.status_code=200"), http[1]);
      const grpc = ql.filter((l) => l.includes("grpc.service=thanos.info.Info"));
      assertEquals(grpc.length, 2, ql.join("\n"));
      assert(grpc[1].includes("grpc.code=OK") && grpc[1].includes("grpc.time_ms="), grpc[1]);

      await Deno.mkdir(`${dir}/bucket`);
      const s = await startComponent("store", [
        "--log.level=debug",
        `--data-dir=${dir}/data`,
        `--objstore.config=type: FILESYSTEM\nconfig:\n  directory: ${dir}/bucket\n`,
        `--request.logging-config=${DEBUG_ALL}`,
      ], { name: "store-reqlog" });
      try {
        const c = new StoreClient(s.grpc);
        try {
          await c.info();
        } finally {
          c.close();
        }
        await (await fetch(`${s.http}/metrics`)).body?.cancel();
      } finally {
        await s.stop();
      }
      const sl = s.logs().split("\n").filter((l) => l.includes('call"'));
      assert(
        sl.some((l) => l.includes("grpc.method=Info") && l.includes("finished")),
        sl.join("\n"),
      );
      assert(!sl.some((l) => l.includes("protocol=http")), sl.join("\n"));

      // the ruler logs both protocols
      const r = await startComponent("rule", [
        "--log.level=debug",
        `--data-dir=${dir}/rule`,
        `--rule-file=${dir}/*.rules.yml`,
        "--query=127.0.0.1:1",
        `--request.logging-config=${DEBUG_ALL}`,
      ], { name: "rule-reqlog" });
      try {
        await (await fetch(`${r.http}/api/v1/rules`)).body?.cancel();
        const c = new StoreClient(r.grpc);
        try {
          await c.info();
        } finally {
          c.close();
        }
      } finally {
        await r.stop();
      }
      const rl = r.logs().split("\n").filter((l) => l.includes('msg="finished call"'));
      assert(rl.some((l) => l.includes('http.method="GET /api/v1/rules"')), rl.join("\n"));
      assert(rl.some((l) => l.includes("grpc.method=Info")), rl.join("\n"));
    } finally {
      await dirs.cleanup();
    }
  },
});

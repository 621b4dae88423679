// query/active_queries.ts: Prometheus's active query log (promql/query_logger.go) as
// `--query.active-query-path` keeps it: the file's layout, slots, the crash report at start,
// and through the real CLI (its write grant and the log line).

import { assert, assertEquals } from "../helpers/assert.ts";
import {
  ACTIVE_QUERY_ENTRY_SIZE,
  activeQueryEntry,
  ActiveQueryTracker,
  unfinishedQueries,
} from "../../query/active_queries.ts";
import { Logger } from "../../logging/log.ts";
import { startComponent } from "../helpers/thanos.ts";

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger("info", "logfmt", {}, (l) => lines.push(l)), lines };
}

Deno.test("the file: '[' then one 1000-byte slot per concurrent query; entries in place", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { logger, lines } = capture();
    const t = await ActiveQueryTracker.open(`${dir}/sub`, 3, logger);
    const path = `${dir}/sub/queries.active`;
    let f = await Deno.readFile(path);
    assertEquals(f.length, 1 + 3 * ACTIVE_QUERY_ENTRY_SIZE);
    assertEquals(f[0], 0x5b);
    assert(f.subarray(1).every((b) => b === 0));
    assertEquals(lines, []);

    const a = await t.insert('sum(rate(x{a="<b>"}[5m]))');
    const b = await t.insert("up");
    assertEquals([a, b], [1, 1 + ACTIVE_QUERY_ENTRY_SIZE]);
    f = await Deno.readFile(path);
    assertEquals(f[a + ACTIVE_QUERY_ENTRY_SIZE - 1], 0x2c);
    const listed = JSON.parse(unfinishedQueries(f)!);
    assertEquals(listed.map((e: { query: string }) => e.query), [
      'sum(rate(x{a="<b>"}[5m]))',
      "up",
    ]);
    const now = Date.now() / 1000;
    assert(Math.abs(listed[0].timestamp_sec - now) < 60, String(listed[0].timestamp_sec));
    // Go's encoding/json escapes < and >
    assert(new TextDecoder().decode(f).includes("\\u003cb\\u003e"));

    await t.delete(a);
    f = await Deno.readFile(path);
    assert(f.subarray(a, a + ACTIVE_QUERY_ENTRY_SIZE).every((x) => x === 0));
    assertEquals(JSON.parse(unfinishedQueries(f)!).map((e: { query: string }) => e.query), ["up"]);
    await t.delete(b);
    assertEquals(unfinishedQueries(await Deno.readFile(path)), null);
    await t.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a query waits for a slot when every slot is taken", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t = await ActiveQueryTracker.open(dir, 1, capture().logger);
    const first = await t.insert("a");
    let second: number | null = null;
    const waiting = t.insert("b").then((o) => second = o);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals(second, null);
    await t.delete(first);
    await waiting;
    assertEquals(second, first);
    const f = await Deno.readFile(`${dir}/queries.active`);
    assertEquals(JSON.parse(unfinishedQueries(f)!)[0].query, "b");
    await t.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queries left by a crash are logged at start, then the file starts afresh", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const crashed = await ActiveQueryTracker.open(dir, 2, capture().logger);
    await crashed.insert("rate(x[5m])");
    await crashed.close(); // no delete: as if the process died mid-query
    const { logger, lines } = capture();
    const t = await ActiveQueryTracker.open(dir, 2, logger);
    assertEquals(lines.length, 1, lines.join("\n"));
    assert(lines[0].includes("These queries didn't finish in prometheus' last run:"), lines[0]);
    assert(lines[0].includes('\\"query\\":\\"rate(x[5m])\\"'), lines[0]);
    assertEquals(unfinishedQueries(await Deno.readFile(`${dir}/queries.active`)), null);
    await t.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a long query is cut at a UTF-8 character start to fit its slot", () => {
  const q = "é".repeat(2000);
  const e = activeQueryEntry(q, 1700000000);
  assert(e.length < ACTIVE_QUERY_ENTRY_SIZE, String(e.length));
  const parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(e));
  assert(parsed.query.length > 400 && /^é+$/.test(parsed.query), parsed.query.length);
  assertEquals(parsed.timestamp_sec, 1700000000);
});

Deno.test({
  name: "thanos query --query.active-query-path: reports a crashed run's queries, logs queries",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const crashed = await ActiveQueryTracker.open(`${dir}/aq`, 2, capture().logger);
      await crashed.insert("max_over_time(up[1h])");
      await crashed.close();
      const q = await startComponent("query", [
        `--query.active-query-path=${dir}/aq`,
        "--query.max-concurrent=4",
        "--log.level=info",
      ], { name: "query-active-queries" });
      try {
        const r = await fetch(`${q.http}/api/v1/query?query=vector(1)&time=100`);
        assertEquals(r.status, 200, await r.text());
        const f = await Deno.readFile(`${dir}/aq/queries.active`);
        // sized by --query.max-concurrent; the finished query's slot is free again
        assertEquals(f.length, 1 + 4 * ACTIVE_QUERY_ENTRY_SIZE);
        assertEquals(unfinishedQueries(f), null);
      } finally {
        await q.stop();
      }
      const logs = q.logs();
      assert(logs.includes("These queries didn't finish in prometheus' last run:"), logs);
      assert(logs.includes("max_over_time(up[1h])"), logs);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

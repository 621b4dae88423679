// `thanos rule --web.prefix-header` / `--web.external-prefix` through the real CLI: the ruler's
// Alerts and Rules pages and its `/` redirect take the prefix from the named request header (as
// the querier's), and a static external prefix wins over the header.

import { assert, assertEquals } from "../../helpers/assert.ts";
import { startComponent } from "../../helpers/thanos.ts";
import { TempDirs } from "../../helpers/tmp.ts";

async function get(url: string, headers: Record<string, string> = {}) {
  const r = await fetch(url, { redirect: "manual", headers });
  return { status: r.status, location: r.headers.get("location"), body: await r.text() };
}

Deno.test({
  name: "thanos rule --web.prefix-header and --web.external-prefix prefix the UI's links",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dirs = new TempDirs();
    try {
      const dir = await dirs.make();
      const base = [`--data-dir=${dir}/data`, `--rule-file=${dir}/*.yml`, "--query=127.0.0.1:1"];
      const r = await startComponent("rule", [...base, "--web.prefix-header=X-Forwarded-Prefix"], {
        name: "rule-prefix-header",
        readyPath: "/-/healthy",
      });
      try {
        const h = { "X-Forwarded-Prefix": "/proxied" };
        const root = await get(`${r.http}/`, h);
        assertEquals([root.status, root.location], [302, "/proxied/alerts"]);
        const page = await get(`${r.http}/alerts`, h);
        assert(page.body.includes('src="/proxied/static/app.js?v='), page.body);
        assertEquals((await get(`${r.http}/`)).location, "/alerts");
      } finally {
        await r.stop();
      }
      const e = await startComponent("rule", [
        ...base,
        `--data-dir=${dir}/data2`,
        "--web.prefix-header=X-Forwarded-Prefix",
        "--web.external-prefix=/ext",
      ], { name: "rule-external-prefix", readyPath: "/-/healthy" });
      try {
        const root = await get(`${e.http}/`, { "X-Forwarded-Prefix": "/proxied" });
        assertEquals(root.location, "/ext/alerts");
      } finally {
        await e.stop();
      }
    } finally {
      await dirs.cleanup();
    }
  },
});

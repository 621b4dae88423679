// `thanos query` serves the embedded query UI itself: the real querier process (no stores
// needed) answers `/graph` with the app's page and `/static/*` with the built assets from
// ui/dist, at the root and under `--web.route-prefix`. Expected bodies are read from ui/dist
// here, not taken from ui/routes.ts.

import { assert, assertEquals } from "../../helpers/assert.ts";
import { startComponent, type ThanosProc } from "../../helpers/thanos.ts";

const DIST = new URL("../../../ui/dist/", import.meta.url).pathname;

async function expectedPage(prefix: string): Promise<string> {
  const template = await Deno.readTextFile(`${DIST}index.html`);
  const version = JSON.parse(await Deno.readTextFile(`${DIST}manifest.json`)).version as string;
  return template.replaceAll("%PREFIX%", prefix).replaceAll("%TITLE%", "Thanos | Query")
    .replaceAll("%VERSION%", version).replaceAll("%COMPONENT%", "query");
}

async function get(url: string, init?: RequestInit) {
  const r = await fetch(url, { redirect: "manual", ...init });
  return {
    status: r.status,
    type: r.headers.get("content-type"),
    location: r.headers.get("location"),
    body: await r.text(),
  };
}

async function checkUi(q: ThanosProc, prefix: string): Promise<void> {
  const base = `${q.http}${prefix}`;
  const page = await get(`${base}/graph`);
  assertEquals(
    { status: page.status, type: page.type, body: page.body },
    { status: 200, type: "text/html; charset=utf-8", body: await expectedPage(prefix) },
    `${prefix}/graph`,
  );
  assert(page.body.includes(`<script type="module" src="${prefix}/static/app.js?v=`));
  for (const p of ["/stores", "/status", "/alerts", "/rules", "/targets"]) {
    assertEquals((await get(`${base}${p}`)).body, page.body, `${prefix}${p}`);
  }
  const root = await get(`${base}/`);
  assertEquals([root.status, root.location], [302, `${prefix}/graph`]);
  const js = await get(`${base}/static/app.js`, { headers: { "accept-encoding": "identity" } });
  assertEquals(js.status, 200);
  assertEquals(js.type, "text/javascript; charset=utf-8");
  assert(js.body === await Deno.readTextFile(`${DIST}app.js`), "app.js is the built bundle");
  const css = await get(`${base}/static/app.css`, { headers: { "accept-encoding": "identity" } });
  assertEquals([css.status, css.body], [200, await Deno.readTextFile(`${DIST}app.css`)]);
  const missing = await get(`${base}/static/nope.js`);
  assertEquals(missing.status, 404);
}

Deno.test({
  name: "thanos query serves the UI page and its static assets itself",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const plain = await startComponent("query", [], { name: "query-ui" });
    try {
      await checkUi(plain, "");
    } finally {
      await plain.stop();
    }
    const prefixed = await startComponent("query", ["--web.route-prefix=/thanos"], {
      name: "query-ui-prefix",
    });
    try {
      await checkUi(prefixed, "/thanos");
    } finally {
      await prefixed.stop();
    }
  },
});

Deno.test({
  name: "thanos query --web.prefix-header: the UI's links and redirects take the header's prefix",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const q = await startComponent("query", ["--web.prefix-header=X-Forwarded-Prefix"], {
      name: "query-ui-prefix-header",
    });
    try {
      const h = { headers: { "X-Forwarded-Prefix": "/some-path" } };
      const page = await get(`${q.http}/graph`, h);
      assertEquals([page.status, page.body], [200, await expectedPage("/some-path")]);
      const root = await get(`${q.http}/`, h);
      assertEquals([root.status, root.location], [302, "/some-path/graph"]);
      // without the header: no prefix; a forged scheme and host are dropped
      assertEquals((await get(`${q.http}/graph`)).body, await expectedPage(""));
      const forged = await get(`${q.http}/`, {
        headers: { "X-Forwarded-Prefix": "https://evil.example/p" },
      });
      assertEquals(forged.location, "/p/graph");
    } finally {
      await q.stop();
    }
  },
});

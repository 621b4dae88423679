// The UI's server side and its pure helpers: routes serve the embedded app under prefixes with
// compression and caching, ui/dist matches its sources, URL state and time parsing round-trip.

import { assert, assertEquals } from "../helpers/assert.ts";
import { acceptsGzip, headerPrefix, normalizePrefix, UI_PAGES, uiRoutes } from "../../ui/routes.ts";
import { sourceHash, type UiManifest } from "../../ui/build.ts";
import { defaultPanel, panelsFromSearch, panelsToSearch } from "../../ui/src/url_state.ts";
import { formatDuration, formatTime, parseDuration, parseTime } from "../../ui/src/time.ts";
import { directRequestInfo, HttpServer, Probe, type Route } from "../../server/http.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";

const DIST = new URL("../../ui/dist/", import.meta.url).pathname;

/** Finds the route answering `path` (relative to the prefix) and calls it. */
async function call(
  routes: Route[],
  path: string,
  init?: RequestInit,
): Promise<Response> {
  const url = new URL(path, "http://127.0.0.1");
  for (const r of routes) {
    const m = new URLPattern({ pathname: r.path }).exec({ pathname: url.pathname });
    if (!m) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.pathname.groups)) if (v) params[k] = v;
    const req = new Request(url, init);
    return await r.handler(req, params, directRequestInfo(req, params));
  }
  return new Response("no route", { status: 404 });
}

Deno.test("ui/dist was built from the current ui sources (run `deno run -A ui/build.ts`)", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(`${DIST}manifest.json`)) as UiManifest;
  assertEquals(manifest.sourceHash, await sourceHash(), "ui/dist is stale");
  for (const [name, f] of Object.entries(manifest.files)) {
    const data = await Deno.readFile(`${DIST}${name}`);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    assertEquals(hex, f.sha256, `ui/dist/${name} differs from what the build wrote`);
  }
});

Deno.test("UI pages answer the app's HTML with the external prefix filled in", async () => {
  const routes = uiRoutes({ routePrefix: "/thanos", externalPrefix: "/ext/thanos/" });
  for (const p of UI_PAGES) {
    const r = await call(routes, p);
    assertEquals(r.status, 200, p);
    assertEquals(r.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await r.text();
    assert(html.includes('<meta name="thanos-prefix" content="/ext/thanos">'), html);
    assert(html.includes('src="/ext/thanos/static/app.js?v='), html);
    assert(!html.includes("%PREFIX%") && !html.includes("%VERSION%"), html);
  }
});

Deno.test("the root redirects to /graph under the external prefix, keeping the query", async () => {
  const routes = uiRoutes({ routePrefix: "" });
  const r = await call(routes, "/?g0.expr=up");
  assertEquals(r.status, 302);
  assertEquals(r.headers.get("location"), "/graph?g0.expr=up");
  const prefixed = uiRoutes({ routePrefix: "/thanos" });
  assertEquals((await call(prefixed, "/")).headers.get("location"), "/thanos/graph");
  // `/thanos` without a trailing slash is served too (the server prefixes the empty path)
  assert(prefixed.some((r) => r.path === ""), "route for the bare prefix");
});

Deno.test("assets are served gzipped when accepted, with immutable caching when versioned", async () => {
  const routes = uiRoutes({ routePrefix: "" });
  const page = await (await call(routes, "/graph")).text();
  const version = /app\.js\?v=([0-9a-f]+)/.exec(page)![1];
  const plain = await call(routes, `/static/app.js?v=${version}`);
  assertEquals(plain.headers.get("content-type"), "text/javascript; charset=utf-8");
  assertEquals(plain.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const js = await plain.text();
  assertEquals(js, await Deno.readTextFile(`${DIST}app.js`));

  const gz = await call(routes, `/static/app.js?v=${version}`, {
    headers: { "accept-encoding": "gzip, deflate, br" },
  });
  assertEquals(gz.headers.get("content-encoding"), "gzip");
  const unzipped = await new Response(gz.body!.pipeThrough(new DecompressionStream("gzip"))).text();
  assertEquals(unzipped, js);

  const css = await call(routes, "/static/app.css");
  assertEquals(css.headers.get("content-type"), "text/css; charset=utf-8");
  assertEquals(css.headers.get("cache-control"), "no-cache");
  const etag = css.headers.get("etag")!;
  await css.body?.cancel();
  const again = await call(routes, "/static/app.css", { headers: { "if-none-match": etag } });
  assertEquals(again.status, 304);
  assertEquals((await call(routes, "/static/nope.js")).status, 404);
});

Deno.test({
  name: "the UI routes read no files at run time (assets are embedded)",
  permissions: { read: false, net: false, env: false },
  fn: async () => {
    const routes = uiRoutes({ routePrefix: "" });
    assertEquals((await call(routes, "/stores")).status, 200);
    const js = await call(routes, "/static/app.js");
    assert((await js.text()).length > 100_000);
  },
});

Deno.test({
  name: "uiRoutes mounted on a role's HttpServer answer under --web.route-prefix",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const srv = new HttpServer({
      address: { hostname: "127.0.0.1", port: 0 },
      logger: new Logger("error", "logfmt", {}, () => {}),
      registry: new Registry(),
      probe: new Probe(),
      routePrefix: "/thanos",
    });
    srv.add(uiRoutes({ routePrefix: "/thanos" }));
    await srv.start();
    const base = `http://127.0.0.1:${srv.addr!.port}`;
    try {
      for (const path of ["/thanos", "/thanos/"]) {
        const r = await fetch(`${base}${path}`, { redirect: "manual" });
        await r.body?.cancel();
        assertEquals([r.status, r.headers.get("location")], [302, "/thanos/graph"], path);
      }
      const page = await fetch(`${base}/thanos/stores`);
      assert((await page.text()).includes('content="/thanos"'));
      const js = await fetch(`${base}/thanos/static/app.js`);
      assertEquals(js.status, 200);
      assert((await js.text()).length > 100_000);
      const outside = await fetch(`${base}/graph`);
      await outside.body?.cancel();
      assertEquals(outside.status, 404);
    } finally {
      await srv.shutdown(1000);
    }
  },
});

Deno.test("Accept-Encoding parsing honours q=0", () => {
  assert(acceptsGzip("gzip"));
  assert(acceptsGzip("br;q=1.0, gzip;q=0.8"));
  assert(acceptsGzip("*"));
  assert(!acceptsGzip("gzip;q=0"));
  assert(!acceptsGzip("br"));
  assert(!acceptsGzip(null));
});

Deno.test("prefixes are normalised to a leading slash and no trailing slash", () => {
  assertEquals(normalizePrefix(""), "");
  assertEquals(normalizePrefix("/"), "");
  assertEquals(normalizePrefix("thanos"), "/thanos");
  assertEquals(normalizePrefix("/a/b/"), "/a/b");
});

Deno.test("panel state round-trips through the URL with Thanos UI parameter names", () => {
  const a = defaultPanel();
  a.expr = 'sum by (region) (rate(http_requests_total{code="500"}[5m]))';
  a.tab = "graph";
  a.rangeMs = 6 * 3600_000;
  a.endMs = Date.UTC(2024, 0, 2, 3, 4, 5);
  a.stepMs = 30_000;
  a.stacked = true;
  a.dedup = false;
  a.partialResponse = false;
  a.replicaLabels = ["replica", "rule_replica"];
  a.maxSourceResolution = "5m";
  const b = defaultPanel();
  b.expr = "up";
  b.momentMs = Date.UTC(2024, 0, 1);
  const search = panelsToSearch([a, b]);
  assert(search.includes("g0.deduplicate=0"), search);
  assert(search.includes("g0.tab=0"), search);
  assert(search.includes("g1.tab=1"), search);
  assert(search.includes("g0.max_source_resolution=5m"), search);
  assertEquals(panelsFromSearch(search), [a, b]);
});

Deno.test("a URL without panels gives one empty panel; unknown values fall back to defaults", () => {
  assertEquals(panelsFromSearch(""), [defaultPanel()]);
  const [p] = panelsFromSearch(
    "g0.expr=up&g0.range_input=bogus&g0.max_source_resolution=9m",
    false,
  );
  assertEquals(p.expr, "up");
  assertEquals(p.rangeMs, 3600_000);
  assertEquals(p.maxSourceResolution, "auto");
  assertEquals(p.partialResponse, false);
});

Deno.test("durations and UTC times parse and format like the Prometheus UI", () => {
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("2d"), 172_800_000);
  assertEquals(parseDuration("15"), 15_000);
  assertEquals(parseDuration("500ms"), 500);
  assertEquals(parseDuration("1x"), null);
  assertEquals(parseDuration(""), null);
  assertEquals(formatDuration(5_400_000), "1h30m");
  assertEquals(formatDuration(0), "0s");
  const t = Date.UTC(2026, 10, 21, 6, 5, 4);
  assertEquals(formatTime(t), "2026-11-21 06:05:04");
  assertEquals(parseTime("2026-11-21 06:05:04"), t);
  assertEquals(parseTime("2026-11-21T06:05:04.000Z"), t);
  assertEquals(parseTime(String(t / 1000)), t);
  assertEquals(parseTime("yesterday"), null);
});

Deno.test("the ruler's UI: Alerts and Rules pages only, / redirects to /alerts", async () => {
  const routes = uiRoutes({ routePrefix: "", component: "rule" });
  const root = await call(routes, "/");
  assertEquals(root.status, 302);
  assertEquals(root.headers.get("location"), "/alerts");
  for (const p of ["/alerts", "/rules"]) {
    const r = await call(routes, p);
    assertEquals(r.status, 200, p);
    const html = await r.text();
    assert(html.includes('<meta name="thanos-component" content="rule">'), html);
    assert(html.includes("<title>Thanos | Rule</title>"), html);
  }
  assertEquals((await call(routes, "/graph")).status, 404);
  const q = await (await call(uiRoutes({ routePrefix: "" }), "/targets")).text();
  assert(q.includes('<meta name="thanos-component" content="query">'), q);
});

Deno.test("a --web.prefix-header value is sanitised to a path, as Thanos's SanitizePrefix", () => {
  assertEquals(headerPrefix("/some-path"), "/some-path");
  assertEquals(headerPrefix("/some-path/"), "/some-path");
  assertEquals(headerPrefix("some-path"), "/some-path");
  assertEquals(headerPrefix("https://evil.example/p?x=1#f"), "/p");
  assertEquals(headerPrefix("//evil.example/p"), "/p");
  assertEquals(headerPrefix("/a//b/./c/../d"), "/a/b/d");
  assertEquals(headerPrefix(""), "");
  assertEquals(headerPrefix("https://evil.example"), "");
});

Deno.test("UI routes with a prefix header: links and redirects follow the header", async () => {
  const routes = uiRoutes({ routePrefix: "", prefixHeader: "X-Forwarded-Prefix" });
  const h = { headers: { "x-forwarded-prefix": "/proxied/thanos" } };
  const root = await call(routes, "/", h);
  assertEquals([root.status, root.headers.get("location")], [302, "/proxied/thanos/graph"]);
  const page = await (await call(routes, "/graph", h)).text();
  assert(page.includes('src="/proxied/thanos/static/app.js?v='), page);
  const bare = await call(routes, "/");
  assertEquals(bare.headers.get("location"), "/graph");
  // --web.external-prefix wins over the header
  const fixed = uiRoutes({ routePrefix: "", externalPrefix: "/ext", prefixHeader: "X-P" });
  const r = await call(fixed, "/", { headers: { "x-p": "/other" } });
  assertEquals(r.headers.get("location"), "/ext/graph");
});

// Serves the UI from assets embedded at build time (import attributes): no file is read at run
// time, so the compiled binary carries the UI. `thanos query` adds these routes under its
// `--web.route-prefix`, the bucket UI (`thanos compact`, `thanos store`, `tools bucket web`)
// with `component: "compact"|"store"|"bucket"` (pages `/blocks`, `/loaded`); links and API
// calls in the page use the external prefix.

import type { Route } from "../server/http.ts";
import appJs from "./dist/app.js" with { type: "text" };
import appCss from "./dist/app.css" with { type: "text" };
import appJsGzB64 from "./dist/app.js.gz.b64" with { type: "text" };
import appCssGzB64 from "./dist/app.css.gz.b64" with { type: "text" };
import favicon from "./dist/favicon.svg" with { type: "text" };
import indexTemplate from "./dist/index.html" with { type: "text" };
import manifest from "./dist/manifest.json" with { type: "json" };

/** Options of {@link uiRoutes}. */
export interface UiRoutesOptions {
  /** Prefix the routes are mounted under (`--web.route-prefix`), e.g. `/thanos` or ``. */
  routePrefix: string;
  /**
   * Prefix the browser sees (`--web.external-prefix`, e.g. behind a path-rewriting proxy);
   * defaults to `routePrefix`.
   */
  externalPrefix?: string;
  /** Page title (default `Thanos | Query`). */
  title?: string;
  /**
   * The serving role: `query` (default) serves {@link UI_PAGES}; `rule` the ruler's Alerts and
   * Rules pages over its own `/api/v1/rules` and `/api/v1/alerts` ({@link RULER_UI_PAGES}, `/`
   * redirecting to `/alerts`); `compact`, `store` and `bucket` the bucket UI's
   * {@link BUCKET_UI_PAGES}.
   */
  component?: string;
  /**
   * `--web.prefix-header`: a request header whose value is the prefix the browser sees (set by
   * a path-stripping proxy); ignored when `externalPrefix` is set.
   */
  prefixHeader?: string;
}

/** Client-side pages; each answers with the single-page app's HTML. */
export const UI_PAGES = [
  "/graph",
  "/alerts",
  "/rules",
  "/targets",
  "/stores",
  "/status",
  "/runtime",
  "/buildinfo",
  "/flags",
];

/** The ruler's pages. */
export const RULER_UI_PAGES = ["/alerts", "/rules"];

/**
 * Pages of the bucket UI by component, the first one where `/` leads (Thanos's React app:
 * `tools bucket web` Blocks; the compactor Loaded and Global Blocks; the store Loaded Blocks).
 */
export const BUCKET_UI_PAGES: Record<string, string[]> = {
  bucket: ["/blocks"],
  compact: ["/loaded", "/blocks"],
  store: ["/loaded"],
};

/** Normalises a prefix to `` or `/a/b` (leading slash, no trailing slash). */
export function normalizePrefix(p: string | undefined): string {
  const t = (p ?? "").trim().replace(/^\/+|\/+$/g, "");
  return t === "" ? "" : `/${t}`;
}

/**
 * The prefix a `--web.prefix-header` value names, sanitised as Thanos's `SanitizePrefix`
 * (https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/ui/ui.go): only the URL's path counts
 * (a scheme and host, a query or a fragment are dropped, so a forged header cannot redirect
 * elsewhere), cleaned of `.`, `..` and repeated slashes.
 */
export function headerPrefix(value: string): string {
  const path = value.trim().replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:(\/\/[^/?#]*)?/, "")
    .replace(/^\/\/[^/?#]*/, "").replace(/[?#].*$/s, "");
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return out.length === 0 ? "" : `/${out.join("/")}`;
}

function fromBase64(b64: string): Uint8Array {
  const bin = atob(b64.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Pre-compressed assets, decoded once on first use. */
let gzippedCache: { js: Uint8Array; css: Uint8Array } | undefined;
function gzippedAssets(): { js: Uint8Array; css: Uint8Array } {
  gzippedCache ??= { js: fromBase64(appJsGzB64), css: fromBase64(appCssGzB64) };
  return gzippedCache;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** True when an `Accept-Encoding` header allows gzip (`q=0` refuses it). */
export function acceptsGzip(header: string | null): boolean {
  for (const part of (header ?? "").split(",")) {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding.trim() !== "gzip" && coding.trim() !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

/** The page's HTML with prefix, title and asset version filled in. */
export function renderIndex(externalPrefix: string, title: string, component = "query"): string {
  const vals: Record<string, string> = {
    PREFIX: escapeHtml(externalPrefix),
    TITLE: escapeHtml(title),
    VERSION: manifest.version,
    COMPONENT: escapeHtml(component),
  };
  return indexTemplate.replace(/%(PREFIX|TITLE|VERSION|COMPONENT)%/g, (_, k: string) => vals[k]);
}

/**
 * Routes serving the UI: `/` redirects to the first page (`/graph`, the ruler's `/alerts`, the
 * bucket UI's `/blocks` or `/loaded`); the pages return the
 * app's HTML; `/static/*` the embedded assets (immutable, versioned by content hash).
 * Paths are relative to the route prefix (the HTTP server adds it).
 */
export function uiRoutes(opts: UiRoutesOptions): Route[] {
  const external = normalizePrefix(opts.externalPrefix ?? opts.routePrefix);
  const gzipped = gzippedAssets();
  const component = opts.component ?? "query";
  const pages = component === "query"
    ? UI_PAGES
    : component === "rule"
    ? RULER_UI_PAGES
    : BUCKET_UI_PAGES[component] ?? BUCKET_UI_PAGES.bucket;
  const title = opts.title ?? (component === "rule" ? "Thanos | Rule" : "Thanos | Query");
  const html = renderIndex(external, title, component);
  const dynamic = opts.externalPrefix === undefined && (opts.prefixHeader ?? "") !== "";
  const prefixOf = (req: Request): string =>
    dynamic ? headerPrefix(req.headers.get(opts.prefixHeader!) ?? "") || external : external;
  const page = (req: Request): Response =>
    new Response(dynamic ? renderIndex(prefixOf(req), title, component) : html, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      },
    });
  const assets: Record<string, { body: string; gz?: Uint8Array; type: string }> = {
    "app.js": { body: appJs, gz: gzipped.js, type: "text/javascript; charset=utf-8" },
    "app.css": { body: appCss, gz: gzipped.css, type: "text/css; charset=utf-8" },
    "favicon.svg": { body: favicon, type: "image/svg+xml" },
  };
  const routes: Route[] = [
    {
      method: ["GET", "HEAD"],
      path: "/",
      name: "/",
      handler: (req) => {
        const search = new URL(req.url).search;
        return new Response(null, {
          status: 302,
          headers: { location: `${prefixOf(req)}${pages[0]}${search}` },
        });
      },
    },
    ...pages.map((p): Route => ({ method: ["GET", "HEAD"], path: p, name: p, handler: page })),
    {
      method: ["GET", "HEAD"],
      path: "/static/:file",
      name: "/static",
      handler: (req, params) => {
        const a = assets[params.file];
        if (!a) {
          return new Response(`404 page not found: no UI asset ${params.file}\n`, {
            status: 404,
            headers: { "content-type": "text/plain; charset=utf-8" },
          });
        }
        const etag = `"${manifest.version}"`;
        const versioned = new URL(req.url).searchParams.get("v") === manifest.version;
        const headers: Record<string, string> = {
          "content-type": a.type,
          etag,
          "cache-control": versioned ? "public, max-age=31536000, immutable" : "no-cache",
          "x-content-type-options": "nosniff",
        };
        if (a.gz) headers["vary"] = "accept-encoding";
        if (req.headers.get("if-none-match") === etag) {
          return new Response(null, { status: 304, headers });
        }
        if (a.gz && acceptsGzip(req.headers.get("accept-encoding"))) {
          headers["content-encoding"] = "gzip";
          return new Response(req.method === "HEAD" ? null : a.gz.slice(), { headers });
        }
        return new Response(req.method === "HEAD" ? null : a.body, { headers });
      },
    },
  ];
  if (opts.routePrefix !== "" && normalizePrefix(opts.routePrefix) !== "") {
    // `/prefix` without the trailing slash: the server adds the prefix to the empty path
    routes.push({
      method: ["GET", "HEAD"],
      path: "",
      name: "/",
      handler: routes[0].handler,
    });
  }
  return routes;
}

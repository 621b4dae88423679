/// <reference lib="dom" />
// deno-lint-ignore-file no-import-prefix -- browser bundle deps are pinned inline (ui/build.ts)
// Entry point of the UI: a small router over the pages, all served under the role's prefix and
// talking to its API with relative URLs. `thanos query` serves the query, alerts, rules, targets,
// stores, status and flags pages; the ruler its alerts and rules pages; the bucket UI the blocks
// pages (`tools bucket web`: Blocks; `thanos compact`: Loaded and Global Blocks; `thanos store`:
// Loaded Blocks, as Thanos's React app).

import "npm:uplot@1.6.32/dist/uPlot.min.css";
import "./style.css";
import { apiGet, pathPrefix } from "./api.ts";
import { h, replaceChildren } from "./dom.ts";
import { Panel } from "./panel.ts";
import { renderFlags, renderStatus, renderStores } from "./pages.ts";
import { renderAlerts, renderRules, renderTargets } from "./rules_pages.ts";
import { renderBlocks } from "./blocks.ts";
import { defaultPanel, panelsFromSearch, panelsToSearch } from "./url_state.ts";

const prefix = pathPrefix();
/** The serving role: `query` (every query page), `rule` (Alerts and Rules), `compact`/`store`/
 * `bucket` (the bucket UI). */
const component = document.querySelector<HTMLMetaElement>('meta[name="thanos-component"]')
  ?.content ?? "query";
/** The bucket UI's pages of this role, home first ([path, nav label]). */
const BLOCK_PAGES: Record<string, [string, string][]> = {
  bucket: [["/blocks", "Blocks"]],
  compact: [["/loaded", "Loaded Blocks"], ["/blocks", "Global Blocks"]],
  store: [["/loaded", "Loaded Blocks"]],
};
const blockPages = BLOCK_PAGES[component];
const bucketUi = blockPages !== undefined;
const ruleUi = component === "rule";
const home = bucketUi ? blockPages[0][0] : ruleUi ? "/alerts" : "/graph";

/** Page path relative to the prefix (`/graph`, `/stores`, …). */
function currentPage(): string {
  let p = location.pathname;
  if (prefix !== "" && p.startsWith(prefix)) p = p.slice(prefix.length);
  p = p.replace(/\/+$/, "");
  return p === "" ? home : p;
}

let pageAbort = new AbortController();
let panels: Panel[] = [];

function navigate(path: string, search = ""): void {
  history.pushState(null, "", `${prefix}${path}${search}`);
  route();
}

function navLink(path: string, label: string, active: string[]): HTMLAnchorElement {
  const a = h("a", { href: `${prefix}${path}` }, label);
  a.addEventListener("click", (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(path);
  });
  if (active.includes(currentPage())) a.classList.add("active");
  return a;
}

function renderNav(): void {
  const nav = document.getElementById("nav")!;
  replaceChildren(
    nav,
    h("a", { class: "brand", href: `${prefix}${home}` }, document.title || "Thanos"),
    bucketUi
      ? h(
        "div",
        { class: "links" },
        // Thanos's nav order: Global before Loaded
        [...blockPages].sort((a, b) => a[0].localeCompare(b[0])).map(([p, label]) =>
          navLink(p, label, [p])
        ),
      )
      : ruleUi
      ? h(
        "div",
        { class: "links" },
        navLink("/alerts", "Alerts", ["/alerts"]),
        navLink("/rules", "Rules", ["/rules"]),
      )
      : h(
        "div",
        { class: "links" },
        navLink("/graph", "Query", ["/graph"]),
        navLink("/alerts", "Alerts", ["/alerts"]),
        navLink("/rules", "Rules", ["/rules"]),
        navLink("/targets", "Targets", ["/targets"]),
        navLink("/stores", "Stores", ["/stores"]),
        navLink("/status", "Status", ["/status", "/runtime", "/buildinfo"]),
        navLink("/flags", "Flags", ["/flags"]),
      ),
  );
}

/** Querier settings the query page uses as defaults (from `/api/v1/status/flags`). */
interface QuerierDefaults {
  partialResponse: boolean;
  replicaLabels: string[];
}

let defaultsPromise: Promise<QuerierDefaults> | undefined;
function querierDefaults(): Promise<QuerierDefaults> {
  defaultsPromise ??= apiGet<Record<string, string>>("/status/flags").then((r) => ({
    partialResponse: r.data["query.partial-response"] !== "false",
    replicaLabels: (r.data["query.replica-label"] ?? "").split(",").filter((x) => x !== ""),
  })).catch(() => ({ partialResponse: true, replicaLabels: [] }));
  return defaultsPromise;
}

async function fillLabelNames(list: HTMLDataListElement): Promise<void> {
  try {
    const r = await apiGet<string[]>("/labels", new URLSearchParams({ dedup: "false" }));
    replaceChildren(list, r.data.map((n) => h("option", { value: n })));
  } catch { /* only a typing aid: the query page works without it */ }
}

async function renderGraphPage(root: HTMLElement): Promise<void> {
  const defaults = await querierDefaults();
  const states = panelsFromSearch(location.search, defaults.partialResponse);
  const list = h("div", { class: "panels" });
  const labelNames = h("datalist", { id: "label-names" });
  const persist = () => {
    const search = panelsToSearch(panels.map((p) => p.state));
    history.replaceState(null, "", `${prefix}/graph?${search}`);
  };
  const add = (state = defaultPanel(defaults.partialResponse)) => {
    const p = new Panel(state, {
      prefix,
      defaultReplicaLabels: defaults.replicaLabels,
      onChange: persist,
      onRemove: (gone) => {
        gone.destroy();
        panels = panels.filter((x) => x !== gone);
        if (panels.length === 0) add();
        persist();
      },
    });
    panels.push(p);
    list.appendChild(p.el);
    return p;
  };
  replaceChildren(
    root,
    labelNames,
    list,
    h("button", {
      type: "button",
      class: "add-panel",
      onclick: () => {
        add().focus();
        persist();
      },
    }, "Add Panel"),
  );
  for (const s of states) add(s);
  void fillLabelNames(labelNames);
  // a shared link shows its answers right away
  for (const p of panels) if (p.state.expr.trim() !== "") void p.execute();
  if (panels.length === 1 && panels[0].state.expr === "") panels[0].focus();
}

function route(): void {
  pageAbort.abort();
  pageAbort = new AbortController();
  for (const p of panels) p.destroy();
  panels = [];
  renderNav();
  const root = document.getElementById("page")!;
  const page = currentPage();
  document.body.dataset.page = page.slice(1);
  if (
    (bucketUi && !blockPages.some(([p]) => p === page)) ||
    (ruleUi && page !== "/alerts" && page !== "/rules") ||
    (!bucketUi && (page === "/blocks" || page === "/loaded"))
  ) {
    notFound(root);
    return;
  }
  switch (page) {
    case "/blocks":
      void renderBlocks(root, pageAbort.signal, "global");
      break;
    case "/loaded":
      void renderBlocks(root, pageAbort.signal, "loaded");
      break;
    case "/graph":
      void renderGraphPage(root);
      break;
    case "/stores":
      void renderStores(root, pageAbort.signal);
      break;
    case "/alerts":
      void renderAlerts(root, pageAbort.signal);
      break;
    case "/rules":
      void renderRules(root, pageAbort.signal);
      break;
    case "/targets":
      void renderTargets(root, pageAbort.signal);
      break;
    case "/status":
    case "/runtime":
    case "/buildinfo":
      void renderStatus(root, pageAbort.signal);
      break;
    case "/flags":
      void renderFlags(root, pageAbort.signal);
      break;
    default:
      notFound(root);
  }
}

function notFound(root: HTMLElement): void {
  replaceChildren(
    root,
    h("h1", null, "Not found"),
    h(
      "p",
      null,
      "No page at ",
      h("code", null, location.pathname),
      ". ",
      h(
        "a",
        { href: `${prefix}${home}` },
        bucketUi ? "Go to the blocks." : ruleUi ? "Go to the alerts." : "Go to the query page.",
      ),
    ),
  );
}

addEventListener("popstate", route);
route();

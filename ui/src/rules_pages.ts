/// <reference lib="dom" />
// The Alerts, Rules and Targets pages, like Prometheus's: alerting rules with their state and
// active alerts (`/api/v1/rules?type=alert`), rule groups with health, last evaluation and error
// (`/api/v1/rules`), and targets grouped by scrape pool (`/api/v1/targets`). The querier shows
// what its endpoints merged; the ruler serves the same Alerts and Rules pages over its own API.

import { apiGet } from "./api.ts";
import { h, replaceChildren } from "./dom.ts";
import { errorBox, labelChips } from "./pages.ts";
import { formatAge } from "./time.ts";

interface AlertJSON {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
  activeAt?: string;
  value: string;
}

interface RuleJSON {
  type: "alerting" | "recording";
  name: string;
  query: string;
  state?: string;
  duration?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  alerts?: AlertJSON[];
  health: string;
  lastError?: string;
  evaluationTime: number;
  lastEvaluation: string;
}

interface GroupJSON {
  name: string;
  file: string;
  rules: RuleJSON[];
  interval: number;
  evaluationTime: number;
  lastEvaluation: string;
}

interface TargetJSON {
  discoveredLabels: Record<string, string>;
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: string;
}

function ago(rfc3339: string | undefined, now: number): string {
  const t = Date.parse(rfc3339 ?? "");
  return Number.isNaN(t) || t <= 0 ? "never" : formatAge(t, now);
}

function seconds(s: number): string {
  return s >= 1 ? `${s.toFixed(3)}s` : `${(s * 1000).toFixed(3)}ms`;
}

function stateBadge(state: string): HTMLElement {
  const cls = state === "firing" ? "bad" : state === "pending" ? "warn" : "ok";
  return h("span", { class: `badge ${cls} state` }, state.toUpperCase());
}

function healthBadge(health: string): HTMLElement {
  const ok = health === "ok" || health === "up";
  const unknown = health === "unknown" || health === "";
  return h(
    "span",
    { class: `badge ${ok ? "ok" : unknown ? "warn" : "bad"} health` },
    (health || "unknown").toUpperCase(),
  );
}

function warningsBox(warnings: string[]): HTMLElement | null {
  if (warnings.length === 0) return null;
  return h(
    "div",
    { class: "alert warning", role: "status" },
    warnings.map((w) => h("div", null, w)),
  );
}

function table(headers: string[], rows: HTMLElement[], cls: string): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: `data ${cls}` },
      h("thead", null, h("tr", null, headers.map((c) => h("th", null, c)))),
      h("tbody", null, rows),
    ),
  );
}

async function load<T>(
  root: HTMLElement,
  title: string,
  path: string,
  params: URLSearchParams | undefined,
  signal: AbortSignal,
): Promise<{ data: T; warnings: string[] } | null> {
  replaceChildren(root, h("h1", null, title), h("p", { class: "muted" }, "Loading…"));
  try {
    return await apiGet<T>(path, params, signal);
  } catch (e) {
    if (signal.aborted) return null;
    replaceChildren(root, h("h1", null, title), errorBox(e));
    return null;
  }
}

/** Renders alerting rules with their state and active alerts. */
export async function renderAlerts(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const r = await load<{ groups: GroupJSON[] }>(
    root,
    "Alerts",
    "/rules",
    new URLSearchParams({ type: "alert" }),
    signal,
  );
  if (r === null) return;
  const now = Date.now();
  const rules = r.data.groups.flatMap((g) =>
    g.rules.filter((x) => x.type === "alerting").map((x) => ({ g, x }))
  );
  const count = (s: string) => rules.filter(({ x }) => x.state === s).length;
  const sections = rules.map(({ g, x }) =>
    h(
      "section",
      { class: `alert-rule ${x.state ?? "inactive"}`, "data-name": x.name },
      h(
        "h2",
        null,
        stateBadge(x.state ?? "inactive"),
        " ",
        h("span", { class: "rule-name" }, x.name),
        " ",
        h(
          "span",
          { class: "muted" },
          `(${(x.alerts ?? []).length} active) · ${g.file} > ${g.name}`,
        ),
      ),
      h("pre", { class: "query" }, x.query),
      x.labels && Object.keys(x.labels).length > 0 ? labelChips(x.labels) : null,
      (x.alerts ?? []).length === 0 ? null : table(
        ["Labels", "State", "Active since", "Value", "Annotations"],
        (x.alerts ?? []).map((a) =>
          h(
            "tr",
            { class: `alert-row ${a.state}` },
            h("td", null, labelChips(a.labels)),
            h("td", null, stateBadge(a.state)),
            h("td", { class: "time", title: a.activeAt ?? "" }, ago(a.activeAt, now)),
            h("td", { class: "value" }, a.value),
            h(
              "td",
              { class: "annotations" },
              Object.keys(a.annotations).sort().map((k) =>
                h("div", null, h("b", null, `${k}: `), a.annotations[k])
              ),
            ),
          )
        ),
        "alerts",
      ),
    )
  );
  replaceChildren(
    root,
    h("h1", null, "Alerts"),
    warningsBox(r.warnings),
    h(
      "p",
      { class: "alert-counts muted" },
      `Inactive (${count("inactive")}) · Pending (${count("pending")}) · Firing (${
        count("firing")
      })`,
    ),
    rules.length === 0 ? h("p", { class: "muted" }, "No alerting rules.") : sections,
  );
}

/** Renders rule groups: each rule with its health, last evaluation and error. */
export async function renderRules(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const r = await load<{ groups: GroupJSON[] }>(root, "Rules", "/rules", undefined, signal);
  if (r === null) return;
  const now = Date.now();
  const sections = r.data.groups.map((g) =>
    h(
      "section",
      { class: "rule-group", "data-group": g.name },
      h(
        "h2",
        null,
        g.name,
        " ",
        h(
          "span",
          { class: "muted" },
          `${g.file} · every ${g.interval}s · last evaluation ${
            ago(g.lastEvaluation, now)
          } · took ${seconds(g.evaluationTime)}`,
        ),
      ),
      table(
        ["Rule", "State", "Health", "Last evaluation", "Evaluation time", "Error"],
        g.rules.map((x) =>
          h(
            "tr",
            { class: `rule-row ${x.type}`, "data-name": x.name },
            h(
              "td",
              { class: "rule" },
              h("div", null, h("b", null, x.type === "alerting" ? "alert: " : "record: "), x.name),
              h("pre", { class: "query" }, x.query),
              x.labels && Object.keys(x.labels).length > 0 ? labelChips(x.labels) : null,
            ),
            h("td", null, x.type === "alerting" ? stateBadge(x.state ?? "inactive") : ""),
            h("td", null, healthBadge(x.health)),
            h("td", { class: "time", title: x.lastEvaluation }, ago(x.lastEvaluation, now)),
            h("td", { class: "time" }, seconds(x.evaluationTime)),
            h("td", { class: "last-error" }, x.lastError ?? ""),
          )
        ),
        "rules",
      ),
    )
  );
  replaceChildren(
    root,
    h("h1", null, "Rules"),
    warningsBox(r.warnings),
    sections.length === 0 ? h("p", { class: "muted" }, "No rule groups.") : sections,
  );
}

/** Renders active targets grouped by scrape pool, with health, last scrape and error. */
export async function renderTargets(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const r = await load<{ activeTargets: TargetJSON[] }>(
    root,
    "Targets",
    "/targets",
    new URLSearchParams({ state: "active" }),
    signal,
  );
  if (r === null) return;
  const now = Date.now();
  const pools = new Map<string, TargetJSON[]>();
  for (const t of r.data.activeTargets) {
    const list = pools.get(t.scrapePool) ?? [];
    list.push(t);
    pools.set(t.scrapePool, list);
  }
  const sections = [...pools.keys()].sort().map((pool) => {
    const list = pools.get(pool)!;
    const up = list.filter((t) => t.health === "up").length;
    return h(
      "section",
      { class: "scrape-pool", "data-pool": pool },
      h("h2", null, `${pool} `, h("span", { class: "muted" }, `(${up}/${list.length} up)`)),
      table(
        ["Endpoint", "State", "Labels", "Last scrape", "Scrape duration", "Error"],
        list.map((t) =>
          h(
            "tr",
            { class: `target-row ${t.health}` },
            h("td", { class: "endpoint" }, t.scrapeUrl),
            h("td", null, healthBadge(t.health)),
            h("td", null, labelChips(t.labels)),
            h("td", { class: "time", title: t.lastScrape }, ago(t.lastScrape, now)),
            h("td", { class: "time" }, seconds(t.lastScrapeDuration)),
            h("td", { class: "last-error" }, t.lastError),
          )
        ),
        "targets",
      ),
    );
  });
  replaceChildren(
    root,
    h("h1", null, "Targets"),
    warningsBox(r.warnings),
    sections.length === 0 ? h("p", { class: "muted" }, "No targets.") : sections,
  );
}

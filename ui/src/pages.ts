/// <reference lib="dom" />
// The pages besides the query page: stores (`/stores`), runtime and build information
// (`/status`, `/runtime`, `/buildinfo`) and command-line flags (`/flags`).

import { apiGet, type StoreStatus } from "./api.ts";
import { h, replaceChildren } from "./dom.ts";
import { formatAge, formatTime } from "./time.ts";

/** Thanos encodes "no time bound" as the int64 extremes; show those as ±Inf. */
function formatBound(ms: number): string {
  if (ms <= -9e15) return "-Inf";
  if (ms >= 9e15) return "+Inf";
  return formatTime(ms);
}

/** An error message box. */
export function errorBox(e: unknown): HTMLElement {
  return h("div", { class: "alert error", role: "alert" }, `Error: ${(e as Error).message}`);
}

/** A label set as chips, names sorted. */
export function labelChips(ls: Record<string, string>): HTMLElement {
  return h(
    "div",
    { class: "labelset" },
    Object.keys(ls).sort().map((k) => h("span", { class: "chip" }, `${k}="${ls[k]}"`)),
  );
}

/** Renders `/api/v1/stores` grouped by component type. */
export async function renderStores(root: HTMLElement, signal: AbortSignal): Promise<void> {
  replaceChildren(root, h("h1", null, "Stores"), h("p", { class: "muted" }, "Loading…"));
  let data: Record<string, StoreStatus[] | null>;
  try {
    data = (await apiGet<Record<string, StoreStatus[] | null>>("/stores", undefined, signal)).data;
  } catch (e) {
    replaceChildren(root, h("h1", null, "Stores"), errorBox(e));
    return;
  }
  const now = Date.now();
  const types = Object.keys(data).sort();
  const sections = types.map((type) => {
    const list = data[type] ?? [];
    const up = list.filter((s) => s.lastError === null).length;
    return h(
      "section",
      { class: "store-group", "data-type": type },
      h("h2", null, `${type} `, h("span", { class: "muted" }, `(${up}/${list.length} up)`)),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data stores" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              [
                "Endpoint",
                "Status",
                "Announced label sets",
                "Min time",
                "Max time",
                "Last check",
                "Last error",
              ]
                .map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            list.map((s) => {
              const healthy = s.lastError === null;
              const checked = Date.parse(s.lastCheck);
              return h(
                "tr",
                { class: healthy ? "up" : "down" },
                h("td", { class: "endpoint" }, s.name),
                h(
                  "td",
                  null,
                  h("span", { class: `badge ${healthy ? "ok" : "bad"}` }, healthy ? "UP" : "DOWN"),
                ),
                h(
                  "td",
                  null,
                  s.labelSets.length === 0
                    ? h("span", { class: "muted" }, "none")
                    : s.labelSets.map(labelChips),
                ),
                h("td", { class: "time" }, formatBound(s.minTime)),
                h("td", { class: "time" }, formatBound(s.maxTime)),
                h(
                  "td",
                  { class: "time", title: s.lastCheck },
                  Number.isNaN(checked) || checked <= 0 ? "never" : formatAge(checked, now),
                ),
                h("td", { class: "last-error" }, s.lastError ?? ""),
              );
            }),
          ),
        ),
      ),
    );
  });
  replaceChildren(
    root,
    h("h1", null, "Stores"),
    types.length === 0 ? h("p", { class: "muted" }, "No stores registered.") : sections,
  );
}

function kvTable(obj: Record<string, unknown>): HTMLElement {
  return h(
    "table",
    { class: "data kv" },
    h(
      "tbody",
      null,
      Object.keys(obj).map((k) =>
        h("tr", null, h("th", null, k), h("td", null, String(obj[k] ?? "")))
      ),
    ),
  );
}

/** Renders runtime information and build information. */
export async function renderStatus(root: HTMLElement, signal: AbortSignal): Promise<void> {
  replaceChildren(root, h("h1", null, "Runtime & Build Information"));
  const [rt, bi] = await Promise.allSettled([
    apiGet<Record<string, unknown>>("/status/runtimeinfo", undefined, signal),
    apiGet<Record<string, unknown>>("/status/buildinfo", undefined, signal),
  ]);
  replaceChildren(
    root,
    h("h1", null, "Runtime & Build Information"),
    h("h2", null, "Runtime Information"),
    rt.status === "fulfilled" ? kvTable(rt.value.data) : errorBox(rt.reason),
    h("h2", null, "Build Information"),
    bi.status === "fulfilled" ? kvTable(bi.value.data) : errorBox(bi.reason),
  );
}

/** Renders the querier's flags with a filter box. */
export async function renderFlags(root: HTMLElement, signal: AbortSignal): Promise<void> {
  replaceChildren(root, h("h1", null, "Command-Line Flags"));
  let flags: Record<string, string>;
  try {
    flags = (await apiGet<Record<string, string>>("/status/flags", undefined, signal)).data;
  } catch (e) {
    replaceChildren(root, h("h1", null, "Command-Line Flags"), errorBox(e));
    return;
  }
  const body = h("tbody");
  const fill = (filter: string) => {
    const f = filter.toLowerCase();
    replaceChildren(
      body,
      Object.keys(flags).sort()
        .filter((k) =>
          f === "" || k.toLowerCase().includes(f) || flags[k].toLowerCase().includes(f)
        )
        .map((k) => h("tr", null, h("th", null, `--${k}`), h("td", null, flags[k]))),
    );
  };
  fill("");
  replaceChildren(
    root,
    h("h1", null, "Command-Line Flags"),
    h("input", {
      type: "search",
      class: "filter",
      placeholder: "Filter by flag name or value",
      oninput: (e: Event) => fill((e.target as HTMLInputElement).value),
    }),
    h("table", { class: "data kv" }, body),
  );
}

/// <reference lib="dom" />
// One query panel: expression editor, Thanos switches (dedup, partial response, replica labels,
// max source resolution), Table tab (instant query at a chosen time) and Graph tab (range
// query), with query stats, warnings and errors shown plainly.

import {
  ApiCallError,
  apiGet,
  formatSeriesName,
  type MatrixSeries,
  type QueryData,
} from "./api.ts";
import { type Child, h, replaceChildren } from "./dom.ts";
import { type Chart, drawGraph } from "./graph.ts";
import { createExpressionEditor, type ExpressionEditor } from "./editor.ts";
import { formatDuration, formatTime, parseDuration, parseTime } from "./time.ts";
import { type MaxSourceResolution, type PanelState, thanosParams } from "./url_state.ts";

/** Rows shown in the table before truncating (the DOM gets slow beyond this). */
const MAX_TABLE_ROWS = 10_000;
const RANGE_STEPS = [
  60_000,
  5 * 60_000,
  15 * 60_000,
  30 * 60_000,
  3600_000,
  2 * 3600_000,
  6 * 3600_000,
  12 * 3600_000,
  86_400_000,
  2 * 86_400_000,
  7 * 86_400_000,
  14 * 86_400_000,
  28 * 86_400_000,
];

/** What a panel needs from the page. */
export interface PanelContext {
  prefix: string;
  /** Default replica labels of the querier (`--query.replica-label`), for the placeholder. */
  defaultReplicaLabels: string[];
  /** Persist the state (URL). */
  onChange: () => void;
  onRemove: (p: Panel) => void;
}

/** Automatic graph step like the Prometheus/Thanos UI: range/250, at least 1 s (whole s). */
export function autoStepMs(rangeMs: number): number {
  return Math.max(1, Math.ceil(rangeMs / 1000 / 250)) * 1000;
}

/** A query panel bound to its DOM element. */
export class Panel {
  readonly el: HTMLElement;
  private readonly editor: ExpressionEditor;
  private readonly lintEl = h("div", { class: "lint", role: "status" });
  private readonly statsEl = h("span", { class: "stats" });
  private readonly messagesEl = h("div", { class: "messages" });
  private readonly resultEl = h("div", { class: "result" });
  private readonly controlsEl = h("div", { class: "controls" });
  private readonly tabButtons: Record<"table" | "graph", HTMLButtonElement>;
  private chart?: Chart;
  private inflight?: AbortController;

  constructor(readonly state: PanelState, private readonly ctx: PanelContext) {
    const editorHost = h("div", { class: "editor" });
    this.editor = createExpressionEditor({
      parent: editorHost,
      initial: state.expr,
      prefix: ctx.prefix,
      onExecute: () => this.execute(),
      onDiagnostics: (msgs) =>
        replaceChildren(this.lintEl, msgs.length > 0 ? `Parse error: ${msgs[0]}` : ""),
    });
    this.tabButtons = {
      table: h("button", {
        class: "tab",
        type: "button",
        role: "tab",
        onclick: () => this.switchTab("table"),
      }, "Table"),
      graph: h("button", {
        class: "tab",
        type: "button",
        role: "tab",
        onclick: () => this.switchTab("graph"),
      }, "Graph"),
    };
    this.el = h(
      "section",
      { class: "panel" },
      h(
        "div",
        { class: "expr-row" },
        editorHost,
        h("button", {
          class: "primary execute",
          type: "button",
          onclick: () => this.execute(),
        }, "Execute"),
        h("button", {
          class: "remove",
          type: "button",
          title: "Remove panel",
          "aria-label": "Remove panel",
          onclick: () => ctx.onRemove(this),
        }, "×"),
      ),
      this.lintEl,
      this.optionsRow(),
      h(
        "div",
        { class: "tab-row", role: "tablist" },
        this.tabButtons.table,
        this.tabButtons.graph,
        this.statsEl,
      ),
      h("div", { class: "tab-body" }, this.controlsEl, this.messagesEl, this.resultEl),
    );
    this.renderTabs();
  }

  /** Current expression (the editor is the source of truth while typing). */
  expr(): string {
    return this.editor.value();
  }

  /** Stops any request and frees the editor and chart. */
  destroy(): void {
    this.inflight?.abort();
    this.chart?.destroy();
    this.editor.destroy();
    this.el.remove();
  }

  focus(): void {
    this.editor.focus();
  }

  private optionsRow(): HTMLElement {
    const s = this.state;
    const checkbox = (label: string, get: () => boolean, set: (v: boolean) => void, cls: string) =>
      h(
        "label",
        { class: `check ${cls}` },
        h("input", {
          type: "checkbox",
          checked: get(),
          onchange: (e: Event) => {
            set((e.target as HTMLInputElement).checked);
            this.changed(true);
          },
        }),
        label,
      );
    const replicas = h("input", {
      type: "text",
      class: "replica-labels",
      list: "label-names",
      size: 12,
      placeholder: this.ctx.defaultReplicaLabels.join(",") || "none",
      value: s.replicaLabels.join(","),
      title: "Replica labels to deduplicate on (comma separated); empty uses the querier's " +
        "--query.replica-label",
      onchange: (e: Event) => {
        s.replicaLabels = (e.target as HTMLInputElement).value.split(",").map((x) => x.trim())
          .filter((x) => x !== "");
        this.changed(true);
      },
    });
    const msr = h(
      "select",
      {
        class: "max-source-resolution",
        onchange: (e: Event) => {
          s.maxSourceResolution = (e.target as HTMLSelectElement).value as MaxSourceResolution;
          this.changed(true);
        },
      },
      ...([
        ["auto", "Auto downsampling"],
        ["0s", "Only raw data"],
        ["5m", "Max 5m downsampling"],
        ["1h", "Max 1h downsampling"],
      ] as const).map(([v, label]) =>
        h("option", { value: v, selected: s.maxSourceResolution === v }, label)
      ),
    );
    return h(
      "div",
      { class: "options-row" },
      checkbox("Use deduplication", () => s.dedup, (v) => s.dedup = v, "dedup"),
      checkbox(
        "Use partial response",
        () => s.partialResponse,
        (v) => s.partialResponse = v,
        "partial-response",
      ),
      h("label", { class: "field" }, "Replica labels ", replicas),
      h("label", { class: "field" }, "Resolution ", msr),
    );
  }

  private changed(rerun: boolean): void {
    this.ctx.onChange();
    if (rerun && this.expr().trim() !== "") this.execute();
  }

  private switchTab(tab: "table" | "graph"): void {
    if (this.state.tab === tab) return;
    this.state.tab = tab;
    this.renderTabs();
    this.changed(true);
  }

  private renderTabs(): void {
    for (const t of ["table", "graph"] as const) {
      const b = this.tabButtons[t];
      b.classList.toggle("active", this.state.tab === t);
      b.setAttribute("aria-selected", String(this.state.tab === t));
    }
    this.chart?.destroy();
    this.chart = undefined;
    replaceChildren(this.resultEl);
    replaceChildren(this.messagesEl);
    replaceChildren(this.statsEl);
    replaceChildren(
      this.controlsEl,
      this.state.tab === "table" ? this.tableControls() : this.graphControls(),
    );
  }

  private timeInput(
    cls: string,
    placeholder: string,
    get: () => number | null,
    set: (v: number | null) => void,
  ): HTMLInputElement {
    const input = h("input", {
      type: "text",
      class: `time ${cls}`,
      placeholder,
      size: 19,
      value: get() === null ? "" : formatTime(get()!),
      title: "UTC time as YYYY-MM-DD HH:MM:SS (or unix seconds); empty means now",
    });
    input.addEventListener("change", () => {
      const v = input.value.trim() === "" ? null : parseTime(input.value);
      if (input.value.trim() !== "" && v === null) {
        input.classList.add("invalid");
        return;
      }
      input.classList.remove("invalid");
      set(v);
      this.changed(true);
    });
    return input;
  }

  private tableControls(): Child {
    const s = this.state;
    const input = this.timeInput("moment", "Evaluation time (now)", () => s.momentMs, (v) => {
      s.momentMs = v;
    });
    const shift = (dir: number) => {
      const base = s.momentMs ?? Date.now();
      s.momentMs = base + dir * Math.max(s.rangeMs / 2, 60_000);
      input.value = formatTime(s.momentMs);
      this.changed(true);
    };
    return h(
      "div",
      { class: "control-group" },
      h("button", { type: "button", title: "Earlier", onclick: () => shift(-1) }, "‹"),
      input,
      h("button", { type: "button", title: "Later", onclick: () => shift(1) }, "›"),
      h("button", {
        type: "button",
        class: "link",
        onclick: () => {
          s.momentMs = null;
          input.value = "";
          this.changed(true);
        },
      }, "now"),
    );
  }

  private graphControls(): Child {
    const s = this.state;
    const range = h("input", {
      type: "text",
      class: "range",
      size: 6,
      value: formatDuration(s.rangeMs),
      title: "Range as a duration (1h, 30m, 2d)",
    });
    range.addEventListener("change", () => {
      const v = parseDuration(range.value);
      if (v === null || v <= 0) {
        range.classList.add("invalid");
        return;
      }
      range.classList.remove("invalid");
      s.rangeMs = v;
      step.placeholder = `auto: ${formatDuration(autoStepMs(v))}`;
      this.changed(true);
    });
    const zoom = (dir: number) => {
      // next preset range strictly shorter (dir < 0) or longer (dir > 0) than the current one
      const next = dir < 0
        ? [...RANGE_STEPS].reverse().find((r) => r < s.rangeMs) ?? RANGE_STEPS[0]
        : RANGE_STEPS.find((r) => r > s.rangeMs) ?? RANGE_STEPS[RANGE_STEPS.length - 1];
      s.rangeMs = next;
      range.value = formatDuration(next);
      step.placeholder = `auto: ${formatDuration(autoStepMs(next))}`;
      this.changed(true);
    };
    const end = this.timeInput("end", "End time (now)", () => s.endMs, (v) => {
      s.endMs = v;
    });
    const shift = (dir: number) => {
      s.endMs = (s.endMs ?? Date.now()) + dir * s.rangeMs / 2;
      end.value = formatTime(s.endMs);
      this.changed(true);
    };
    const step = h("input", {
      type: "text",
      class: "step",
      size: 9,
      placeholder: `auto: ${formatDuration(autoStepMs(s.rangeMs))}`,
      value: s.stepMs === null ? "" : formatDuration(s.stepMs),
      title: "Resolution (query step) as a duration; empty = automatic",
    });
    step.addEventListener("change", () => {
      const v = step.value.trim() === "" ? null : parseDuration(step.value);
      if (step.value.trim() !== "" && (v === null || v <= 0)) {
        step.classList.add("invalid");
        return;
      }
      step.classList.remove("invalid");
      s.stepMs = v;
      this.changed(true);
    });
    const stackBtn = (stacked: boolean, label: string) =>
      h("button", {
        type: "button",
        class: `toggle ${s.stacked === stacked ? "active" : ""} ${
          stacked ? "stacked" : "unstacked"
        }`,
        "aria-pressed": String(s.stacked === stacked),
        onclick: () => {
          s.stacked = stacked;
          this.renderTabs();
          this.changed(true);
        },
      }, label);
    return h(
      "div",
      { class: "control-group" },
      h(
        "span",
        { class: "group" },
        h("button", { type: "button", title: "Shorter range", onclick: () => zoom(-1) }, "−"),
        range,
        h("button", { type: "button", title: "Longer range", onclick: () => zoom(1) }, "+"),
      ),
      h(
        "span",
        { class: "group" },
        h("button", { type: "button", title: "Earlier", onclick: () => shift(-1) }, "‹"),
        end,
        h("button", { type: "button", title: "Later", onclick: () => shift(1) }, "›"),
      ),
      h("span", { class: "group" }, step),
      h("span", { class: "group" }, stackBtn(false, "Unstacked"), stackBtn(true, "Stacked")),
    );
  }

  /** Runs the panel's query for its tab and renders the answer. */
  async execute(): Promise<void> {
    const s = this.state;
    s.expr = this.expr();
    this.ctx.onChange();
    this.inflight?.abort();
    if (s.expr.trim() === "") {
      replaceChildren(this.messagesEl, h("div", { class: "alert error" }, "Enter an expression."));
      return;
    }
    const ac = new AbortController();
    this.inflight = ac;
    const p = new URLSearchParams({ query: s.expr });
    thanosParams(s, p);
    let path: string;
    let startS = 0;
    let endS = 0;
    let stepS = 0;
    if (s.tab === "table") {
      path = "/query";
      if (s.momentMs !== null) p.set("time", String(s.momentMs / 1000));
    } else {
      path = "/query_range";
      const endMs = s.endMs ?? Date.now();
      const stepMs = s.stepMs ?? autoStepMs(s.rangeMs);
      // align to the step so consecutive refreshes draw the same grid
      endS = Math.floor(endMs / stepMs) * stepMs / 1000;
      startS = endS - Math.floor(s.rangeMs / stepMs) * stepMs / 1000;
      stepS = stepMs / 1000;
      p.set("start", String(startS));
      p.set("end", String(endS));
      p.set("step", String(stepS));
    }
    this.el.classList.add("loading");
    replaceChildren(this.statsEl, "Loading…");
    const t0 = performance.now();
    try {
      const ans = await apiGet<QueryData>(path, p, ac.signal);
      if (ac.signal.aborted) return;
      const ms = Math.round(performance.now() - t0);
      const n = resultSeriesCount(ans.data);
      replaceChildren(
        this.statsEl,
        h("span", { class: "stat load-time" }, `Load time: ${ms}ms`),
        s.tab === "graph"
          ? h("span", { class: "stat" }, `Resolution: ${formatDuration(stepS * 1000)}`)
          : null,
        h("span", { class: "stat result-series" }, `Result series: ${n}`),
      );
      this.el.dataset.resultSeries = String(n);
      replaceChildren(
        this.messagesEl,
        ans.warnings.map((w) => h("div", { class: "alert warning" }, `Warning: ${w}`)),
      );
      this.chart?.destroy();
      this.chart = undefined;
      if (s.tab === "table") {
        replaceChildren(this.resultEl, renderTable(ans.data));
      } else if (ans.data.resultType !== "matrix") {
        replaceChildren(
          this.resultEl,
          h(
            "div",
            { class: "alert error" },
            `Expected a range vector, got ${ans.data.resultType}.`,
          ),
        );
      } else if (ans.data.result.length === 0) {
        replaceChildren(this.resultEl, h("div", { class: "empty" }, "No data points found."));
      } else {
        const host = h("div", { class: "graph" });
        replaceChildren(this.resultEl, host);
        this.chart = drawGraph(host, ans.data.result as MatrixSeries[], {
          startS,
          endS,
          stepS,
          stacked: s.stacked,
        });
      }
    } catch (e) {
      if (ac.signal.aborted) return;
      const msg = e instanceof ApiCallError ? `Error executing query: ${e.message}` : String(e);
      replaceChildren(this.statsEl);
      replaceChildren(this.messagesEl, h("div", { class: "alert error", role: "alert" }, msg));
      replaceChildren(this.resultEl);
      delete this.el.dataset.resultSeries;
    } finally {
      if (this.inflight === ac) this.el.classList.remove("loading");
    }
  }
}

/** Number of series (or 1 for a scalar/string) in a query result. */
export function resultSeriesCount(d: QueryData): number {
  return d.resultType === "matrix" || d.resultType === "vector" ? d.result.length : 1;
}

function renderTable(d: QueryData): HTMLElement {
  if (d.resultType === "scalar" || d.resultType === "string") {
    return h(
      "table",
      { class: "data" },
      h(
        "tbody",
        null,
        h("tr", null, h("td", null, d.resultType), h("td", { class: "value" }, d.result[1])),
      ),
    );
  }
  if (d.result.length === 0) return h("div", { class: "empty" }, "Empty query result");
  const rows: HTMLElement[] = [];
  const shown = Math.min(d.result.length, MAX_TABLE_ROWS);
  for (let i = 0; i < shown; i++) {
    if (d.resultType === "vector") {
      const s = d.result[i];
      rows.push(
        h(
          "tr",
          null,
          h("td", { class: "series" }, formatSeriesName(s.metric)),
          h("td", { class: "value" }, s.value ? s.value[1] : "(histogram)"),
        ),
      );
    } else {
      const s = d.result[i];
      rows.push(
        h(
          "tr",
          null,
          h("td", { class: "series" }, formatSeriesName(s.metric)),
          h(
            "td",
            { class: "value" },
            (s.values ?? []).map(([t, v]) => h("div", null, `${v} @${t}`)),
          ),
        ),
      );
    }
  }
  return h(
    "div",
    null,
    d.result.length > shown
      ? h(
        "div",
        { class: "alert warning" },
        `Showing the first ${shown} of ${d.result.length} series.`,
      )
      : null,
    h("table", { class: "data" }, h("tbody", null, rows)),
  );
}

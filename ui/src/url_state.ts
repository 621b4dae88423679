// The page's state in its URL (`/graph?g0.expr=…&g0.tab=1&…`), with the parameter names of
// the Prometheus/Thanos UIs, so a view can be shared and old links keep working.

import { formatDuration, formatTime, parseDuration, parseTime } from "./time.ts";

/** Max source resolution choices: `auto` lets the querier pick (step/5 when enabled). */
export type MaxSourceResolution = "auto" | "0s" | "5m" | "1h";

/** One query panel's state. */
export interface PanelState {
  expr: string;
  tab: "graph" | "table";
  /** Graph range (ms). */
  rangeMs: number;
  /** Graph end (ms), null = now. */
  endMs: number | null;
  /** Graph step (ms), null = automatic. */
  stepMs: number | null;
  stacked: boolean;
  /** Table evaluation time (ms), null = now. */
  momentMs: number | null;
  dedup: boolean;
  partialResponse: boolean;
  /** Replica labels sent as `replicaLabels[]`; empty = the querier's `--query.replica-label`. */
  replicaLabels: string[];
  maxSourceResolution: MaxSourceResolution;
}

/** A fresh panel. */
export function defaultPanel(partialResponse = true): PanelState {
  return {
    expr: "",
    tab: "table",
    rangeMs: 3600_000,
    endMs: null,
    stepMs: null,
    stacked: false,
    momentMs: null,
    dedup: true,
    partialResponse,
    replicaLabels: [],
    maxSourceResolution: "auto",
  };
}

const RESOLUTIONS: MaxSourceResolution[] = ["auto", "0s", "5m", "1h"];

/** Reads panels from a query string; at least one panel is returned. */
export function panelsFromSearch(search: string, partialDefault = true): PanelState[] {
  const p = new URLSearchParams(search);
  const out: PanelState[] = [];
  for (let i = 0; i < 64; i++) {
    const get = (k: string) => p.get(`g${i}.${k}`);
    if (get("expr") === null && get("tab") === null) {
      if (i === 0) continue;
      break;
    }
    const s = defaultPanel(partialDefault);
    s.expr = get("expr") ?? "";
    s.tab = get("tab") === "0" ? "graph" : "table";
    s.stacked = get("stacked") === "1";
    s.rangeMs = parseDuration(get("range_input") ?? "") ?? s.rangeMs;
    s.endMs = parseTime(get("end_input") ?? "");
    s.momentMs = parseTime(get("moment_input") ?? "");
    const step = parseDuration(get("step_input") ?? "");
    s.stepMs = step !== null && step > 0 ? step : null;
    if (get("deduplicate") !== null) s.dedup = get("deduplicate") === "1";
    if (get("partial_response") !== null) s.partialResponse = get("partial_response") === "1";
    const msr = get("max_source_resolution") as MaxSourceResolution | null;
    if (msr !== null && RESOLUTIONS.includes(msr)) s.maxSourceResolution = msr;
    s.replicaLabels = (get("replica_labels") ?? "").split(",").map((x) => x.trim()).filter((x) =>
      x !== ""
    );
    out.push(s);
  }
  return out.length > 0 ? out : [defaultPanel(partialDefault)];
}

/** Writes panels as a query string (without `?`). */
export function panelsToSearch(panels: readonly PanelState[]): string {
  const p = new URLSearchParams();
  panels.forEach((s, i) => {
    const set = (k: string, v: string) => p.set(`g${i}.${k}`, v);
    set("expr", s.expr);
    set("tab", s.tab === "graph" ? "0" : "1");
    set("stacked", s.stacked ? "1" : "0");
    set("range_input", formatDuration(s.rangeMs));
    if (s.endMs !== null) set("end_input", formatTime(s.endMs));
    if (s.momentMs !== null) set("moment_input", formatTime(s.momentMs));
    if (s.stepMs !== null) set("step_input", String(s.stepMs / 1000));
    set("deduplicate", s.dedup ? "1" : "0");
    set("partial_response", s.partialResponse ? "1" : "0");
    set("max_source_resolution", s.maxSourceResolution);
    if (s.replicaLabels.length > 0) set("replica_labels", s.replicaLabels.join(","));
  });
  return p.toString();
}

/** The Thanos API parameters a panel adds to every query. */
export function thanosParams(s: PanelState, p: URLSearchParams): void {
  p.set("dedup", String(s.dedup));
  p.set("partial_response", String(s.partialResponse));
  for (const r of s.replicaLabels) p.append("replicaLabels[]", r);
  if (s.maxSourceResolution !== "auto") p.set("max_source_resolution", s.maxSourceResolution);
}

/// <reference lib="dom" />
// The bucket UI's Blocks pages (`/blocks`: the bucket's blocks, served by `thanos compact` and
// `tools bucket web`; `/loaded`: the serving role's own blocks, `/api/v1/blocks?view=loaded`,
// served by `thanos compact` and `thanos store`; Thanos's block viewer,
// https://thanos.io/tip/components/tools.md/#bucket-web): blocks from
// `/api/v1/blocks` grouped by compaction group (external labels + resolution), each group a
// timeline of minTime–maxTime bars, one row per level of overlap; clicking a bar shows the
// block's details (with its deletion and no-compact marks from `/api/v1/blocks/marks`).

import { apiGet, pathPrefix } from "./api.ts";
import { h, replaceChildren } from "./dom.ts";
import { formatDuration, formatTime } from "./time.ts";

/** meta.json as the blocks API returns it. */
export interface BlockMeta {
  ulid: string;
  minTime: number;
  maxTime: number;
  stats?: { numSamples?: number; numSeries?: number; numChunks?: number };
  compaction: { level: number; sources?: string[]; parents?: { ulid: string }[] };
  thanos?: {
    labels?: Record<string, string>;
    downsample?: { resolution: number };
    source?: string;
  };
}

/** `data` of `/api/v1/blocks`. */
interface BlocksInfo {
  label: string;
  blocks: BlockMeta[];
  refreshedAt: string;
  err: string | null;
}

interface Mark {
  details?: string;
  deletion_time?: number;
  no_compact_time?: number;
  reason?: string;
}
type Marks = Record<string, { deletion?: Mark; noCompact?: Mark }>;

function resolutionOf(b: BlockMeta): number {
  return b.thanos?.downsample?.resolution ?? 0;
}

function labelsText(ls: Record<string, string>): string {
  const keys = Object.keys(ls).sort();
  return `{${keys.map((k) => `${k}=${JSON.stringify(ls[k])}`).join(", ")}}`;
}

function resolutionText(ms: number): string {
  return ms === 0 ? "raw" : formatDuration(ms);
}

/** One compaction group: its key, title and blocks. */
export interface BlockGroup {
  key: string;
  title: string;
  resolution: number;
  blocks: BlockMeta[];
}

/** Groups blocks by external labels and resolution (the compactor's groups), sorted by key. */
export function groupBlocks(blocks: readonly BlockMeta[], label: string): BlockGroup[] {
  const groups = new Map<string, BlockGroup>();
  for (const b of blocks) {
    const ls = b.thanos?.labels ?? {};
    const res = resolutionOf(b);
    const key = `${res}@${labelsText(ls)}`;
    let g = groups.get(key);
    if (!g) {
      const title = label !== "" && ls[label] !== undefined ? ls[label] : labelsText(ls);
      g = { key, title, resolution: res, blocks: [] };
      groups.set(key, g);
    }
    g.blocks.push(b);
  }
  const out = [...groups.values()].sort((a, b) =>
    a.title < b.title ? -1 : a.title > b.title ? 1 : a.resolution - b.resolution
  );
  for (const g of out) g.blocks.sort((a, b) => a.minTime - b.minTime || a.maxTime - b.maxTime);
  return out;
}

/** Rows of a timeline: each block in the first row whose last block ends before it starts. */
export function timelineRows(blocks: readonly BlockMeta[]): BlockMeta[][] {
  const rows: BlockMeta[][] = [];
  for (const b of blocks) {
    const row = rows.find((r) => r[r.length - 1].maxTime <= b.minTime);
    if (row) row.push(b);
    else rows.push([b]);
  }
  return rows;
}

function fmtNum(n: number | undefined): string {
  return (n ?? 0).toLocaleString("en-US");
}

function fmtUnix(s: number | undefined): string {
  return s === undefined ? "" : formatTime(s * 1000);
}

async function mark(id: string, action: string, detail: string): Promise<string | null> {
  const body = new URLSearchParams({ id, action, detail });
  const res = await fetch(`${pathPrefix()}/api/v1/blocks/mark`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  if (res.ok) return null;
  try {
    return (await res.json()).error ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

function details(
  b: BlockMeta,
  marks: Marks,
  rerender: () => void,
): HTMLElement {
  const m = marks[b.ulid] ?? {};
  const row = (k: string, v: Node | string) =>
    h("tr", { "data-field": k }, h("th", null, k), h("td", null, v));
  const sources = b.compaction.sources ?? [];
  const status = h("p", { class: "muted mark-status" });
  const detailInput = h("input", {
    type: "text",
    placeholder: "details (why)",
    class: "mark-detail",
  });
  const markButton = (action: string, text: string) =>
    h("button", {
      type: "button",
      "data-action": action,
      onclick: async () => {
        status.textContent = "Marking…";
        const err = await mark(b.ulid, action, detailInput.value);
        if (err !== null) {
          status.textContent = `Error: ${err}`;
          return;
        }
        const r = await apiGet<Marks>("/blocks/marks").catch(() => null);
        if (r) Object.assign(marks, r.data);
        rerender();
      },
    }, text);
  return h(
    "div",
    { class: "block-details", "data-ulid": b.ulid },
    h("h2", null, b.ulid),
    h(
      "table",
      { class: "kv" },
      row("ULID", b.ulid),
      row("Start time", `${formatTime(b.minTime)} (${b.minTime})`),
      row("End time", `${formatTime(b.maxTime)} (${b.maxTime})`),
      row("Duration", formatDuration(b.maxTime - b.minTime)),
      row("Series", fmtNum(b.stats?.numSeries)),
      row("Samples", fmtNum(b.stats?.numSamples)),
      row("Chunks", fmtNum(b.stats?.numChunks)),
      row("Resolution", resolutionText(resolutionOf(b))),
      row("Level", String(b.compaction.level)),
      row("Source", b.thanos?.source ?? ""),
      row("Labels", labelsText(b.thanos?.labels ?? {})),
      row(
        "Sources",
        h("ul", { class: "sources" }, sources.map((s) => h("li", null, h("code", null, s)))),
      ),
      row(
        "Deletion mark",
        m.deletion
          ? `marked ${fmtUnix(m.deletion.deletion_time)}${
            m.deletion.details ? `: ${m.deletion.details}` : ""
          }`
          : "none",
      ),
      row(
        "No-compact mark",
        m.noCompact
          ? `marked ${fmtUnix(m.noCompact.no_compact_time)} (${m.noCompact.reason ?? ""})${
            m.noCompact.details ? `: ${m.noCompact.details}` : ""
          }`
          : "none",
      ),
    ),
    h(
      "div",
      { class: "mark-actions" },
      detailInput,
      markButton("DELETION", "Mark for deletion"),
      markButton("NO_COMPACTION", "Mark no compaction"),
    ),
    status,
  );
}

/** Renders the Blocks page (`global`) or the Loaded Blocks page (`loaded`) into `root`. */
export async function renderBlocks(
  root: HTMLElement,
  signal: AbortSignal,
  view: "global" | "loaded" = "global",
): Promise<void> {
  const title = view === "loaded" ? "Loaded Blocks" : "Blocks";
  replaceChildren(root, h("h1", null, title), h("p", { class: "muted" }, "Loading…"));
  let info: BlocksInfo;
  let marks: Marks = {};
  try {
    const params = view === "loaded" ? new URLSearchParams({ view: "loaded" }) : undefined;
    info = (await apiGet<BlocksInfo>("/blocks", params, signal)).data;
    marks = (await apiGet<Marks>("/blocks/marks", undefined, signal).catch(() => null))?.data ??
      {};
  } catch (e) {
    if (signal.aborted) return;
    replaceChildren(
      root,
      h("h1", null, title),
      h("div", { class: "alert error", role: "alert" }, `Error: ${(e as Error).message}`),
    );
    return;
  }
  const blocks = info.blocks ?? [];
  const groups = groupBlocks(blocks, info.label);
  let selected: string | null = new URLSearchParams(location.search).get("ulid");
  const pane = h("aside", { class: "block-pane" });
  const filter = h("input", {
    type: "search",
    class: "filter",
    placeholder: "Filter by ULID",
    "aria-label": "Filter by ULID",
  });
  const list = h("div", { class: "block-groups" });
  const showDetails = () => {
    const b = blocks.find((x) => x.ulid === selected);
    replaceChildren(pane, b ? details(b, marks, draw) : h("p", { class: "muted" }, ""));
    if (!b) pane.textContent = "Click a block to see its details.";
  };
  function draw(): void {
    const q = filter.value.trim().toUpperCase();
    // one time axis for every group, so groups line up
    let lo = Infinity, hi = -Infinity;
    for (const b of blocks) {
      lo = Math.min(lo, b.minTime);
      hi = Math.max(hi, b.maxTime);
    }
    const span = Math.max(1, hi - lo);
    const pct = (t: number) => ((t - lo) / span) * 100;
    replaceChildren(
      list,
      groups.map((g) => {
        const shown = g.blocks.filter((b) => q === "" || b.ulid.includes(q));
        if (shown.length === 0) return null;
        return h(
          "section",
          { class: "block-group", "data-group": g.key },
          h(
            "h2",
            null,
            g.title,
            " ",
            h(
              "span",
              { class: "muted" },
              `resolution ${resolutionText(g.resolution)} · ${shown.length} block${
                shown.length === 1 ? "" : "s"
              }`,
            ),
          ),
          h(
            "div",
            { class: "timeline" },
            timelineRows(shown).map((row) =>
              h(
                "div",
                { class: "timeline-row" },
                row.map((b) => {
                  const m = marks[b.ulid] ?? {};
                  const cls = ["block-span", `level-${Math.min(b.compaction.level, 5)}`];
                  if (m.deletion) cls.push("marked-deletion");
                  if (m.noCompact) cls.push("marked-no-compact");
                  if (b.ulid === selected) cls.push("selected");
                  return h("button", {
                    type: "button",
                    class: cls.join(" "),
                    "data-ulid": b.ulid,
                    title: `${b.ulid}\n${formatTime(b.minTime)} – ${
                      formatTime(b.maxTime)
                    }\nlevel ${b.compaction.level}`,
                    style: {
                      left: `${pct(b.minTime)}%`,
                      width: `max(3px, ${pct(b.maxTime) - pct(b.minTime)}%)`,
                    },
                    onclick: () => {
                      selected = b.ulid;
                      const u = new URL(location.href);
                      u.searchParams.set("ulid", b.ulid);
                      history.replaceState(null, "", u);
                      draw();
                    },
                  });
                }),
              )
            ),
          ),
          h(
            "div",
            { class: "timeline-axis muted" },
            h("span", null, formatTime(lo)),
            h("span", null, formatTime(hi)),
          ),
        );
      }),
    );
    showDetails();
  }
  filter.addEventListener("input", draw);
  replaceChildren(
    root,
    h("h1", null, title),
    h(
      "p",
      { class: "muted refreshed" },
      `${blocks.length} blocks in ${groups.length} groups · refreshed ${
        info.refreshedAt.startsWith("0001-") ? "never" : info.refreshedAt
      }`,
    ),
    info.err ? h("div", { class: "alert error", role: "alert" }, `Error: ${info.err}`) : null,
    filter,
    h("div", { class: "blocks-layout" }, list, pane),
  );
  if (blocks.length === 0) {
    list.appendChild(
      h(
        "p",
        { class: "empty muted" },
        view === "loaded" ? "No blocks loaded." : "No blocks in the bucket.",
      ),
    );
  }
  draw();
}

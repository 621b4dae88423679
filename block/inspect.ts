// `thanos tools bucket ls` and `thanos tools bucket inspect`: read every block's meta.json from a
// bucket and print them in Thanos' formats (ULID list, `wide` lines, JSON, or the inspect table
// rendered like Thanos' tablewriter, CSV and TSV).

import type { Bucket } from "../objstore/bucket.ts";
import { ObjectNotFoundError } from "../objstore/bucket.ts";
import { type BlockMeta, encodeBlockMeta, parseBlockMeta } from "../tsdb/meta.ts";
import { isULID } from "../tsdb/ulid.ts";
import { mapConcurrent } from "../runutil/gate.ts";
import { formatGoDuration } from "../strconv/duration.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import type { Relabeler } from "../relabel/relabel.ts";
import { BLOCK_ID_LABEL } from "./fetcher.ts";

/** Receives one output line (without its trailing newline). */
export type LineWriter = (line: string) => void;

/** Structured logger for skipped blocks. */
export type ToolsLogger = (msg: string, fields?: Record<string, unknown>) => void;

/** Options of fetchBlockMetas. */
export interface FetchMetasOptions {
  /** Parallel meta.json reads; default 32 (Thanos' fetcher concurrency). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Told about partial (no meta.json) and corrupted blocks, which are skipped like Thanos. */
  logger?: ToolsLogger;
}

/**
 * Reads the meta.json of every block (top-level ULID directory) in the bucket, sorted by ULID.
 * Blocks without meta.json (partial uploads) and with an invalid one are skipped and logged.
 */
export async function fetchBlockMetas(
  bucket: Bucket,
  opts: FetchMetasOptions = {},
): Promise<BlockMeta[]> {
  const ids: string[] = [];
  for await (const name of bucket.iter("", { signal: opts.signal })) {
    const id = name.endsWith("/") ? name.slice(0, -1) : name;
    if (name.endsWith("/") && isULID(id)) ids.push(id);
  }
  const metas = await mapConcurrent(
    ids,
    opts.concurrency ?? 32,
    async (id): Promise<BlockMeta | undefined> => {
      const file = `${id}/meta.json`;
      let text: string;
      try {
        text = new TextDecoder().decode(await bucket.get(file, opts.signal));
      } catch (e) {
        if (e instanceof ObjectNotFoundError) {
          opts.logger?.("skipping partial block without meta.json", { block: id });
          return undefined;
        }
        throw e;
      }
      try {
        const m = parseBlockMeta(text, file);
        if (m.ulid !== id) {
          opts.logger?.("skipping block whose meta.json names another ULID", {
            block: id,
            ulid: m.ulid,
          });
          return undefined;
        }
        return m;
      } catch (e) {
        opts.logger?.("skipping block with corrupted meta.json", {
          block: id,
          err: (e as Error).message,
        });
        return undefined;
      }
    },
  );
  return metas.filter((m): m is BlockMeta => m !== undefined);
}

// ---- Go formatting helpers -------------------------------------------------------------

/** `time.Unix(ms/1000, 0).Format(time.RFC3339)` in UTC, e.g. `2023-11-14T22:13:20Z`. */
export function formatRFC3339(ms: number): string {
  const secs = Math.trunc(ms / 1000);
  return new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** An integer with English thousands separators, like Go's `message.Printer` `%d`. */
function groupDigits(n: number): string {
  const s = String(Math.trunc(Math.abs(n)));
  const g = s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return n < 0 ? `-${g}` : g;
}

// ---- ls ---------------------------------------------------------------------------------

/** Options of `tools bucket ls`. */
export interface BucketLsOptions {
  /** `text` prints ULIDs (Thanos' default), `wide` one summary line, `json` the metas. */
  output: "text" | "json" | "wide";
  /** Leave out blocks marked for deletion (`--exclude-delete`). */
  excludeDelete?: boolean;
  /** Only blocks overlapping [minTime, maxTime] in ms (`--min-time`, `--max-time`). */
  minTime?: number;
  maxTime?: number;
  /** Only blocks whose external labels (+ `__block_id`) it keeps (`--selector.relabel-config`). */
  relabel?: Relabeler;
  signal?: AbortSignal;
  logger?: ToolsLogger;
}

async function markedForDeletion(
  bucket: Bucket,
  id: string,
  signal?: AbortSignal,
): Promise<boolean> {
  let raw: Uint8Array;
  try {
    raw = await bucket.get(`${id}/deletion-mark.json`, signal);
  } catch (e) {
    if (e instanceof ObjectNotFoundError) return false;
    throw e;
  }
  try {
    const mark = JSON.parse(new TextDecoder().decode(raw)) as { deletion_time?: number };
    // Thanos' filter with delay 0: marked blocks whose deletion time has passed.
    return typeof mark.deletion_time === "number" && Date.now() / 1000 - mark.deletion_time > 0;
  } catch {
    return false; // unreadable marker: Thanos keeps the block
  }
}

function withThanosSection(m: BlockMeta): BlockMeta {
  if (m.thanos) return m;
  return { ...m, thanos: { labels: {}, downsample: { resolution: 0 }, source: "" } };
}

/** Lists the blocks of the bucket like `thanos tools bucket ls`. */
export async function bucketLs(
  bucket: Bucket,
  opts: BucketLsOptions,
  write: LineWriter,
): Promise<void> {
  let metas = await fetchBlockMetas(bucket, { signal: opts.signal, logger: opts.logger });
  const minT = opts.minTime ?? -Infinity;
  const maxT = opts.maxTime ?? Infinity;
  metas = metas.filter((m) => m.maxTime >= minT && m.minTime <= maxT);
  const relabel = opts.relabel;
  if (relabel && !relabel.empty) {
    metas = metas.filter((m) =>
      relabel.process(
        labelsFromObject({ ...(m.thanos?.labels ?? {}), [BLOCK_ID_LABEL]: m.ulid }),
      ) !== null
    );
  }
  if (opts.excludeDelete) {
    const keep: BlockMeta[] = [];
    for (const m of metas) {
      if (!(await markedForDeletion(bucket, m.ulid, opts.signal))) keep.push(m);
    }
    metas = keep;
  }
  for (const m of metas) {
    switch (opts.output) {
      case "text":
        write(m.ulid);
        break;
      case "wide": {
        const from = Math.trunc(m.minTime / 1000) * 1000;
        const until = Math.trunc(m.maxTime / 1000) * 1000;
        write(
          `${m.ulid} -- ${formatRFC3339(m.minTime)} - ${formatRFC3339(m.maxTime)} ` +
            `Diff: ${formatGoDuration(until - from)}, Compaction: ${m.compaction.level}, ` +
            `Downsample: ${m.thanos?.downsample.resolution ?? 0}, Source: ${
              m.thanos?.source ?? ""
            }`,
        );
        break;
      }
      case "json":
        write(encodeBlockMeta(withThanosSection(m)).replace(/\n$/, ""));
        break;
    }
  }
  opts.logger?.("ls done", { objects: metas.length });
}

// ---- inspect ----------------------------------------------------------------------------

/** Columns of `tools bucket inspect`, valid values of `sortBy`. */
export const INSPECT_COLUMNS = [
  "ULID",
  "FROM",
  "UNTIL",
  "RANGE",
  "UNTIL-DOWN",
  "#SERIES",
  "#SAMPLES",
  "#CHUNKS",
  "COMP-LEVEL",
  "COMP-FAILED",
  "LABELS",
  "RESOLUTION",
  "SOURCE",
] as const;

/** Invalid inspect arguments (unknown sort column). */
export class InspectUsageError extends Error {
  override name = "InspectUsageError";
}

/** Options of `tools bucket inspect`. */
export interface BucketInspectOptions {
  /** Only blocks whose external labels include all these pairs (`-l name="value"`). */
  selector?: Record<string, string>;
  /** Sort columns (default FROM, UNTIL); ties fall back to ULID. */
  sortBy?: string[];
  /** Default `table`. */
  output?: "table" | "csv" | "tsv";
  signal?: AbortSignal;
  logger?: ToolsLogger;
}

const RES_5M = 5 * 60 * 1000;

/** Time left until the compactor downsamples the block (Thanos' UntilNextDownsampling). */
function untilNextDownsampling(m: BlockMeta): string {
  const range = m.maxTime - m.minTime;
  switch (m.thanos?.downsample.resolution ?? 0) {
    case 0:
      return formatGoDuration(40 * 3_600_000 - range);
    case RES_5M:
      return formatGoDuration(10 * 24 * 3_600_000 - range);
    default:
      return "-";
  }
}

/** One inspect row, in INSPECT_COLUMNS order. */
export function inspectRow(m: BlockMeta): string[] {
  const labels = m.thanos?.labels ?? {};
  const keys = Object.keys(labels).sort();
  return [
    m.ulid,
    formatRFC3339(m.minTime),
    formatRFC3339(m.maxTime),
    formatGoDuration(m.maxTime - m.minTime),
    untilNextDownsampling(m),
    groupDigits(m.stats.numSeries ?? 0),
    groupDigits(m.stats.numSamples ?? 0),
    groupDigits(m.stats.numChunks ?? 0),
    groupDigits(m.compaction.level),
    m.compaction.failed ? "true" : "false",
    keys.map((k) => `${k}=${labels[k]}`).join(","),
    formatGoDuration(m.thanos?.downsample.resolution ?? 0),
    m.thanos?.source ?? "",
  ];
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const GO_DURATION_RE = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

function parseGoDuration(s: string): number | null {
  if (s === "0" || s === "+0" || s === "-0") return 0;
  if (!GO_DURATION_RE.test(s)) return null;
  const neg = s.startsWith("-");
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(m[1]) * UNIT_NS[m[2]];
  }
  return neg ? -total : total;
}

// Thanos' cell order: times, then durations, then integers with separators, then strings.
function lessCell(a: string, b: string): boolean {
  if (RFC3339_RE.test(a) && RFC3339_RE.test(b)) return Date.parse(a) < Date.parse(b);
  const da = parseGoDuration(a);
  const db = parseGoDuration(b);
  if (da !== null && db !== null) return da < db;
  const ia = a.replaceAll(",", "");
  const ib = b.replaceAll(",", "");
  if (/^\d+$/.test(ia) && /^\d+$/.test(ib)) return Number(ia) < Number(ib);
  return a < b;
}

/** Renders rows like Thanos' tablewriter settings (side borders, `|` separators, left aligned). */
export function renderTable(header: readonly string[], rows: readonly string[][]): string[] {
  const width = (s: string) => [...s].length;
  const w = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const center = (s: string, n: number) => {
    const gap = n - width(s);
    if (gap <= 0) return s;
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + s + " ".repeat(gap - left);
  };
  const left = (s: string, n: number) => s + " ".repeat(Math.max(0, n - width(s)));
  const out: string[] = [];
  out.push("|" + header.map((h, i) => ` ${center(h, w[i])} |`).join(""));
  out.push("|" + w.map((n) => "-".repeat(n + 2) + "|").join(""));
  for (const r of rows) out.push("|" + r.map((c, i) => ` ${left(c, w[i])} |`).join(""));
  return out;
}

function csvField(f: string, comma: string): string {
  if (f === "") return f;
  const needs = f === "\\." || f.includes(comma) || /["\r\n]/.test(f) || /^\s/u.test(f);
  return needs ? `"${f.replaceAll('"', '""')}"` : f;
}

/** Rows as Go's encoding/csv writes them (comma `,` for CSV, tab for TSV). */
export function renderDelimited(
  header: readonly string[],
  rows: readonly string[][],
  comma: string,
): string[] {
  return [header, ...rows].map((r) => r.map((f) => csvField(f, comma)).join(comma));
}

/** Prints the table of blocks like `thanos tools bucket inspect`. */
export async function bucketInspect(
  bucket: Bucket,
  opts: BucketInspectOptions,
  write: LineWriter,
): Promise<void> {
  const sortBy = opts.sortBy && opts.sortBy.length > 0 ? opts.sortBy : ["FROM", "UNTIL"];
  const sortIdx = sortBy.map((c) => {
    const i = (INSPECT_COLUMNS as readonly string[]).indexOf(c);
    if (i < 0) {
      throw new InspectUsageError(
        `column ${c} not found; sort by one of ${INSPECT_COLUMNS.join(", ")}`,
      );
    }
    return i;
  });
  const metas = await fetchBlockMetas(bucket, { signal: opts.signal, logger: opts.logger });
  const sel = Object.entries(opts.selector ?? {});
  const rows = metas
    .filter((m) => sel.every(([k, v]) => m.thanos?.labels[k] === v))
    .map(inspectRow);
  rows.sort((a, b) => {
    for (const i of sortIdx) {
      if (a[i] === b[i]) continue;
      return lessCell(a[i], b[i]) ? -1 : 1;
    }
    return a[0] === b[0] ? 0 : lessCell(a[0], b[0]) ? -1 : 1;
  });
  const lines = opts.output === "csv"
    ? renderDelimited(INSPECT_COLUMNS, rows, ",")
    : opts.output === "tsv"
    ? renderDelimited(INSPECT_COLUMNS, rows, "\t")
    : renderTable(INSPECT_COLUMNS, rows);
  for (const l of lines) write(l);
}

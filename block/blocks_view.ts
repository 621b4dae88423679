// The data behind the bucket web UI (the compactor's page and `tools bucket web`): Thanos's
// blocks API (https://github.com/thanos-io/thanos/blob/main/pkg/api/blocks/v1.go), "global"
// view. Every block with a meta.json is listed as synced from the bucket (no consistency delay,
// no deletion-mark filter; `tools bucket web` applies `--min-time`/`--max-time`, its selector
// relabel rules and the duplicate filter, as Thanos's), refreshed every interval; a failed
// refresh keeps the last view and records the error. A refresh is one recursive listing of the
// bucket: meta.json (immutable for a ULID) and markers are fetched once and kept in memory, so
// an unchanged bucket costs no per-block request. Routes:
//
// - `GET /api/v1/blocks` → `{"status":"success","data":{"blocks":[meta…],"label":…,
//   "refreshedAt":…,"err":…}}` (Thanos's `BlocksInfo`; `err` is the last refresh's error
//   message, or null; Go's encoder writes a non-nil error as `{}`, which says nothing).
//   `?view=loaded` answers the "loaded" view instead: the blocks the serving role itself works
//   on (the store gateway's loaded blocks, the compactor's synced ones), set by the role with
//   `setLoaded` (Thanos's `BlocksAPI.SetLoaded`); a role that never sets it answers no blocks
//   and `refreshedAt` zero, as Thanos's. The store gateway never refreshes the global view.
// - `GET /api/v1/blocks/marks` (ours, for the details pane): deletion and no-compact marks by
//   block ULID, as found by the last refresh.
// - `POST /api/v1/blocks/mark` with form values `id`, `action` (`DELETION`, `NO_COMPACTION`),
//   `detail` (Thanos's admin operation; refused with `--disable-admin-operations`).

import { type Bucket, isObjectNotFound } from "../objstore/bucket.ts";
import type { Logger } from "../logging/log.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Relabeler } from "../relabel/relabel.ts";
import type { Route } from "../server/http.ts";
import { sleepUnlessAborted } from "../runutil/sleep.ts";
import { forEachConcurrent } from "../runutil/gate.ts";
import { goJSONString } from "../strconv/json.ts";
import { type BlockMeta, encodeBlockMeta, parseBlockMeta } from "../tsdb/meta.ts";
import { InvalidMetaError } from "../tsdb/errors.ts";
import { labelsFromObject } from "../tsdb/labels.ts";
import { isULID } from "../tsdb/ulid.ts";
import { BLOCK_ID_LABEL, findDuplicates } from "./fetcher.ts";
import {
  DELETION_MARK_FILENAME,
  type DeletionMark,
  markForDeletion,
  markForNoCompact,
  NO_COMPACT_MARK_FILENAME,
  NO_COMPACT_REASON,
  type NoCompactMark,
  readMarker,
} from "./markers.ts";

/** The marks of one block, as the last refresh found them. */
export interface BlockMarks {
  deletion?: DeletionMark;
  noCompact?: NoCompactMark;
}

/** Options of {@link GlobalBlocksView}. */
export interface BlocksViewOptions {
  /** External label used as group title (`--label`, `--bucket-web-label`). */
  label: string;
  logger: Logger;
  minTime?: number;
  maxTime?: number;
  relabel?: Relabeler;
  /** Drop blocks whose sources another block covers (`tools bucket web`, as Thanos). */
  filterDuplicates?: boolean;
  /** Concurrent meta.json and marker reads (default 32). */
  concurrency?: number;
  /** Registers `thanos_bucket_ui_blocks_meta_*` sync metrics when given. */
  registry?: Registry;
  /** CORS headers on API answers (Thanos's default; off with `--web.disable-cors`). */
  cors?: boolean;
  /** Refuse `POST /api/v1/blocks/mark` (`--disable-admin-operations`). */
  disableAdminOperations?: boolean;
  /**
   * Why this role cannot write marks although admin operations are enabled (the store gateway
   * holds its bucket read-only): `POST /api/v1/blocks/mark` answers 400 with this reason.
   */
  readOnly?: string;
  now?: () => number;
}

/** Go's `time.Time` JSON (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC. */
export function goTimeJSON(ms: number | null): string {
  if (ms === null) return '"0001-01-01T00:00:00Z"';
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const frac = iso.slice(20, 23).replace(/0+$/, "");
  return `"${iso.slice(0, 19)}${frac === "" ? "" : "." + frac}Z"`;
}

/** meta.json as Go's encoder writes the struct, on one line (field order, omitempty). */
function metaJSON(m: BlockMeta): string {
  return JSON.stringify(JSON.parse(encodeBlockMeta(m)));
}

/** The blocks of a bucket as the bucket UI shows them ("global" view). */
export class GlobalBlocksView {
  private blocks: BlockMeta[] = [];
  private marks = new Map<string, BlockMarks>();
  private refreshedAt: number | null = null;
  private err: string | null = null;
  private readonly now: () => number;
  /** meta.json by ULID (immutable once uploaded), kept across refreshes. */
  private metaCache = new Map<string, BlockMeta>();
  /** Markers by `<ulid>/<file>`, kept while the bucket lists them. */
  private markerCache = new Map<string, DeletionMark | NoCompactMark>();
  /** Requests the last refresh made besides the listing (tests, logs). */
  lastRefreshFetches = 0;
  /** The "loaded" view (`?view=loaded`), as the role last set it. */
  private loaded: { blocks: BlockMeta[]; refreshedAt: number | null; err: string | null } = {
    blocks: [],
    refreshedAt: null,
    err: null,
  };

  constructor(private readonly bucket: Bucket, private readonly opts: BlocksViewOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Lists the bucket once and fills in metas and marks; the view as of now, unfiltered. */
  private async fetchAll(
    signal?: AbortSignal,
  ): Promise<{ metas: Map<string, BlockMeta>; marks: Map<string, BlockMarks> }> {
    const withMeta = new Set<string>();
    const markers: string[] = [];
    for await (const name of this.bucket.iter("", { recursive: true, signal })) {
      const slash = name.indexOf("/");
      if (slash < 0) continue;
      const id = name.slice(0, slash);
      if (!isULID(id)) continue;
      const rest = name.slice(slash + 1);
      if (rest === "meta.json") withMeta.add(id);
      else if (rest === DELETION_MARK_FILENAME || rest === NO_COMPACT_MARK_FILENAME) {
        markers.push(name);
      }
    }
    let fetches = 0;
    const metas = new Map<string, BlockMeta>();
    const metaCache = new Map<string, BlockMeta>();
    const concurrency = this.opts.concurrency ?? 32;
    await forEachConcurrent([...withMeta], concurrency, async (id) => {
      let m = this.metaCache.get(id);
      if (m === undefined) {
        fetches++;
        let bytes: Uint8Array;
        try {
          bytes = await this.bucket.get(`${id}/meta.json`, signal);
        } catch (e) {
          if (isObjectNotFound(e)) return; // deleted since the listing
          throw e;
        }
        try {
          m = parseBlockMeta(
            new TextDecoder().decode(bytes),
            `${this.bucket.name}/${id}/meta.json`,
          );
          if (m.ulid !== id) throw new InvalidMetaError(`${id}/meta.json`, `names ${m.ulid}`);
        } catch (e) {
          if (!(e instanceof InvalidMetaError)) throw e;
          this.opts.logger.warn("bucket UI: skipping block with a corrupt meta.json", {
            block: id,
            err: e.message,
          });
          return;
        }
      }
      metaCache.set(id, m);
      metas.set(id, m);
    });
    const marks = new Map<string, BlockMarks>();
    const markerCache = new Map<string, DeletionMark | NoCompactMark>();
    await forEachConcurrent(markers, concurrency, async (name) => {
      const [id, file] = name.split("/") as [string, string];
      if (!metas.has(id)) return;
      let mk = this.markerCache.get(name);
      if (mk === undefined) {
        fetches++;
        const f = file === DELETION_MARK_FILENAME
          ? DELETION_MARK_FILENAME
          : NO_COMPACT_MARK_FILENAME;
        mk = (await readMarker(this.bucket, id, f, signal)) ?? undefined;
        if (mk === undefined) return;
      }
      markerCache.set(name, mk);
      const e = marks.get(id) ?? {};
      if (file === DELETION_MARK_FILENAME) e.deletion = mk as DeletionMark;
      else e.noCompact = mk as NoCompactMark;
      marks.set(id, e);
    });
    this.metaCache = metaCache;
    this.markerCache = markerCache;
    this.lastRefreshFetches = fetches;
    return { metas, marks };
  }

  /** The blocks the view serves: time range, selector, duplicates (when asked). */
  private filter(metas: Map<string, BlockMeta>): void {
    const o = this.opts;
    const minT = o.minTime ?? -Infinity;
    const maxT = o.maxTime ?? Infinity;
    for (const [id, m] of metas) {
      if (!(m.maxTime >= minT && m.minTime <= maxT)) metas.delete(id);
    }
    if (o.relabel && !o.relabel.empty) {
      for (const [id, m] of metas) {
        const ls = labelsFromObject({ ...(m.thanos?.labels ?? {}), [BLOCK_ID_LABEL]: id });
        if (o.relabel.process(ls) === null) metas.delete(id);
      }
    }
    if (o.filterDuplicates) { for (const id of findDuplicates(metas)) metas.delete(id); }
  }

  /** Syncs the metas and marks once; on failure the last view stays and `err` is set. */
  async refresh(signal?: AbortSignal): Promise<boolean> {
    try {
      const { metas, marks } = await this.fetchAll(signal);
      this.filter(metas);
      for (const id of marks.keys()) if (!metas.has(id)) marks.delete(id);
      this.blocks = [...metas.values()].sort((a, b) =>
        a.minTime - b.minTime || (a.ulid < b.ulid ? -1 : a.ulid > b.ulid ? 1 : 0)
      );
      this.marks = marks;
      this.err = null;
      this.refreshedAt = this.now();
      return true;
    } catch (e) {
      this.refreshedAt = this.now();
      this.err = (e as Error).message;
      this.opts.logger.warn("bucket UI: refreshing the blocks failed; the last view stays", {
        err: this.err,
      });
      return false;
    }
  }

  /**
   * Refreshes now and then every `intervalMs` until `signal` aborts; each refresh bounded by
   * `timeoutMs`; a failed one is retried after a minute (or the interval, when shorter), as
   * Thanos's `runutil.RetryWithLog`.
   */
  async run(intervalMs: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const ok = await this.refresh(AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]));
      if (signal.aborted) return;
      await sleepUnlessAborted(ok ? intervalMs : Math.min(intervalMs, 60_000), signal);
    }
  }

  /**
   * Sets the "loaded" view: the blocks the role works on now, or (with `err`) records that
   * finding them failed, keeping the last list (Thanos's `BlocksInfo.set`).
   */
  setLoaded(blocks: readonly BlockMeta[], err: string | null = null): void {
    this.loaded.refreshedAt = this.now();
    this.loaded.err = err;
    if (err !== null) return;
    this.loaded.blocks = [...blocks].sort((a, b) =>
      a.minTime - b.minTime || (a.ulid < b.ulid ? -1 : a.ulid > b.ulid ? 1 : 0)
    );
  }

  /** `data` of `GET /api/v1/blocks` (Thanos's BlocksInfo, its field order); `loaded` view. */
  infoJSON(view: "global" | "loaded" = "global"): string {
    const v = view === "loaded"
      ? this.loaded
      : { blocks: this.blocks, refreshedAt: this.refreshedAt, err: this.err };
    return `{"label":${goJSONString(this.opts.label)},"blocks":[${
      v.blocks.map(metaJSON).join(",")
    }],"refreshedAt":${goTimeJSON(v.refreshedAt)},"err":${
      v.err === null ? "null" : goJSONString(v.err)
    }}`;
  }

  /** `data` of `GET /api/v1/blocks/marks`. */
  marksJSON(): string {
    return JSON.stringify(Object.fromEntries(this.marks));
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { "content-type": "application/json" };
    if (this.opts.cors !== false) {
      h["Access-Control-Allow-Headers"] = "Accept, Accept-Encoding, Authorization, Content-Type, " +
        "Origin";
      h["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS";
      h["Access-Control-Allow-Origin"] = "*";
      h["Access-Control-Expose-Headers"] = "Date";
    }
    return h;
  }

  private ok(data: string | null): Response {
    const body = data === null ? `{"status":"success"}` : `{"status":"success","data":${data}}`;
    return new Response(body, { status: 200, headers: this.headers() });
  }

  private badData(msg: string): Response {
    return new Response(`{"status":"error","errorType":"bad_data","error":${goJSONString(msg)}}`, {
      status: 400,
      headers: { ...this.headers(), "cache-control": "no-store" },
    });
  }

  private async mark(req: Request, readBody: (n: number) => Promise<Uint8Array>) {
    if (this.opts.disableAdminOperations) return this.badData("Admin operations are disabled");
    if (this.opts.readOnly !== undefined) return this.badData(this.opts.readOnly);
    const form = new URLSearchParams(new URL(req.url).search);
    const type = req.headers.get("content-type") ?? "";
    if (type.startsWith("application/x-www-form-urlencoded")) {
      const body = new TextDecoder().decode(await readBody(64 * 1024));
      // like Go's FormValue: the body's values come first
      for (const [k, v] of new URLSearchParams(body)) form.set(k, v);
    }
    const id = form.get("id") ?? "";
    const action = form.get("action") ?? "";
    const detail = form.get("detail") ?? "";
    if (id === "") return this.badData("ID cannot be empty");
    if (action === "") return this.badData("Action cannot be empty");
    if (!isULID(id)) return this.badData(`ULID ${JSON.stringify(id)} is not valid`);
    if (action === "DELETION") {
      await markForDeletion(this.bucket, id, detail, { signal: req.signal });
    } else if (action === "NO_COMPACTION") {
      await markForNoCompact(this.bucket, id, NO_COMPACT_REASON.manual, detail, {
        signal: req.signal,
      });
    } else {
      return this.badData(`not supported marker ${action}`);
    }
    this.opts.logger.info("bucket UI: block marked", { block: id, action, detail });
    // show the mark without waiting for the next refresh
    const m = this.marks.get(id) ?? {};
    if (action === "DELETION") {
      const d = await readMarker(this.bucket, id, DELETION_MARK_FILENAME, req.signal);
      if (d) {
        m.deletion = d;
        this.markerCache.set(`${id}/${DELETION_MARK_FILENAME}`, d);
      }
    } else {
      const n = await readMarker(this.bucket, id, NO_COMPACT_MARK_FILENAME, req.signal);
      if (n) {
        m.noCompact = n;
        this.markerCache.set(`${id}/${NO_COMPACT_MARK_FILENAME}`, n);
      }
    }
    this.marks.set(id, m);
    return this.ok(null);
  }

  /** The API routes (paths relative to the route prefix). */
  routes(): Route[] {
    return [
      {
        method: "GET",
        path: "/api/v1/blocks",
        handler: (req) =>
          this.ok(
            this.infoJSON(
              new URL(req.url).searchParams.get("view") === "loaded" ? "loaded" : "global",
            ),
          ),
      },
      {
        method: "GET",
        path: "/api/v1/blocks/marks",
        handler: () => this.ok(this.marksJSON()),
      },
      {
        method: "POST",
        path: "/api/v1/blocks/mark",
        handler: (req, _p, info) => this.mark(req, (n) => info.readBody(n)),
      },
      {
        method: "OPTIONS",
        path: "/api/v1/*",
        handler: () => new Response(null, { status: 204, headers: this.headers() }),
      },
    ];
  }
}

// A block's meta.json (Prometheus's `BlockMeta` in
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/block.go,
// plus the `thanos` section of https://thanos.io/tip/thanos/storage.md/#metadata-file-metajson,
// https://github.com/thanos-io/thanos/blob/main/pkg/block/metadata/meta.go): parsing with
// validation, and encoding byte-identical to Go's encoding/json output (struct field order,
// omitempty rules, tab indentation, HTML-safe string escapes, sorted map keys).

import { InvalidMetaError, MissingFileError } from "./errors.ts";
import { compareStrings } from "./labels.ts";
import { isULID } from "./ulid.ts";
import { writeFileAtomic } from "../runutil/atomic_file.ts";

/** File name inside a block directory. */
export const META_FILENAME = "meta.json";

/** Block statistics; each member is omitted from the JSON when 0. */
export interface BlockStats {
  numSamples?: number;
  /** Prometheus 3.6+. */
  numFloatSamples?: number;
  /** Prometheus 3.6+. */
  numHistogramSamples?: number;
  numSeries?: number;
  numChunks?: number;
  numTombstones?: number;
}

/** A direct parent of a compacted block. */
export interface BlockDesc {
  ulid: string;
  minTime: number;
  maxTime: number;
}

/** Compaction history of a block. */
export interface BlockMetaCompaction {
  /** 1 for blocks cut from the head; max(parent levels) + 1 after compaction. */
  level: number;
  /** ULIDs of all level-1 ancestors (a level-1 block lists itself). */
  sources?: string[];
  /** Compaction produced an empty block that should be deleted. */
  deletable?: boolean;
  parents?: BlockDesc[];
  failed?: boolean;
  /** Sorted, e.g. `from-out-of-order`. */
  hints?: string[];
}

/** A file hash in the Thanos section (`--hash-func=SHA256`). */
export interface ObjectHash {
  hashFunc: string;
  value: string;
}

/** One file of the block as listed in `thanos.files`. */
export interface ThanosFile {
  rel_path: string;
  /** Omitted for meta.json itself (and whenever 0). */
  size_bytes?: number;
  hash?: ObjectHash;
}

/** Index statistics written by the Thanos compactor. */
export interface IndexStats {
  series_max_size?: number;
  chunk_max_size?: number;
}

/** A rewrite applied by `thanos tools bucket rewrite`; inner values are kept as parsed. */
export interface ThanosRewrite {
  sources?: string[];
  deletions_applied?: unknown[];
  relabels_applied?: unknown[];
}

/** The `thanos` section of meta.json. */
export interface ThanosMeta {
  /** Section version; absent/0 means 1, the only supported one. */
  version?: number;
  /** External labels of the producer. */
  labels: Record<string, string>;
  /** Downsampling resolution in ms: 0, 300000 or 3600000. */
  downsample: { resolution: number };
  /** Producer: `sidecar`, `receive`, `ruler`, `compactor`, `bucket.upload`, … */
  source: string;
  /** Deprecated list of chunk file names, e.g. `000001`. */
  segment_files?: string[];
  /** Files of the block sorted by rel_path. */
  files?: ThanosFile[];
  rewrites?: ThanosRewrite[];
  index_stats?: IndexStats;
  /** Arbitrary plugin data (JSON). */
  extensions?: unknown;
  /** RFC 3339 upload time (UTC); Go writes `0001-01-01T00:00:00Z` when unset. */
  upload_time?: string;
}

/** Contents of a block's meta.json. */
export interface BlockMeta {
  ulid: string;
  /** Inclusive, ms. */
  minTime: number;
  /** Exclusive, ms. */
  maxTime: number;
  stats: BlockStats;
  compaction: BlockMetaCompaction;
  /** Meta file format version; always 1. */
  version: 1;
  thanos?: ThanosMeta;
}

/** The value Go writes for an unset `time.Time`. */
const ZERO_TIME = "0001-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------
// Parsing

class MetaParser {
  constructor(private readonly file: string) {}

  fail(field: string, detail: string): never {
    throw new InvalidMetaError(this.file, `${field}: ${detail}`);
  }

  describe(v: unknown): string {
    if (v === undefined) return "missing";
    const s = JSON.stringify(v);
    return `got ${s.length > 40 ? s.slice(0, 40) + "…" : s}`;
  }

  object(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(field, `must be an object, ${this.describe(v)}`);
    }
    return v as Record<string, unknown>;
  }

  int(v: unknown, field: string, min = -Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.fail(
        field,
        `must be an integer${min === 0 ? " ≥ 0" : min === 1 ? " ≥ 1" : ""}, ${this.describe(v)}`,
      );
    }
    return v;
  }

  optInt(v: unknown, field: string): number | undefined {
    return v === undefined || v === null ? undefined : this.int(v, field, 0);
  }

  string(v: unknown, field: string): string {
    if (typeof v !== "string") this.fail(field, `must be a string, ${this.describe(v)}`);
    return v;
  }

  bool(v: unknown, field: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") this.fail(field, `must be true or false, ${this.describe(v)}`);
    return v;
  }

  ulid(v: unknown, field: string): string {
    const s = this.string(v, field);
    if (!isULID(s)) this.fail(field, `"${s}" is not a valid ULID`);
    return s;
  }

  array(v: unknown, field: string): unknown[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) this.fail(field, `must be an array, ${this.describe(v)}`);
    return v;
  }

  strings(v: unknown, field: string): string[] | undefined {
    return this.array(v, field)?.map((x, i) => this.string(x, `${field}[${i}]`));
  }
}

/**
 * Parses and validates meta.json text. Throws InvalidMetaError naming `file` and the field:
 * bad JSON, version ≠ 1, invalid ULIDs, non-integer times, minTime > maxTime, level < 1,
 * wrong types, or an unsupported Thanos section version.
 */
export function parseBlockMeta(text: string, file: string): BlockMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidMetaError(file, `not valid JSON: ${(err as Error).message}`);
  }
  const p = new MetaParser(file);
  const root = p.object(raw, "(root)");
  if (root.version !== 1) {
    p.fail("version", `unexpected meta file version ${JSON.stringify(root.version ?? 0)}, want 1`);
  }
  const ulid = p.ulid(root.ulid, "ulid");
  const minTime = p.int(root.minTime, "minTime");
  const maxTime = p.int(root.maxTime, "maxTime");
  if (minTime > maxTime) p.fail("maxTime", `minTime ${minTime} is after maxTime ${maxTime}`);

  const stats: BlockStats = {};
  if (root.stats !== undefined && root.stats !== null) {
    const s = p.object(root.stats, "stats");
    for (
      const k of [
        "numSamples",
        "numFloatSamples",
        "numHistogramSamples",
        "numSeries",
        "numChunks",
        "numTombstones",
      ] as const
    ) {
      const v = p.optInt(s[k], `stats.${k}`);
      if (v !== undefined) stats[k] = v;
    }
  }

  const c = p.object(root.compaction, "compaction");
  const compaction: BlockMetaCompaction = { level: p.int(c.level, "compaction.level", 1) };
  const sources = p.array(c.sources, "compaction.sources")?.map((x, i) =>
    p.ulid(x, `compaction.sources[${i}]`)
  );
  if (sources) compaction.sources = sources;
  const deletable = p.bool(c.deletable, "compaction.deletable");
  if (deletable !== undefined) compaction.deletable = deletable;
  const parents = p.array(c.parents, "compaction.parents")?.map((x, i) => {
    const f = `compaction.parents[${i}]`;
    const o = p.object(x, f);
    return {
      ulid: p.ulid(o.ulid, `${f}.ulid`),
      minTime: p.int(o.minTime, `${f}.minTime`),
      maxTime: p.int(o.maxTime, `${f}.maxTime`),
    };
  });
  if (parents) compaction.parents = parents;
  const failed = p.bool(c.failed, "compaction.failed");
  if (failed !== undefined) compaction.failed = failed;
  const hints = p.strings(c.hints, "compaction.hints");
  if (hints) compaction.hints = hints;

  const meta: BlockMeta = { ulid, minTime, maxTime, stats, compaction, version: 1 };
  if (root.thanos !== undefined && root.thanos !== null) {
    meta.thanos = parseThanos(p, p.object(root.thanos, "thanos"));
  }
  return meta;
}

function parseThanos(p: MetaParser, t: Record<string, unknown>): ThanosMeta {
  const version = t.version === undefined || t.version === null
    ? 0
    : p.int(t.version, "thanos.version", 0);
  if (version !== 0 && version !== 1) {
    p.fail("thanos.version", `unexpected Thanos section version ${version}, want 1`);
  }
  const labels: Record<string, string> = {};
  if (t.labels !== undefined && t.labels !== null) {
    const l = p.object(t.labels, "thanos.labels");
    for (const [k, v] of Object.entries(l)) labels[k] = p.string(v, `thanos.labels.${k}`);
  }
  let resolution = 0;
  if (t.downsample !== undefined && t.downsample !== null) {
    const d = p.object(t.downsample, "thanos.downsample");
    resolution = d.resolution === undefined
      ? 0
      : p.int(d.resolution, "thanos.downsample.resolution", 0);
  }
  const source = t.source === undefined || t.source === null
    ? ""
    : p.string(t.source, "thanos.source");
  const out: ThanosMeta = { labels, downsample: { resolution }, source };
  if (version === 1) out.version = 1;
  const segmentFiles = p.strings(t.segment_files, "thanos.segment_files");
  if (segmentFiles) out.segment_files = segmentFiles;
  const files = p.array(t.files, "thanos.files")?.map((x, i) => {
    const f = `thanos.files[${i}]`;
    const o = p.object(x, f);
    const file: ThanosFile = { rel_path: p.string(o.rel_path, `${f}.rel_path`) };
    const size = p.optInt(o.size_bytes, `${f}.size_bytes`);
    if (size !== undefined) file.size_bytes = size;
    if (o.hash !== undefined && o.hash !== null) {
      const h = p.object(o.hash, `${f}.hash`);
      file.hash = {
        hashFunc: h.hashFunc === undefined ? "" : p.string(h.hashFunc, `${f}.hash.hashFunc`),
        value: h.value === undefined ? "" : p.string(h.value, `${f}.hash.value`),
      };
    }
    return file;
  });
  if (files) out.files = files;
  const rewrites = p.array(t.rewrites, "thanos.rewrites")?.map((x, i) => {
    const f = `thanos.rewrites[${i}]`;
    const o = p.object(x, f);
    const r: ThanosRewrite = {};
    const sources = p.array(o.sources, `${f}.sources`)?.map((s, k) =>
      p.ulid(s, `${f}.sources[${k}]`)
    );
    if (sources) r.sources = sources;
    const del = p.array(o.deletions_applied, `${f}.deletions_applied`);
    if (del) r.deletions_applied = del;
    const rel = p.array(o.relabels_applied, `${f}.relabels_applied`);
    if (rel) r.relabels_applied = rel;
    return r;
  });
  if (rewrites) out.rewrites = rewrites;
  if (t.index_stats !== undefined && t.index_stats !== null) {
    const s = p.object(t.index_stats, "thanos.index_stats");
    const st: IndexStats = {};
    const a = p.optInt(s.series_max_size, "thanos.index_stats.series_max_size");
    if (a !== undefined) st.series_max_size = a;
    const b = p.optInt(s.chunk_max_size, "thanos.index_stats.chunk_max_size");
    if (b !== undefined) st.chunk_max_size = b;
    out.index_stats = st;
  }
  if (t.extensions !== undefined && t.extensions !== null) out.extensions = t.extensions;
  if (t.upload_time !== undefined && t.upload_time !== null) {
    const u = p.string(t.upload_time, "thanos.upload_time");
    if (Number.isNaN(Date.parse(u))) p.fail("thanos.upload_time", `"${u}" is not an RFC 3339 time`);
    out.upload_time = u;
  }
  return out;
}

/** Reads and parses `<blockDir>/meta.json`. Missing file → MissingFileError. */
export async function readBlockMeta(blockDir: string): Promise<BlockMeta> {
  const path = `${blockDir}/${META_FILENAME}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new MissingFileError(path, "meta.json is missing (partial or deleted block?)");
    }
    throw err;
  }
  return parseBlockMeta(text, path);
}

// ---------------------------------------------------------------------------------------
// Encoding (Go encoding/json MarshalIndent(v, "", "\t") emulation)

/** A JSON value to encode; objects are OrderedObject (keys in output order) or plain. */
type Ordered = unknown;
class OrderedObject {
  readonly entries: [string, Ordered][] = [];
  set(k: string, v: Ordered): this {
    this.entries.push([k, v]);
    return this;
  }
}

/** Go's string escaping: JSON escapes plus `<`, `>`, `&`, U+2028 and U+2029 as \u sequences. */
function goString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function goNumber(n: number): string {
  if (!Number.isFinite(n)) throw new InvalidMetaError("meta.json", `cannot encode number ${n}`);
  return JSON.stringify(n);
}

/** Converts parsed JSON of an `any` field: Go decodes objects to maps, so keys get sorted. */
function sortedJson(v: unknown): Ordered {
  if (Array.isArray(v)) return v.map(sortedJson);
  if (typeof v === "object" && v !== null) {
    const o = new OrderedObject();
    const keys = Object.keys(v).sort(compareStrings);
    for (const k of keys) o.set(k, sortedJson((v as Record<string, unknown>)[k]));
    return o;
  }
  return v;
}

/** Keeps parsed JSON in its input order (struct values written by Go keep struct order). */
function asIs(v: unknown): Ordered {
  if (Array.isArray(v)) return v.map(asIs);
  if (typeof v === "object" && v !== null) {
    const o = new OrderedObject();
    for (const [k, x] of Object.entries(v)) o.set(k, asIs(x));
    return o;
  }
  return v;
}

function emit(v: Ordered, indent: string, out: string[]): void {
  if (v === null || v === undefined) {
    out.push("null");
  } else if (typeof v === "string") {
    out.push(goString(v));
  } else if (typeof v === "number") {
    out.push(goNumber(v));
  } else if (typeof v === "boolean") {
    out.push(v ? "true" : "false");
  } else if (Array.isArray(v)) {
    if (v.length === 0) {
      out.push("[]");
      return;
    }
    const inner = indent + "\t";
    out.push("[\n");
    for (let i = 0; i < v.length; i++) {
      out.push(inner);
      emit(v[i], inner, out);
      out.push(i < v.length - 1 ? ",\n" : "\n");
    }
    out.push(indent, "]");
  } else {
    const entries = v instanceof OrderedObject ? v.entries : (asIs(v) as OrderedObject).entries;
    if (entries.length === 0) {
      out.push("{}");
      return;
    }
    const inner = indent + "\t";
    out.push("{\n");
    for (let i = 0; i < entries.length; i++) {
      out.push(inner, goString(entries[i][0]), ": ");
      emit(entries[i][1], inner, out);
      out.push(i < entries.length - 1 ? ",\n" : "\n");
    }
    out.push(indent, "}");
  }
}

/** Adds `key: value` when `value` is non-zero (Go `omitempty` for numbers, bools, slices). */
function omitEmpty(o: OrderedObject, key: string, value: Ordered | undefined): void {
  if (value === undefined || value === null || value === 0 || value === false || value === "") {
    return;
  }
  if (Array.isArray(value) && value.length === 0) return;
  o.set(key, value);
}

function blockDesc(d: BlockDesc): OrderedObject {
  return new OrderedObject().set("ulid", d.ulid).set("minTime", d.minTime).set(
    "maxTime",
    d.maxTime,
  );
}

function thanosObject(t: ThanosMeta): OrderedObject {
  const o = new OrderedObject();
  omitEmpty(o, "version", t.version);
  const labels = new OrderedObject();
  for (const k of Object.keys(t.labels ?? {}).sort(compareStrings)) labels.set(k, t.labels[k]);
  o.set("labels", t.labels ? labels : null);
  o.set("downsample", new OrderedObject().set("resolution", t.downsample?.resolution ?? 0));
  o.set("source", t.source ?? "");
  omitEmpty(o, "segment_files", t.segment_files);
  omitEmpty(
    o,
    "files",
    t.files?.map((f) => {
      const fo = new OrderedObject().set("rel_path", f.rel_path);
      omitEmpty(fo, "size_bytes", f.size_bytes);
      if (f.hash) {
        fo.set(
          "hash",
          new OrderedObject().set("hashFunc", f.hash.hashFunc).set("value", f.hash.value),
        );
      }
      return fo;
    }),
  );
  omitEmpty(
    o,
    "rewrites",
    t.rewrites?.map((r) => {
      const ro = new OrderedObject();
      omitEmpty(ro, "sources", r.sources);
      omitEmpty(ro, "deletions_applied", r.deletions_applied?.map(asIs));
      omitEmpty(ro, "relabels_applied", r.relabels_applied?.map(asIs));
      return ro;
    }),
  );
  // A struct: Go's omitempty never drops it, and its members are omitted when 0.
  const st = new OrderedObject();
  omitEmpty(st, "series_max_size", t.index_stats?.series_max_size);
  omitEmpty(st, "chunk_max_size", t.index_stats?.chunk_max_size);
  o.set("index_stats", st);
  if (t.extensions !== undefined && t.extensions !== null) {
    o.set("extensions", sortedJson(t.extensions));
  }
  o.set("upload_time", t.upload_time ?? ZERO_TIME);
  return o;
}

/**
 * Encodes meta.json exactly as Go does: Prometheus's `json.MarshalIndent(meta, "", "\t")`
 * (no trailing newline) when there is no `thanos` section, Thanos's `json.Encoder` with the
 * same indent (trailing newline) when there is one.
 */
export function encodeBlockMeta(meta: BlockMeta): string {
  const root = new OrderedObject();
  root.set("ulid", meta.ulid).set("minTime", meta.minTime).set("maxTime", meta.maxTime);
  const s = meta.stats ?? {};
  const stats = new OrderedObject();
  omitEmpty(stats, "numSamples", s.numSamples);
  omitEmpty(stats, "numFloatSamples", s.numFloatSamples);
  omitEmpty(stats, "numHistogramSamples", s.numHistogramSamples);
  omitEmpty(stats, "numSeries", s.numSeries);
  omitEmpty(stats, "numChunks", s.numChunks);
  omitEmpty(stats, "numTombstones", s.numTombstones);
  root.set("stats", stats);
  const c = meta.compaction;
  const comp = new OrderedObject().set("level", c.level);
  omitEmpty(comp, "sources", c.sources);
  omitEmpty(comp, "deletable", c.deletable);
  omitEmpty(comp, "parents", c.parents?.map(blockDesc));
  omitEmpty(comp, "failed", c.failed);
  omitEmpty(comp, "hints", c.hints);
  root.set("compaction", comp);
  root.set("version", 1);
  if (meta.thanos) root.set("thanos", thanosObject(meta.thanos));
  const out: string[] = [];
  emit(root, "", out);
  if (meta.thanos) out.push("\n");
  return out.join("");
}

/**
 * Writes `<blockDir>/meta.json` atomically (temp file, fsync, rename, fsync of the directory;
 * see writeFileAtomic), as Thanos does.
 */
export async function writeBlockMeta(blockDir: string, meta: BlockMeta): Promise<void> {
  await writeFileAtomic(`${blockDir}/${META_FILENAME}`, encodeBlockMeta(meta));
}

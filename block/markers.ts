// Block markers (Thanos's https://github.com/thanos-io/thanos/blob/main/pkg/block/metadata/markers.go):
// `deletion-mark.json`, `no-compact-mark.json` and `no-downsample-mark.json` inside a block's
// directory in the bucket. Encoded as Go's `json.Marshal` of the marker structs (compact, fields
// in struct order, `details` omitted when empty), so Go Thanos reads ours and we read theirs.

import { type Bucket, isObjectNotFound } from "../objstore/bucket.ts";
import { goJSONString } from "../strconv/json.ts";

/** File names of the markers. */
export const DELETION_MARK_FILENAME = "deletion-mark.json";
export const NO_COMPACT_MARK_FILENAME = "no-compact-mark.json";
export const NO_DOWNSAMPLE_MARK_FILENAME = "no-downsample-mark.json";

/** The only marker version Thanos writes and accepts. */
export const MARKER_VERSION_1 = 1;

/** Thanos's no-compact reasons (free text is allowed too). */
export const NO_COMPACT_REASON = {
  manual: "manual",
  indexSizeExceeding: "index-size-exceeding",
  outOfOrderChunks: "block-index-out-of-order-chunk",
  downsampleVerticalCompaction: "downsample-vertical-compaction",
  /** Ours: blocks of a group that overlap without being a replica set (Thanos halts instead). */
  overlap: "overlapping-blocks",
  /** Ours: a block whose index or chunks cannot be read. */
  corrupt: "corrupt-block",
} as const;

/** A `deletion-mark.json`. */
export interface DeletionMark {
  id: string;
  version: number;
  details?: string;
  /** Unix seconds. */
  deletion_time: number;
}

/** A `no-compact-mark.json`. */
export interface NoCompactMark {
  id: string;
  version: number;
  details?: string;
  /** Unix seconds. */
  no_compact_time: number;
  reason: string;
}

/** A `no-downsample-mark.json`. */
export interface NoDownsampleMark {
  id: string;
  version: number;
  details?: string;
  /** Unix seconds. */
  no_downsample_time: number;
  reason: string;
}

/** Marker kinds by file name. */
export interface MarkerTypes {
  "deletion-mark.json": DeletionMark;
  "no-compact-mark.json": NoCompactMark;
  "no-downsample-mark.json": NoDownsampleMark;
}

/** One of the marker file names. */
export type MarkerFile = keyof MarkerTypes;

const TIME_FIELD: { [K in MarkerFile]: string } = {
  "deletion-mark.json": "deletion_time",
  "no-compact-mark.json": "no_compact_time",
  "no-downsample-mark.json": "no_downsample_time",
};

function jsonField(name: string, v: string | number): string {
  return `${goJSONString(name)}:${typeof v === "number" ? String(v) : goJSONString(v)}`;
}

/** Go `json.Marshal` of a deletion mark. */
export function encodeDeletionMark(m: DeletionMark): string {
  const parts = [jsonField("id", m.id), jsonField("version", m.version)];
  if (m.details) parts.push(jsonField("details", m.details));
  parts.push(jsonField("deletion_time", m.deletion_time));
  return `{${parts.join(",")}}`;
}

/** Go `json.Marshal` of a no-compact mark. */
export function encodeNoCompactMark(m: NoCompactMark): string {
  const parts = [jsonField("id", m.id), jsonField("version", m.version)];
  if (m.details) parts.push(jsonField("details", m.details));
  parts.push(jsonField("no_compact_time", m.no_compact_time), jsonField("reason", m.reason));
  return `{${parts.join(",")}}`;
}

/** Go `json.Marshal` of a no-downsample mark. */
export function encodeNoDownsampleMark(m: NoDownsampleMark): string {
  const parts = [jsonField("id", m.id), jsonField("version", m.version)];
  if (m.details) parts.push(jsonField("details", m.details));
  parts.push(jsonField("no_downsample_time", m.no_downsample_time), jsonField("reason", m.reason));
  return `{${parts.join(",")}}`;
}

/**
 * Parses a marker of kind `file`; returns the reason as a string when it is unusable (bad JSON,
 * version ≠ 1, missing time). Thanos treats unusable markers as partially uploaded ones.
 */
export function parseMarker<F extends MarkerFile>(file: F, text: string): MarkerTypes[F] | string {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    return `not valid JSON: ${(e as Error).message}`;
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return "not a JSON object";
  const m = o as Record<string, unknown>;
  if (m.version !== MARKER_VERSION_1) {
    return `unexpected version ${JSON.stringify(m.version)}, want 1`;
  }
  if (typeof m[TIME_FIELD[file]] !== "number") return `${TIME_FIELD[file]} is missing`;
  if (typeof m.id !== "string") return "id is missing";
  return m as unknown as MarkerTypes[F];
}

/** Parses a deletion mark (see {@link parseMarker}). */
export function parseDeletionMark(text: string): DeletionMark | string {
  return parseMarker(DELETION_MARK_FILENAME, text);
}

const decoder = new TextDecoder();

/** Reads marker `file` of block `id`; null when absent or unusable. */
export async function readMarker<F extends MarkerFile>(
  bucket: Bucket,
  id: string,
  file: F,
  signal?: AbortSignal,
): Promise<MarkerTypes[F] | null> {
  let bytes: Uint8Array;
  try {
    bytes = await bucket.get(`${id}/${file}`, signal);
  } catch (e) {
    if (isObjectNotFound(e)) return null;
    throw e;
  }
  const m = parseMarker(file, decoder.decode(bytes));
  return typeof m === "string" ? null : m;
}

async function writeMarkerOnce(
  bucket: Bucket,
  id: string,
  file: MarkerFile,
  body: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const name = `${id}/${file}`;
  // like Thanos: an existing marker is kept (its time is when the block was first marked)
  if (await bucket.exists(name, signal)) return false;
  await bucket.upload(name, new TextEncoder().encode(body), signal);
  return true;
}

/**
 * Uploads `deletion-mark.json` for block `id` (Thanos's `block.MarkForDeletion`). Resolves to
 * false when the block already had one. `now` is ms since the epoch.
 */
export function markForDeletion(
  bucket: Bucket,
  id: string,
  details: string,
  opts: { now?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const body = encodeDeletionMark({
    id,
    version: MARKER_VERSION_1,
    details,
    deletion_time: Math.floor((opts.now ?? Date.now()) / 1000),
  });
  return writeMarkerOnce(bucket, id, DELETION_MARK_FILENAME, body, opts.signal);
}

/** Uploads `no-compact-mark.json` (Thanos's `block.MarkForNoCompact`); false when present. */
export function markForNoCompact(
  bucket: Bucket,
  id: string,
  reason: string,
  details: string,
  opts: { now?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const body = encodeNoCompactMark({
    id,
    version: MARKER_VERSION_1,
    details,
    no_compact_time: Math.floor((opts.now ?? Date.now()) / 1000),
    reason,
  });
  return writeMarkerOnce(bucket, id, NO_COMPACT_MARK_FILENAME, body, opts.signal);
}

/** Uploads `no-downsample-mark.json` (Thanos's `block.MarkForNoDownsample`); false when present. */
export function markForNoDownsample(
  bucket: Bucket,
  id: string,
  reason: string,
  details: string,
  opts: { now?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const body = encodeNoDownsampleMark({
    id,
    version: MARKER_VERSION_1,
    details,
    no_downsample_time: Math.floor((opts.now ?? Date.now()) / 1000),
    reason,
  });
  return writeMarkerOnce(bucket, id, NO_DOWNSAMPLE_MARK_FILENAME, body, opts.signal);
}

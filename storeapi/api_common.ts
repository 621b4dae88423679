// What the Rules, Targets and Metadata gRPC APIs share (Thanos pkg/rules/rulespb,
// pkg/targets/targetspb, pkg/metadata/metadatapb): label maps as `LabelSet` messages,
// `google.protobuf.Timestamp` ↔ RFC 3339 as Prometheus's JSON writes it, replica-label removal,
// and serving a streaming API whose frames are computed up front.

import { labelsToObject } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { INT64_MAX, INT64_MIN, readLabelSet, type StoreInfo, writeLabelSet } from "./codec.ts";
import type { StoreBackend } from "./server.ts";
import { GrpcError, type GrpcServer, GrpcStatus } from "./grpc.ts";
import { ProtoDecodeError, type ProtoReader, type ProtoWriter, WireType } from "./wire.ts";

/** Labels as Prometheus's JSON API writes them: `{name: value}`. */
export type LabelMap = Record<string, string>;

/** Go's zero `time.Time` in RFC 3339 (what Prometheus prints for "never"). */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** Writes a label map as a `LabelSet` message (labels sorted by name), always present. */
export function writeLabelMap(w: ProtoWriter, field: number, m: LabelMap | undefined): void {
  const names = Object.keys(m ?? {}).sort();
  const flat: string[] = [];
  for (const n of names) flat.push(n, m![n]);
  writeLabelSet(w, field, flat);
}

/** Reads a `LabelSet` message into a label map. */
export function readLabelMap(r: ProtoReader): LabelMap {
  const ls = readLabelSet(r);
  const out: LabelMap = {};
  for (let i = 0; i < ls.length; i += 2) out[ls[i]] = ls[i + 1];
  return out;
}

/** A label map with names in sorted order (for JSON output and comparison). */
export function sortedLabelMap(m: LabelMap | undefined): LabelMap {
  const out: LabelMap = {};
  for (const n of Object.keys(m ?? {}).sort()) out[n] = m![n];
  return out;
}

/** `m` with `ext` added; external labels win over labels of the same name (Thanos). */
export function withExternalLabelMap(m: LabelMap | undefined, ext: Labels): LabelMap {
  return sortedLabelMap({ ...(m ?? {}), ...labelsToObject(ext) });
}

/** `m` without the labels named in `drop`. */
export function withoutLabels(m: LabelMap | undefined, drop: ReadonlySet<string>): LabelMap {
  const out: LabelMap = {};
  for (const n of Object.keys(m ?? {}).sort()) if (!drop.has(n)) out[n] = m![n];
  return out;
}

/** Prometheus `labels.Compare` over label maps (pairs in name order). */
export function compareLabelMaps(a: LabelMap | undefined, b: LabelMap | undefined): number {
  const an = Object.keys(a ?? {}).sort();
  const bn = Object.keys(b ?? {}).sort();
  const n = Math.min(an.length, bn.length);
  for (let i = 0; i < n; i++) {
    if (an[i] !== bn[i]) return an[i] < bn[i] ? -1 : 1;
    const av = a![an[i]];
    const bv = b![bn[i]];
    if (av !== bv) return av < bv ? -1 : 1;
  }
  return an.length - bn.length;
}

/** Go's `strings.Compare`. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const RFC3339 =
  /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$/;

/** Seconds and nanoseconds of an RFC 3339 time; throws on anything else. */
export function parseRfc3339(s: string): { seconds: number; nanos: number } {
  const m = RFC3339.exec(s);
  if (!m) throw new Error(`cannot parse ${JSON.stringify(s)} as an RFC 3339 time`);
  const d = new Date(0);
  // setUTCFullYear: Date.UTC would read years 0–99 as 1900–1999
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  let seconds = d.getTime() / 1000;
  if (m[8] !== "Z" && m[8] !== "z") {
    const sign = m[8][0] === "-" ? -1 : 1;
    seconds -= sign * (Number(m[8].slice(1, 3)) * 3600 + Number(m[8].slice(4, 6)) * 60);
  }
  const nanos = m[7] ? Number(m[7].padEnd(9, "0")) : 0;
  return { seconds, nanos };
}

/** Go's RFC3339Nano in UTC (fraction without trailing zeros, none when whole). */
export function formatRfc3339Nano(seconds: number, nanos: number): string {
  const d = new Date(seconds * 1000);
  const base = d.toISOString().replace(/^\+0*/, "").slice(0, 19);
  // years beyond 9999 render with a sign and six digits; those are out of scope for rule times
  let frac = "";
  if (nanos > 0) frac = "." + String(nanos).padStart(9, "0").replace(/0+$/, "");
  return `${base}${frac}Z`;
}

/** Writes an RFC 3339 time as a `google.protobuf.Timestamp` (the zero time included). */
export function writeTimestamp(w: ProtoWriter, field: number, rfc3339: string | undefined): void {
  const t = parseRfc3339(rfc3339 && rfc3339 !== "" ? rfc3339 : ZERO_TIME);
  w.message(field, (x) => {
    x.int64Field(1, t.seconds);
    if (t.nanos !== 0) {
      x.tag(2, WireType.Varint);
      x.varint(t.nanos);
    }
  });
}

/** Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: a Timestamp's valid range. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

/** Reads a `google.protobuf.Timestamp` as RFC 3339; a time outside its range is an error. */
export function readTimestamp(r: ProtoReader): string {
  let seconds = 0;
  let nanos = 0;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) seconds = r.int64();
    else if (t === 0x10) nanos = r.int64();
    else r.skip(t & 7);
  }
  if (nanos < 0 || nanos > 999_999_999) {
    throw new ProtoDecodeError("Timestamp", r.pos, `nanos ${nanos} out of range`);
  }
  // the message's own range, 0001-01-01 to 9999-12-31 (google/protobuf/timestamp.proto)
  if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) {
    throw new ProtoDecodeError("Timestamp", r.pos, `seconds ${seconds} out of range`);
  }
  return formatRfc3339Nano(seconds, nanos);
}

/** The Info sections of the APIs a component serves besides the StoreAPI. */
export interface AdvertisedApis {
  rules?: boolean;
  targets?: boolean;
  metricMetadata?: boolean;
  /** Exemplars over all time (Thanos's sidecar advertises the whole int64 range). */
  exemplars?: boolean;
  /** The gRPC Query API (`thanos.Query`, storeapi/query.ts): a querier. */
  query?: boolean;
}

/** `backend` whose Info answer also advertises `apis` (the rest is passed through). */
export function advertising(backend: StoreBackend, apis: AdvertisedApis): StoreBackend {
  const extra: Partial<StoreInfo> = {
    rules: apis.rules,
    targets: apis.targets,
    metricMetadata: apis.metricMetadata,
    exemplars: apis.exemplars ? { minTime: INT64_MIN, maxTime: INT64_MAX } : undefined,
    query: apis.query,
  };
  return {
    info: async () => ({ ...await backend.info(), ...extra }),
    series: (req, s, call) => backend.series(req, s, call),
    labelNames: (req, s, call) => backend.labelNames(req, s, call),
    labelValues: (req, s, call) => backend.labelValues(req, s, call),
  };
}

/** Anything that can make a server-streaming call (the StoreAPI client's channel). */
export interface ApiStreamClient {
  stream(path: string, request: Uint8Array, signal?: AbortSignal): AsyncIterable<Uint8Array>;
}

/** A non-fatal problem a streaming API reports in place of data (partial response). */
export interface ApiWarning {
  warning: string;
}

/**
 * Registers a server-streaming method whose answer is computed first and then sent as frames:
 * `handler` gets the decoded request and returns the encoded response messages. Bad requests
 * answer InvalidArgument, failures Unknown (as Go's generated servers return plain errors).
 */
export function serveComputedStream<Req>(
  grpc: GrpcServer,
  path: string,
  decode: (buf: Uint8Array) => Req,
  handler: (req: Req, signal: AbortSignal) => Promise<Uint8Array[]>,
): void {
  grpc.serverStream(path, async (buf, ctx, out) => {
    let req: Req;
    try {
      req = decode(buf);
    } catch (e) {
      throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, (e as Error).message);
    }
    let frames: Uint8Array[];
    try {
      frames = await handler(req, ctx.signal);
    } catch (e) {
      if (e instanceof GrpcError) throw e;
      throw new GrpcError(GrpcStatus.UNKNOWN, e instanceof Error ? e.message : String(e));
    }
    for (const f of frames) await out.send(f);
  });
}

/** Decodes a response frame, mapping malformed bytes to an INTERNAL gRPC error. */
export function decodeFrame<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProtoDecodeError) {
      throw new GrpcError(GrpcStatus.INTERNAL, `malformed response: ${e.message}`);
    }
    throw e;
  }
}

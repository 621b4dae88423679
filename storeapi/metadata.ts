// Thanos's Metadata gRPC API (`thanos.Metadata/MetricMetadata`,
// https://github.com/thanos-io/thanos/blob/main/pkg/metadata/metadatapb/rpc.proto): codecs over
// Prometheus's `/api/v1/metadata` JSON
// (https://prometheus.io/docs/prometheus/2.42/querying/api/#querying-metric-metadata) and the
// querier's merge: per metric, each distinct (type, help, unit) once; `limit` caps metrics.

import {
  type ApiStreamClient,
  type ApiWarning,
  decodeFrame,
  serveComputedStream,
} from "./api_common.ts";
import type { GrpcServer } from "./grpc.ts";
import { PartialResponseStrategy } from "./codec.ts";
import { ProtoReader, ProtoWriter } from "./wire.ts";

/** Full method path. */
export const METADATA_METHOD = "/thanos.Metadata/MetricMetadata";

/** `thanos.MetricMetadataRequest`; `limit` < 0 means no limit (Thanos's default -1). */
export interface MetadataRequest {
  metric: string;
  limit: number;
  partialResponseStrategy: PartialResponseStrategy;
}

/** `thanos.Meta`. */
export interface Meta {
  type: string;
  help: string;
  unit: string;
}

/** Metric name → its metadata entries. */
export type MetricMetadata = Record<string, Meta[]>;

/** One frame of a MetricMetadata stream. */
export type MetadataFrame = { metadata: MetricMetadata } | ApiWarning;

/** Encodes a `thanos.MetricMetadataRequest`. */
export function encodeMetadataRequest(req: MetadataRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(1, req.metric);
  w.int64Field(2, req.limit);
  w.uintField(3, req.partialResponseStrategy);
  return w.finish();
}

/** Decodes a `thanos.MetricMetadataRequest`. */
export function decodeMetadataRequest(buf: Uint8Array): MetadataRequest {
  const r = new ProtoReader(buf, "MetricMetadataRequest");
  const req: MetadataRequest = {
    metric: "",
    limit: 0,
    partialResponseStrategy: PartialResponseStrategy.WARN,
  };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) req.metric = r.string();
    // int32: a negative value arrives sign-extended to 64 bits
    else if (t === 0x10) req.limit = r.int64() | 0;
    else if (t === 0x18) req.partialResponseStrategy = r.varint();
    else r.skip(t & 7);
  }
  return req;
}

/** Encodes a `MetricMetadataResponse` carrying metadata (map entries in metric order). */
export function encodeMetadataResponse(m: MetricMetadata): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(1, (x) => {
    for (const name of Object.keys(m).sort()) {
      x.message(1, (entry) => {
        entry.stringField(1, name);
        entry.message(2, (e) => {
          for (const meta of m[name]) {
            e.message(2, (y) => {
              y.stringField(1, meta.type);
              y.stringField(2, meta.help);
              y.stringField(3, meta.unit);
            });
          }
        });
      });
    }
  });
  return w.finish();
}

/** Encodes a `MetricMetadataResponse` carrying a warning. */
export function encodeMetadataResponseWarning(warning: string): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(2, warning);
  return w.finish();
}

/** Decodes a `MetricMetadataResponse`; null for an empty frame. */
export function decodeMetadataResponse(buf: Uint8Array): MetadataFrame | null {
  const r = new ProtoReader(buf, "MetricMetadataResponse");
  let out: MetadataFrame | null = null;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) {
      const m: MetricMetadata = {};
      const s = r.sub("MetricMetadata");
      while (!s.eof()) {
        const st = s.tag();
        if (st !== 0x0a) {
          s.skip(st & 7);
          continue;
        }
        const e = s.sub("MetadataEntry");
        let name = "";
        const metas: Meta[] = [];
        while (!e.eof()) {
          const et = e.tag();
          if (et === 0x0a) name = e.string();
          else if (et === 0x12) {
            const v = e.sub("MetricMetadataEntry");
            while (!v.eof()) {
              const vt = v.tag();
              if (vt !== 0x12) {
                v.skip(vt & 7);
                continue;
              }
              const mr = v.sub("Meta");
              const meta: Meta = { type: "", help: "", unit: "" };
              while (!mr.eof()) {
                const mt = mr.tag();
                if (mt === 0x0a) meta.type = mr.string();
                else if (mt === 0x12) meta.help = mr.string();
                else if (mt === 0x1a) meta.unit = mr.string();
                else mr.skip(mt & 7);
              }
              metas.push(meta);
            }
          } else e.skip(et & 7);
        }
        m[name] = [...(m[name] ?? []), ...metas];
      }
      out = { metadata: m };
    } else if (t === 0x12) out = { warning: r.string() };
    else r.skip(t & 7);
  }
  return out;
}

/**
 * Merges metadata of several endpoints: per metric each distinct entry once (first-seen order);
 * with `limit` ≥ 0, at most that many metrics (as Prometheus counts `limit`; -1: no limit).
 */
export function mergeMetadata(parts: readonly MetricMetadata[], limit: number): MetricMetadata {
  const out: MetricMetadata = {};
  let metrics = 0;
  for (const part of parts) {
    for (const [name, metas] of Object.entries(part)) {
      let have = out[name];
      if (have === undefined) {
        if (limit >= 0 && metrics >= limit) continue;
        have = out[name] = [];
        metrics++;
      }
      for (const m of metas) {
        if (!have.some((h) => h.type === m.type && h.help === m.help && h.unit === m.unit)) {
          have.push({ type: m.type, help: m.help, unit: m.unit });
        }
      }
    }
  }
  return out;
}

/** Answers MetricMetadata calls (the sidecar: its Prometheus's `/api/v1/metadata`). */
export interface MetadataBackend {
  metricMetadata(
    req: MetadataRequest,
    signal: AbortSignal,
  ): Promise<{ metadata: MetricMetadata; warnings: string[] }>;
}

/** Registers `thanos.Metadata/MetricMetadata` on `grpc`. */
export function serveMetadata(grpc: GrpcServer, backend: MetadataBackend): void {
  serveComputedStream(grpc, METADATA_METHOD, decodeMetadataRequest, async (req, signal) => {
    const r = await backend.metricMetadata(req, signal);
    return [
      ...r.warnings.map(encodeMetadataResponseWarning),
      encodeMetadataResponse(r.metadata),
    ];
  });
}

/** Calls MetricMetadata on one endpoint and collects its frames. */
export async function callMetadata(
  client: ApiStreamClient,
  req: MetadataRequest,
  signal?: AbortSignal,
): Promise<{ metadata: MetricMetadata[]; warnings: string[] }> {
  const out = { metadata: [] as MetricMetadata[], warnings: [] as string[] };
  for await (const f of client.stream(METADATA_METHOD, encodeMetadataRequest(req), signal)) {
    const r = decodeFrame(() => decodeMetadataResponse(f));
    if (r === null) continue;
    if ("warning" in r) out.warnings.push(r.warning);
    else out.metadata.push(r.metadata);
  }
  return out;
}

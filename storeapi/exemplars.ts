// Thanos's Exemplars gRPC API (`thanos.Exemplars/Exemplars`,
// https://github.com/thanos-io/thanos/blob/main/pkg/exemplars/exemplarspb/rpc.proto): codecs over
// Prometheus's `/api/v1/query_exemplars` answer
// (https://prometheus.io/docs/prometheus/2.42/querying/api/#querying-exemplars), external labels on
// series labels, and the querier's dedup: series equal once replica labels are removed are kept
// once (https://github.com/thanos-io/thanos/blob/main/pkg/exemplars/exemplars.go).

import { formatFloatGo } from "../strconv/float.ts";
import type { Labels } from "../tsdb/series.ts";
import {
  type ApiStreamClient,
  type ApiWarning,
  compareLabelMaps,
  decodeFrame,
  type LabelMap,
  readLabelMap,
  serveComputedStream,
  withExternalLabelMap,
  withoutLabels,
  writeLabelMap,
} from "./api_common.ts";
import { PartialResponseStrategy } from "./codec.ts";
import type { GrpcServer } from "./grpc.ts";
import { ProtoReader, ProtoWriter } from "./wire.ts";

/** Full method path. */
export const EXEMPLARS_METHOD = "/thanos.Exemplars/Exemplars";

/** `thanos.ExemplarsRequest` (times in ms). */
export interface ExemplarsRequest {
  query: string;
  start: number;
  end: number;
  partialResponseStrategy: PartialResponseStrategy;
}

/** `thanos.Exemplar` (`ts` in ms). */
export interface Exemplar {
  labels: LabelMap;
  value: number;
  ts: number;
}

/** `thanos.ExemplarData`: one series' exemplars. */
export interface ExemplarData {
  seriesLabels: LabelMap;
  exemplars: Exemplar[];
}

/** One frame of an Exemplars stream. */
export type ExemplarsFrame = { data: ExemplarData } | ApiWarning;

/** Encodes a `thanos.ExemplarsRequest`. */
export function encodeExemplarsRequest(req: ExemplarsRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(1, req.query);
  w.int64Field(2, req.start);
  w.int64Field(3, req.end);
  w.uintField(4, req.partialResponseStrategy);
  return w.finish();
}

/** Decodes a `thanos.ExemplarsRequest`. */
export function decodeExemplarsRequest(buf: Uint8Array): ExemplarsRequest {
  const r = new ProtoReader(buf, "ExemplarsRequest");
  const req: ExemplarsRequest = {
    query: "",
    start: 0,
    end: 0,
    partialResponseStrategy: PartialResponseStrategy.WARN,
  };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) req.query = r.string();
    else if (t === 0x10) req.start = r.int64();
    else if (t === 0x18) req.end = r.int64();
    else if (t === 0x20) req.partialResponseStrategy = r.varint();
    else r.skip(t & 7);
  }
  return req;
}

/** Encodes an `ExemplarsResponse` carrying one series' exemplars. */
export function encodeExemplarsResponse(d: ExemplarData): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(1, (x) => {
    writeLabelMap(x, 1, d.seriesLabels);
    for (const e of d.exemplars) {
      x.message(2, (y) => {
        writeLabelMap(y, 1, e.labels);
        y.doubleField(2, e.value);
        y.int64Field(3, e.ts);
      });
    }
  });
  return w.finish();
}

/** Encodes an `ExemplarsResponse` carrying a warning. */
export function encodeExemplarsResponseWarning(warning: string): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(2, warning);
  return w.finish();
}

/** Decodes an `ExemplarsResponse`; null for an empty frame. */
export function decodeExemplarsResponse(buf: Uint8Array): ExemplarsFrame | null {
  const r = new ProtoReader(buf, "ExemplarsResponse");
  let out: ExemplarsFrame | null = null;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) {
      const d: ExemplarData = { seriesLabels: {}, exemplars: [] };
      const s = r.sub("ExemplarData");
      while (!s.eof()) {
        const st = s.tag();
        if (st === 0x0a) d.seriesLabels = readLabelMap(s.sub("LabelSet"));
        else if (st === 0x12) {
          const e: Exemplar = { labels: {}, value: 0, ts: 0 };
          const x = s.sub("Exemplar");
          while (!x.eof()) {
            const xt = x.tag();
            if (xt === 0x0a) e.labels = readLabelMap(x.sub("LabelSet"));
            else if (xt === 0x11) e.value = x.double();
            else if (xt === 0x18) e.ts = x.int64();
            else x.skip(xt & 7);
          }
          d.exemplars.push(e);
        } else s.skip(st & 7);
      }
      out = { data: d };
    } else if (t === 0x12) out = { warning: r.string() };
    else r.skip(t & 7);
  }
  return out;
}

/** Prometheus's `/api/v1/query_exemplars` JSON (value a string, timestamp in seconds). */
export interface PromExemplarJSON {
  seriesLabels: LabelMap;
  exemplars: { labels: LabelMap; value: string; timestamp: number }[];
}

/** Prometheus's JSON → series with exemplars. */
export function fromPromExemplars(data: readonly PromExemplarJSON[]): ExemplarData[] {
  return data.map((d) => ({
    seriesLabels: d.seriesLabels ?? {},
    exemplars: (d.exemplars ?? []).map((e) => ({
      labels: e.labels ?? {},
      value: Number(e.value),
      ts: Math.round(Number(e.timestamp) * 1000),
    })),
  }));
}

/** Series with exemplars → Prometheus's JSON (Go's `model.SampleValue` and `model.Time`). */
export function exemplarsJSON(data: readonly ExemplarData[]): PromExemplarJSON[] {
  return data.map((d) => ({
    seriesLabels: d.seriesLabels,
    exemplars: d.exemplars.map((e) => ({
      labels: e.labels,
      value: formatFloatGo(e.value),
      timestamp: e.ts / 1000,
    })),
  }));
}

/** Adds external labels to series labels (external labels win), as Thanos's sidecar does. */
export function withExternalLabelsOnExemplars(
  data: readonly ExemplarData[],
  ext: Labels,
): ExemplarData[] {
  if (ext.length === 0) return [...data];
  return data.map((d) => ({ ...d, seriesLabels: withExternalLabelMap(d.seriesLabels, ext) }));
}

/** Series of several endpoints: replica labels removed, then each series once (the first). */
export function dedupExemplars(
  data: readonly ExemplarData[],
  replicaLabels: readonly string[],
): ExemplarData[] {
  const drop = new Set(replicaLabels);
  const sorted = data.map((d) => ({ ...d, seriesLabels: withoutLabels(d.seriesLabels, drop) }))
    .sort((a, b) => compareLabelMaps(a.seriesLabels, b.seriesLabels));
  const out: ExemplarData[] = [];
  for (const d of sorted) {
    const last = out[out.length - 1];
    if (last === undefined || compareLabelMaps(last.seriesLabels, d.seriesLabels) !== 0) {
      out.push(d);
    }
  }
  return out;
}

/** Answers Exemplars calls (the sidecar: its Prometheus's `/api/v1/query_exemplars`). */
export interface ExemplarsBackend {
  exemplars(
    req: ExemplarsRequest,
    signal: AbortSignal,
  ): Promise<{ data: ExemplarData[]; warnings: string[] }>;
}

/** Registers `thanos.Exemplars/Exemplars` on `grpc`: warnings, then one frame per series. */
export function serveExemplars(grpc: GrpcServer, backend: ExemplarsBackend): void {
  serveComputedStream(grpc, EXEMPLARS_METHOD, decodeExemplarsRequest, async (req, signal) => {
    const r = await backend.exemplars(req, signal);
    return [
      ...r.warnings.map(encodeExemplarsResponseWarning),
      ...r.data.map(encodeExemplarsResponse),
    ];
  });
}

/** Calls Exemplars on one endpoint and collects its frames. */
export async function callExemplars(
  client: ApiStreamClient,
  req: ExemplarsRequest,
  signal?: AbortSignal,
): Promise<{ data: ExemplarData[]; warnings: string[] }> {
  const out = { data: [] as ExemplarData[], warnings: [] as string[] };
  for await (const f of client.stream(EXEMPLARS_METHOD, encodeExemplarsRequest(req), signal)) {
    const r = decodeFrame(() => decodeExemplarsResponse(f));
    if (r === null) continue;
    if ("warning" in r) out.warnings.push(r.warning);
    else out.data.push(r.data);
  }
  return out;
}

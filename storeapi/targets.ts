// Thanos's Targets gRPC API (`thanos.Targets/Targets`,
// https://github.com/thanos-io/thanos/blob/main/pkg/targets/targetspb/rpc.proto): codecs over
// Prometheus's `/api/v1/targets` JSON
// (https://prometheus.io/docs/prometheus/2.42/querying/api/#targets), the `state` filter, and the
// querier's dedup of targets that differ only in replica labels
// (https://github.com/thanos-io/thanos/blob/main/pkg/targets/targets.go).

import type { Labels } from "../tsdb/series.ts";
import {
  type ApiStreamClient,
  type ApiWarning,
  compareLabelMaps,
  compareStrings,
  decodeFrame,
  type LabelMap,
  readLabelMap,
  readTimestamp,
  serveComputedStream,
  withExternalLabelMap,
  withoutLabels,
  writeLabelMap,
  writeTimestamp,
  ZERO_TIME,
} from "./api_common.ts";
import { PartialResponseStrategy } from "./codec.ts";
import type { GrpcServer } from "./grpc.ts";
import { ProtoReader, ProtoWriter } from "./wire.ts";

/** Full method path. */
export const TARGETS_METHOD = "/thanos.Targets/Targets";

/** `TargetsRequest.State`. */
export type TargetState = "any" | "active" | "dropped";
const STATES: TargetState[] = ["any", "active", "dropped"];

/** `thanos.TargetsRequest`. */
export interface TargetsRequest {
  state: TargetState;
  partialResponseStrategy: PartialResponseStrategy;
}

/** `thanos.ActiveTarget` (Prometheus's active target JSON). */
export interface ActiveTarget {
  discoveredLabels: LabelMap;
  labels: LabelMap;
  scrapePool: string;
  scrapeUrl: string;
  globalUrl: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: "up" | "down" | "unknown";
}

/** `thanos.DroppedTarget`. */
export interface DroppedTarget {
  discoveredLabels: LabelMap;
}

/** `thanos.TargetDiscovery`. */
export interface TargetDiscovery {
  activeTargets: ActiveTarget[];
  droppedTargets: DroppedTarget[];
}

/** One frame of a Targets stream. */
export type TargetsFrame = { targets: TargetDiscovery } | ApiWarning;

const HEALTH: ActiveTarget["health"][] = ["down", "up", "unknown"];

/** Encodes a `thanos.TargetsRequest`. */
export function encodeTargetsRequest(req: TargetsRequest): Uint8Array {
  const w = ProtoWriter.growable();
  w.uintField(1, STATES.indexOf(req.state));
  w.uintField(2, req.partialResponseStrategy);
  return w.finish();
}

/** Decodes a `thanos.TargetsRequest`; an unknown state reads as "any". */
export function decodeTargetsRequest(buf: Uint8Array): TargetsRequest {
  const r = new ProtoReader(buf, "TargetsRequest");
  const req: TargetsRequest = {
    state: "any",
    partialResponseStrategy: PartialResponseStrategy.WARN,
  };
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x08) req.state = STATES[r.varint()] ?? "any";
    else if (t === 0x10) req.partialResponseStrategy = r.varint();
    else r.skip(t & 7);
  }
  return req;
}

/** Encodes a `TargetsResponse` carrying targets. */
export function encodeTargetsResponse(d: TargetDiscovery): Uint8Array {
  const w = ProtoWriter.growable();
  w.message(1, (x) => {
    for (const t of d.activeTargets) {
      x.message(1, (y) => {
        writeLabelMap(y, 1, t.discoveredLabels);
        writeLabelMap(y, 2, t.labels);
        y.stringField(3, t.scrapePool);
        y.stringField(4, t.scrapeUrl);
        y.stringField(5, t.globalUrl);
        y.stringField(6, t.lastError);
        writeTimestamp(y, 7, t.lastScrape);
        y.doubleField(8, t.lastScrapeDuration ?? 0);
        const h = HEALTH.indexOf((t.health ?? "").toLowerCase() as ActiveTarget["health"]);
        y.uintField(9, h < 0 ? 2 : h);
      });
    }
    for (const t of d.droppedTargets) {
      x.message(2, (y) => writeLabelMap(y, 1, t.discoveredLabels));
    }
  });
  return w.finish();
}

/** Encodes a `TargetsResponse` carrying a warning. */
export function encodeTargetsResponseWarning(warning: string): Uint8Array {
  const w = ProtoWriter.growable();
  w.stringField(2, warning);
  return w.finish();
}

function readActive(r: ProtoReader): ActiveTarget {
  const t: ActiveTarget = {
    discoveredLabels: {},
    labels: {},
    scrapePool: "",
    scrapeUrl: "",
    globalUrl: "",
    lastError: "",
    lastScrape: ZERO_TIME,
    lastScrapeDuration: 0,
    health: "down",
  };
  while (!r.eof()) {
    const tag = r.tag();
    if (tag === 0x0a) t.discoveredLabels = readLabelMap(r.sub("LabelSetV2"));
    else if (tag === 0x12) t.labels = readLabelMap(r.sub("LabelSetV2"));
    else if (tag === 0x1a) t.scrapePool = r.string();
    else if (tag === 0x22) t.scrapeUrl = r.string();
    else if (tag === 0x2a) t.globalUrl = r.string();
    else if (tag === 0x32) t.lastError = r.string();
    else if (tag === 0x3a) t.lastScrape = readTimestamp(r.sub("Timestamp"));
    else if (tag === 0x41) t.lastScrapeDuration = r.double();
    else if (tag === 0x48) t.health = HEALTH[r.varint()] ?? "unknown";
    else r.skip(tag & 7);
  }
  return t;
}

/** Decodes a `TargetsResponse`; null for an empty frame. */
export function decodeTargetsResponse(buf: Uint8Array): TargetsFrame | null {
  const r = new ProtoReader(buf, "TargetsResponse");
  let out: TargetsFrame | null = null;
  while (!r.eof()) {
    const t = r.tag();
    if (t === 0x0a) {
      const d: TargetDiscovery = { activeTargets: [], droppedTargets: [] };
      const s = r.sub("TargetDiscovery");
      while (!s.eof()) {
        const st = s.tag();
        if (st === 0x0a) d.activeTargets.push(readActive(s.sub("ActiveTarget")));
        else if (st === 0x12) {
          const dr = s.sub("DroppedTarget");
          const dt: DroppedTarget = { discoveredLabels: {} };
          while (!dr.eof()) {
            const dt0 = dr.tag();
            if (dt0 === 0x0a) dt.discoveredLabels = readLabelMap(dr.sub("LabelSetV2"));
            else dr.skip(dt0 & 7);
          }
          d.droppedTargets.push(dt);
        } else s.skip(st & 7);
      }
      out = { targets: d };
    } else if (t === 0x12) out = { warning: r.string() };
    else r.skip(t & 7);
  }
  return out;
}

/** Keeps the targets of the requested state (Prometheus: `active`, `dropped`, any other: both). */
export function filterTargets(d: TargetDiscovery, state: TargetState): TargetDiscovery {
  return {
    activeTargets: state === "dropped" ? [] : d.activeTargets,
    droppedTargets: state === "active" ? [] : d.droppedTargets,
  };
}

/** Adds external labels to discovered and target labels, as Thanos's sidecar does. */
export function withExternalLabelsOnTargets(d: TargetDiscovery, ext: Labels): TargetDiscovery {
  if (ext.length === 0) return d;
  return {
    activeTargets: d.activeTargets.map((t) => ({
      ...t,
      discoveredLabels: withExternalLabelMap(t.discoveredLabels, ext),
      labels: withExternalLabelMap(t.labels, ext),
    })),
    droppedTargets: d.droppedTargets.map((t) => ({
      discoveredLabels: withExternalLabelMap(t.discoveredLabels, ext),
    })),
  };
}

function compareActive(a: ActiveTarget, b: ActiveTarget): number {
  return compareStrings(a.scrapeUrl, b.scrapeUrl) ||
    compareStrings(a.scrapePool, b.scrapePool) ||
    compareLabelMaps(a.discoveredLabels, b.discoveredLabels) ||
    compareLabelMaps(a.labels, b.labels);
}

/** Among equal targets the one kept: lower health first (down), then the later scrape. */
function compareActiveState(a: ActiveTarget, b: ActiveTarget): number {
  const d = HEALTH.indexOf(a.health) - HEALTH.indexOf(b.health);
  if (d !== 0) return d;
  return Math.sign((Date.parse(b.lastScrape) || 0) - (Date.parse(a.lastScrape) || 0));
}

/**
 * Merges targets of several endpoints: replica labels are removed from discovered and target
 * labels, then targets equal by scrape URL, pool and labels are kept once.
 */
export function dedupTargets(
  d: TargetDiscovery,
  replicaLabels: readonly string[],
): TargetDiscovery {
  const drop = new Set(replicaLabels);
  const active: ActiveTarget[] = [];
  for (
    const t0 of d.activeTargets.map((t) => ({
      ...t,
      discoveredLabels: withoutLabels(t.discoveredLabels, drop),
      labels: withoutLabels(t.labels, drop),
    })).sort(compareActive)
  ) {
    const last = active[active.length - 1];
    if (last === undefined || compareActive(last, t0) !== 0) active.push(t0);
    else if (compareActiveState(last, t0) > 0) active[active.length - 1] = t0;
  }
  const dropped: DroppedTarget[] = [];
  for (
    const t0 of d.droppedTargets.map((t) => ({
      discoveredLabels: withoutLabels(t.discoveredLabels, drop),
    })).sort((a, b) => compareLabelMaps(a.discoveredLabels, b.discoveredLabels))
  ) {
    const last = dropped[dropped.length - 1];
    if (last === undefined || compareLabelMaps(last.discoveredLabels, t0.discoveredLabels) !== 0) {
      dropped.push(t0);
    }
  }
  return { activeTargets: active, droppedTargets: dropped };
}

/** Answers Targets calls (the sidecar: its Prometheus's `/api/v1/targets`). */
export interface TargetsBackend {
  targets(
    req: TargetsRequest,
    signal: AbortSignal,
  ): Promise<{ targets: TargetDiscovery; warnings: string[] }>;
}

/** Registers `thanos.Targets/Targets` on `grpc`. */
export function serveTargets(grpc: GrpcServer, backend: TargetsBackend): void {
  serveComputedStream(grpc, TARGETS_METHOD, decodeTargetsRequest, async (req, signal) => {
    const r = await backend.targets(req, signal);
    return [...r.warnings.map(encodeTargetsResponseWarning), encodeTargetsResponse(r.targets)];
  });
}

/** Calls Targets on one endpoint and collects its frames into one discovery. */
export async function callTargets(
  client: ApiStreamClient,
  req: TargetsRequest,
  signal?: AbortSignal,
): Promise<{ targets: TargetDiscovery; warnings: string[] }> {
  const out = {
    targets: { activeTargets: [], droppedTargets: [] } as TargetDiscovery,
    warnings: [] as string[],
  };
  for await (const f of client.stream(TARGETS_METHOD, encodeTargetsRequest(req), signal)) {
    const r = decodeFrame(() => decodeTargetsResponse(f));
    if (r === null) continue;
    if ("warning" in r) out.warnings.push(r.warning);
    else {
      out.targets.activeTargets.push(...r.targets.activeTargets);
      out.targets.droppedTargets.push(...r.targets.droppedTargets);
    }
  }
  return out;
}

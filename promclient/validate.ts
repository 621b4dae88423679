// Checks that a Prometheus is configured the way a sidecar needs before it serves or ships its
// data (https://thanos.io/tip/components/sidecar.md/): external labels present, and local
// compaction off while blocks are uploaded.

import type { Logger } from "../logging/log.ts";
import { parseDuration } from "../tsdb/duration.ts";

/** Prometheus is configured in a way the sidecar cannot work with; the message says the fix. */
export class PrometheusConfigError extends Error {
  override name = "PrometheusConfigError";
}

/** Message when Prometheus has no external labels (the sidecar refuses to start). */
export const NO_EXTERNAL_LABELS_MESSAGE =
  "no external labels configured on Prometheus server, uniquely identifying external labels " +
  "must be configured; see https://thanos.io/tip/thanos/storage.md#external-labels for " +
  "details. Add them to prometheus.yml, e.g.\n  global:\n    external_labels:\n" +
  "      cluster: eu1\n      replica: A\nthen reload or restart Prometheus";

function durationMs(s: string): number | null {
  try {
    return parseDuration(s.trim());
  } catch {
    return null;
  }
}

/**
 * Checks Prometheus's block durations before uploading (as Thanos's sidecar does at start-up,
 * https://thanos.io/tip/components/sidecar.md/#upload-compacted-blocks):
 * local compaction must be off (min == max block duration) unless Prometheus delays compaction
 * until the shipper uploaded. Throws PrometheusConfigError with what to change; null flags (404) pass.
 */
export function validateBlockDurations(
  promFlags: Record<string, string> | null,
  shipperFile: string,
  log?: Logger,
): void {
  if (promFlags === null) {
    log?.warn("Prometheus has no flags API (too old): block durations are not validated");
    return;
  }
  const delay = promFlags["storage.tsdb.delay-compact-file.path"] ?? "";
  const min = promFlags["storage.tsdb.min-block-duration"] ?? "";
  const max = promFlags["storage.tsdb.max-block-duration"] ?? "";
  if (delay !== "") {
    if (delay !== shipperFile && !delay.endsWith(`/${shipperFile.split("/").pop()}`)) {
      throw new PrometheusConfigError(
        `Prometheus delays compaction on ${delay} but the shipper writes ${shipperFile}: set ` +
          `Prometheus's --storage.tsdb.delay-compact-file.path to the shipper file`,
      );
    }
    return;
  }
  const minMs = durationMs(min);
  const maxMs = durationMs(max);
  if (minMs === null || maxMs === null ? min !== max : minMs !== maxMs) {
    throw new PrometheusConfigError(
      `found that TSDB Max time is ${max} and Min time is ${min}. Compaction needs to be ` +
        "disabled (storage.tsdb.min-block-duration = storage.tsdb.max-block-duration): start " +
        "Prometheus with --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h",
    );
  }
  if (maxMs !== 7_200_000) {
    log?.warn("found that TSDB block time is not 2h. Only 2h block time is recommended.", {
      block_time: max,
    });
  }
}

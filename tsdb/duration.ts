// Prometheus durations (prometheus/common `model.Duration`: `1h30m`, `2w`, `0`), the one parser
// and printer behind PromQL ranges, component flags and objstore config fields.

import { goQuote } from "../strconv/quote.ts";

/** A string is not a valid Prometheus duration; the message is `model.ParseDuration`'s. */
export class InvalidDurationError extends Error {
  override name = "InvalidDurationError";
}

/** A well-formed duration beyond `time.Duration`'s range (about 292 years). */
export class DurationOutOfRangeError extends InvalidDurationError {
  override name = "DurationOutOfRangeError";
  constructor() {
    super("duration out of range");
  }
}

const DURATION_RE =
  /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
// Milliseconds per unit, in DURATION_RE's group order.
const UNIT_MS = [
  365 * 24 * 3600 * 1000,
  7 * 24 * 3600 * 1000,
  24 * 3600 * 1000,
  3600 * 1000,
  60 * 1000,
  1000,
  1,
];
const UNIT_NAMES = ["y", "w", "d", "h", "m", "s", "ms"];
// Years and weeks are printed only when they divide the duration exactly, as Prometheus does.
const UNIT_EXACT = [true, true, false, false, false, false, false];
const MAX_DURATION_MS = 9223372036854.775; // time.Duration (int64 ns) limit, in ms

/**
 * Parses a Prometheus duration (`1h30m`, `5m`, `90s`, `100ms`, `2w`, `1y`; "0" allowed) into ms.
 * Units must appear in decreasing order, each at most once; no sign, no spaces.
 * Throws InvalidDurationError (DurationOutOfRangeError past about 292 years).
 */
export function parseDuration(s: string): number {
  if (s === "0") return 0;
  if (s === "") throw new InvalidDurationError("empty duration string");
  const m = DURATION_RE.exec(s);
  if (m === null) throw new InvalidDurationError(`not a valid duration string: ${goQuote(s)}`);
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++) {
    const g = m[i + 1];
    if (g === undefined) continue;
    const n = Number(g);
    if (n > Math.floor(MAX_DURATION_MS / UNIT_MS[i])) throw new DurationOutOfRangeError();
    ms += n * UNIT_MS[i];
    if (ms > MAX_DURATION_MS) throw new DurationOutOfRangeError();
  }
  return ms;
}

/**
 * Formats ms like Prometheus's `model.Duration.String()`: `1h30m`, `90d` (years and weeks only
 * when exact), `0s` for zero. Negative values get a leading `-` (Go prints nothing for them).
 */
export function formatDuration(ms: number): string {
  if (ms < 0) return "-" + formatDuration(-ms);
  if (ms === 0) return "0s";
  let r = "";
  for (let i = 0; i < UNIT_MS.length; i++) {
    const mult = UNIT_MS[i];
    if (UNIT_EXACT[i] && ms % mult !== 0) continue;
    const v = Math.floor(ms / mult);
    if (v > 0) {
      r += `${v}${UNIT_NAMES[i]}`;
      ms -= v * mult;
    }
  }
  return r;
}

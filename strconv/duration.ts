// Go-compatible duration formatting. (Prometheus's own `model.Duration` form, e.g. `1h30m`,
// is a different format: tsdb/duration.ts.)

/** Go's `time.Duration.String()` of a duration given in milliseconds, e.g. `1h59m45.499s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let u = Math.abs(ms);
  let out: string;
  if (u < 1000) {
    out = `${u}ms`;
  } else {
    const h = Math.floor(u / 3_600_000);
    u -= h * 3_600_000;
    const m = Math.floor(u / 60_000);
    u -= m * 60_000;
    const s = Math.floor(u / 1000);
    const frac = u - s * 1000;
    const fs = frac === 0 ? "" : "." + String(frac).padStart(3, "0").replace(/0+$/, "");
    out = `${s}${fs}s`;
    if (h > 0 || m > 0) out = `${m}m` + out;
    if (h > 0) out = `${h}h` + out;
  }
  return neg ? "-" + out : out;
}

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

const GO_DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses Go's `time.ParseDuration` text (`500ms`, `1h30m`, `24h0m0s`, `-1.5s`, `0`) into
 * milliseconds (https://pkg.go.dev/time#ParseDuration); returns null when it is not one.
 */
export function parseGoDuration(text: string): number | null {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return null;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return null;
    total += Number(m[1]) * GO_DURATION_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return sign * total;
}

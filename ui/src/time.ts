// Durations and timestamps as the UI shows and accepts them: Prometheus duration strings
// ("1h30m") and UTC date-times ("2026-01-02 15:04:05"), so URLs stay readable and shareable.

const UNITS: [string, number][] = [
  ["y", 365 * 24 * 3600_000],
  ["w", 7 * 24 * 3600_000],
  ["d", 24 * 3600_000],
  ["h", 3600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/** Parses a Prometheus duration (`90s`, `1h30m`, `2d`); a bare number means seconds. Null if invalid. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === "") return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+)(ms|y|w|d|h|m|s)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    const unit = UNITS.find(([u]) => u === m[2]);
    if (!unit) return null;
    total += Number(m[1]) * unit[1];
    pos = re.lastIndex;
  }
  return total;
}

/** Formats milliseconds as a Prometheus duration (`1h30m`, `15s`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const [u, size] of UNITS) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${u}`;
      rest %= size;
    }
  }
  return out;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** `YYYY-MM-DD HH:MM:SS` in UTC. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/**
 * Parses a UTC date-time (`YYYY-MM-DD[ T]HH:MM[:SS[.mmm]]`, optional `Z`), or unix seconds.
 * Null if invalid.
 */
export function parseTime(text: string): number | null {
  const s = text.trim();
  if (s === "") return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?Z?$/.exec(
    s,
  );
  if (!m) return null;
  const ms = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
    Number((m[7] ?? "0").padEnd(3, "0")),
  );
  return Number.isNaN(ms) ? null : ms;
}

/** A relative age like `3s ago` / `2m ago` for "last check" columns. */
export function formatAge(ms: number, now: number): string {
  const d = Math.max(0, now - ms);
  if (d < 1000) return "just now";
  return `${formatDuration(Math.floor(d / 1000) * 1000)} ago`;
}

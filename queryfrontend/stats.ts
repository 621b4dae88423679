// Query statistics in the frontend, as Thanos v0.42's (Cortex's queryrange package): the sample
// counts of the querier's `stats` read from each part's answer, merged across split parts,
// shards and cached extents (totals summed, the peak the largest), and written back as Cortex's
// response codec writes them: `samples` only, the per-step list `null` (our querier, like
// Prometheus without its per-step feature, sends none).
// https://github.com/thanos-io/thanos/blob/v0.42.4/internal/cortex/querier/queryrange/query_range.go
// (`StatsMerge`) and queryrange.proto (`PrometheusResponseStats`).

/** The sample counts of a query answer's `stats`. */
export interface SampleStats {
  totalQueryableSamples: number;
  peakSamples: number;
}

/** The `stats.samples` of an answer's `data`; null when it has none. */
export function readSampleStats(data: unknown): SampleStats | null {
  const s = (data as { stats?: { samples?: Partial<SampleStats> } } | null)?.stats?.samples;
  if (s === undefined || s === null) return null;
  return {
    totalQueryableSamples: Number(s.totalQueryableSamples ?? 0),
    peakSamples: Number(s.peakSamples ?? 0),
  };
}

/** Totals summed, the largest peak; null when no part had statistics. */
export function mergeSampleStats(
  parts: readonly (SampleStats | null | undefined)[],
): SampleStats | null {
  let out: SampleStats | null = null;
  for (const p of parts) {
    if (p === null || p === undefined) continue;
    if (out === null) out = { totalQueryableSamples: 0, peakSamples: 0 };
    out.totalQueryableSamples += p.totalQueryableSamples;
    if (p.peakSamples > out.peakSamples) out.peakSamples = p.peakSamples;
  }
  return out;
}

/** The `,"stats":{…}` member of a data object, in Cortex's codec's form ("" for null). */
export function statsMemberText(s: SampleStats | null): string {
  if (s === null) return "";
  return `,"stats":{"samples":{"totalQueryableSamples":${s.totalQueryableSamples},` +
    `"totalQueryableSamplesPerStep":null,"peakSamples":${s.peakSamples}}}`;
}

/**
 * An answer's body text with its `data.stats` member replaced by `s` in Cortex's form (as the
 * frontend's codec re-encodes a passed-through answer); unchanged when it has none. The member
 * is found as the unescaped key `"stats":{` (inside a JSON string the quotes are escaped) and
 * ends at its matching brace (statistics hold numbers only).
 */
export function replaceStatsMember(text: string, s: SampleStats | null): string {
  const key = `,"stats":{`;
  const at = text.lastIndexOf(key);
  if (at < 0 || s === null) return text;
  let depth = 0;
  for (let i = at + key.length - 1; i < text.length; i++) {
    const c = text[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      return text.slice(0, at) + statsMemberText(s) + text.slice(i + 1);
    }
  }
  return text;
}

/** What one request's answers counted, for the `query stats` log line (Thanos's Stats). */
export class RequestSampleStats {
  totalSamples = 0;
  peakSamples = 0;

  /** Adds an answer's counts as Thanos's stats middleware does (sum, max). */
  record(s: SampleStats | null): void {
    if (s === null) return;
    this.totalSamples += s.totalQueryableSamples;
    if (s.peakSamples > this.peakSamples) this.peakSamples = s.peakSamples;
  }
}

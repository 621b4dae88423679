/// <reference lib="dom" />
// deno-lint-ignore-file no-import-prefix -- browser bundle deps are pinned inline (ui/build.ts)
// The Graph tab's chart: a range query's matrix drawn with uPlot on the query's own time grid
// (gaps stay gaps), optionally stacked; a legend with live values under the plot.

import uPlot from "npm:uplot@1.6.32";
import { formatSeriesName, type MatrixSeries } from "./api.ts";

const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
  "#393b79",
  "#ad494a",
  "#637939",
  "#8c6d31",
  "#843c39",
  "#7b4173",
  "#3182bd",
  "#e6550d",
  "#31a354",
  "#756bb1",
];

/** Parses a sample value string of the API (`"1.5"`, `"NaN"`, `"+Inf"`); non-finite → null. */
export function sampleValue(s: string): number | null {
  const v = s === "+Inf" ? Infinity : s === "-Inf" ? -Infinity : Number(s);
  return Number.isFinite(v) ? v : null;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** X-axis tick labels in UTC, 24-hour clock, as precise as the visible span needs. */
export function timeTickLabels(splits: readonly number[], spanS: number): string[] {
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const hm = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
    const md = `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
    if (spanS > 3 * 86_400) return md;
    if (spanS > 86_400) return `${md} ${hm}`;
    if (spanS <= 600) return `${hm}:${pad2(d.getUTCSeconds())}`;
    return hm;
  });
}

/** A drawn chart. */
export interface Chart {
  destroy(): void;
}

/** Draws `series` over [startS, endS] (seconds) at `stepS` into `el`. */
export function drawGraph(
  el: HTMLElement,
  series: readonly MatrixSeries[],
  opts: { startS: number; endS: number; stepS: number; stacked: boolean },
): Chart {
  const n = Math.max(1, Math.floor((opts.endS - opts.startS) / opts.stepS) + 1);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = opts.startS + i * opts.stepS;
  const ys: (number | null)[][] = [];
  for (const s of series) {
    const y: (number | null)[] = new Array(n).fill(null);
    for (const [t, v] of s.values ?? []) {
      const i = Math.round((t - opts.startS) / opts.stepS);
      if (i >= 0 && i < n) y[i] = sampleValue(v);
    }
    ys.push(y);
  }
  if (opts.stacked) {
    // cumulative sums; a missing point counts as 0 so the layers stay closed
    for (let k = 1; k < ys.length; k++) {
      for (let i = 0; i < n; i++) {
        const below = ys[k - 1][i] ?? 0;
        const own = ys[k][i];
        ys[k][i] = own === null && ys[k - 1][i] === null ? null : below + (own ?? 0);
      }
    }
  }
  const seriesOpts: uPlot.Series[] = [{
    label: "Time",
    value: (_u: uPlot, v: number) => v === null ? "" : new Date(v * 1000).toISOString(),
  }];
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    seriesOpts.push({
      label: formatSeriesName(s.metric),
      stroke: color,
      width: 1.5,
      fill: opts.stacked ? color + "66" : undefined,
      spanGaps: false,
      points: { show: false },
    });
  });
  const bands: uPlot.Band[] = [];
  if (opts.stacked) {
    for (let k = 2; k <= series.length; k++) bands.push({ series: [k, k - 1] });
  }
  const width = () => Math.max(240, el.clientWidth || 600);
  const height = () => (el.clientWidth < 600 ? 260 : 360);
  const u = new uPlot(
    {
      width: width(),
      height: height(),
      series: seriesOpts,
      bands,
      legend: { show: true, live: true },
      cursor: { focus: { prox: 16 } },
      focus: { alpha: 0.35 },
      tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      axes: [
        {
          values: (u: uPlot, splits: number[]) =>
            timeTickLabels(splits, (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0)),
        },
        { size: 70 },
      ],
      scales: { x: { time: true, range: [opts.startS, opts.endS] } },
    },
    [Array.from(xs), ...ys] as uPlot.AlignedData,
    el,
  );
  const ro = new ResizeObserver(() => u.setSize({ width: width(), height: height() }));
  ro.observe(el);
  return {
    destroy: () => {
      ro.disconnect();
      u.destroy();
    },
  };
}

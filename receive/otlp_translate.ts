// OTLP metrics → Prometheus series, as Thanos v0.42 receive translates them (its
// pkg/receive/otlptranslator, derived from the OpenTelemetry collector's prometheusremotewrite
// translator, with `AddMetricSuffixes: true`, UTF-8 names off, no namespace:
// https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/receive/handler_otlp.go), following
// https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/#otlp-metric-points-to-prometheus:
//
// - names: split at every character outside [a-zA-Z0-9:], unit suffix from the UCUM unit
//   (`By` → bytes, `s` → seconds, `By/s` → bytes_per_second; units in braces ignored), `_total`
//   for monotonic sums, `_ratio` for gauges of unit `1`, `_` before a leading digit;
// - labels: point attributes with invalid characters replaced by `_` (runs collapsed, `key_`
//   before a leading digit; keys that collide are joined with `;`), promoted resource attributes,
//   `job` = [service.namespace/]service.name, `instance` = service.instance.id;
// - gauges and non-monotonic sums → gauges, monotonic sums → counters; histograms → `_bucket{le}`
//   (cumulative), `_sum`, `_count`; summaries → `{quantile}`, `_sum`, `_count`; a point flagged
//   "no recorded value" → Prometheus's stale marker; sum and histogram exemplars kept;
// - per resource, `target_info` (value 1 at its latest point) with the resource's other
//   attributes, when enabled.
//
// As in Thanos, any untranslatable metric fails the whole request (400): delta or unspecified
// temporality, a metric without points, a label name that sanitizes to nothing. Exponential
// histograms (native histograms in Thanos) fail too: this receiver's head stores floats only.
// Unlike Thanos, labels with empty values are dropped (Prometheus's "empty value = no label"),
// rather than failing the series at the head.

import { compareStrings, getLabel, METRIC_NAME } from "../tsdb/labels.ts";
import type { Labels } from "../tsdb/series.ts";
import { float64Words, setStaleWord } from "../tsdb/value.ts";
import { formatFloatGo } from "../strconv/float.ts";
import { DecodedSeries, type PromExemplar, type PromSeries } from "./remote_write.ts";
import {
  type OtlpAttribute,
  type OtlpExemplar,
  type OtlpMetric,
  type OtlpMetricsRequest,
  TEMPORALITY_CUMULATIVE,
} from "./otlp_decode.ts";

/** `--receive.otlp-enable-target-info` and `--receive.otlp-promote-resource-attributes`. */
export interface OtlpTranslateOptions {
  enableTargetInfo: boolean;
  promoteResourceAttributes: readonly string[];
}

/** Thanos's defaults: target_info on, no resource attribute promoted. */
export const DEFAULT_OTLP_OPTIONS: OtlpTranslateOptions = {
  enableTargetInfo: true,
  promoteResourceAttributes: [],
};

/** Some metric of the request cannot be translated; the message lists every failure. */
export class OtlpTranslateError extends Error {
  override name = "OtlpTranslateError";
}

// UCUM units → Prometheus base-unit words (the collector's unit table).
const UNIT_WORDS: Record<string, string> = {
  d: "days",
  h: "hours",
  min: "minutes",
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  GiBy: "gibibytes",
  TiBy: "tibibytes",
  KBy: "kilobytes",
  MBy: "megabytes",
  GBy: "gigabytes",
  TBy: "terabytes",
  m: "meters",
  V: "volts",
  A: "amperes",
  J: "joules",
  W: "watts",
  g: "grams",
  Cel: "celsius",
  Hz: "hertz",
  "1": "",
  "%": "percent",
};

// The unit after `/`: singular words.
const PER_UNIT_WORDS: Record<string, string> = {
  s: "second",
  m: "minute",
  h: "hour",
  d: "day",
  w: "week",
  mo: "month",
  y: "year",
};

const SERVICE_NAME = "service.name";
const SERVICE_NAMESPACE = "service.namespace";
const SERVICE_INSTANCE_ID = "service.instance.id";
const IDENTIFYING = [SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID];
/** OpenMetrics' bound on an exemplar's label characters. */
const MAX_EXEMPLAR_RUNES = 128;

function lookup(table: Record<string, string>, key: string): string {
  return Object.hasOwn(table, key) ? table[key] : key;
}

/** Splits at every character outside [a-zA-Z0-9:], dropping empty pieces. */
function nameTokens(name: string): string[] {
  return name.split(/[^a-zA-Z0-9:]+/).filter((t) => t !== "");
}

/** A unit word made a valid name piece: invalid characters → `_`, runs collapsed, no leading `_`. */
function cleanUnit(unit: string): string {
  return unit.replace(/[^a-zA-Z0-9_]/g, "_").replace(/__+/g, "_").replace(/^_/, "");
}

function startsWithDigit(s: string): boolean {
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/** The Prometheus metric name of an OTLP metric (with unit and type suffixes). */
export function otlpMetricName(
  m: Pick<OtlpMetric, "name" | "unit" | "kind" | "monotonic">,
): string {
  let tokens = nameTokens(m.name);
  const slash = m.unit.indexOf("/");
  const mainOtel = (slash < 0 ? m.unit : m.unit.slice(0, slash)).trim();
  const perOtel = slash < 0 ? "" : m.unit.slice(slash + 1).trim();
  let main = "";
  if (mainOtel !== "" && !/[{}]/.test(mainOtel)) {
    main = cleanUnit(lookup(UNIT_WORDS, mainOtel));
    if (tokens.includes(main)) main = "";
  }
  let per = "";
  if (perOtel !== "" && !/[{}]/.test(perOtel)) {
    per = cleanUnit(lookup(PER_UNIT_WORDS, perOtel));
    if (per !== "") {
      per = "per_" + per;
      if (tokens.includes(per)) per = "";
    }
  }
  if (per !== "" && main.endsWith("_")) main = main.slice(0, -1);
  if (main !== "") tokens.push(main);
  if (per !== "") tokens.push(per);
  if (m.kind === "sum" && m.monotonic) tokens = [...tokens.filter((t) => t !== "total"), "total"];
  if (m.unit === "1" && m.kind === "gauge") {
    tokens = [...tokens.filter((t) => t !== "ratio"), "ratio"];
  }
  const name = tokens.join("_");
  return name !== "" && startsWithDigit(name) ? "_" + name : name;
}

/**
 * A Prometheus label name for an attribute key: characters outside [a-zA-Z0-9] become one `_`
 * per run (a `__x__` name keeps its double underscores around the cleaned middle), `key_` before
 * a leading digit. Throws OtlpTranslateError for an empty key or one that is only underscores.
 */
export function otlpLabelName(key: string): string {
  if (key === "") throw new OtlpTranslateError(`invalid label name: "": label name is empty`);
  const reserved = key.length >= 4 && key.startsWith("__") && key.endsWith("__");
  const middle = reserved ? key.slice(2, -2) : key;
  let out = "";
  let lastUnderscore = false;
  for (const ch of middle) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && (c >= 48 && c <= 57 || c >= 65 && c <= 90 || c >= 97 && c <= 122)) {
      out += ch;
      lastUnderscore = false;
    } else if (!lastUnderscore) {
      out += "_";
      lastUnderscore = true;
    }
  }
  if (reserved) out = `__${out}__`;
  if (startsWithDigit(out)) out = "key_" + out;
  if (/^_*$/.test(out)) {
    throw new OtlpTranslateError(
      `invalid label name: ${JSON.stringify(key)}: normalization for label name ` +
        `${JSON.stringify(key)} resulted in invalid name ${JSON.stringify(out)}`,
    );
  }
  return out;
}

/** One series being built: its first sample inline, further ones as (t, v, stale) triples. */
interface PendingSeries {
  labels: Labels;
  t: number;
  v: number;
  stale: boolean;
  more: number[] | undefined;
  exemplars: PromExemplar[] | undefined;
}

/**
 * Accumulates samples per label set (points of one request may share a series). The samples end
 * in one arena per request, read in place by the head (DecodedSeries, as remote write's).
 */
class SeriesBuilder {
  private readonly byKey = new Map<string, PendingSeries>();
  private samples = 0;

  add(labels: Labels, timeMs: number, value: number, stale: boolean): void {
    const key = labels.join("\xff");
    const s = this.byKey.get(key);
    this.samples++;
    if (s === undefined) {
      this.byKey.set(key, {
        labels,
        t: timeMs,
        v: value,
        stale,
        more: undefined,
        exemplars: undefined,
      });
    } else (s.more ??= []).push(timeMs, value, stale ? 1 : 0);
  }

  addExemplars(labels: Labels, exemplars: PromExemplar[]): void {
    if (exemplars.length === 0) return;
    const s = this.byKey.get(labels.join("\xff"));
    if (s) (s.exemplars ??= []).push(...exemplars);
  }

  series(): PromSeries[] {
    const ts = new Float64Array(this.samples);
    const vs = new Float64Array(this.samples);
    const words = float64Words(vs);
    const out: PromSeries[] = [];
    let off = 0;
    for (const s of this.byKey.values()) {
      const start = off;
      ts[off] = s.t;
      // a stale marker's bits are written directly: a NaN through a variable may lose them
      if (s.stale) setStaleWord(words, off);
      else vs[off] = s.v;
      off++;
      const more = s.more;
      if (more !== undefined) {
        for (let i = 0; i < more.length; i += 3) {
          ts[off] = more[i];
          if (more[i + 2] === 1) setStaleWord(words, off);
          else vs[off] = more[i + 1];
          off++;
        }
      }
      const d = new DecodedSeries(s.labels, undefined, ts, words, start, off - start);
      if (s.exemplars) d.exemplars = s.exemplars;
      out.push(d);
    }
    return out;
  }
}

/** Sorted labels from a name → value map, empty values dropped. */
function sortedLabels(m: Map<string, string>): Labels {
  const names = [...m.keys()].filter((k) => m.get(k) !== "").sort(compareStrings);
  const out: string[] = [];
  for (const n of names) out.push(n, m.get(n)!);
  return out;
}

function attributeValue(attrs: readonly OtlpAttribute[], key: string): string | undefined {
  for (const a of attrs) if (a.key === key) return a.value;
  return undefined;
}

/** What a resource gives every series of its points: promoted attributes, job, instance. */
interface ResourceLabels {
  /** Promoted resource attributes as [label name, value], in order of their keys. */
  promoted: [string, string][];
  job: string | undefined;
  instance: string | undefined;
}

/** Throws OtlpTranslateError when a promoted attribute's key is no valid label name. */
function resourceLabels(
  resource: readonly OtlpAttribute[],
  promote: readonly string[],
): ResourceLabels {
  const promotedAttrs: OtlpAttribute[] = [];
  for (const key of promote) {
    const v = attributeValue(resource, key);
    if (v !== undefined) promotedAttrs.push({ key, value: v });
  }
  promotedAttrs.sort((a, b) => compareStrings(a.key, b.key));
  const service = attributeValue(resource, SERVICE_NAME);
  const ns = attributeValue(resource, SERVICE_NAMESPACE);
  return {
    promoted: promotedAttrs.map((a) => [labelNameCached(a.key), a.value]),
    job: service === undefined ? undefined : ns === undefined ? service : `${ns}/${service}`,
    instance: attributeValue(resource, SERVICE_INSTANCE_ID),
  };
}

// Attribute keys repeat from point to point and request to request: their label names are
// remembered (bounded; invalid keys are not cached, they throw every time).
const LABEL_NAMES = new Map<string, string>();
const LABEL_NAMES_MAX = 16384;

function labelNameCached(key: string): string {
  let n = LABEL_NAMES.get(key);
  if (n === undefined) {
    n = otlpLabelName(key);
    if (LABEL_NAMES.size >= LABEL_NAMES_MAX) LABEL_NAMES.clear();
    LABEL_NAMES.set(key, n);
  }
  return n;
}

/**
 * The sorted labels every series of a point gets, before its name (and le/quantile): the point's
 * attributes (sanitized names; values of colliding names joined with `;` in key order), promoted
 * resource attributes the attributes do not already name, job and instance.
 */
function baseLabels(
  res: ResourceLabels,
  attrs: readonly OtlpAttribute[],
  ignore: readonly string[] = [],
): Labels {
  const out = new Map<string, string>();
  const sorted = ignore.length === 0 ? attrs.slice() : attrs.filter((a) => !ignore.includes(a.key));
  sorted.sort((a, b) => compareStrings(a.key, b.key));
  for (const a of sorted) {
    const name = labelNameCached(a.key);
    const prev = out.get(name);
    out.set(name, prev === undefined ? a.value : `${prev};${a.value}`);
  }
  for (const [name, value] of res.promoted) if (!out.has(name)) out.set(name, value);
  if (res.job !== undefined) out.set("job", res.job);
  if (res.instance !== undefined) out.set("instance", res.instance);
  return sortedLabels(out);
}

/**
 * `base` with `name`=`value` (and `name2`=`value2`) set in sorted position: replaced when
 * present, removed when the value is empty.
 */
function withLabel(base: Labels, name: string, value: string, name2 = "", value2 = ""): Labels {
  const extra = name2 === ""
    ? [name, value]
    : compareStrings(name2, name) < 0
    ? [name2, value2, name, value]
    : [name, value, name2, value2];
  const out: string[] = [];
  let i = 0;
  for (let j = 0; j < extra.length; j += 2) {
    const n = extra[j];
    while (i < base.length && compareStrings(base[i], n) < 0) {
      out.push(base[i], base[i + 1]);
      i += 2;
    }
    if (i < base.length && base[i] === n) i += 2;
    if (extra[j + 1] !== "") out.push(n, extra[j + 1]);
  }
  while (i < base.length) {
    out.push(base[i], base[i + 1]);
    i += 2;
  }
  return out;
}

/** Exemplars with trace_id, span_id and (when they fit in 128 characters) their attributes. */
function promExemplars(exemplars: readonly OtlpExemplar[]): PromExemplar[] {
  const out: PromExemplar[] = [];
  for (const e of exemplars) {
    if (e.value === undefined) {
      throw new OtlpTranslateError("unsupported exemplar value type: Empty");
    }
    const m = new Map<string, string>();
    let runes = 0;
    if (e.traceId !== "") {
      m.set("trace_id", e.traceId);
      runes += 8 + e.traceId.length;
    }
    if (e.spanId !== "") {
      m.set("span_id", e.spanId);
      runes += 7 + e.spanId.length;
    }
    for (const a of e.attributes) runes += [...a.key].length + [...a.value].length;
    if (runes <= MAX_EXEMPLAR_RUNES) {
      for (const a of e.attributes) if (!m.has(a.key)) m.set(a.key, a.value);
    }
    out.push({ labels: sortedLabels(m), value: e.value, timestamp: e.timeMs });
  }
  return out;
}

function temporalityValid(m: OtlpMetric): boolean {
  switch (m.kind) {
    case "gauge":
    case "summary":
      return true;
    case "sum":
    case "histogram":
    case "exponential_histogram":
      return m.temporality === TEMPORALITY_CUMULATIVE;
    default:
      return false;
  }
}

function pointCount(m: OtlpMetric): number {
  return m.numberPoints.length + m.histogramPoints.length + m.summaryPoints.length +
    m.exponentialPoints;
}

/**
 * Translates a decoded request into series (sorted labels, samples in request order). Throws
 * OtlpTranslateError naming every metric that could not be translated (nothing is returned
 * then, as Thanos answers 400 for the whole request).
 */
export function translateOtlp(
  req: OtlpMetricsRequest,
  opts: OtlpTranslateOptions,
): PromSeries[] {
  const b = new SeriesBuilder();
  const errors: string[] = [];
  for (const rm of req.resourceMetrics) {
    let latestMs = 0;
    let res: ResourceLabels | undefined;
    try {
      res = resourceLabels(rm.resource, opts.promoteResourceAttributes);
    } catch (e) {
      if (!(e instanceof OtlpTranslateError)) throw e;
      errors.push(`invalid promoted resource attribute name: ${e.message}`);
    }
    for (const m of rm.metrics) {
      if (m.latestMs > latestMs) latestMs = m.latestMs;
      if (!temporalityValid(m)) {
        errors.push(`invalid temporality for metric ${JSON.stringify(m.name)}`);
        continue;
      }
      if (pointCount(m) === 0) {
        errors.push(`empty data points. ${m.name} is dropped`);
        continue;
      }
      if (res === undefined) continue;
      try {
        translateMetric(b, res, m);
      } catch (e) {
        if (!(e instanceof OtlpTranslateError)) throw e;
        errors.push(e.message);
      }
    }
    if (opts.enableTargetInfo && latestMs !== 0) addTargetInfo(b, rm.resource, latestMs);
  }
  if (errors.length > 0) {
    throw new OtlpTranslateError(
      errors.length > 1 ? `${errors.length} errors: ${errors.join("; ")}` : errors[0],
    );
  }
  return b.series();
}

function translateMetric(b: SeriesBuilder, res: ResourceLabels, m: OtlpMetric): void {
  const name = otlpMetricName(m);
  switch (m.kind) {
    case "gauge":
    case "sum":
      for (const p of m.numberPoints) {
        const labels = withLabel(baseLabels(res, p.attributes), METRIC_NAME, name);
        b.add(labels, p.timeMs, p.value, p.noRecordedValue);
        if (m.kind === "sum") b.addExemplars(labels, promExemplars(p.exemplars));
      }
      return;
    case "histogram":
      for (const p of m.histogramPoints) {
        const base = baseLabels(res, p.attributes);
        const stale = p.noRecordedValue;
        if (p.sum !== undefined) {
          b.add(withLabel(base, METRIC_NAME, name + "_sum"), p.timeMs, p.sum, stale);
        }
        b.add(withLabel(base, METRIC_NAME, name + "_count"), p.timeMs, p.count, stale);
        // buckets are cumulative in Prometheus; OTLP has one more count than bounds (the +Inf one)
        const buckets: { bound: number; labels: Labels }[] = [];
        let cumulative = 0;
        const n = Math.min(p.bounds.length, p.bucketCounts.length);
        for (let i = 0; i < n; i++) {
          cumulative += p.bucketCounts[i];
          const labels = withLabel(
            base,
            METRIC_NAME,
            name + "_bucket",
            "le",
            formatFloatGo(p.bounds[i]),
          );
          b.add(labels, p.timeMs, cumulative, stale);
          buckets.push({ bound: p.bounds[i], labels });
        }
        const inf = withLabel(base, METRIC_NAME, name + "_bucket", "le", "+Inf");
        b.add(inf, p.timeMs, p.count, stale);
        buckets.push({ bound: Infinity, labels: inf });
        if (p.exemplars.length > 0) {
          buckets.sort((x, y) => x.bound - y.bound);
          for (const e of promExemplars(p.exemplars)) {
            const bucket = buckets.find((x) => e.value <= x.bound);
            if (bucket) b.addExemplars(bucket.labels, [e]);
          }
        }
      }
      return;
    case "summary":
      for (const p of m.summaryPoints) {
        const base = baseLabels(res, p.attributes);
        const stale = p.noRecordedValue;
        b.add(withLabel(base, METRIC_NAME, name + "_sum"), p.timeMs, p.sum, stale);
        b.add(withLabel(base, METRIC_NAME, name + "_count"), p.timeMs, p.count, stale);
        for (const q of p.quantiles) {
          const labels = withLabel(base, METRIC_NAME, name, "quantile", formatFloatGo(q.quantile));
          b.add(labels, p.timeMs, q.value, stale);
        }
      }
      return;
    case "exponential_histogram":
      throw new OtlpTranslateError(
        `exponential histogram ${JSON.stringify(m.name)}: native histograms are not supported ` +
          "by this receiver; configure the exporter to send explicit-bucket histograms",
      );
  }
}

/** `target_info`: the resource's non-identifying attributes, with job/instance, value 1. */
function addTargetInfo(
  b: SeriesBuilder,
  resource: readonly OtlpAttribute[],
  latestMs: number,
): void {
  if (!resource.some((a) => !IDENTIFYING.includes(a.key))) return;
  let base: Labels;
  try {
    const res = resourceLabels(resource, []);
    base = baseLabels(res, resource, IDENTIFYING);
  } catch {
    return; // as Thanos: a resource whose attributes cannot be labels gets no target_info
  }
  if (getLabel(base, "job") === "" && getLabel(base, "instance") === "") return;
  b.add(withLabel(base, METRIC_NAME, "target_info"), latestMs, 1, false);
}

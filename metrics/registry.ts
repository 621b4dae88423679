// A small Prometheus client: counters, gauges and histograms with labels, exposed in the text
// format 0.0.4 exactly as client_golang renders it (families sorted by name, series sorted by
// label values, Go's shortest float formatting). Every layer registers its metrics here.

/** Content type of the text exposition format served on `/metrics`. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label name → value, as passed to `inc`, `set` and `observe`. */
export type LabelValues = Readonly<Record<string, string>>;

/** Options shared by every metric kind. */
export interface MetricOpts {
  /** Metric name, e.g. `thanos_objstore_bucket_operations_total`. */
  name: string;
  /** One line of help text. */
  help: string;
  /** Names of the variable labels, in the order `labels(...)` takes their values. */
  labelNames?: readonly string[];
  /** Labels with a fixed value on every series of this metric. */
  constLabels?: LabelValues;
}

/** Options of a histogram. */
export interface HistogramOpts extends MetricOpts {
  /** Upper bounds of the buckets, ascending; `+Inf` is added. Defaults to client_golang's. */
  buckets?: readonly number[];
}

/** client_golang's `prometheus.DefBuckets`. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** A metric name or label set that Prometheus would not accept, or a conflicting registration. */
export class MetricsRegistrationError extends Error {
  override name = "MetricsRegistrationError";
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Formats a float the way client_golang does: Go's `strconv.FormatFloat(v, 'g', -1, 64)`. */
export function formatMetricValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  // toExponential() without digits gives the shortest digits that round-trip, like Go's -1.
  const e = v.toExponential();
  const ePos = e.indexOf("e");
  let mant = e.slice(0, ePos);
  const exp = Number(e.slice(ePos + 1));
  const neg = mant.startsWith("-");
  if (neg) mant = mant.slice(1);
  const digits = mant.replace(".", "");
  let out: string;
  if (exp < -4 || exp >= 6) {
    // Go uses %e when the exponent is < -4 or >= 6 (shortest formatting uses precision 6).
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const ae = Math.abs(exp);
    out = `${m}e${exp < 0 ? "-" : "+"}${ae < 10 ? "0" : ""}${ae}`;
  } else if (exp < 0) {
    out = `0.${"0".repeat(-exp - 1)}${digits}`;
  } else if (digits.length > exp + 1) {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  } else {
    out = digits + "0".repeat(exp + 1 - digits.length);
  }
  return neg ? `-${out}` : out;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

type Kind = "counter" | "gauge" | "histogram";

// One child series and its label values, in `labelNames` order.
interface ChildEntry<C> {
  values: string[];
  child: C;
}

// A level of a family's lookup tree: label value → the next level, or the entry at the last level.
type LookupLevel<C> = Map<string, LookupLevel<C> | ChildEntry<C>>;

// A metric family: owns its children (one per label value tuple).
abstract class Family<C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly constLabels: readonly [string, string][];
  // Every child, in creation order (rendering sorts them).
  protected readonly children = new Set<ChildEntry<C>>();
  // Children by label values, one map level per label name: a lookup by values or by a label
  // object walks it without joining a key string (every `inc({…})` on a hot path pays the
  // lookup).
  private readonly lookup: LookupLevel<C> = new Map();
  private noLabelChild: ChildEntry<C> | undefined;

  constructor(readonly kind: Kind, opts: MetricOpts) {
    if (!METRIC_NAME_RE.test(opts.name)) {
      throw new MetricsRegistrationError(`invalid metric name ${JSON.stringify(opts.name)}`);
    }
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = [...(opts.labelNames ?? [])];
    this.constLabels = Object.entries(opts.constLabels ?? {}).sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
    );
    for (const l of [...this.labelNames, ...this.constLabels.map((c) => c[0])]) {
      if (!LABEL_NAME_RE.test(l) || l.startsWith("__")) {
        throw new MetricsRegistrationError(`metric ${opts.name}: invalid label name ${l}`);
      }
    }
  }

  protected abstract newChild(): C;

  /** Returns the child series for label values given in `labelNames` order. */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new MetricsRegistrationError(
        `metric ${this.name}: expected ${this.labelNames.length} label values ` +
          `(${this.labelNames.join(", ")}), got ${values.length}`,
      );
    }
    if (values.length === 0) return this.unlabelled();
    let level = this.lookup;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) level = this.nextLevel(level, values[i]);
    const e = level.get(values[last]) as ChildEntry<C> | undefined;
    return e !== undefined ? e.child : this.added(level, values.slice());
  }

  /** Returns the child series for a label object (missing names are empty values). */
  with(labels: LabelValues | undefined): C {
    const names = this.labelNames;
    if (names.length === 0) return this.unlabelled();
    let level = this.lookup;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) level = this.nextLevel(level, labels?.[names[i]] ?? "");
    const e = level.get(labels?.[names[last]] ?? "") as ChildEntry<C> | undefined;
    if (e !== undefined) return e.child;
    const values = new Array<string>(names.length);
    for (let i = 0; i < names.length; i++) values[i] = labels?.[names[i]] ?? "";
    return this.added(level, values);
  }

  private unlabelled(): C {
    if (this.noLabelChild === undefined) {
      this.noLabelChild = { values: [], child: this.newChild() };
      this.children.add(this.noLabelChild);
    }
    return this.noLabelChild.child;
  }

  // The level below `level` for `value`, made when missing.
  private nextLevel(level: LookupLevel<C>, value: string): LookupLevel<C> {
    let next = level.get(value) as LookupLevel<C> | undefined;
    if (next === undefined) {
      next = new Map();
      level.set(value, next);
    }
    return next;
  }

  // A new child for `values` at the last level `level` of their path.
  private added(level: LookupLevel<C>, values: string[]): C {
    const e: ChildEntry<C> = { values, child: this.newChild() };
    level.set(values[values.length - 1], e);
    this.children.add(e);
    return e.child;
  }

  /** Drops the child series with these label values (client_golang's DeleteLabelValues). */
  remove(...values: string[]): void {
    if (values.length !== this.labelNames.length) return;
    if (values.length === 0) {
      if (this.noLabelChild !== undefined) this.children.delete(this.noLabelChild);
      this.noLabelChild = undefined;
      return;
    }
    // the levels on the path, so that levels left empty go too (label values that come and go,
    // such as rule groups across reloads, must not leave a map behind each)
    const path: LookupLevel<C>[] = [this.lookup];
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const next = path[i].get(values[i]) as LookupLevel<C> | undefined;
      if (next === undefined) return;
      path.push(next);
    }
    const e = path[last].get(values[last]) as ChildEntry<C> | undefined;
    if (e === undefined) return;
    path[last].delete(values[last]);
    this.children.delete(e);
    for (let i = last; i > 0 && path[i].size === 0; i--) path[i - 1].delete(values[i - 1]);
  }

  /** Drops every child series. */
  reset(): void {
    this.children.clear();
    this.lookup.clear();
    this.noLabelChild = undefined;
  }

  protected labelString(values: readonly string[], extra?: string): string {
    const parts: [string, string][] = [...this.constLabels];
    for (let i = 0; i < this.labelNames.length; i++) parts.push([this.labelNames[i], values[i]]);
    parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let s = parts.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
    if (extra !== undefined) s = s.length > 0 ? `${s},${extra}` : extra;
    return s.length > 0 ? `{${s}}` : "";
  }

  protected sortedChildren(): ChildEntry<C>[] {
    const all = [...this.children.values()];
    all.sort((a, b) => {
      for (let i = 0; i < a.values.length; i++) {
        if (a.values[i] !== b.values[i]) return a.values[i] < b.values[i] ? -1 : 1;
      }
      return 0;
    });
    return all;
  }

  /** Text-format lines of this family (without a trailing newline); empty if no series. */
  abstract render(out: string[]): void;

  protected header(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.kind}`);
  }
}

/** One counter series. */
export class CounterChild {
  /** Current value. */
  value = 0;
  /** Adds `v` (default 1); negative increments are refused like client_golang. */
  inc(v = 1): void {
    if (v < 0) throw new MetricsRegistrationError("counter cannot decrease");
    this.value += v;
  }
}

/** A monotonically increasing counter, optionally with labels. */
export class Counter extends Family<CounterChild> {
  constructor(opts: MetricOpts) {
    super("counter", opts);
  }
  protected newChild(): CounterChild {
    return new CounterChild();
  }
  /** Adds `v` (default 1) to the series of `labels`. */
  inc(labels?: LabelValues | number, v = 1): void {
    if (typeof labels === "number") this.labels().inc(labels);
    else this.with(labels).inc(v);
  }
  /** Value of one series (0 when it does not exist yet). */
  get(labels?: LabelValues): number {
    return this.with(labels).value;
  }
  render(out: string[]): void {
    if (this.children.size === 0) return;
    this.header(out);
    for (const { values, child } of this.sortedChildren()) {
      out.push(`${this.name}${this.labelString(values)} ${formatMetricValue(child.value)}`);
    }
  }
}

/** One gauge series. */
export class GaugeChild {
  /** Current value. */
  value = 0;
  /** Sets the value. */
  set(v: number): void {
    this.value = v;
  }
  /** Adds `v` (default 1). */
  inc(v = 1): void {
    this.value += v;
  }
  /** Subtracts `v` (default 1). */
  dec(v = 1): void {
    this.value -= v;
  }
}

/** A value that goes up and down, optionally with labels. */
export class Gauge extends Family<GaugeChild> {
  constructor(opts: MetricOpts) {
    super("gauge", opts);
  }
  protected newChild(): GaugeChild {
    return new GaugeChild();
  }
  /** Sets the series: `set(v)` or `set(labels, v)`. */
  set(labelsOrValue: LabelValues | number, v?: number): void {
    if (typeof labelsOrValue === "number") this.labels().set(labelsOrValue);
    else this.with(labelsOrValue).set(v ?? 0);
  }
  /** Adds to the series: `inc()`, `inc(v)` or `inc(labels, v?)`. */
  inc(labelsOrValue?: LabelValues | number, v = 1): void {
    if (typeof labelsOrValue === "number") this.labels().inc(labelsOrValue);
    else this.with(labelsOrValue).inc(v);
  }
  /** Subtracts from the series: `dec()`, `dec(v)` or `dec(labels, v?)`. */
  dec(labelsOrValue?: LabelValues | number, v = 1): void {
    if (typeof labelsOrValue === "number") this.labels().dec(labelsOrValue);
    else this.with(labelsOrValue).dec(v);
  }
  /** Value of one series (0 when it does not exist yet). */
  get(labels?: LabelValues): number {
    return this.with(labels).value;
  }
  render(out: string[]): void {
    if (this.children.size === 0) return;
    this.header(out);
    for (const { values, child } of this.sortedChildren()) {
      out.push(`${this.name}${this.labelString(values)} ${formatMetricValue(child.value)}`);
    }
  }
}

/** One histogram series: per-bucket counts (not cumulative), sum and count. */
export class HistogramChild {
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  readonly counts: Float64Array;
  /** Sum of observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;
  constructor(readonly upperBounds: Float64Array) {
    this.counts = new Float64Array(upperBounds.length + 1);
  }
  /** Records one observation. */
  observe(v: number): void {
    const b = this.upperBounds;
    let i = 0;
    // Buckets are few (≤ ~20): a linear scan beats a binary search here.
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram with fixed buckets, optionally with labels. */
export class Histogram extends Family<HistogramChild> {
  readonly upperBounds: Float64Array;
  constructor(opts: HistogramOpts) {
    super("histogram", opts);
    const b = [...(opts.buckets ?? DEFAULT_BUCKETS)].filter((x) => x !== Infinity);
    for (let i = 1; i < b.length; i++) {
      if (!(b[i] > b[i - 1])) {
        throw new MetricsRegistrationError(`histogram ${opts.name}: buckets must be ascending`);
      }
    }
    if (this.labelNames.includes("le")) {
      throw new MetricsRegistrationError(`histogram ${opts.name}: label name "le" is reserved`);
    }
    this.upperBounds = Float64Array.from(b);
  }
  protected newChild(): HistogramChild {
    return new HistogramChild(this.upperBounds);
  }
  /** Records `v`: `observe(v)` or `observe(labels, v)`. */
  observe(labelsOrValue: LabelValues | number, v?: number): void {
    if (typeof labelsOrValue === "number") this.labels().observe(labelsOrValue);
    else this.with(labelsOrValue).observe(v ?? 0);
  }
  /** Count and sum of one series. */
  get(labels?: LabelValues): { count: number; sum: number } {
    const c = this.with(labels);
    return { count: c.count, sum: c.sum };
  }
  render(out: string[]): void {
    if (this.children.size === 0) return;
    this.header(out);
    for (const { values, child } of this.sortedChildren()) {
      let cum = 0;
      for (let i = 0; i <= this.upperBounds.length; i++) {
        cum += child.counts[i];
        const le = i < this.upperBounds.length ? formatMetricValue(this.upperBounds[i]) : "+Inf";
        out.push(
          `${this.name}_bucket${this.labelString(values, `le="${le}"`)} ${formatMetricValue(cum)}`,
        );
      }
      out.push(`${this.name}_sum${this.labelString(values)} ${formatMetricValue(child.sum)}`);
      out.push(`${this.name}_count${this.labelString(values)} ${formatMetricValue(child.count)}`);
    }
  }
}

type AnyFamily = Counter | Gauge | Histogram;

/**
 * A set of metric families. Registering the same name again with the same kind and label names
 * returns the existing family (so two buckets can share `thanos_objstore_*` families); a
 * conflicting registration throws MetricsRegistrationError.
 */
export class Registry {
  private readonly families = new Map<string, AnyFamily>();
  private readonly collectHooks: (() => void | Promise<void>)[] = [];

  private getOrCreate<F extends AnyFamily>(
    kind: Kind,
    opts: MetricOpts,
    make: () => F,
  ): F {
    const existing = this.families.get(opts.name);
    if (existing !== undefined) {
      const same = existing.kind === kind &&
        existing.labelNames.join(",") === (opts.labelNames ?? []).join(",");
      if (!same) {
        throw new MetricsRegistrationError(
          `metric ${opts.name} is already registered as a ${existing.kind} with labels ` +
            `[${existing.labelNames.join(", ")}]`,
        );
      }
      return existing as F;
    }
    const f = make();
    this.families.set(opts.name, f);
    return f;
  }

  /** Registers (or returns) a counter. */
  counter(opts: MetricOpts): Counter {
    return this.getOrCreate("counter", opts, () => new Counter(opts));
  }

  /** Registers (or returns) a gauge. */
  gauge(opts: MetricOpts): Gauge {
    return this.getOrCreate("gauge", opts, () => new Gauge(opts));
  }

  /** Registers (or returns) a histogram. */
  histogram(opts: HistogramOpts): Histogram {
    return this.getOrCreate("histogram", opts, () => new Histogram(opts));
  }

  /** Adds a hook run before each exposition, e.g. to refresh gauges computed on demand. */
  onCollect(hook: () => void | Promise<void>): void {
    this.collectHooks.push(hook);
  }

  /** Removes a family by name; returns whether it existed. */
  unregister(name: string): boolean {
    return this.families.delete(name);
  }

  /** Renders all families in text format 0.0.4, sorted by name; ends with a newline. */
  async expose(): Promise<string> {
    for (const h of this.collectHooks) await h();
    const names = [...this.families.keys()].sort();
    const out: string[] = [];
    for (const n of names) this.families.get(n)!.render(out);
    return out.length > 0 ? out.join("\n") + "\n" : "";
  }
}

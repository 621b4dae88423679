// The PromQL function signatures of Prometheus 2.42 (promql/parser/functions.go), used by the
// parser's type checker. Evaluation lives in the engine; this table only knows types.

/** PromQL value types ("none" only for the type checker's internal use). */
export type ValueType = "scalar" | "vector" | "matrix" | "string";

/** A function's signature. */
export interface FunctionDef {
  readonly name: string;
  /** Argument types; with `variadic` ≠ 0 the last one may repeat or be omitted. */
  readonly argTypes: readonly ValueType[];
  /** 0: fixed arity; n > 0: up to n more/optional trailing args; -1: unbounded. */
  readonly variadic: number;
  readonly returnType: ValueType;
  /**
   * Prometheus's experimental functions (`Experimental: true` in
   * https://github.com/prometheus/prometheus/blob/v0.309.1/promql/parser/functions.go, the
   * version Thanos v0.42 vendors): known only with `--enable-feature=promql-experimental-functions`.
   */
  readonly experimental?: boolean;
}

/**
 * Which optional function sets a parse accepts: Prometheus's experimental functions
 * (`--enable-feature=promql-experimental-functions`) and Thanos promql-engine's extended range
 * functions xrate, xincrease, xdelta (`--query.enable-x-functions`).
 */
export interface FunctionOptions {
  experimentalFunctions?: boolean;
  xFunctions?: boolean;
}

const V: ValueType = "vector";
const M: ValueType = "matrix";
const S: ValueType = "scalar";
const Str: ValueType = "string";

function def(
  name: string,
  argTypes: ValueType[],
  returnType: ValueType = V,
  variadic = 0,
  experimental = false,
): FunctionDef {
  const d: FunctionDef = { name, argTypes: Object.freeze(argTypes), variadic, returnType };
  return Object.freeze(experimental ? { ...d, experimental } : d);
}

const DEFS: FunctionDef[] = [
  def("abs", [V]),
  def("absent", [V]),
  def("absent_over_time", [M]),
  def("acos", [V]),
  def("acosh", [V]),
  def("asin", [V]),
  def("asinh", [V]),
  def("atan", [V]),
  def("atanh", [V]),
  def("avg_over_time", [M]),
  def("ceil", [V]),
  def("changes", [M]),
  def("clamp", [V, S, S]),
  def("clamp_max", [V, S]),
  def("clamp_min", [V, S]),
  def("cos", [V]),
  def("cosh", [V]),
  def("count_over_time", [M]),
  def("days_in_month", [V], V, 1),
  def("day_of_month", [V], V, 1),
  def("day_of_week", [V], V, 1),
  def("day_of_year", [V], V, 1),
  def("deg", [V]),
  def("delta", [M]),
  def("deriv", [M]),
  def("exp", [V]),
  def("floor", [V]),
  def("histogram_count", [V]),
  def("histogram_sum", [V]),
  def("histogram_fraction", [S, S, V]),
  def("histogram_quantile", [S, V]),
  def("holt_winters", [M, S, S]),
  def("hour", [V], V, 1),
  def("idelta", [M]),
  def("increase", [M]),
  def("irate", [M]),
  def("label_replace", [V, Str, Str, Str, Str]),
  def("label_join", [V, Str, Str, Str], V, -1),
  def("last_over_time", [M]),
  def("ln", [V]),
  def("log10", [V]),
  def("log2", [V]),
  def("max_over_time", [M]),
  def("min_over_time", [M]),
  def("minute", [V], V, 1),
  def("month", [V], V, 1),
  def("pi", [], S),
  def("predict_linear", [M, S]),
  def("present_over_time", [M]),
  def("quantile_over_time", [S, M]),
  def("rad", [V]),
  def("rate", [M]),
  def("resets", [M]),
  def("round", [V, S], V, 1),
  def("scalar", [V], S),
  def("sgn", [V]),
  def("sin", [V]),
  def("sinh", [V]),
  def("sort", [V]),
  def("sort_desc", [V]),
  def("sqrt", [V]),
  def("stddev_over_time", [M]),
  def("stdvar_over_time", [M]),
  def("sum_over_time", [M]),
  def("tan", [V]),
  def("tanh", [V]),
  def("time", [], S),
  def("timestamp", [V]),
  def("vector", [S]),
  def("year", [V], V, 1),
];

/** All functions of Prometheus 2.42 by name (function names are case-sensitive). */
export const FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(DEFS.map((d) => [d.name, d]));

/**
 * The experimental functions of Prometheus v0.309.1 (Thanos v0.42's), with their signatures
 * from its promql/parser/functions.go. `info` is left out: this build has no implementation.
 */
export const EXPERIMENTAL_FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(
  [
    def("double_exponential_smoothing", [M, S, S], V, 0, true),
    def("first_over_time", [M], V, 0, true),
    def("mad_over_time", [M], V, 0, true),
    def("sort_by_label", [V, Str], V, -1, true),
    def("sort_by_label_desc", [V, Str], V, -1, true),
    def("ts_of_first_over_time", [M], V, 0, true),
    def("ts_of_last_over_time", [M], V, 0, true),
    def("ts_of_max_over_time", [M], V, 0, true),
    def("ts_of_min_over_time", [M], V, 0, true),
  ].map((d) => [d.name, d]),
);

/**
 * Thanos promql-engine's extended range functions (execution/parse/functions.go of
 * https://github.com/thanos-io/promql-engine): one range-vector argument, like rate().
 */
export const X_FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(
  ["xdelta", "xincrease", "xrate"].map((n) => [n, def(n, [M])]),
);

/**
 * The function named `name` among those `opts` enables, or undefined. An experimental function
 * is returned even when not enabled (the parser reports it as not enabled, as Prometheus does).
 */
export function getFunction(name: string, opts: FunctionOptions = {}): FunctionDef | undefined {
  return FUNCTIONS.get(name) ?? EXPERIMENTAL_FUNCTIONS.get(name) ??
    (opts.xFunctions ? X_FUNCTIONS.get(name) : undefined);
}

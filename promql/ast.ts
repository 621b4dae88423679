// PromQL syntax tree, shaped like Prometheus's promql/parser AST. Every node carries the byte
// range of the query it was parsed from (`posRange`), for error positions.

import type { Matcher } from "../tsdb/matchers.ts";
import type { FunctionDef, ValueType } from "./functions_table.ts";

export type { FunctionDef, ValueType } from "./functions_table.ts";
export { FUNCTIONS, getFunction } from "./functions_table.ts";

/** Byte offsets `[start, end)` of a node in the query text. */
export interface PosRange {
  start: number;
  end: number;
}

/** Aggregation operators. */
export type AggregateOp =
  | "sum"
  | "avg"
  | "count"
  | "min"
  | "max"
  | "group"
  | "stddev"
  | "stdvar"
  | "topk"
  | "bottomk"
  | "count_values"
  | "quantile"
  | "limitk"
  | "limit_ratio";

/** Binary operators, in their canonical (lower-case) spelling. */
export type BinaryOp =
  | "+"
  | "-"
  | "*"
  | "/"
  | "%"
  | "^"
  | "atan2"
  | "=="
  | "!="
  | ">"
  | "<"
  | ">="
  | "<="
  | "and"
  | "or"
  | "unless";

/** True for `== != > < >= <=` (Prometheus's `ItemType.IsComparisonOperator`). */
export function isComparison(op: BinaryOp): boolean {
  return op === "==" || op === "!=" || op === ">" || op === "<" || op === ">=" || op === "<=";
}

/** True for `and or unless` (Prometheus's `ItemType.IsSetOperator`). */
export function isSetOperator(op: BinaryOp): boolean {
  return op === "and" || op === "or" || op === "unless";
}

/** Vector matching cardinality. */
export type VectorMatchCardinality = "one-to-one" | "many-to-one" | "one-to-many" | "many-to-many";

/** How elements of two vectors are matched in a binary operation. */
export interface VectorMatching {
  card: VectorMatchCardinality;
  /** Labels of `on(…)` / `ignoring(…)`. */
  matchingLabels: string[];
  /** true for `on`, false for `ignoring` (or no clause). */
  on: boolean;
  /** Extra labels of `group_left(…)` / `group_right(…)`. */
  include: string[];
}

/** A number literal (also the result of folding a unary minus into it). */
export interface NumberLiteral {
  kind: "NumberLiteral";
  val: number;
  posRange: PosRange;
}

/** A string literal (unquoted value). */
export interface StringLiteral {
  kind: "StringLiteral";
  val: string;
  posRange: PosRange;
}

/** `@ start()` / `@ end()`, or null. */
export type StartOrEnd = "start" | "end" | null;

/** An instant vector selector. `matchers` includes the `__name__` matcher when a name is given. */
export interface VectorSelector {
  kind: "VectorSelector";
  /** Metric name written before the braces ("" when none). */
  name: string;
  matchers: Matcher[];
  /** `offset` in ms (negative for `offset -5m`), 0 when none. */
  offset: number;
  /** `@` time in ms, or null. */
  timestamp: number | null;
  startOrEnd: StartOrEnd;
  posRange: PosRange;
}

/** `selector[range]`. Offset and `@` live on the inner vector selector, as in Prometheus. */
export interface MatrixSelector {
  kind: "MatrixSelector";
  vectorSelector: VectorSelector;
  /** Range in ms. */
  range: number;
  posRange: PosRange;
}

/** `expr[range:step]`. */
export interface SubqueryExpr {
  kind: "SubqueryExpr";
  expr: Expr;
  /** ms */
  range: number;
  /** ms; 0 = the default evaluation interval. */
  step: number;
  /** ms, may be negative. */
  offset: number;
  timestamp: number | null;
  startOrEnd: StartOrEnd;
  posRange: PosRange;
}

/** A function call. */
export interface Call {
  kind: "Call";
  func: FunctionDef;
  args: Expr[];
  posRange: PosRange;
}

/** An aggregation such as `sum by (job) (x)` or `topk(3, x)`. */
export interface AggregateExpr {
  kind: "AggregateExpr";
  op: AggregateOp;
  expr: Expr;
  /** The parameter of topk/bottomk/quantile/count_values, else null. */
  param: Expr | null;
  grouping: string[];
  without: boolean;
  posRange: PosRange;
}

/** A binary operation. `vectorMatching` is null unless both sides are instant vectors. */
export interface BinaryExpr {
  kind: "BinaryExpr";
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  returnBool: boolean;
  vectorMatching: VectorMatching | null;
  posRange: PosRange;
}

/** Unary `-` / `+` on a non-literal. */
export interface UnaryExpr {
  kind: "UnaryExpr";
  op: "+" | "-";
  expr: Expr;
  posRange: PosRange;
}

/** A parenthesised expression. */
export interface ParenExpr {
  kind: "ParenExpr";
  expr: Expr;
  posRange: PosRange;
}

/** Any PromQL expression. */
export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | Call
  | AggregateExpr
  | BinaryExpr
  | UnaryExpr
  | ParenExpr;

/** The value type `expr` evaluates to (Prometheus's `Expr.Type()`). */
export function typeOf(expr: Expr): ValueType {
  switch (expr.kind) {
    case "NumberLiteral":
      return "scalar";
    case "StringLiteral":
      return "string";
    case "VectorSelector":
    case "AggregateExpr":
      return "vector";
    case "MatrixSelector":
    case "SubqueryExpr":
      return "matrix";
    case "Call":
      return expr.func.returnType;
    case "BinaryExpr": {
      // scalar only when every operand is; walk the left spine iteratively so that long
      // chains (`a + b + c + …`) neither recurse deeply nor cost quadratic time
      let e: Expr = expr;
      while (e.kind === "BinaryExpr") {
        if (typeOf(e.rhs) !== "scalar") return "vector";
        e = e.lhs;
      }
      return typeOf(e) === "scalar" ? "scalar" : "vector";
    }
    case "UnaryExpr":
    case "ParenExpr":
      return typeOf(expr.expr);
  }
}

/** User-facing name of a value type, as Prometheus documents it ("instant vector", …). */
export function documentedType(t: ValueType | "none"): string {
  if (t === "vector") return "instant vector";
  if (t === "matrix") return "range vector";
  return t;
}

/** Direct sub-expressions of `expr`, in Prometheus's `Children` order. */
export function children(expr: Expr): Expr[] {
  switch (expr.kind) {
    case "AggregateExpr":
      return expr.param === null ? [expr.expr] : [expr.expr, expr.param];
    case "BinaryExpr":
      return [expr.lhs, expr.rhs];
    case "Call":
      return expr.args;
    case "SubqueryExpr":
    case "ParenExpr":
    case "UnaryExpr":
      return [expr.expr];
    case "MatrixSelector":
      return [expr.vectorSelector];
    default:
      return [];
  }
}

/**
 * Visits `expr` and its descendants depth-first; `fn` receives each node and the path of its
 * ancestors (outermost first). Returning false from `fn` skips that node's children.
 */
export function inspect(
  expr: Expr,
  fn: (node: Expr, path: readonly Expr[]) => boolean | void,
  path: Expr[] = [],
): void {
  if (fn(expr, path) === false) return;
  path.push(expr);
  for (const c of children(expr)) inspect(c, fn, path);
  path.pop();
}

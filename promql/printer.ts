// PromQL expressions back to text, as Prometheus's `Expr.String()` prints them (used in API
// errors, rule listings and round-trip tests): canonical spacing, sorted matchers, Go numbers.

import { formatDuration } from "../tsdb/duration.ts";
import { compareStrings } from "../tsdb/labels.ts";
import { MatchType } from "../tsdb/matchers.ts";
import { formatGoFloat } from "../strconv/float.ts";
import { goQuote } from "../strconv/quote.ts";
import type {
  AggregateExpr,
  BinaryExpr,
  Expr,
  MatrixSelector,
  StartOrEnd,
  SubqueryExpr,
  VectorSelector,
} from "./ast.ts";

function atString(timestamp: number | null, startOrEnd: StartOrEnd): string {
  if (timestamp !== null) return ` @ ${(timestamp / 1000).toFixed(3)}`;
  if (startOrEnd === "start") return " @ start()";
  if (startOrEnd === "end") return " @ end()";
  return "";
}

function offsetString(offset: number): string {
  if (offset > 0) return ` offset ${formatDuration(offset)}`;
  if (offset < 0) return ` offset -${formatDuration(-offset)}`;
  return "";
}

function vectorSelectorString(vs: VectorSelector, withModifiers: boolean): string {
  const parts: string[] = [];
  for (const m of vs.matchers) {
    // the name written outside the braces is not repeated inside them
    if (m.name === "__name__" && m.type === MatchType.Equal && m.value === vs.name) continue;
    parts.push(m.toString());
  }
  const mods = withModifiers ? atString(vs.timestamp, vs.startOrEnd) + offsetString(vs.offset) : "";
  if (parts.length === 0) return vs.name + mods;
  parts.sort(compareStrings);
  return `${vs.name}{${parts.join(",")}}${mods}`;
}

function matrixSelectorString(ms: MatrixSelector): string {
  const vs = ms.vectorSelector;
  return `${vectorSelectorString(vs, false)}[${formatDuration(ms.range)}]` +
    atString(vs.timestamp, vs.startOrEnd) + offsetString(vs.offset);
}

function subqueryString(sq: SubqueryExpr): string {
  const step = sq.step !== 0 ? formatDuration(sq.step) : "";
  return `${exprToString(sq.expr)}[${formatDuration(sq.range)}:${step}]` +
    atString(sq.timestamp, sq.startOrEnd) + offsetString(sq.offset);
}

function aggregateString(a: AggregateExpr): string {
  let s: string = a.op;
  if (a.without) s += ` without (${a.grouping.join(", ")}) `;
  else if (a.grouping.length > 0) s += ` by (${a.grouping.join(", ")}) `;
  s += "(";
  if (a.param !== null) s += exprToString(a.param) + ", ";
  return s + exprToString(a.expr) + ")";
}

/** ` op[ bool][ matching] rhs` of one binary expression. */
function binaryTail(b: BinaryExpr): string {
  let matching = "";
  const vm = b.vectorMatching;
  if (vm !== null && (vm.matchingLabels.length > 0 || vm.on)) {
    matching = ` ${vm.on ? "on" : "ignoring"} (${vm.matchingLabels.join(", ")})`;
    if (vm.card === "many-to-one" || vm.card === "one-to-many") {
      const side = vm.card === "many-to-one" ? "left" : "right";
      matching += ` group_${side} (${vm.include.join(", ")})`;
    }
  }
  const bool = b.returnBool ? " bool" : "";
  return ` ${b.op}${bool}${matching} ${exprToString(b.rhs)}`;
}

function binaryString(top: BinaryExpr): string {
  // iterative along the left spine: long `a + b + …` chains must not exhaust the stack
  const spine: BinaryExpr[] = [];
  let e: Expr = top;
  while (e.kind === "BinaryExpr") {
    spine.push(e);
    e = e.lhs;
  }
  let s = exprToString(e);
  for (let i = spine.length - 1; i >= 0; i--) s += binaryTail(spine[i]);
  return s;
}

/** Prometheus's canonical text of `expr`; parsing it again gives the same tree. */
export function exprToString(expr: Expr): string {
  switch (expr.kind) {
    case "NumberLiteral":
      return formatGoFloat(expr.val);
    case "StringLiteral":
      return goQuote(expr.val);
    case "VectorSelector":
      return vectorSelectorString(expr, true);
    case "MatrixSelector":
      return matrixSelectorString(expr);
    case "SubqueryExpr":
      return subqueryString(expr);
    case "Call":
      return `${expr.func.name}(${expr.args.map(exprToString).join(", ")})`;
    case "AggregateExpr":
      return aggregateString(expr);
    case "BinaryExpr":
      return binaryString(expr);
    case "UnaryExpr":
      return expr.op + exprToString(expr.expr);
    case "ParenExpr":
      return `(${exprToString(expr.expr)})`;
  }
}

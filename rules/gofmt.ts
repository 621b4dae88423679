// Go's fmt verbs as Prometheus rule templates use them (`printf`, `%.4g` in the humanize
// functions, `%v` printing of values): https://pkg.go.dev/fmt and the rounding/threshold rules of
// strconv.FormatFloat ('g' with a precision: exponent form when exp < -4 or exp ≥ precision,
// trailing zeros removed).

import { formatGoFloat } from "../strconv/float.ts";
import { goQuote } from "../strconv/quote.ts";

/** Decimal digits (no trailing zeros) and decimal point position of |v| rounded to `prec`. */
function roundedDigits(v: number, prec: number): { digits: string; dp: number } {
  const s = Math.abs(v).toExponential(Math.max(0, Math.min(100, prec - 1)));
  const e = s.indexOf("e");
  const digits = s.slice(0, e).replace(".", "").replace(/0+$/, "") || "0";
  return { digits, dp: Number(s.slice(e + 1)) + 1 };
}

function special(v: number): string | null {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return null;
}

function expPart(exp: number): string {
  const a = Math.abs(exp);
  return `e${exp < 0 ? "-" : "+"}${a < 10 ? "0" : ""}${a}`;
}

/** Go's `%.<prec>g` (prec < 0: shortest, as `%g`/`%v`). */
export function formatG(v: number, prec = -1): string {
  const sp = special(v);
  if (sp !== null) return sp;
  if (prec < 0) return formatGoFloat(v);
  if (prec === 0) prec = 1;
  const sign = v < 0 || Object.is(v, -0) ? "-" : "";
  if (v === 0) return sign + "0";
  const { digits, dp } = roundedDigits(v, prec);
  let eprec = prec;
  if (eprec > digits.length && digits.length >= dp) eprec = digits.length;
  const exp = dp - 1;
  if (exp < -4 || exp >= eprec) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return sign + mant + expPart(exp);
  }
  if (dp <= 0) return `${sign}0.${"0".repeat(-dp)}${digits}`;
  if (dp >= digits.length) return sign + digits + "0".repeat(dp - digits.length);
  return `${sign}${digits.slice(0, dp)}.${digits.slice(dp)}`;
}

/** Go's `%.<prec>e` (default precision 6). */
export function formatE(v: number, prec = 6): string {
  const sp = special(v);
  if (sp !== null) return sp;
  const s = v.toExponential(Math.min(100, prec));
  const e = s.indexOf("e");
  return s.slice(0, e) + expPart(Number(s.slice(e + 1)));
}

/** Go's `%.<prec>f` (default precision 6). */
export function formatF(v: number, prec = 6): string {
  const sp = special(v);
  if (sp !== null) return sp;
  if (Math.abs(v) >= 1e21) {
    const big = BigInt(Math.round(v)).toString();
    return prec > 0 ? `${big}.${"0".repeat(prec)}` : big;
  }
  return v.toFixed(Math.min(100, prec));
}

/** A value as Go's `%v` prints it: maps as `map[k:v …]` (sorted keys), slices as `[a b]`. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return "<no value>";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatGoFloat(v);
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(" ")}]`;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o.constructor === Object) {
      const keys = Object.keys(o).sort();
      return `map[${keys.map((k) => `${k}:${formatValue(o[k])}`).join(" ")}]`;
    }
    return `{${Object.values(o).map(formatValue).join(" ")}}`;
  }
  return String(v);
}

function goTypeName(v: unknown): string {
  if (typeof v === "number") return "float64";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  if (v === null || v === undefined) return "<nil>";
  if (Array.isArray(v)) return "[]interface {}";
  return "map[string]string";
}

/** Go's `fmt.Sprintf` for the verbs templates use: %v %s %q %d %f %e %g %x %t %%. */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = "";
  let ai = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== "%") {
      out += c;
      continue;
    }
    const m = /^([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])/.exec(format.slice(i + 1));
    if (m === null) {
      out += "%!(NOVERB)";
      break;
    }
    i += m[0].length;
    const [, flags, widthS, precS, verb] = m;
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (ai >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const a = args[ai++];
    const prec = precS === undefined ? -1 : precS === "" ? 0 : Number(precS);
    let s: string;
    const bad = () => `%!${verb}(${goTypeName(a)}=${formatValue(a)})`;
    switch (verb) {
      case "v":
        s = formatValue(a);
        break;
      case "s":
        s = typeof a === "number" || typeof a === "boolean" ? bad() : formatValue(a);
        if (prec >= 0 && typeof a === "string") s = [...s].slice(0, prec).join("");
        break;
      case "q":
        s = typeof a === "string" ? goQuote(a) : bad();
        break;
      case "t":
        s = typeof a === "boolean" ? String(a) : bad();
        break;
      case "d":
        s = typeof a === "number" && Number.isInteger(a) ? String(a) : bad();
        break;
      case "x":
      case "X":
        if (typeof a === "number" && Number.isInteger(a)) s = a.toString(16);
        else if (typeof a === "string") {
          s = [...new TextEncoder().encode(a)].map((b) => b.toString(16).padStart(2, "0")).join(
            "",
          );
        } else s = bad();
        if (verb === "X") s = s.toUpperCase();
        break;
      case "f":
      case "F":
        s = typeof a === "number" ? formatF(a, prec < 0 ? 6 : prec) : bad();
        break;
      case "e":
      case "E":
        s = typeof a === "number" ? formatE(a, prec < 0 ? 6 : prec) : bad();
        if (verb === "E") s = s.toUpperCase();
        break;
      case "g":
      case "G":
        s = typeof a === "number" ? formatG(a, prec) : bad();
        if (verb === "G") s = s.toUpperCase();
        break;
      default:
        s = bad();
    }
    if (flags.includes("+") && typeof a === "number" && a >= 0 && "fFeEgGd".includes(verb)) {
      s = "+" + s;
    }
    const width = widthS === undefined ? 0 : Number(widthS);
    if (s.length < width) {
      const pad = width - s.length;
      if (flags.includes("-")) s += " ".repeat(pad);
      else if (flags.includes("0") && typeof a === "number") {
        const neg = /^[-+]/.test(s) ? s[0] : "";
        s = neg + "0".repeat(pad) + s.slice(neg.length);
      } else s = " ".repeat(pad) + s;
    }
    out += s;
  }
  if (ai < args.length) {
    out += `%!(EXTRA ${
      args.slice(ai).map((a) => `${goTypeName(a)}=${formatValue(a)}`).join(", ")
    })`;
  }
  return out;
}

// Go-compatible float formatting: %g, strconv.FormatFloat (f, e), %f, and sample values as the
// Prometheus API prints them.

/**
 * Formats a float as Go's `fmt.Sprint(float64)` (`%v`, which is `%g`): shortest round-trip
 * digits, exponent form when the decimal exponent is < -4 or ≥ 6 (`1.234567e+06`, `1e-05`),
 * `NaN`, `+Inf`, `-Inf`, `-0`. What PromQL's `Expr.String()` prints for number literals and
 * `promtool tsdb dump` prints per sample.
 */
export function formatGoFloat(v: number): string {
  if (v !== v) return "NaN";
  const a = v < 0 ? -v : v;
  // In this range JS's shortest form is fixed notation, exactly as Go's %g prints it; it is
  // the common case on the dump path, so it avoids building the exponent form.
  if (a >= 1e-4 && a < 1e6) return String(v);
  if (a === 0) return Object.is(v, -0) ? "-0" : "0";
  if (a === Infinity) return v > 0 ? "+Inf" : "-Inf";
  const s = v.toExponential(); // shortest digits, e.g. "1.2345e+21", "-5e-324"
  const e = s.indexOf("e");
  const exp = s.charCodeAt(e + 1) === 45 /* - */ ? "-" : "+";
  const digits = s.slice(e + 2);
  return `${s.slice(0, e)}e${exp}${digits.length < 2 ? "0" : ""}${digits}`;
}

/** Splits |v| (finite, non-zero) into its shortest round-trip decimal digits and exponent. */
function shortestDigits(v: number): { digits: string; exp: number } {
  // toExponential() without an argument yields the shortest digits that round-trip, the same
  // digits Go's strconv chooses for precision -1 (both pick the closest shortest candidate).
  const s = Math.abs(v).toExponential();
  const e = s.indexOf("e");
  const mant = s.slice(0, e).replace(".", "");
  return { digits: mant, exp: Number(s.slice(e + 1)) };
}

/**
 * Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with Prometheus' spellings of the specials:
 * `NaN`, `+Inf`, `-Inf`; `-0` for negative zero. Never uses exponent notation
 * (1e21 → "1000000000000000000000", 1e-7 → "0.0000001").
 */
export function formatFloatGo(v: number): string {
  // JS prints fixed notation with the same shortest round-trip digits in [1e-6, 1e21): the
  // common case (every sample value of an API answer) needs no digit splitting
  const a = v < 0 ? -v : v;
  if (a >= 1e-6 && a < 1e21) return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const { digits, exp } = shortestDigits(v);
  const sign = v < 0 ? "-" : "";
  const point = exp + 1; // digits before the decimal point
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Go's `strconv.FormatFloat(v, 'e', -1, 64)` (exponent has a sign and at least two digits). */
export function formatFloatGoExp(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0e+00" : "0e+00";
  const { digits, exp } = shortestDigits(v);
  const sign = v < 0 ? "-" : "";
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const ae = Math.abs(exp);
  return `${sign}${mant}e${exp < 0 ? "-" : "+"}${ae < 10 ? "0" : ""}${ae}`;
}

/**
 * A sample value as the Prometheus HTTP API writes it inside vector/matrix results
 * (`util/jsonutil.MarshalValue`): 'e' format when 0 < |v| < 1e-6 or |v| ≥ 1e21, else 'f'.
 */
export function formatSampleValue(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-6 || a >= 1e21) && Number.isFinite(v)) return formatFloatGoExp(v);
  return formatFloatGo(v);
}

/**
 * Go's `%f` verb (6 decimals), used in Prometheus error messages such as holt_winters'
 * "invalid smoothing factor. Expected: 0 < sf < 1, got: %f".
 */
export function formatGoPercentF(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return v.toFixed(6);
}

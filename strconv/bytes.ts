// Byte sizes as Thanos writes them in flags and configs (`250MB`, `1GiB`, `512`): units are
// powers of 1024 whether written `MB` or `MiB`, as alecthomas/units.ParseBase2Bytes reads them
// (https://pkg.go.dev/github.com/alecthomas/units#ParseBase2Bytes).

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Bytes in `s`, or undefined when it is not a byte size. */
export function parseBase2Bytes(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(s.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

// Structured logging for every role: `--log.level` filters, `--log.format` picks logfmt or
// JSON. Lines go to stderr, like Thanos.

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Extra key/value pairs of a log line. */
export type LogFields = Record<string, unknown>;

const encoder = new TextEncoder();

function logfmtValue(v: unknown): string {
  let s: string;
  if (v instanceof Error) s = v.message;
  else if (typeof v === "string") s = v;
  else if (v instanceof Date) s = v.toISOString();
  else if (typeof v === "object" && v !== null) s = JSON.stringify(v);
  else s = String(v);
  return s === "" || /[\s"=\\]/.test(s) || /[^\x20-\x7e]/.test(s) ? JSON.stringify(s) : s;
}

/** A logger bound to a level, a format, and fields added to every line. */
export class Logger {
  constructor(
    readonly level: LogLevel = "info",
    readonly format: "logfmt" | "json" = "logfmt",
    private readonly fields: LogFields = {},
    private readonly sink: (line: string) => void = (line) =>
      Deno.stderr.writeSync(encoder.encode(line + "\n")),
  ) {}

  /** A logger that adds `fields` to each line. */
  with(fields: LogFields): Logger {
    return new Logger(this.level, this.format, { ...this.fields, ...fields }, this.sink);
  }

  debug(msg: string, fields?: LogFields): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log("error", msg, fields);
  }

  /** True when lines at `level` are written. */
  enabled(level: LogLevel): boolean {
    return SEVERITY[level] >= SEVERITY[this.level];
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const all: LogFields = { ts: new Date().toISOString(), level, ...this.fields, msg, ...fields };
    if (this.format === "json") {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(all)) o[k] = v instanceof Error ? v.message : v;
      this.sink(JSON.stringify(o));
    } else {
      this.sink(Object.entries(all).map(([k, v]) => `${k}=${logfmtValue(v)}`).join(" "));
    }
  }
}

// The config reloader (Thanos's
// https://github.com/thanos-io/thanos/blob/main/pkg/reloader/reloader.go, see
// https://thanos.io/tip/components/sidecar.md/#reloader-configuration): watches Prometheus's config
// file (optionally gzipped, with `$(VAR)` environment references substituted into an output file)
// and rule directories, and asks Prometheus to reload (`POST /-/reload`) when their contents
// change. Changes are noticed through file-system events and, as a fallback, by re-reading every
// watch interval.

import { Registry } from "../metrics/registry.ts";
import type { Logger } from "../logging/log.ts";
import { sleepUnlessAborted } from "../runutil/sleep.ts";

/** The config file references an environment variable that is not available. */
export class EnvSubstError extends Error {
  override name = "EnvSubstError";
}

/**
 * Replaces `$(NAME)` references with `lookup(NAME)`, like Thanos's reloader. An undefined
 * variable is an error naming it and `file`.
 */
export function expandEnv(
  text: string,
  lookup: (name: string) => string | undefined,
  file = "config",
): string {
  return text.replace(/\$\(([a-zA-Z_0-9]+)\)/g, (_m, name: string) => {
    let v: string | undefined;
    try {
      v = lookup(name);
    } catch (e) {
      throw new EnvSubstError(
        `${file}: cannot read environment variable ${name} referenced as $(${name}): ` +
          (e as Error).message,
      );
    }
    if (v === undefined) {
      throw new EnvSubstError(
        `${file}: found reference to unset environment variable "${name}" (as $(${name}))`,
      );
    }
    return v;
  });
}

const GZIP_MAGIC = [0x1f, 0x8b];

async function gunzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function sha256Hex(parts: readonly Uint8Array[]): Promise<string> {
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Options of {@link Reloader}. */
export interface ReloaderOptions {
  /** Watched config file (`--reloader.config-file`); "" for none. */
  configFile?: string;
  /** Where the env-substituted config is written (`--reloader.config-envsubst-file`). */
  configEnvsubstFile?: string;
  /** Watched rule directories (`--reloader.rule-dir`). */
  ruleDirs?: readonly string[];
  /** Re-read interval (`--reloader.watch-interval`, default 3m). */
  watchIntervalMs?: number;
  /** Delay between reload attempts after a failure (`--reloader.retry-interval`, default 5s). */
  retryIntervalMs?: number;
  /** Triggers the reload (POST /-/reload); throws on failure. */
  reload: (signal: AbortSignal) => Promise<void>;
  /** Environment lookup for `$(VAR)` references. */
  env: (name: string) => string | undefined;
  logger?: Logger;
  registry?: Registry;
}

/** Watches config and rules and triggers reloads; `run()` until the signal aborts. */
export class Reloader {
  private lastHash = "";
  private lastOutput: string | null = null;
  private readonly reloads;
  private readonly reloadFailures;
  private readonly applies;
  private readonly applyFailures;
  private readonly watchEvents;

  constructor(private readonly opts: ReloaderOptions) {
    const r = opts.registry ?? new Registry();
    this.reloads = r.counter({
      name: "reloader_reloads_total",
      help: "Total number of reload requests.",
    });
    this.reloadFailures = r.counter({
      name: "reloader_reloads_failed_total",
      help: "Total number of reload requests that failed.",
    });
    this.applies = r.counter({
      name: "reloader_config_apply_operations_total",
      help: "Total number of config apply operations.",
    });
    this.applyFailures = r.counter({
      name: "reloader_config_apply_operations_failed_total",
      help: "Total number of config apply operations that failed.",
    });
    this.watchEvents = r.counter({
      name: "reloader_watch_events_total",
      help: "Total number of events received.",
    });
    for (const c of [this.reloads, this.reloadFailures, this.applies, this.applyFailures]) {
      c.labels();
    }
    this.watchEvents.labels();
  }

  /**
   * Reads the watched files; when anything changed since the last successful apply, writes the
   * substituted config and triggers a reload. Resolves true when a reload was triggered;
   * throws when reading, substituting or reloading fails (the next apply retries).
   */
  async apply(signal: AbortSignal): Promise<boolean> {
    this.applies.inc();
    try {
      return await this.applyOnce(signal);
    } catch (e) {
      this.applyFailures.inc();
      throw e;
    }
  }

  private async applyOnce(signal: AbortSignal): Promise<boolean> {
    const parts: Uint8Array[] = [];
    const enc = new TextEncoder();
    const cfgFile = this.opts.configFile ?? "";
    let output: string | null = null;
    if (cfgFile !== "") {
      let raw: Uint8Array = await Deno.readFile(cfgFile);
      if (raw.length >= 2 && raw[0] === GZIP_MAGIC[0] && raw[1] === GZIP_MAGIC[1]) {
        raw = await gunzip(raw);
      }
      parts.push(enc.encode(`config\0${cfgFile}\0`), raw);
      if ((this.opts.configEnvsubstFile ?? "") !== "") {
        output = expandEnv(new TextDecoder().decode(raw), this.opts.env, cfgFile);
        parts.push(enc.encode(output));
      }
    }
    for (const dir of this.opts.ruleDirs ?? []) {
      const names: string[] = [];
      try {
        for await (const e of Deno.readDir(dir)) names.push(e.name);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      names.sort();
      for (const n of names) {
        const p = `${dir}/${n}`;
        let st: Deno.FileInfo;
        try {
          st = await Deno.stat(p); // follows symlinks (Kubernetes ConfigMaps)
        } catch {
          continue;
        }
        if (!st.isFile) continue;
        parts.push(enc.encode(`rule\0${p}\0`), await Deno.readFile(p));
      }
    }
    const hash = await sha256Hex(parts);
    if (hash === this.lastHash) return false;
    if (output !== null && output !== this.lastOutput) {
      // written in place: the role may write this one file, not a temp file beside it
      await Deno.writeTextFile(this.opts.configEnvsubstFile!, output);
      this.lastOutput = output;
    }
    this.reloads.inc();
    try {
      await this.opts.reload(signal);
    } catch (e) {
      this.reloadFailures.inc();
      throw e;
    }
    this.lastHash = hash;
    this.opts.logger?.info("Reload triggered", {
      cfg_in: cfgFile,
      cfg_out: this.opts.configEnvsubstFile ?? "",
      watched_dirs: (this.opts.ruleDirs ?? []).join(", "),
    });
    return true;
  }

  /** Applies now, then on every change or watch interval, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.opts.logger;
    const watchMs = this.opts.watchIntervalMs ?? 180_000;
    const retryMs = this.opts.retryIntervalMs ?? 5000;
    while (!signal.aborted) {
      let failed = false;
      try {
        await this.apply(signal);
      } catch (e) {
        if (signal.aborted) break;
        failed = true;
        log?.error("reloader: applying config failed, retrying", {
          err: (e as Error).message,
          retry_in: `${retryMs}ms`,
        });
      }
      await this.waitForChange(failed ? retryMs : watchMs, signal);
    }
  }

  /** Resolves after `ms`, or earlier when a watched path changes. */
  private async waitForChange(ms: number, signal: AbortSignal): Promise<void> {
    const paths = [
      ...((this.opts.configFile ?? "") !== "" ? [this.opts.configFile!] : []),
      ...(this.opts.ruleDirs ?? []),
    ];
    let watcher: Deno.FsWatcher | null = null;
    try {
      const existing: string[] = [];
      for (const p of paths) {
        try {
          await Deno.stat(p);
          existing.push(p);
        } catch { /* not there yet: the interval re-reads it */ }
      }
      if (existing.length > 0) watcher = Deno.watchFs(existing, { recursive: false });
    } catch (e) {
      this.opts.logger?.debug("reloader: file watching unavailable, polling only", {
        err: (e as Error).message,
      });
    }
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal.addEventListener("abort", stop, { once: true });
    const changed = (async () => {
      if (watcher === null) return await sleepUnlessAborted(ms, ac.signal);
      for await (const ev of watcher) {
        if (ev.kind === "access") continue;
        this.watchEvents.inc();
        // let the writer finish (editors write, rename, chmod in quick succession)
        await sleepUnlessAborted(100, ac.signal);
        return;
      }
    })();
    try {
      await Promise.race([sleepUnlessAborted(ms, ac.signal), changed]);
    } finally {
      signal.removeEventListener("abort", stop);
      ac.abort();
      try {
        watcher?.close();
      } catch { /* already closed */ }
      await changed.catch(() => {});
    }
  }
}

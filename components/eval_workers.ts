// The launcher's supervisor of the query role's PromQL evaluation Workers (query/eval_worker.ts,
// `--query.eval-workers`): starts them with the role's permissions (a role's Worker may not load
// modules), hands the role one end of a MessageChannel to each, and restarts a Worker that dies
// of an uncaught error, handing the role the new port (query/eval_pool.ts then fails the queries
// the dead Worker was evaluating). Restarts of one Worker are at least a second apart.

/** Minimum time between two starts of the same Worker (ms). */
const RESTART_INTERVAL_MS = 1000;

/** Options of {@link EvalWorkers}. */
export interface EvalWorkersOptions {
  /** The Worker module. */
  url: URL;
  count: number;
  permissions: Deno.PermissionOptionsObject;
  /** Reports a Worker's error (one line). */
  report: (index: number, message: string) => void;
}

/** The running evaluation Workers. */
export class EvalWorkers {
  readonly workers: Worker[] = [];
  readonly ports: MessagePort[] = [];
  /** Called with the port of a Worker restarted after a crash (set once the role runs). */
  onRestart?: (index: number, port: MessagePort, cause: string) => void;
  private readonly lastStart: number[] = [];
  private stopped = false;

  private constructor(private readonly opts: EvalWorkersOptions) {}

  /** Starts `count` Workers; resolves once each has loaded. */
  static async start(opts: EvalWorkersOptions): Promise<EvalWorkers> {
    const set = new EvalWorkers(opts);
    for (let i = 0; i < opts.count; i++) set.ports.push(await set.startOne(i));
    return set;
  }

  private async startOne(i: number): Promise<MessagePort> {
    this.lastStart[i] = Date.now();
    const w = new Worker(this.opts.url, {
      type: "module",
      name: `query-eval-${i}`,
      deno: { permissions: this.opts.permissions },
    });
    this.workers[i] = w;
    const ready = new Promise<void>((resolve) => {
      w.onmessage = (e: MessageEvent) => {
        if ((e.data as { type: string }).type === "ready") resolve();
      };
    });
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.opts.report(i, e.message);
      if (this.workers[i] === w) this.restart(i, e.message);
    };
    await ready;
    const ch = new MessageChannel();
    w.postMessage({ type: "port", port: ch.port1 }, [ch.port1]);
    return ch.port2;
  }

  private restart(i: number, cause: string): void {
    if (this.stopped) return;
    this.workers[i]?.terminate();
    const wait = Math.max(0, (this.lastStart[i] ?? 0) + RESTART_INTERVAL_MS - Date.now());
    setTimeout(async () => {
      if (this.stopped) return;
      let port: MessagePort;
      try {
        port = await this.startOne(i);
      } catch (e) {
        this.opts.report(i, `restart failed: ${(e as Error).message}`);
        return;
      }
      if (this.stopped) {
        this.workers[i]?.terminate();
        return;
      }
      this.ports[i] = port;
      this.onRestart?.(i, port, `crashed (${cause})`);
    }, wait);
  }

  /** Stops every Worker; no more restarts. */
  terminate(): void {
    this.stopped = true;
    for (const w of this.workers) w.terminate();
  }
}

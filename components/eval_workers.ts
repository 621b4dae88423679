// The launcher's side of the query role's PromQL evaluation Workers (query/eval_worker.ts,
// `--query.eval-workers`): starts one when the role's pool asks (query/eval_pool.ts starts them on
// demand and stops idle ones), with the role's permissions (a role's Worker may not load modules),
// and hands back one end of a MessageChannel to it. A Worker that dies of an uncaught error is
// reported and forgotten; the pool fails its queries and the next query starts another.

/** Options of {@link EvalWorkers}. */
export interface EvalWorkersOptions {
  /** The Worker module. */
  url: URL;
  /** Most Workers running at once. */
  max: number;
  permissions: Deno.PermissionOptionsObject;
  /** Reports a Worker's error (one line). */
  report: (id: number, message: string) => void;
}

/** The evaluation Workers the launcher runs, each known by an id never reused. */
export class EvalWorkers {
  /** Called when a started Worker died of an uncaught error (set once the role runs). */
  onExit?: (id: number, cause: string) => void;
  private readonly running = new Map<number, Worker>();
  /** Fails the start of a Worker still loading (it was stopped). */
  private readonly loading = new Map<number, (e: Error) => void>();
  private nextId = 1;
  private stopped = false;

  constructor(private readonly opts: EvalWorkersOptions) {}

  /** Most Workers running at once. */
  get max(): number {
    return this.opts.max;
  }

  /** How many Workers run (or are loading) now. */
  get count(): number {
    return this.running.size;
  }

  /**
   * Starts a Worker; resolves with its id and the port to it once it has loaded. Rejects when
   * `max` already run, after {@link terminate}, or when the Worker dies while loading.
   */
  async start(): Promise<{ id: number; port: MessagePort }> {
    if (this.stopped) throw new Error("evaluation workers are stopped");
    if (this.running.size >= this.opts.max) {
      throw new Error(`already ${this.running.size} evaluation workers (the most allowed)`);
    }
    const id = this.nextId++;
    const w = new Worker(this.opts.url, {
      type: "module",
      name: `query-eval-${id}`,
      deno: { permissions: this.opts.permissions },
    });
    this.running.set(id, w);
    let loaded = false;
    await new Promise<void>((resolve, reject) => {
      this.loading.set(id, reject);
      w.onmessage = (e: MessageEvent) => {
        if ((e.data as { type: string }).type !== "ready") return;
        loaded = true;
        resolve();
      };
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.opts.report(id, e.message);
        if (this.running.get(id) !== w) return;
        this.running.delete(id);
        w.terminate();
        if (loaded) this.onExit?.(id, e.message);
        else reject(new Error(`evaluation worker ${id} failed to load: ${e.message}`));
      };
    }).finally(() => this.loading.delete(id));
    const ch = new MessageChannel();
    w.postMessage({ type: "port", port: ch.port1 }, [ch.port1]);
    return { id, port: ch.port2 };
  }

  /** Stops Worker `id` (unknown ids are ignored: it may have died already). */
  stop(id: number): void {
    this.running.get(id)?.terminate();
    this.running.delete(id);
    this.loading.get(id)?.(new Error(`evaluation worker ${id} was stopped while loading`));
  }

  /** Stops every Worker; no more start. */
  terminate(): void {
    this.stopped = true;
    for (const id of [...this.running.keys()]) this.stop(id);
  }
}

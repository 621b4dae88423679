// What the profiling benchmarks share (bench/receive_profile.ts, bench/instant_profile.ts,
// bench/store_process_profile.ts): a role run in the main isolate of a child process (so the V8 inspector sees it; Deno's inspector
// does not list the launcher's role Worker), a minimal Chrome DevTools protocol client
// (https://chromedevtools.github.io/devtools-protocol/tot/Profiler/) and the split of a CPU
// profile's self time into named stages by function and file.

/**
 * In a child started with `--role-in-main-isolate <role…> <flags…>`: runs the role here (not in
 * the launcher's Worker) until SIGTERM, then exits. `words` is how many arguments name the
 * command (`["receive"]`: 1). A private argument of the benchmarks, never a flag of the product.
 */
export async function runRoleInMainIsolate(words: number): Promise<never> {
  const { RUN_TABLE } = await import("../components/run_table.ts");
  const { findCommand } = await import("../components/commands.ts");
  const { Flags, parseFlags } = await import("../components/flags.ts");
  const { Logger } = await import("../logging/log.ts");
  const cmd = Deno.args.slice(1, 1 + words);
  const argv = Deno.args.slice(1 + words);
  const spec = findCommand(cmd)!;
  const raw = parseFlags(spec, argv);
  const ac = new AbortController();
  Deno.addSignalListener("SIGTERM", () => ac.abort(new Error("stop")));
  const run = RUN_TABLE[cmd.join(" ") as keyof typeof RUN_TABLE];
  const code = await run(new Flags(spec, raw), {
    signal: ac.signal,
    logger: new Logger("warn"),
    stdout: (t: string) => void Deno.stdout.writeSync(new TextEncoder().encode(t)),
    onReload: () => {},
  });
  Deno.exit(code);
}

/**
 * Starts `script` (a benchmark whose first statement hands `--role-in-main-isolate` to
 * {@link runRoleInMainIsolate}) as a child running `roleArgs` (the command's words, then its
 * flags) in its main isolate, with the V8 inspector listening on `inspect`.
 */
export function spawnRoleUnderInspector(
  script: string,
  inspect: string,
  roleArgs: string[],
  stderr: "null" | "inherit" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--inspect=${inspect}`, script, "--role-in-main-isolate", ...roleArgs],
    stdin: "null",
    stdout: "null",
    stderr,
  }).spawn();
}

/** Waits until `http://<addr>/-/ready` answers 200, polling every 100 ms; throws after `tries`. */
export async function waitReady(addr: string, tries = 1200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    try {
      const r = await fetch(`http://${addr}/-/ready`);
      await r.body?.cancel();
      if (r.status === 200) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${addr}: not ready after ${tries} tries`);
}

/** A minimal CDP client over the inspector's WebSocket. */
export class Cdp {
  private id = 0;
  private readonly waiting = new Map<number, (r: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data as string) as { id?: number; result?: unknown; error?: unknown };
      if (m.id !== undefined) {
        this.waiting.get(m.id)?.(m.error ? Promise.reject(m.error) : m.result);
        this.waiting.delete(m.id);
      }
    };
  }
  /** Connects to the first target of the inspector at `host:port`. */
  static async connectInspector(hostPort: string): Promise<Cdp> {
    const list = await (await fetch(`http://${hostPort}/json/list`)).json() as {
      webSocketDebuggerUrl: string;
    }[];
    return await Cdp.connect(list[0].webSocketDebuggerUrl);
  }
  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    return new Cdp(ws);
  }
  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.id;
    return new Promise<T>((r) => {
      this.waiting.set(id, r as (x: unknown) => void);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  close(): void {
    this.ws.close();
  }
}

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A stage and the test of a profile node's function and file that puts it there. */
export type Stage = [string, (fn: string, url: string) => boolean];

/** Self time per function (`name file:line`, ms), for a top list. */
export function byFunction(p: Profile): Map<string, number> {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const { functionName: fn, url, lineNumber } = byId.get(p.samples[i])!.callFrame;
    const k = `${fn || "(anonymous)"} ${
      url.replace(/^.*\/rxperf\//, "").replace(/^file:\/\/.*?\/(?=[a-z]+\/[a-z_0-9]+\.ts$)/, "")
    }:${lineNumber + 1}`;
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

/**
 * Self time per stage (ms): the first matching stage of a node, else (builtins, native frames)
 * the stage of its nearest attributed caller.
 */
export function breakdown(p: Profile, stages: Stage[]): Map<string, number> {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, string>();
  const resolve = (id: number): string => {
    const hit = stageOf.get(id);
    if (hit !== undefined) return hit;
    const n = byId.get(id)!;
    const { functionName: fn, url } = n.callFrame;
    let s = stages.find(([, f]) => f(fn, url))?.[0];
    if (s === undefined) {
      const up = parent.get(id);
      s = up === undefined ? "other" : resolve(up);
      if (s === "(idle)" || s === "GC" || s.startsWith("(program")) s = "other";
    }
    stageOf.set(id, s);
    return s;
  };
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const s = resolve(p.samples[i]);
    out.set(s, (out.get(s) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

/** User + system CPU seconds of process `pid` so far. */
export function cpuSeconds(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** One thread's schedstat: ns on CPU, ns runnable waiting, time slices. */
export type Sched = [number, number, number];

/**
 * Each live thread of process `pid` with its name and schedstat (/proc/<pid>/task/<tid>/schedstat:
 * exact nanoseconds, unlike the 10 ms ticks of {@link cpuSeconds}). Threads that ended are not
 * listed (their time is lost to a before/after difference).
 */
export function threadSchedstats(pid: number): Map<number, { comm: string; sched: Sched }> {
  const out = new Map<number, { comm: string; sched: Sched }>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const comm = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/comm`).trim();
      const f = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/schedstat`).trim().split(" ");
      out.set(Number(e.name), { comm, sched: [Number(f[0]), Number(f[1]), Number(f[2])] });
    } catch { /* the thread ended */ }
  }
  return out;
}

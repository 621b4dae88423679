// Fixtures of the UI tests: HA-pair buckets (the demo's writer), real `thanos store` and
// `thanos query` processes over it, and (while the querier does not mount the UI yet) a small
// front server that serves `uiRoutes` and forwards everything else to the querier.

export { writeRegionPair } from "../../scripts/demo.ts";
import { uiRoutes } from "../../ui/routes.ts";
import { freePort } from "../helpers/ports.ts";
import { directRequestInfo } from "../../server/http.ts";
import { runMainArgs } from "../helpers/thanos.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A child process with its output kept for error messages. */
export class Child {
  private out = "";
  private done = false;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(readonly name: string, readonly proc: Deno.ChildProcess) {
    const td = new TextDecoder();
    const drain = async (s: ReadableStream<Uint8Array>) => {
      for await (const b of s) {
        this.out += td.decode(b, { stream: true });
        if (this.out.length > 400_000) this.out = this.out.slice(-200_000);
      }
    };
    drain(proc.stdout).catch(() => {});
    drain(proc.stderr).catch(() => {});
    this.status = proc.status.then((s) => {
      this.done = true;
      return s;
    });
  }

  /** Output so far (stdout and stderr interleaved). */
  output(): string {
    return this.out;
  }

  get exited(): boolean {
    return this.done;
  }

  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000, signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (!this.done) {
      try {
        this.proc.kill(signal);
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([
        this.status.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), graceMs)),
      ]);
      clearTimeout(timer);
      if (late && !this.done) {
        try {
          this.proc.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }
    return await this.status;
  }
}

/** Starts `deno run -A main.ts <args>` in the repository root. */
export function spawnThanos(name: string, args: string[]): Child {
  const proc = new Deno.Command(Deno.execPath(), {
    args: [...runMainArgs(), ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Child(name, proc);
}

/** Polls `probe` every 100 ms until true, at most `timeoutMs`; throws with `child`'s output. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  child: Child | null,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 2000 && Date.now() < deadline; i++) {
    if (child?.exited) break;
    try {
      if (await probe()) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} did not happen within ${timeoutMs} ms` +
      (child ? `; ${child.name} output:\n${child.output().slice(-4000)}` : ""),
  );
}

/** True when GET `url` answers 200 (body discarded). */
export async function answers200(url: string): Promise<boolean> {
  const r = await fetch(url);
  await r.body?.cancel();
  return r.status === 200;
}

/** FILESYSTEM objstore config for `--objstore.config`. */
export function fsBucketConfig(dir: string): string {
  return JSON.stringify({ type: "FILESYSTEM", config: { directory: dir } });
}

/** A running store gateway. */
export interface RunningStore {
  child: Child;
  grpc: string;
  http: string;
}

/** Starts `thanos store` over a FILESYSTEM bucket; resolves when `/-/ready` is 200. */
export async function startStoreGateway(bucketDir: string, dataDir: string): Promise<RunningStore> {
  const http = `127.0.0.1:${freePort()}`;
  const grpc = `127.0.0.1:${freePort()}`;
  const child = spawnThanos(`store ${bucketDir}`, [
    "store",
    `--objstore.config=${fsBucketConfig(bucketDir)}`,
    `--data-dir=${dataDir}`,
    `--http-address=${http}`,
    `--grpc-address=${grpc}`,
    "--http-grace-period=1s",
    "--grpc-grace-period=1s",
    "--log.level=warn",
  ]);
  try {
    await waitUntil("store ready", () => answers200(`http://${http}/-/ready`), child, 60_000);
  } catch (e) {
    await child.stop();
    throw e;
  }
  return { child, grpc, http };
}

/** A running querier. */
export interface RunningQuerier {
  child: Child;
  url: string;
}

/** Starts `thanos query` over `stores` with `extra` flags; resolves when ready. */
export async function startQuerier(stores: string[], extra: string[]): Promise<RunningQuerier> {
  const http = `127.0.0.1:${freePort()}`;
  const grpc = `127.0.0.1:${freePort()}`;
  const child = spawnThanos("query", [
    "query",
    `--http-address=${http}`,
    `--grpc-address=${grpc}`,
    "--http-grace-period=1s",
    "--grpc-grace-period=1s",
    "--log.level=warn",
    ...stores.map((s) => `--store=${s}`),
    ...extra,
  ]);
  try {
    await waitUntil("querier ready", () => answers200(`http://${http}/-/ready`), child, 60_000);
  } catch (e) {
    await child.stop();
    throw e;
  }
  return { child, url: `http://${http}` };
}

/** A small HTTP server in this process. */
export interface FrontServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `uiRoutes({routePrefix})` under `routePrefix` and answers every other path with
 * `fallback` (a proxy to the querier, or canned JSON).
 */
export function startUiFront(
  routePrefix: string,
  fallback: (req: Request) => Promise<Response> | Response,
): FrontServer {
  const routes = uiRoutes({ routePrefix }).map((r) => ({
    r,
    pattern: new URLPattern({ pathname: routePrefix + r.path }),
  }));
  const ac = new AbortController();
  let port = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: (a) => port = a.port },
    async (req) => {
      const url = new URL(req.url);
      for (const { r, pattern } of routes) {
        const m = pattern.exec({ pathname: url.pathname });
        if (!m) continue;
        const params: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.pathname.groups)) if (v) params[k] = v;
        return await r.handler(req, params, directRequestInfo(req, params, ""));
      }
      return await fallback(req);
    },
  );
  return {
    url: `http://127.0.0.1:${port || (server.addr as Deno.NetAddr).port}`,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

/** Forwards a request to `upstream` (same path and query). */
export function proxyTo(upstream: string): (req: Request) => Promise<Response> {
  return async (req) => {
    const u = new URL(req.url);
    const r = await fetch(`${upstream}${u.pathname}${u.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
    });
    // fetch already decoded the body: drop the encoding headers that described the wire
    const headers = new Headers(r.headers);
    headers.delete("content-encoding");
    headers.delete("content-length");
    return new Response(r.body, { status: r.status, headers });
  };
}

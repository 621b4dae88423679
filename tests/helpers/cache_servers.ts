// Real cache servers for tests: Debian's `memcached` and `redis-server`, each started on a free
// 127.0.0.1 port and stopped (by its own pid) when the test ends.

import { freePort } from "./ports.ts";
import { Proc } from "./thanos.ts";

/** The memcached binary (Debian package `memcached`). */
export const MEMCACHED = "memcached";
/** The redis binary (Debian package `redis-server`). */
export const REDIS = "redis-server";

/** A running cache server. */
export interface CacheServer {
  proc: Proc;
  port: number;
  /** `127.0.0.1:<port>` */
  address: string;
  stop(): Promise<void>;
}

async function waitConnect(p: Proc, port: number): Promise<void> {
  await p.waitFor(
    async () => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return true;
    },
    "startup",
    15_000,
  );
}

function spawn(cmd: string, args: string[], port: number, name: string): Proc {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .spawn();
  return new Proc(child, port, name);
}

/** Starts memcached (64 MB, 1 MB items) on a free port, or on `port`. */
export async function startMemcached(port = freePort()): Promise<CacheServer> {
  const args = ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-m", "64"];
  if (Deno.uid?.() === 0) args.push("-u", "nobody");
  const proc = spawn(MEMCACHED, args, port, "memcached");
  await waitConnect(proc, port);
  return { proc, port, address: `127.0.0.1:${port}`, stop: () => proc.stop(3000, "SIGKILL") };
}

/** Starts redis-server without persistence on a free port, or on `port`; extra config args. */
export async function startRedis(port = freePort(), extra: string[] = []): Promise<CacheServer> {
  const proc = spawn(
    REDIS,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      ...extra,
    ],
    port,
    "redis",
  );
  await waitConnect(proc, port);
  return { proc, port, address: `127.0.0.1:${port}`, stop: () => proc.stop(3000, "SIGKILL") };
}

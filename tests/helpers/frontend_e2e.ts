// Pieces of the query frontend's e2e tests: `thanos query-frontend` started as a process, and a
// recording proxy between it and the querier that counts downstream requests (path and
// parameters) and can answer 5xx a given number of times.

import { freePort } from "./ports.ts";
import { answers200, spawnMain, type ThanosProc } from "./thanos.ts";

/** Starts `thanos query-frontend` with `flags`; resolves once `/-/ready` is 200. */
export async function startFrontend(flags: string[], name = "query-frontend"): Promise<ThanosProc> {
  const http = freePort();
  const p = spawnMain(
    [
      "query-frontend",
      `--http-address=127.0.0.1:${http}`,
      "--http-grace-period=1s",
      "--log.level=warn",
      ...flags,
    ],
    http,
    name,
  );
  const tp = Object.assign(p, { http: `http://127.0.0.1:${http}`, grpc: "" });
  await p.waitFor(() => answers200(`${tp.http}/-/ready`), "start (/-/ready)");
  return tp;
}

/** One request the proxy saw. */
export interface SeenRequest {
  path: string;
  params: URLSearchParams;
}

/** A recording proxy in front of the querier. */
export interface RecordingProxy {
  url: string;
  seen: SeenRequest[];
  /** The next `n` API requests are answered with `status` (not forwarded). */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

/** Starts a recording proxy forwarding to `target` (e.g. the querier's URL). */
export function startRecordingProxy(target: string): RecordingProxy {
  const seen: SeenRequest[] = [];
  let failing = 0;
  let failStatus = 500;
  const port = freePort();
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const u = new URL(req.url);
      let params = u.searchParams;
      let body: string | undefined;
      if (req.method === "POST") {
        body = await req.text();
        params = new URLSearchParams([...u.searchParams, ...new URLSearchParams(body)]);
      }
      if (u.pathname.startsWith("/api/")) {
        seen.push({ path: u.pathname, params });
        if (failing > 0) {
          failing--;
          return new Response(
            `{"status":"error","errorType":"internal","error":"injected ${failStatus}"}`,
            { status: failStatus, headers: { "content-type": "application/json" } },
          );
        }
      }
      const r = await fetch(target + u.pathname + u.search, {
        method: req.method,
        headers: req.headers,
        body,
      });
      return new Response(await r.arrayBuffer(), { status: r.status, headers: r.headers });
    },
  );
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    failNext(n: number, status: number) {
      failing = n;
      failStatus = status;
    },
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

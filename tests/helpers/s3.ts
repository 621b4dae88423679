// The S3 test peer: npm s3rver in a Deno child process on 127.0.0.1 with a fresh data directory,
// the bucket config YAML pointing at it, and a fault-injecting HTTP proxy to put in front of it.
// Shared by the objstore, store, sidecar tests and the objstore benchmark.

import { npmPeerMissing, peerGate, startChildPeer } from "./child_peer.ts";

/** Pinned version of the S3 server used by the tests. */
export const S3RVER_VERSION = "3.7.1";
/** Bucket the server creates at start. */
export const TEST_BUCKET = "thanos-test";

const SERVER_SCRIPT = `
import S3rver from "npm:s3rver@${S3RVER_VERSION}";
const dir = Deno.args[0];
const srv = new S3rver({
  port: 0, address: "127.0.0.1", directory: dir, silent: true,
  // The fault proxy forwards requests with its own Host header, which breaks SigV4 checks.
  allowMismatchedSignatures: true,
  configureBuckets: [{ name: "${TEST_BUCKET}" }],
});
const info = await srv.run();
console.log(JSON.stringify({ port: info.port }));
Deno.addSignalListener("SIGTERM", async () => { await srv.close(); Deno.exit(0); });
`;

/** A running s3rver child process. */
export interface S3Server {
  /** `127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Stops the server (idempotent). */
  stop(): Promise<void>;
}

let missing: Promise<string | null> | undefined;

/**
 * Null when the s3rver package can be loaded (downloaded once from the npm registry), else a
 * sentence saying it cannot. Probed once per process.
 */
export function s3rverMissing(): Promise<string | null> {
  missing ??= npmPeerMissing(
    ["eval", `await import("npm:s3rver@${S3RVER_VERSION}"); console.log("ok");`],
    "ok",
    `s3rver@${S3RVER_VERSION} cannot be loaded (npm registry unreachable?)`,
    120_000,
  );
  return missing;
}

/**
 * Ignore flag for `Deno.test` tests needing s3rver. Throws when it is missing and REQUIRE_E2E=1
 * (absence must not pass silently there); otherwise warns and returns `ignore: true`.
 */
export async function s3TestGate(): Promise<{ ignore: boolean }> {
  return peerGate(await s3rverMissing(), "S3");
}

/** Starts s3rver on a free port with a fresh data directory; `stop()` it in `finally`. */
export async function startS3Server(): Promise<S3Server> {
  const dir = await Deno.makeTempDir({ prefix: "thanos-s3rver-" });
  const script = `${dir}/server.ts`;
  const data = `${dir}/data`;
  await Deno.mkdir(data);
  await Deno.writeTextFile(script, SERVER_SCRIPT);
  const peer = await startChildPeer({
    name: "s3rver",
    args: ["run", "-A", "--unsafe-proto", script, data],
    dir,
    ready: (out) => out.includes("\n"),
    timeoutMs: 60_000,
  });
  const { port } = JSON.parse(peer.banner.split("\n")[0]) as { port: number };
  return { endpoint: `127.0.0.1:${port}`, port, stop: peer.stop };
}

/** YAML of an S3 bucket config for the test server; `extra` is appended verbatim. */
export function s3ConfigYaml(endpoint: string, extra = ""): string {
  return `type: S3
config:
  bucket: ${TEST_BUCKET}
  endpoint: ${endpoint}
  region: us-east-1
  access_key: S3RVER
  secret_key: S3RVER
  insecure: true
  bucket_lookup_type: path
${extra}`;
}

/** An S3-style XML error response. */
export function s3Error(status: number, code: string): Response {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code>` +
      `<Message>injected by the test proxy</Message></Error>`,
    { status, headers: { "content-type": "application/xml" } },
  );
}

/** What the fault proxy does with one request. */
export type FaultDecision = Response | "forward" | "drop" | "hang";

/** A recorded request. */
export interface ProxiedRequest {
  method: string;
  path: string;
  search: string;
  /** Status answered; 0 while in flight (or held by "hang"), -1 when dropped. */
  status: number;
}

/** An HTTP proxy on 127.0.0.1 that forwards to an upstream and can inject faults. */
export interface FaultProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  /** Decides per request; default forwards everything. */
  fault: (req: Request, url: URL) => FaultDecision;
  /** Number of requests currently held by "hang". */
  hanging: number;
  close(): Promise<void>;
}

/** Starts a fault-injecting proxy in front of `upstream` (`host:port`); `close()` it in `finally`. */
export function startFaultProxy(upstream: string): FaultProxy {
  const ac = new AbortController();
  const proxy: FaultProxy = {
    endpoint: "",
    requests: [],
    fault: () => "forward",
    hanging: 0,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const rec: ProxiedRequest = {
        method: req.method,
        path: url.pathname,
        search: url.search,
        status: 0,
      };
      proxy.requests.push(rec);
      const d = proxy.fault(req, url);
      if (d instanceof Response) {
        await req.body?.cancel();
        rec.status = d.status;
        return d;
      }
      if (d === "hang") {
        // Never answers (until the proxy closes): the client's deadline must fire.
        proxy.hanging++;
        await new Promise<void>((resolve) => {
          if (ac.signal.aborted) resolve();
          ac.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        proxy.hanging--;
        await req.body?.cancel();
        return new Response(null, { status: 503 });
      }
      if (d === "drop") {
        await req.body?.cancel();
        rec.status = -1;
        // Reset the connection: the client sees a network error.
        throw new Error("fault proxy: dropped request");
      }
      const headers = new Headers(req.headers);
      headers.delete("host");
      const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
      const res = await fetch(`http://${upstream}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
        redirect: "manual",
      });
      rec.status = res.status;
      const out = new Uint8Array(await res.arrayBuffer());
      return new Response(req.method === "HEAD" ? null : out, {
        status: res.status,
        headers: res.headers,
      });
    },
  );
  proxy.endpoint = `127.0.0.1:${server.addr.port}`;
  return proxy;
}

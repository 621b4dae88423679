// An HTTPS server that requires and verifies client certificates (mutual TLS), for endpoints
// whose Thanos flags name a client CA (receive's `--remote-write.server-tls-client-ca`: Go's
// `tls.RequireAndVerifyClientCert`). Deno.serve cannot request client certificates; the
// runtime's node:https server can (https://docs.deno.com/api/node/https/). Requests are turned
// into web Requests and answered by the same route handlers as HttpServer's (exact paths only);
// a client without a certificate signed by the CA fails the handshake.

import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { Logger } from "../logging/log.ts";
import { directRequestInfo, type Route } from "./http.ts";

/** Options of {@link MtlsServer}. */
export interface MtlsServerOptions {
  hostname: string;
  port: number;
  certFile: string;
  keyFile: string;
  clientCaFile: string;
  /** Lowest TLS version accepted (default TLS 1.3, as Thanos's default). */
  minVersion?: "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  /**
   * Thanos's `--receive.tenant-certificate-field`: the tenant is this field of the client
   * certificate's subject (the first value), passed to the handler in `header`; a certificate
   * without it → 400 (Thanos's `getTenantFromCertificate` messages).
   */
  certificateTenant?: { field: CertificateTenantField; header: string };
  logger: Logger;
}

/** The subject fields a tenant can be taken from. */
export type CertificateTenantField = "organization" | "organizationalUnit" | "commonName";

const SUBJECT_KEYS: Record<CertificateTenantField, string> = {
  organization: "O",
  organizationalUnit: "OU",
  commonName: "CN",
};

/** Serves `routes` over mutual TLS (see the file comment). */
export class MtlsServer {
  private server: https.Server | null = null;
  private readonly routes: Route[] = [];
  private readonly inflight = new Set<AbortController>();
  private boundPort = 0;

  constructor(private readonly opts: MtlsServerOptions) {}

  /** Adds routes (exact paths). */
  add(routes: readonly Route[]): void {
    this.routes.push(...routes);
  }

  /** The bound port (after `start`). */
  get port(): number {
    return this.boundPort;
  }

  /** Reads the certificate, key and CA (errors name the file) and listens. */
  async start(): Promise<void> {
    const read = async (path: string, what: string) => {
      try {
        return await Deno.readTextFile(path);
      } catch (e) {
        throw new Error(`server credentials: reading ${what} ${path}: ${(e as Error).message}`);
      }
    };
    const cert = await read(this.opts.certFile, "certificate");
    const key = await read(this.opts.keyFile, "key");
    const ca = await read(this.opts.clientCaFile, "client CA");
    const server = https.createServer({
      cert,
      key,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: this.opts.minVersion ?? "TLSv1.3",
    }, (req, res) => {
      this.serve(req, res).catch((e) => {
        this.opts.logger.error("HTTP handler failed", { err: e });
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end("internal server error\n");
      });
    });
    server.on("tlsClientError", (e: Error) => {
      this.opts.logger.debug("TLS handshake failed", { err: e.message });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    this.boundPort = typeof addr === "object" && addr !== null ? addr.port : this.opts.port;
    this.server = server;
    this.opts.logger.info("listening for requests (mutual TLS)", {
      address: `${this.opts.hostname}:${this.boundPort}`,
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `https://${this.opts.hostname}`);
    const route = this.routes.find((r) => r.path === url.pathname);
    if (route === undefined) {
      req.resume();
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("404 page not found\n");
      return;
    }
    const methods = typeof route.method === "string" ? [route.method] : route.method;
    if (!methods.includes(req.method ?? "")) {
      req.resume();
      res.writeHead(405, { "content-type": "text/plain; charset=utf-8" });
      res.end("Method Not Allowed\n");
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string") headers.set(k, v);
      else if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    }
    const ct = this.opts.certificateTenant;
    if (ct !== undefined) {
      // deno-lint-ignore no-explicit-any
      const subject = (req.socket as any).getPeerCertificate?.()?.subject ?? {};
      const raw = subject[SUBJECT_KEYS[ct.field]];
      const value = Array.isArray(raw) ? raw[0] : raw;
      if (typeof value !== "string" || value === "") {
        req.resume();
        res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
        res.end(`could not get ${ct.field} field from client cert\n`);
        return;
      }
      headers.set(ct.header, value);
    }
    const abort = new AbortController();
    this.inflight.add(abort);
    res.on("close", () => abort.abort());
    try {
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(url, {
        method: req.method,
        headers,
        body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
        signal: abort.signal,
        // @ts-ignore: a streamed request body needs half duplex (fetch spec)
        duplex: "half",
      });
      const remote = `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? 0}`;
      const response = await route.handler(request, {}, directRequestInfo(request, {}, remote));
      const body = new Uint8Array(await response.arrayBuffer());
      const out: Record<string, string> = {};
      response.headers.forEach((v, k) => out[k] = v);
      res.writeHead(response.status, out);
      res.end(body);
    } finally {
      this.inflight.delete(abort);
    }
  }

  /** Stops accepting connections; requests still running after `graceMs` are aborted. */
  async shutdown(graceMs: number): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    while (this.inflight.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    for (const a of this.inflight) a.abort();
    server.closeAllConnections?.();
    await closed;
  }
}

// The HTTPS listener for servers that ask clients for certificates: `--http.config`'s
// `client_auth_type` policies and receive's `--remote-write.server-tls-client-ca`. Deno.serve
// cannot request client certificates; the runtime's node:https server can
// (https://docs.deno.com/api/node/https/). HttpServer (server/http.ts) picks this listener when
// its web config asks for client certificates (or turns HTTP/2 off, or serves only TLS 1.2 or
// only 1.3, which Deno.serve cannot either); requests become web Requests answered by the same
// handler as Deno.serve's, so routes, auth, headers and logs do not depend on the listener. It
// speaks HTTP/1.1 only (node:https offers no HTTP/2).
//
// Go's client policies (https://pkg.go.dev/crypto/tls#ClientAuthType) map onto node:tls's
// `requestCert` and the verdict it gives after the handshake (`authorized`): RequestClientCert
// takes any certificate or none, RequireAnyClientCert any certificate, VerifyClientCertIfGiven
// none or one signed by the client CA, RequireAndVerifyClientCert only one signed by the CA
// (refused in the handshake itself). `client_allowed_sans` is the exporter-toolkit's check
// (https://github.com/prometheus/exporter-toolkit/blob/v0.15.0/docs/web-configuration.md): one of
// the certificate's DNS, email, IP or URI names must equal one of the list. A connection that fails
// its policy is closed before any request on it is read.

import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../logging/log.ts";
import type { PeerCertificate } from "./tenancy.ts";

/** Go's `tls.ClientAuthType` names (the exporter-toolkit's `client_auth_type` values). */
export type ClientAuthPolicy =
  | "NoClientCert"
  | "RequestClientCert"
  | "RequireAnyClientCert"
  | "VerifyClientCertIfGiven"
  | "RequireAndVerifyClientCert";

/** What the listener serves with (PEM text, read by the caller). */
export interface ClientCertTlsOptions {
  hostname: string;
  port: number;
  cert: string;
  key: string;
  /** Certificates a client certificate must chain to; absent: the runtime's root CAs. */
  clientCA?: string;
  clientAuth: ClientAuthPolicy;
  /** Subject alternative names of which a client certificate must carry one; empty: any. */
  allowedSans: readonly string[];
  /** Lowest TLS version accepted (default TLS 1.2). */
  minVersion?: "TLSv1.2" | "TLSv1.3";
  /** Highest TLS version accepted (default TLS 1.3). */
  maxVersion?: "TLSv1.2" | "TLSv1.3";
  logger: Logger;
}

/** The connection a request came on. */
export interface ConnectionInfo {
  /** `host:port` of the client. */
  remoteAddr: string;
  /** The client's certificate, when it sent one that passed the policy. */
  peerCertificate?: PeerCertificate;
  /** The server hands response body chunks off to the runtime (see RequestInfo's). */
  handsOffBodyChunks?: boolean;
}

/** Answers one request (HttpServer's handler). */
export type ConnectionHandler = (req: Request, conn: ConnectionInfo) => Promise<Response>;

/** A listening node:https server; see the file comment. */
export class ClientCertListener {
  private readonly inflight = new Set<AbortController>();
  /** Sockets that passed the client policy, with their certificate (null: none sent). */
  private readonly accepted = new WeakMap<TLSSocket, PeerCertificate | null>();

  private constructor(
    private readonly server: https.Server,
    private readonly opts: ClientCertTlsOptions,
    /** The bound port. */
    readonly port: number,
  ) {}

  /** Listens on `opts.hostname:opts.port` and answers with `handler`; resolves once bound. */
  static async listen(
    opts: ClientCertTlsOptions,
    handler: ConnectionHandler,
  ): Promise<ClientCertListener> {
    const requestCert = opts.clientAuth !== "NoClientCert";
    const server = https.createServer({
      cert: opts.cert,
      key: opts.key,
      ...(opts.clientCA !== undefined ? { ca: opts.clientCA } : {}),
      requestCert,
      // RequireAndVerifyClientCert fails in the handshake; the other policies are judged after it
      rejectUnauthorized: opts.clientAuth === "RequireAndVerifyClientCert",
      minVersion: opts.minVersion ?? "TLSv1.2",
      maxVersion: opts.maxVersion ?? "TLSv1.3",
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : opts.port;
    const l = new ClientCertListener(server, opts, port);
    server.on("secureConnection", (socket: TLSSocket) => l.judge(socket));
    server.on("tlsClientError", (e: Error) => {
      opts.logger.debug("TLS handshake failed", { err: e.message });
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      l.serve(req, res, handler).catch((e) => {
        opts.logger.error("HTTP handler failed", { err: e });
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("internal server error\n");
      });
    });
    return l;
  }

  /** Applies the client policy to a new connection: closes it, or records its certificate. */
  private judge(socket: TLSSocket): void {
    const verdict = clientVerdict(this.opts, socket);
    if (typeof verdict === "string") {
      this.opts.logger.debug("client certificate refused", {
        err: verdict,
        remote: `${socket.remoteAddress}:${socket.remotePort}`,
      });
      socket.destroy();
      return;
    }
    this.accepted.set(socket, verdict);
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    handler: ConnectionHandler,
  ): Promise<void> {
    const socket = req.socket as TLSSocket;
    const peer = this.accepted.get(socket);
    if (peer === undefined) {
      // a request on a connection that was not judged (or was refused): never answered
      socket.destroy();
      return;
    }
    const hostHeader = req.headers.host ?? `${this.opts.hostname}:${this.port}`;
    let url: URL;
    try {
      url = new URL(req.url ?? "/", `https://${hostHeader}`);
    } catch {
      req.resume();
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end("400 Bad Request\n");
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string") headers.set(k, v);
      else if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    }
    const abort = new AbortController();
    this.inflight.add(abort);
    res.on("close", () => abort.abort());
    try {
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(url, {
        method: req.method,
        headers,
        body: hasBody ? requestBody(req) : undefined,
        signal: abort.signal,
        // @ts-ignore: a streamed request body needs half duplex (fetch spec)
        duplex: "half",
      });
      const response = await handler(request, {
        remoteAddr: `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`,
        ...(peer !== null ? { peerCertificate: peer } : {}),
      });
      await writeResponse(res, response, req.method === "HEAD", abort.signal);
    } finally {
      this.inflight.delete(abort);
    }
  }

  /** Stops accepting connections; requests still running after `graceMs` are aborted. */
  async shutdown(graceMs: number): Promise<void> {
    const server = this.server;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections?.();
    const deadline = Date.now() + graceMs;
    while (this.inflight.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    for (const a of this.inflight) a.abort();
    server.closeAllConnections?.();
    await closed;
  }
}

/**
 * A request body as a web stream, read as the consumer pulls (the socket is paused while a chunk
 * waits). Cancelling it discards the rest of the body. (Node's `Readable.toWeb` is not used: in
 * this runtime it throws from an event handler when data arrives after a cancel.)
 */
function requestBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  let finished = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.pause();
      req.on("data", (chunk: Uint8Array) => {
        if (finished) return;
        controller.enqueue(new Uint8Array(chunk));
        req.pause();
      });
      req.on("end", () => {
        if (finished) return;
        finished = true;
        controller.close();
      });
      const fail = (e: Error) => {
        if (finished) return;
        finished = true;
        controller.error(e);
      };
      req.on("error", fail);
      req.on("close", () => fail(new Error("client closed the connection")));
    },
    pull() {
      req.resume();
    },
    cancel() {
      finished = true;
      req.resume();
    },
  }, { highWaterMark: 0 });
}

/** Streams a web Response into node's ServerResponse, stopping when the client goes away. */
async function writeResponse(
  res: ServerResponse,
  response: Response,
  head: boolean,
  signal: AbortSignal,
): Promise<void> {
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((v, k) => {
    if (k !== "set-cookie") out[k] = v;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  res.writeHead(response.status, out);
  if (response.body === null || head) {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      if (signal.aborted) break;
      const next = await reader.read();
      if (next.done) break;
      if (!res.write(next.value)) {
        // bounded buffering: wait for the socket to drain (or to close)
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.on("drain", done);
          res.on("close", done);
        });
      }
    }
  } finally {
    reader.cancel().catch(() => {});
    res.end();
  }
}

/**
 * The policy's verdict on a connection: the client's certificate (null when it sent none) when
 * it may be served, else why not.
 */
export function clientVerdict(
  opts: Pick<ClientCertTlsOptions, "clientAuth" | "allowedSans">,
  socket: Pick<TLSSocket, "getPeerCertificate" | "authorized">,
): PeerCertificate | null | string {
  if (opts.clientAuth === "NoClientCert") return null;
  const raw = socket.getPeerCertificate();
  const sent = raw !== null && raw !== undefined && raw.raw !== undefined;
  if (!sent) {
    if (opts.clientAuth === "RequireAnyClientCert") return "client didn't provide a certificate";
    if (opts.clientAuth === "RequireAndVerifyClientCert") {
      return "client didn't provide a certificate";
    }
    // the toolkit's SAN check needs a certificate (Go's handshake fails without one)
    if (opts.allowedSans.length > 0) return "client didn't provide a certificate";
    return null;
  }
  const verify = opts.clientAuth === "VerifyClientCertIfGiven" ||
    opts.clientAuth === "RequireAndVerifyClientCert";
  if (verify && !socket.authorized) return "client certificate not signed by the client CA";
  const cert = peerCertificate(
    (raw.subject ?? {}) as unknown as Record<string, string | string[] | undefined>,
    raw.subjectaltname ?? "",
  );
  if (opts.allowedSans.length > 0 && !cert.sans.some((s) => opts.allowedSans.includes(s))) {
    return `could not find allowed SANs in client cert, found: [${opts.allowedSans.join(" ")}]`;
  }
  return cert;
}

/**
 * A certificate as node:tls describes it (`subject` fields, `subjectaltname` text such as
 * `DNS:a, IP Address:::1, email:x@y, URI:spiffe://…`) in the shape tenancy and SAN checks read.
 */
export function peerCertificate(
  subject: Record<string, string | string[] | undefined>,
  subjectaltname: string,
): PeerCertificate {
  const list = (v: string | string[] | undefined) =>
    v === undefined ? [] : Array.isArray(v) ? v : [v];
  const cn = list(subject.CN);
  return {
    organization: list(subject.O),
    organizationalUnit: list(subject.OU),
    commonName: cn.length > 0 ? cn[cn.length - 1] : "",
    sans: subjectAltNames(subjectaltname),
  };
}

const SAN_KINDS = new Set(["DNS", "email", "IP Address", "URI"]);

/** The DNS, email, IP and URI names of node's `subjectaltname` text (quoted values decoded). */
export function subjectAltNames(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const kind = text.slice(i, colon).trim();
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      // node quotes a value holding a comma or a quote as a JSON string
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1));
      } catch {
        value = text.slice(colon + 2, end);
      }
      end = text.indexOf(",", end);
    } else {
      end = text.indexOf(", ", colon);
      value = text.slice(colon + 1, end < 0 ? text.length : end);
    }
    if (SAN_KINDS.has(kind)) out.push(value);
    if (end < 0) break;
    i = end + 1;
    while (text[i] === " ") i++;
  }
  return out;
}

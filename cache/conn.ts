// A TCP (or TLS) connection with a read buffer and per-operation deadlines, shared by the
// memcached and redis clients, plus a small idle-connection pool per server. A deadline that
// passes closes the connection (its state is unknown), so a pending read fails at once.

/** Why an operation against a cache server failed (Thanos' failure reasons). */
export type FailureReason = "timeout" | "network-error" | "server-error" | "malformed" | "other";

/** An operation failure with its reason. */
export class CacheOpError extends Error {
  override name = "CacheOpError";
  constructor(readonly reason: FailureReason, message: string) {
    super(message);
  }
}

const CRLF = new Uint8Array([13, 10]);
const dec = new TextDecoder();

/** Options to open a connection. */
export interface DialOptions {
  hostname: string;
  port: number;
  dialTimeoutMs: number;
  tls?: { caCerts?: string[]; certChain?: string; privateKey?: string };
}

/** One connection to a cache server. */
export class CacheConn {
  #buf = new Uint8Array(0);
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timedOut = false;

  private constructor(private readonly conn: Deno.Conn) {}

  /** Connects within `dialTimeoutMs`. */
  static async dial(o: DialOptions): Promise<CacheConn> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), Math.max(1, o.dialTimeoutMs));
    try {
      const p = o.tls
        ? Deno.connectTls({
          hostname: o.hostname,
          port: o.port,
          caCerts: o.tls.caCerts,
          cert: o.tls.certChain,
          key: o.tls.privateKey,
          signal: ac.signal,
        } as Deno.ConnectTlsOptions)
        : Deno.connect(
          { hostname: o.hostname, port: o.port, signal: ac.signal } as Deno.ConnectOptions,
        );
      return new CacheConn(await p);
    } catch (e) {
      if (ac.signal.aborted) {
        throw new CacheOpError("timeout", `dial ${o.hostname}:${o.port}: timeout`);
      }
      throw new CacheOpError(
        "network-error",
        `dial ${o.hostname}:${o.port}: ${(e as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts a deadline for the next operation: when it passes the connection is closed. */
  deadline(ms: number): void {
    this.clearDeadline();
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.close();
    }, Math.max(1, ms));
  }

  clearDeadline(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.clearDeadline();
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  #fail(e: unknown): never {
    this.close();
    if (e instanceof CacheOpError) throw e;
    if (this.#timedOut) throw new CacheOpError("timeout", "i/o timeout");
    throw new CacheOpError("network-error", (e as Error)?.message ?? String(e));
  }

  /** Writes all of `data`. */
  async write(data: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < data.length) off += await this.conn.write(data.subarray(off));
    } catch (e) {
      this.#fail(e);
    }
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch (e) {
      this.#fail(e);
    }
    if (n === null) this.#fail(new CacheOpError("network-error", "connection closed by server"));
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  /** Reads one line without its CRLF. */
  async readLine(): Promise<string> {
    for (let guard = 0; guard < 1 << 20; guard++) {
      const i = indexOfCRLF(this.#buf);
      if (i >= 0) {
        const line = dec.decode(this.#buf.subarray(0, i));
        this.#buf = this.#buf.subarray(i + 2);
        return line;
      }
      if (this.#buf.length > 64 * 1024) this.#fail(new CacheOpError("malformed", "line too long"));
      await this.#fill();
    }
    this.#fail(new CacheOpError("malformed", "no line"));
  }

  /** Reads exactly `n` bytes followed by CRLF; returns the `n` bytes. */
  async readBlock(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n + 2) await this.#fill();
    if (this.#buf[n] !== CRLF[0] || this.#buf[n + 1] !== CRLF[1]) {
      this.#fail(new CacheOpError("malformed", "data block not followed by CRLF"));
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n + 2);
    return out;
  }
}

function indexOfCRLF(b: Uint8Array): number {
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) return i;
  return -1;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Connections to one server: reuses up to `maxIdle` idle ones. `setup` runs on each new
 * connection (e.g. AUTH/SELECT for redis).
 */
export class ConnPool {
  readonly #idle: CacheConn[] = [];
  #closed = false;

  constructor(
    private readonly dial: () => Promise<CacheConn>,
    private readonly maxIdle: number,
  ) {}

  /** Runs `fn` on a connection; a connection that failed is closed, a healthy one reused. */
  async with<T>(fn: (c: CacheConn) => Promise<T>): Promise<T> {
    if (this.#closed) throw new CacheOpError("other", "client closed");
    let c = this.#idle.pop();
    while (c !== undefined && c.closed) c = this.#idle.pop();
    if (c === undefined) c = await this.dial();
    try {
      const out = await fn(c);
      c.clearDeadline();
      if (!c.closed && !this.#closed && this.#idle.length < Math.max(1, this.maxIdle)) {
        this.#idle.push(c);
      } else c.close();
      return out;
    } catch (e) {
      c.close();
      throw e;
    }
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.close();
  }
}

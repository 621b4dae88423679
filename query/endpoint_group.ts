// `--endpoint-group` / `--endpoint-group-strict` (Thanos v0.42, deprecated and experimental there
// too): one address — a name behind a load balancer, or a `dns+`/`dnssrv+` name — is ONE endpoint
// of the querier whose calls go round-robin over the addresses it resolves to, instead of a
// fan-out to each. Thanos dials `thanos:///<address>` with gRPC's round_robin balancer and the
// retry policy of https://github.com/thanos-io/thanos/blob/v0.42.4/pkg/extgrpc/client.go
// (EndpointGroupGRPCOpts: up to 3 attempts on UNAVAILABLE, backoff from 0.1 s doubling). Here the
// EndpointSet resolves the members every DNS interval and this client picks the next member per
// call; a call that fails UNAVAILABLE before any answer arrived is retried on the next member.

import type { StoreInfo } from "../storeapi/codec.ts";
import { GrpcError, GrpcStatus } from "../storeapi/grpc.ts";
import type { SeriesItem, StoreCallContext } from "../storeapi/server.ts";
import type { LabelNamesRequest, LabelValuesRequest, SeriesRequest } from "../storeapi/codec.ts";
import type { EndpointClient } from "./endpoints.ts";

/** The endpoint name of a group, as Thanos names it (its gRPC target). */
export function groupEndpointName(address: string): string {
  return `thanos:///${address}`;
}

/** Attempts per call (Thanos's retry policy: maxAttempts 3). */
const MAX_ATTEMPTS = 3;
/** First backoff before a retry (0.1 s), doubling. */
const INITIAL_BACKOFF_MS = 100;

function retryable(e: unknown): boolean {
  return e instanceof GrpcError && e.code === GrpcStatus.UNAVAILABLE;
}

function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  const ms = INITIAL_BACKOFF_MS * 2 ** (attempt - 1);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One endpoint group: a client per resolved member, called round-robin. */
export class EndpointGroupClient implements EndpointClient {
  private members: { address: string; client: EndpointClient }[] = [];
  private next = 0;

  constructor(
    /** The group's address as configured (e.g. `dns+store.monitoring.svc:10901`). */
    readonly address: string,
    private readonly newClient: (address: string) => EndpointClient,
  ) {}

  /** The member addresses now. */
  memberAddresses(): string[] {
    return this.members.map((m) => m.address);
  }

  /** Replaces the members with `addresses` (kept clients stay; removed ones are closed). */
  setMembers(addresses: readonly string[]): void {
    const old = new Map(this.members.map((m) => [m.address, m.client]));
    this.members = [...new Set(addresses)].map((address) => {
      const client = old.get(address) ?? this.newClient(address);
      old.delete(address);
      return { address, client };
    });
    for (const c of old.values()) c.close();
  }

  /** The next member, round-robin; UNAVAILABLE when the group resolved to nothing. */
  private pick(): EndpointClient {
    if (this.members.length === 0) {
      throw new GrpcError(
        GrpcStatus.UNAVAILABLE,
        `endpoint group ${this.address}: no addresses resolved`,
      );
    }
    const m = this.members[this.next % this.members.length];
    this.next = (this.next + 1) % this.members.length;
    return m.client;
  }

  /** A unary call on the next member, retried on the following ones when UNAVAILABLE. */
  private async unary<T>(signal: AbortSignal | undefined, fn: (c: EndpointClient) => Promise<T>) {
    for (let attempt = 1;; attempt++) {
      try {
        return await fn(this.pick());
      } catch (e) {
        if (!retryable(e) || attempt >= MAX_ATTEMPTS || this.members.length === 0) throw e;
        await backoff(attempt, signal);
      }
    }
  }

  /** A stream on the next member, retried on the following ones while nothing was received. */
  private async *retryStream<T>(
    signal: AbortSignal | undefined,
    open: (c: EndpointClient) => AsyncIterable<T>,
  ): AsyncGenerator<T> {
    for (let attempt = 1;; attempt++) {
      let received = false;
      try {
        for await (const item of open(this.pick())) {
          received = true;
          yield item;
        }
        return;
      } catch (e) {
        if (received || !retryable(e) || attempt >= MAX_ATTEMPTS || this.members.length === 0) {
          throw e;
        }
        await backoff(attempt, signal);
      }
    }
  }

  info(signal?: AbortSignal): Promise<StoreInfo> {
    return this.unary(signal, (c) => c.info(signal));
  }

  series(
    req: SeriesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): AsyncIterable<SeriesItem> {
    return this.retryStream(signal, (c) => c.series(req, signal, call));
  }

  labelNames(
    req: LabelNamesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): Promise<{ names: string[]; warnings: string[] }> {
    return this.unary(signal, (c) => c.labelNames(req, signal, call));
  }

  labelValues(
    req: LabelValuesRequest,
    signal: AbortSignal,
    call?: StoreCallContext,
  ): Promise<{ values: string[]; warnings: string[] }> {
    return this.unary(signal, (c) => c.labelValues(req, signal, call));
  }

  stream(path: string, request: Uint8Array, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.retryStream(signal, (c) => {
      if (!c.stream) throw new GrpcError(GrpcStatus.UNIMPLEMENTED, `${path}: not served`);
      return c.stream(path, request, signal);
    });
  }

  close(): void {
    for (const m of this.members) m.client.close();
    this.members = [];
  }
}

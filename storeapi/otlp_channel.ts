// The channel `client_type: grpc` tracing exports over (tracing/grpc_exporter.ts): the
// project's own gRPC client, so OTLP/gRPC shares the StoreAPI client's transport and its fixes.

import { GrpcChannel } from "./grpc.ts";
import type { ChannelFactory } from "../tracing/grpc_exporter.ts";

/** A gRPC channel to an OTLP collector at `host:port` (TLS when `tls` is given). */
export const otlpGrpcChannel: ChannelFactory = (address, tls, gzip) =>
  new GrpcChannel(address, { tls, compression: gzip ? "gzip" : "none" });

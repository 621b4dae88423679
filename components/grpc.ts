// The gRPC server flags every role that serves the StoreAPI shares
// (https://thanos.io/tip/components/store.md/#flags), and their translation into settings.

import type { ServerTlsOptions } from "../storeapi/grpc.ts";
import {
  defineFlags,
  type Flags,
  type GroupName,
  type ListenAddress,
  parseListenAddress,
  UsageError,
} from "./flags.ts";

/** TLS versions Thanos accepts for its `*-tls-min-version` flags. */
export const TLS_VERSIONS = ["1.0", "1.1", "1.2", "1.3"] as const;

/** `--grpc-address`, `--grpc-grace-period`, `--grpc-server-tls-*`, max connection age. */
export function grpcServerFlags(defaultAddress = "0.0.0.0:10901") {
  return defineFlags([
    {
      name: "grpc-address",
      kind: "string",
      default: defaultAddress,
      help: "Listen ip:port address for gRPC endpoints (StoreAPI). Make sure this address is " +
        "routable from other components.",
      grants: "listen",
    },
    {
      name: "grpc-grace-period",
      kind: "duration",
      default: "2m",
      help: "Time to wait after an interrupt received for GRPC Server.",
    },
    {
      name: "grpc-server-tls-cert",
      kind: "string",
      default: "",
      help: "TLS Certificate for gRPC server, leave blank to disable TLS.",
      grants: "read",
    },
    {
      name: "grpc-server-tls-key",
      kind: "string",
      default: "",
      help: "TLS Key for the gRPC server, leave blank to disable TLS.",
      grants: "read",
    },
    {
      name: "grpc-server-tls-client-ca",
      kind: "string",
      default: "",
      help: "TLS CA to verify clients against. If no client CA is specified, there is no " +
        "client verification on server side. (tls.NoClientCert)",
      grants: "read",
    },
    {
      name: "grpc-server-tls-min-version",
      kind: "enum",
      choices: ["1.2", "1.3"],
      default: "1.3",
      help: "TLS supported minimum version for gRPC server.",
    },
    {
      name: "grpc-server-tls-ciphers",
      kind: "string",
      repeatable: true,
      help: "TLS cipher suites for gRPC server. Not in this build: the runtime's defaults are " +
        "used.",
      unsupported: "choosing gRPC TLS cipher suites is not in this build (the runtime's " +
        "defaults are used)",
    },
    {
      name: "grpc-server-tls-curves",
      kind: "string",
      repeatable: true,
      help: "TLS curves for gRPC server. Not in this build: the runtime's defaults are used.",
      unsupported: "choosing gRPC TLS curves is not in this build (the runtime's defaults " +
        "are used)",
    },
    {
      name: "grpc-server-max-connection-age",
      kind: "duration",
      default: "60m",
      help: "The grpc server max connection age. Accepted for compatibility.",
    },
  ]);
}

/** Names of the gRPC server flags. */
export type GrpcServerFlag = GroupName<ReturnType<typeof grpcServerFlags>>;

/** The gRPC server settings of a role serving the StoreAPI. */
export interface GrpcServerConfig {
  address: ListenAddress;
  gracePeriodMs: number;
  /** Undefined when TLS is off. */
  tls?: ServerTlsOptions;
}

/** The gRPC server settings from `--grpc-*`. */
export function grpcServerConfig(flags: Flags<GrpcServerFlag>): GrpcServerConfig {
  return {
    tls: serverTlsFromFlags(flags),
    address: parseListenAddress(flags.string("grpc-address")),
    gracePeriodMs: flags.duration("grpc-grace-period"),
  };
}

/** gRPC server TLS from `--grpc-server-tls-*`; undefined when TLS is off. */
export function serverTlsFromFlags(flags: Flags<GrpcServerFlag>): ServerTlsOptions | undefined {
  const cert = flags.string("grpc-server-tls-cert");
  const key = flags.string("grpc-server-tls-key");
  if (cert === "" && key === "") return undefined;
  if (cert === "" || key === "") {
    throw new UsageError("both --grpc-server-tls-cert and --grpc-server-tls-key must be set");
  }
  const ca = flags.string("grpc-server-tls-client-ca");
  return {
    certFile: cert,
    keyFile: key,
    clientCaFile: ca === "" ? undefined : ca,
    minVersion: flags.enum("grpc-server-tls-min-version", ["1.2", "1.3"]) === "1.2"
      ? "TLSv1.2"
      : "TLSv1.3",
  };
}

/** `--store.limits.request-series`, `--store.limits.request-samples`: every StoreAPI server. */
export const STORE_LIMITS_FLAGS = defineFlags([
  {
    name: "store.limits.request-series",
    kind: "int",
    default: "0",
    help: "The maximum series allowed for a single Series request. The Series call fails " +
      "if this limit is exceeded. 0 means no limit.",
  },
  {
    name: "store.limits.request-samples",
    kind: "int",
    default: "0",
    help: "The maximum samples allowed for a single Series request, The Series call fails " +
      "if this limit is exceeded. 0 means no limit. NOTE: For efficiency the limit is " +
      "internally implemented as 'chunks limit' considering each chunk contains a maximum " +
      "of 120 samples.",
  },
]);

/** The per-request StoreAPI limits (0: none). */
export interface StoreLimitsConfig {
  seriesLimit: number;
  samplesLimit: number;
}

/** `--store.limits.*` as the StoreServer takes them. */
export function storeLimitsConfig(
  flags: Flags<GroupName<typeof STORE_LIMITS_FLAGS>>,
): StoreLimitsConfig {
  return {
    seriesLimit: flags.int("store.limits.request-series"),
    samplesLimit: flags.int("store.limits.request-samples"),
  };
}

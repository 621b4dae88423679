// Settings of `thanos sidecar`, read once from its flags
// (https://thanos.io/tip/components/sidecar.md/).

import { type Flags, type HttpConfig, httpConfig, UsageError } from "../flags.ts";
import { type GrpcServerConfig, grpcServerConfig, storeLimitsConfig } from "../grpc.ts";
import { objstoreConfigText } from "../objstore.ts";
import { HASH_FUNCS, RELOADER_METHODS, type SidecarFlag } from "./flags.ts";

/** Everything `thanos sidecar` is configured with. */
export interface SidecarConfig {
  http: HttpConfig;
  grpc: GrpcServerConfig;
  /** The bucket configuration (YAML); "" when none: uploads are disabled. */
  objstoreConfig: string;
  prometheus: {
    url: string;
    /** How long start-up may wait for Prometheus when uploading. */
    readyTimeoutMs: number;
    /** `--prometheus.ready_timeout` as given, for messages. */
    readyTimeoutText: string;
    getConfigIntervalMs: number;
    getConfigTimeoutMs: number;
    /** HTTP client config (YAML) from the file or the inline flag, "" when none. */
    httpClientConfig: string;
  };
  tsdbPath: string;
  /** Undefined when neither a config file nor a rule dir is watched. */
  reloader?: {
    method: (typeof RELOADER_METHODS)[number];
    configFile: string;
    configEnvsubstFile: string;
    ruleDirs: string[];
    watchIntervalMs: number;
    retryIntervalMs: number;
  };
  shipper: {
    uploadCompacted: boolean;
    metaFileName: string;
    hashFunc: (typeof HASH_FUNCS)[number];
    uploadConcurrency: number;
    syncIntervalMs: number;
  };
  /** `--min-time`, ms since the epoch. */
  minTime: number;
  /** Per-request limits (0: none). */
  seriesLimit: number;
  samplesLimit: number;
}

/** Reads and validates the flags of `thanos sidecar`; throws UsageError on bad values. */
export function sidecarConfig(flags: Flags<SidecarFlag>): SidecarConfig {
  const grpc = grpcServerConfig(flags);
  const httpClientFile = flags.fileContents("prometheus.http-client-file");
  const httpClientInline = flags.string("prometheus.http-client");
  if (httpClientFile !== "" && httpClientInline !== "") {
    throw new UsageError(
      "--prometheus.http-client-file and --prometheus.http-client are mutually exclusive",
    );
  }
  const configFile = flags.string("reloader.config-file");
  const ruleDirs = flags.strings("reloader.rule-dir");
  return {
    http: httpConfig(flags),
    grpc,
    objstoreConfig: objstoreConfigText(flags),
    prometheus: {
      url: flags.string("prometheus.url"),
      readyTimeoutMs: flags.duration("prometheus.ready_timeout"),
      readyTimeoutText: flags.string("prometheus.ready_timeout"),
      getConfigIntervalMs: flags.duration("prometheus.get_config_interval"),
      getConfigTimeoutMs: flags.duration("prometheus.get_config_timeout"),
      httpClientConfig: httpClientFile || httpClientInline,
    },
    tsdbPath: flags.string("tsdb.path"),
    reloader: configFile !== "" || ruleDirs.length > 0
      ? {
        method: flags.enum("reloader.method", RELOADER_METHODS),
        configFile,
        configEnvsubstFile: flags.string("reloader.config-envsubst-file"),
        ruleDirs,
        watchIntervalMs: flags.duration("reloader.watch-interval"),
        retryIntervalMs: flags.duration("reloader.retry-interval"),
      }
      : undefined,
    shipper: {
      uploadCompacted: flags.bool("shipper.upload-compacted"),
      metaFileName: flags.string("shipper.meta-file-name"),
      hashFunc: flags.enum("hash-func", HASH_FUNCS),
      uploadConcurrency: flags.int("shipper.upload-concurrency"),
      syncIntervalMs: flags.duration("shipper.sync-interval"),
    },
    minTime: flags.time("min-time"),
    ...storeLimitsConfig(flags),
  };
}

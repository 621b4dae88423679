// Flag table of `thanos receive` (https://thanos.io/tip/components/receive.md/#flags, as of
// v0.42, including the hidden flags of cmd/thanos/receive.go such as --tsdb.min-block-duration
// and --receive-forward-timeout): Thanos's names and defaults. Every flag Thanos has parses; the
// ones this implementation does not support yet are rejected by config.ts only when they are set
// to something other than their default. The grants give the role its data dir, its listen
// addresses, its bucket, its TLS and config files, and (with a hashring) any address: the peers
// are only known from the hashring, which is reloaded at run time.

import { featureCheck, RECEIVE_FEATURES } from "../features.ts";
import {
  defineCommand,
  type FlagName,
  GOMEMLIMIT_FLAGS,
  httpFlags,
  LOG_FLAGS,
  OBJSTORE_FLAGS,
  REQUEST_LOGGING_FLAGS,
  TRACING_FLAGS,
  YAML_ENV,
} from "../flags.ts";
import { grpcServerFlags, STORE_LIMITS_FLAGS, TLS_VERSIONS } from "../grpc.ts";
import { TENANT_CERTIFICATE_FIELDS } from "../flags.ts";

/** The values of `--receive.hashrings-algorithm`. */
export const HASHRING_ALGORITHMS = ["hashmod", "ketama"] as const;

export { TLS_VERSIONS };

/** The values of `--receive.tenant-certificate-field`. */
export { TENANT_CERTIFICATE_FIELDS };

/** The values of `--receive.grpc-compression`. */
export const GRPC_COMPRESSIONS = ["snappy", "none"] as const;

/** The values of `--receive.replication-protocol`. */
export const REPLICATION_PROTOCOLS = ["protobuf", "capnproto"] as const;

/** `thanos receive` */
export const RECEIVE_COMMAND = defineCommand({
  path: ["receive"],
  help: "Accept Prometheus remote write API requests and write to local tsdb.",
  env: YAML_ENV,
  flags: [
    ...LOG_FLAGS,
    ...TRACING_FLAGS,
    ...GOMEMLIMIT_FLAGS,
    ...httpFlags(),
    ...grpcServerFlags(),
    ...STORE_LIMITS_FLAGS,
    {
      name: "remote-write.address",
      kind: "string",
      default: "0.0.0.0:19291",
      help: "Address to listen on for remote write requests.",
      grants: "listen",
    },
    {
      name: "remote-write.server-tls-cert",
      kind: "string",
      default: "",
      help: "TLS Certificate for HTTP server, leave blank to disable TLS.",
      grants: "read",
    },
    {
      name: "remote-write.server-tls-key",
      kind: "string",
      default: "",
      help: "TLS Key for the HTTP server, leave blank to disable TLS.",
      grants: "read",
    },
    {
      name: "remote-write.server-tls-client-ca",
      kind: "string",
      default: "",
      help: "TLS CA to verify clients against. If no client CA is specified, there is no " +
        "client verification on server side. (tls.NoClientCert)",
      grants: "read",
    },
    {
      name: "remote-write.server-tls-min-version",
      kind: "enum",
      choices: TLS_VERSIONS,
      default: "1.3",
      help: "TLS version for the HTTP server, leave blank to default to TLS 1.3.",
    },
    {
      name: "remote-write.server-tls-ciphers",
      unsupported: "choosing the remote-write TLS cipher suites is not in this build (the " +
        "runtime's TLS, rustls, uses its own)",
      kind: "string",
      repeatable: true,
      help: "TLS cipher suites for the HTTP server. Not in this build: the runtime's defaults " +
        "are used.",
    },
    {
      name: "remote-write.server-tls-curves",
      unsupported: "choosing the remote-write TLS curves is not in this build (the runtime's " +
        "TLS, rustls, uses its own)",
      kind: "string",
      repeatable: true,
      help: "TLS curves for the HTTP server. Not in this build: the runtime's defaults are used.",
    },
    {
      name: "remote-write.client-tls-cert",
      kind: "string",
      default: "",
      help: "TLS Certificates to use to identify this client to the server.",
      grants: "read",
    },
    {
      name: "remote-write.client-tls-key",
      kind: "string",
      default: "",
      help: "TLS Key for the client's certificate.",
      grants: "read",
    },
    {
      name: "remote-write.client-tls-secure",
      kind: "bool",
      default: "false",
      help: "Use TLS when talking to the other receivers.",
    },
    {
      name: "remote-write.client-tls-skip-verify",
      kind: "bool",
      default: "false",
      help: "Disable TLS certificate verification when talking to the other receivers i.e " +
        "self signed, signed by fake CA.",
    },
    {
      name: "remote-write.client-tls-ca",
      kind: "string",
      default: "",
      help: "TLS CA Certificates to use to verify servers.",
      grants: "read",
    },
    {
      name: "remote-write.client-server-name",
      kind: "string",
      default: "",
      help: "Server name to verify the hostname on the returned TLS certificates. See " +
        "https://tools.ietf.org/html/rfc4366#section-3.1",
    },
    {
      name: "remote-write.client-tls-min-version",
      kind: "enum",
      choices: TLS_VERSIONS,
      default: "1.3",
      help: "TLS version for the gRPC client, leave blank to default to TLS 1.3.",
    },
    {
      name: "tsdb.path",
      kind: "string",
      default: "./data",
      help: "Data directory of TSDB.",
      grants: "write",
    },
    {
      name: "label",
      kind: "string",
      repeatable: true,
      help: 'External labels to announce (key="value"). At least one is required.',
    },
    ...OBJSTORE_FLAGS,
    ...REQUEST_LOGGING_FLAGS,
    {
      name: "tsdb.retention",
      kind: "duration",
      default: "15d",
      help: "How long to retain raw samples on local storage. 0d - disables the retention " +
        "policy (i.e. infinite retention).",
    },
    {
      name: "receive.hashrings-file",
      kind: "string",
      help: "Path to file that contains the hashring configuration. A watcher is initialized " +
        "to watch changes and update the hashring dynamically.",
      grants: "discover-file",
    },
    {
      name: "receive.hashrings",
      kind: "string",
      help: "Alternative to 'receive.hashrings-file' flag (lower priority). Content of file " +
        "that contains the hashring configuration.",
      grants: "discover",
    },
    {
      name: "receive.hashrings-algorithm",
      kind: "enum",
      choices: HASHRING_ALGORITHMS,
      default: "hashmod",
      help: "The algorithm used when distributing series in the hashrings. Must be one of " +
        "hashmod, ketama. Will be overwritten by the tenant-specific algorithm in the " +
        "hashring config.",
    },
    {
      name: "receive.hashrings-file-refresh-interval",
      kind: "duration",
      default: "5m",
      help: "Refresh interval to re-read the hashring configuration file. (used as a fallback)",
    },
    {
      name: "receive.local-endpoint",
      kind: "string",
      help: "Endpoint of local receive node. Used to identify the local node in the hashring " +
        "configuration. If it's empty AND hashring configuration was provided, it means that " +
        "receive will run in RoutingOnly mode.",
    },
    {
      name: "receive.tenant-header",
      kind: "string",
      default: "THANOS-TENANT",
      help: "HTTP header to determine tenant for write requests.",
    },
    {
      name: "receive.artificial-max-delay",
      kind: "duration",
      default: "0s",
      help: "Maximum artificial delay for the 2nd peer.",
      hidden: true,
    },
    {
      name: "receive.tenant-certificate-field",
      kind: "enum",
      choices: TENANT_CERTIFICATE_FIELDS,
      default: "",
      help: "Use TLS client's certificate field to determine tenant for write requests. Must " +
        "be one of organization, organizationalUnit or commonName. This setting will cause the " +
        "receive.tenant-header flag value to be ignored.",
    },
    {
      name: "receive.default-tenant-id",
      kind: "string",
      default: "default-tenant",
      help: "Default tenant ID to use when none is provided via a header.",
    },
    {
      name: "receive.split-tenant-label-name",
      kind: "string",
      default: "",
      help: "Label name through which the request will be split into multiple tenants. This " +
        "takes precedence over the HTTP header.",
    },
    {
      name: "receive.tenant-label-name",
      kind: "string",
      default: "tenant_id",
      help: "Label name through which the tenant will be announced.",
    },
    {
      name: "receive.replica-header",
      kind: "string",
      default: "THANOS-REPLICA",
      help: "HTTP header specifying the replica number of a write request.",
    },
    {
      name: "receive.forward.async-workers",
      kind: "int",
      default: "5",
      help: "Number of concurrent workers processing forwarding of remote-write requests.",
    },
    {
      name: "receive.grpc-compression",
      kind: "enum",
      choices: GRPC_COMPRESSIONS,
      default: "snappy",
      help: "Compression algorithm to use for gRPC requests to other receivers. Must be one " +
        "of: snappy, none",
    },
    {
      name: "receive.replication-factor",
      kind: "int",
      default: "1",
      help: "How many times to replicate incoming write requests.",
    },
    {
      name: "receive.replication-protocol",
      unsupported: "Cap'n Proto replication is not in this build (forwards use protobuf over gRPC)",
      kind: "enum",
      choices: REPLICATION_PROTOCOLS,
      default: "protobuf",
      help: "The protocol to use for replicating remote-write requests. One of protobuf, " +
        "capnproto (capnproto is not supported yet).",
    },
    {
      name: "receive.capnproto-address",
      kind: "string",
      default: "0.0.0.0:19391",
      help: "Address for the Cap'n Proto server. Not used: Cap'n Proto replication is not " +
        "supported yet.",
    },
    {
      name: "receive.grpc-service-config",
      unsupported: "gRPC service configs (retry and load-balancing policies of forwards) are not " +
        "in this build",
      kind: "string",
      default: "",
      help: "gRPC service configuration file or content in JSON format. Not supported yet.",
    },
    {
      name: "receive-forward-timeout",
      kind: "duration",
      default: "5s",
      help: "Timeout for each forward request.",
      hidden: true,
    },
    {
      name: "receive-forward-max-backoff",
      kind: "duration",
      default: "5s",
      help: "Maximum backoff for each forward fan-out request.",
      hidden: true,
    },
    {
      name: "receive.relabel-config-file",
      kind: "string",
      help: "Path to YAML file that contains relabeling configuration.",
      grants: "read-file",
    },
    {
      name: "receive.relabel-config",
      kind: "string",
      help: "Alternative to 'receive.relabel-config-file' flag (mutually exclusive). Content " +
        "of YAML file that contains relabeling configuration.",
    },
    {
      name: "tsdb.min-block-duration",
      kind: "duration",
      default: "2h",
      help: "Min duration for local TSDB blocks.",
      hidden: true,
    },
    {
      name: "tsdb.max-block-duration",
      kind: "duration",
      default: "2h",
      help: "Max duration for local TSDB blocks.",
      hidden: true,
    },
    {
      name: "tsdb.too-far-in-future.time-window",
      kind: "duration",
      default: "0s",
      help: "Configures the allowed time window for ingesting samples too far in the future. " +
        "Disabled (0s) by default. Please note enable this flag will reject samples in the " +
        "future of receive local NTP time + configured duration due to clock skew in remote " +
        "write clients.",
    },
    {
      name: "tsdb.out-of-order.time-window",
      kind: "duration",
      default: "0s",
      help: "[EXPERIMENTAL] Configures the allowed time window for ingestion of out-of-order " +
        "samples. Disabled (0s) by default. Please note if you enable this option and you use " +
        "compactor, make sure you have the --compact.enable-vertical-compaction flag enabled, " +
        "otherwise you might risk compactor halt.",
    },
    {
      name: "tsdb.out-of-order.cap-max",
      kind: "int",
      default: "0",
      help: "[EXPERIMENTAL] Configures the maximum capacity for out-of-order chunks (in " +
        "samples). If set to <=0, default value 32 is assumed.",
    },
    {
      name: "tsdb.allow-overlapping-blocks",
      kind: "bool",
      default: "false",
      help: "Allow overlapping blocks, which in turn enables vertical compaction and vertical " +
        "query merge. Does not do anything, enabled all the time.",
    },
    {
      name: "tsdb.max-retention-bytes",
      kind: "bytes",
      default: "0",
      help: "Maximum number of bytes that can be stored for blocks. A unit is required, " +
        'supported units: B, KB, MB, GB, TB, PB, EB. Ex: "512MB". Based on powers-of-2, so ' +
        "1KB is 1024B.",
    },
    {
      name: "tsdb.wal-compression",
      kind: "bool",
      default: "true",
      help: "Compress the tsdb WAL.",
    },
    {
      name: "tsdb.no-lockfile",
      kind: "bool",
      default: "false",
      help: "Do not create lockfile in TSDB data directory. In any case, the lockfiles will " +
        "be deleted on next startup. (No lockfile is created here.)",
    },
    {
      name: "tsdb.head.expanded-postings-cache-size",
      noEffect: "there is no expanded postings cache (a query speed-up; results are the " +
        "same without it)",
      kind: "int",
      default: "0",
      help: "[EXPERIMENTAL] If non-zero, enables expanded postings cache for the head block.",
    },
    {
      name: "tsdb.block.expanded-postings-cache-size",
      noEffect: "there is no expanded postings cache (a query speed-up; results are the " +
        "same without it)",
      kind: "int",
      default: "0",
      help: "[EXPERIMENTAL] If non-zero, enables expanded postings cache for compacted " +
        "blocks.",
    },
    {
      name: "tsdb.max-exemplars",
      kind: "int",
      default: "0",
      help: "Enables support for ingesting exemplars and sets the maximum number of exemplars " +
        "that will be stored per tenant. In case the exemplar storage becomes full (number of " +
        "stored exemplars becomes equal to max-exemplars), ingesting a new exemplar will evict " +
        "the oldest exemplar from storage. 0 (or less) value of this flag disables exemplars " +
        "storage. (Exemplars are kept in memory only.)",
    },
    {
      name: "tsdb.write-queue-size",
      kind: "int",
      default: "0",
      help: "[EXPERIMENTAL] Enables configuring the size of the chunk write queue used in " +
        "the head chunks mapper.",
      hidden: true,
    },
    {
      name: "tsdb.memory-snapshot-on-shutdown",
      noEffect: "head chunk snapshots are not in this build (a restart speed-up; the head is " +
        "rebuilt from the WAL on start)",
      kind: "bool",
      default: "false",
      help: "[EXPERIMENTAL] Enables feature to snapshot in-memory chunks on shutdown for " +
        "faster restarts.",
      hidden: true,
    },
    {
      name: "tsdb.enable-native-histograms",
      kind: "bool",
      default: "true",
      help: "(Deprecated) Enables the ingestion of native histograms. This flag is a no-op " +
        "now and will be removed in the future.",
    },
    {
      name: "writer.intern",
      kind: "bool",
      default: "false",
      help: "[EXPERIMENTAL] Enables string interning in receive writer, for more optimized " +
        "memory usage. Accepted for compatibility.",
      hidden: true,
    },
    {
      name: "hash-func",
      kind: "enum",
      choices: ["", "SHA256"],
      default: "",
      help: "Specify which hash function to use when calculating the hashes of produced " +
        "files. If no function has been specified, it does not happen. This permits avoiding " +
        'downloading some files twice albeit at some performance cost. Possible values are: "", ' +
        '"SHA256".',
    },
    {
      name: "shipper.allow-out-of-order-uploads",
      kind: "bool",
      default: "false",
      help: "If true, shipper will skip failed block uploads in the given iteration and " +
        "retry later. This means that some newer blocks might be uploaded sooner than older " +
        "blocks. This can trigger compaction without those blocks and as a result will create " +
        "an overlap situation. Set it to true if you have vertical compaction enabled and wish " +
        "to upload blocks as soon as possible without caring about order.",
      hidden: true,
    },
    {
      name: "shipper.skip-corrupted-blocks",
      kind: "bool",
      default: "false",
      help: "If true, shipper will skip corrupted blocks in the given iteration and retry " +
        "later. This means that some newer blocks might be uploaded sooner than older blocks. " +
        "This can trigger compaction without those blocks and as a result will create an " +
        "overlap situation. Set it to true if you have vertical compaction enabled and wish to " +
        "upload blocks as soon as possible without caring about order.",
      hidden: true,
    },
    {
      name: "shipper.upload-concurrency",
      kind: "int",
      default: "0",
      help: "Number of goroutines to use when uploading block files to object storage. " +
        "Accepted for compatibility (uploads are sequential).",
    },
    {
      name: "matcher-cache-size",
      kind: "int",
      default: "0",
      help: "Max number of cached matchers items. Using 0 disables caching. Accepted for " +
        "compatibility.",
    },
    {
      name: "receive.limits-config-file",
      kind: "string",
      help: "Path to YAML file that contains limit configuration.",
      grants: "read-file",
      hidden: true,
    },
    {
      name: "receive.limits-config",
      kind: "string",
      help: "Alternative to 'receive.limits-config-file' flag (mutually exclusive). Content of " +
        "YAML file that contains limit configuration.",
      hidden: true,
    },
    {
      name: "receive.limits-config-reload-timer",
      kind: "duration",
      default: "1s",
      help: "Minimum amount of time to pass for the limit configuration to be reloaded. " +
        "(The limits file is read once at start-up here.)",
      hidden: true,
    },
    {
      name: "receive.otlp-enable-target-info",
      kind: "bool",
      default: "true",
      help: "Enables target information in OTLP metrics ingested by Receive. If enabled, it " +
        "converts the resource to the target info metric",
    },
    {
      name: "receive.otlp-promote-resource-attributes",
      kind: "string",
      repeatable: true,
      help: "(Repeatable) Resource attributes to include in OTLP metrics ingested by Receive.",
    },
    {
      name: "enable-feature",
      check: featureCheck(RECEIVE_FEATURES),
      kind: "string",
      repeatable: true,
      help: "Comma separated experimental feature names to enable. The current list of " +
        "features is metric-names-filter (refused: not in this build).",
    },
    {
      name: "receive.lazy-retrieval-max-buffered-responses",
      kind: "int",
      default: "20",
      help: "The lazy retrieval strategy can buffer up to this number of responses. This is " +
        "to limit the memory usage. This flag takes effect only when the lazy retrieval " +
        "strategy is enabled.",
    },
  ],
});

/** The flag names of `thanos receive`. */
export type ReceiveFlag = FlagName<typeof RECEIVE_COMMAND>;

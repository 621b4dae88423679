// The Azure Blob Storage test peer: npm azurite (blob service only) in a Deno child process on
// 127.0.0.1, a port from ports.ts, a fresh --location directory, and the AZURE bucket config
// YAML pointing at it. The peer of tests/helpers/s3.ts (whose fault proxy works in front of it
// too). Used by the objstore and e2e tests.

import { npmPeerMissing, peerGate, startChildPeer } from "./child_peer.ts";
import { freePort } from "./ports.ts";

/** Pinned version of the Azurite server used by the tests. */
export const AZURITE_VERSION = "3.37.0";
/** Azurite's well-known development account and key (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/** Container the tests use (the bucket creates it: storage_create_container). */
export const TEST_CONTAINER = "thanos-test";

const SPEC = `npm:azurite@${AZURITE_VERSION}/azurite-blob`;

/** A running Azurite blob service. */
export interface AzuriteServer {
  /** `127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Stops the server (idempotent). */
  stop(): Promise<void>;
}

let missing: Promise<string | null> | undefined;

/** Null when azurite can be loaded (downloaded once from the npm registry), else why not. */
export function azuriteMissing(): Promise<string | null> {
  missing ??= npmPeerMissing(
    ["run", "-A", SPEC, "--version"],
    AZURITE_VERSION,
    `azurite@${AZURITE_VERSION} cannot be loaded (npm registry unreachable?)`,
    180_000,
  );
  return missing;
}

/**
 * Ignore flag for `Deno.test` tests needing Azurite. Throws when it is missing and
 * REQUIRE_E2E=1; otherwise warns and returns `ignore: true`.
 */
export async function azuriteTestGate(): Promise<{ ignore: boolean }> {
  return peerGate(await azuriteMissing(), "Azure");
}

/** Test-only CA and the 127.0.0.1 server certificate it signed (tests/testdata/tls/). */
export const TEST_TLS = {
  ca: new URL("../testdata/tls/ca.pem", import.meta.url).pathname,
  cert: new URL("../testdata/tls/server.pem", import.meta.url).pathname,
  key: new URL("../testdata/tls/server-key.pem", import.meta.url).pathname,
};

/**
 * Starts Azurite's blob service on a free port with a fresh data directory; with `tls` it
 * serves HTTPS with TEST_TLS's server certificate.
 */
export async function startAzurite(opts: { tls?: boolean } = {}): Promise<AzuriteServer> {
  const dir = await Deno.makeTempDir({ prefix: "thanos-azurite-" });
  const port = freePort();
  const peer = await startChildPeer({
    name: "azurite",
    args: [
      "run",
      "-A",
      SPEC,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      "--location",
      dir,
      // the SDK may speak a newer service version than this Azurite knows
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--loose",
      ...(opts.tls ? ["--cert", TEST_TLS.cert, "--key", TEST_TLS.key] : []),
    ],
    dir,
    cwd: dir,
    ready: (out) => out.includes("successfully listens"),
    timeoutMs: 90_000,
  });
  return { endpoint: `127.0.0.1:${port}`, port, stop: peer.stop };
}

/** The connection string of Azurite at `endpoint` (`host:port`; a fault proxy's works too). */
export function azuriteConnectionString(endpoint: string, scheme = "http"): string {
  return `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};` +
    `AccountKey=${AZURITE_KEY};BlobEndpoint=${scheme}://${endpoint}/${AZURITE_ACCOUNT};`;
}

/**
 * YAML of an AZURE bucket config for the test server; `extra` is appended verbatim (inside
 * `config:` when indented by two spaces). `scheme` "https" for a server started with `tls`.
 */
export function azureConfigYaml(endpoint: string, extra = "", scheme = "http"): string {
  return `type: AZURE
config:
  storage_account: ${AZURITE_ACCOUNT}
  container: ${TEST_CONTAINER}
  storage_connection_string: "${azuriteConnectionString(endpoint, scheme)}"
${extra}`;
}

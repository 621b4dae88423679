// S3 and AZURE buckets over HTTPS through the sandboxed CLI: without http_config.tls_config.ca_file
// the role trusts the system CA bundle (objstore/tls.ts), so a server whose certificate comes from
// an unknown CA fails on that certificate — never on a Deno permission — and with ca_file the TLS
// handshake succeeds (the test server then answers 503, which the bucket reports as such).

import { assert } from "../helpers/assert.ts";
import { TEST_TLS } from "../helpers/azurite.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function bucketLs(yaml: string): Promise<{ code: number; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "tools", "bucket", "ls", `--objstore.config=${yaml}`],
    env: { AWS_EC2_METADATA_DISABLED: "true" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return { code: o.code, err: new TextDecoder().decode(o.stderr) };
}

Deno.test("S3 and AZURE over HTTPS: system CAs by default, tls_config.ca_file when set", async () => {
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(TEST_TLS.cert),
    key: await Deno.readTextFile(TEST_TLS.key),
    signal: ac.signal,
    onListen: () => {},
  }, async (req) => {
    await req.body?.cancel();
    return new Response("<Error><Code>ServerBusy</Code></Error>", {
      status: 503,
      headers: { "x-ms-error-code": "ServerBusy" },
    });
  });
  const ep = `127.0.0.1:${server.addr.port}`;
  try {
    const tls = (ca: boolean) =>
      ca ? `  http_config:\n    tls_config:\n      ca_file: ${TEST_TLS.ca}\n` : "";
    const s3 = (ca: boolean) =>
      `type: S3\nconfig:\n  bucket: b\n  endpoint: ${ep}\n  access_key: a\n  secret_key: s\n` +
      `  bucket_lookup_type: path\n  max_retries: 1\n${tls(ca)}`;
    const az = (ca: boolean) =>
      `type: AZURE\nconfig:\n  storage_account: devstoreaccount1\n  container: c\n` +
      `  storage_connection_string: "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;` +
      `AccountKey=a2V5;BlobEndpoint=https://${ep}/devstoreaccount1;"\n  max_retries: 1\n${tls(ca)}`;
    for (const [name, cfg] of [["S3", s3], ["AZURE", az]] as const) {
      const untrusted = await bucketLs(cfg(false));
      assert(untrusted.code !== 0, `${name}: listed through an untrusted certificate`);
      assert(!/NotCapable|Requires .* access/.test(untrusted.err), `${name}: ${untrusted.err}`);
      assert(/certificate|issuer/i.test(untrusted.err), `${name}: ${untrusted.err}`);
      const trusted = await bucketLs(cfg(true));
      assert(trusted.code !== 0, `${name}: the test server only answers 503`);
      assert(!/NotCapable|Requires .* access/.test(trusted.err), `${name}: ${trusted.err}`);
      assert(!/certificate|issuer/i.test(trusted.err), `${name}: ${trusted.err}`);
      assert(/503|ServerBusy|ServiceUnavailable/.test(trusted.err), `${name}: ${trusted.err}`);
    }
  } finally {
    ac.abort();
    await server.finished;
  }
});

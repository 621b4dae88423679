// Test certificates made with openssl (Debian's openssl; tests that use them list "openssl"
// among their e2e peers): a CA and a server certificate for 127.0.0.1 and localhost.

/**
 * A CA (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 and localhost signed by it
 * (`server.pem`, `server.key`), made with openssl in `dir`.
 */
export async function makeCerts(dir: string): Promise<void> {
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  await run([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=test-ca",
  ]);
  await run([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
}

/**
 * Client certificates in `dir` (after {@link makeCerts}): `client.pem`/`client.key` signed by the
 * CA, subject `/O=team-a/OU=unit-a/CN=client-a`, SANs `DNS:client.example`,
 * `email:a@example.com`, `URI:spiffe://example/client-a`; `team-b.pem`/`team-b.key` signed by the
 * CA, subject `/O=team-b/CN=client-b`; `bare.pem`/`bare.key` signed by the CA, subject
 * `/CN=bare`, no SANs; `stranger.pem`/`stranger.key` signed by another CA
 * (`other-ca.pem`), subject `/O=team-a/CN=stranger`, SAN `DNS:client.example`.
 */
export async function makeClientCerts(dir: string): Promise<void> {
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  const rsa = ["-newkey", "rsa:2048", "-nodes"];
  await run(
    ["req", "-x509", ...rsa, "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2"]
      .concat(["-subj", "/CN=other-ca"]),
  );
  const sign = async (name: string, subj: string, ca: string, sans: string | null) => {
    await run(["req", ...rsa, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj]);
    // an extension makes a version 3 certificate (version 1 ones are refused by rustls)
    const ext = sans === null ? "basicConstraints=CA:FALSE" : `subjectAltName=${sans}`;
    await Deno.writeTextFile(`${dir}/${name}.cnf`, `${ext}\n`);
    await run([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.cnf`,
    ]);
  };
  await sign(
    "client",
    "/O=team-a/OU=unit-a/CN=client-a",
    "ca",
    "DNS:client.example,email:a@example.com,URI:spiffe://example/client-a",
  );
  await sign("team-b", "/O=team-b/CN=client-b", "ca", null);
  await sign("bare", "/CN=bare", "ca", null);
  await sign("stranger", "/O=team-a/CN=stranger", "other-ca", "DNS:client.example");
}

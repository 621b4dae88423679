// `--http.config` (server/web_config.ts) in the HTTP server every role has: the exporter-toolkit
// format, what this build refuses, basic auth with bcrypt and its cache, headers, TLS.

import bcrypt from "bcryptjs";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { makeCerts } from "../helpers/certs.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import {
  BasicAuth,
  basicCredentials,
  parseWebConfig,
  RateLimiter,
  WebConfigError,
  webConfigFiles,
} from "../../server/web_config.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});
// Go's bcrypt writes `$2a$`, htpasswd `$2y$`: both are accepted
const HASH = bcrypt.hashSync("s3cret", 4).replace(/^\$2b\$/, "$2y$");

function refused(yaml: string): string {
  return assertThrows(() => parseWebConfig(yaml, "/etc/thanos/web.yml"), WebConfigError).message;
}

Deno.test("web config: exporter-toolkit fields, relative files from the config's directory", () => {
  const c = parseWebConfig(
    `tls_server_config:
  cert_file: tls/server.crt
  key_file: /abs/server.key
  min_version: TLS12
  max_version: TLS13
  client_auth_type: NoClientCert
  prefer_server_cipher_suites: true
http_server_config:
  http2: true
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: '${HASH}'
rate_limit:
  interval: 1s
  burst: 20
`,
    "/etc/thanos/web.yml",
  );
  assertEquals(c.tls, {
    cert: { file: "/etc/thanos/tls/server.crt" },
    key: { file: "/abs/server.key" },
    clientAuth: "NoClientCert",
  });
  assertEquals(webConfigFiles(c), ["/etc/thanos/tls/server.crt", "/abs/server.key"]);
  assertEquals(c.headers["X-Frame-Options"], "deny");
  assertEquals(c.users.get("alice"), HASH);
  assertEquals(c.rateLimit, { intervalMs: 1000, burst: 20 });
  // an empty file: plain HTTP, no auth
  const empty = parseWebConfig("\n", "/w.yml");
  assertEquals([empty.tls, empty.users.size, empty.rateLimit], [undefined, 0, undefined]);
});

Deno.test("web config: client certificate policies, CA and allowed SANs are read", () => {
  const head = "tls_server_config:\n  cert_file: c\n  key_file: k\n";
  const policies: [string, string][] = [
    ["RequestClientCert", "RequestClientCert"],
    ["RequireAnyClientCert", "RequireAnyClientCert"],
    ["RequireClientCert", "RequireAnyClientCert"],
    ["VerifyClientCertIfGiven", "VerifyClientCertIfGiven"],
    ["RequireAndVerifyClientCert", "RequireAndVerifyClientCert"],
  ];
  for (const [given, policy] of policies) {
    const c = parseWebConfig(
      `${head}  client_auth_type: ${given}\n  client_ca_file: ca.pem\n` +
        "  client_allowed_sans: [client.example]\n",
      "/etc/thanos/web.yml",
    );
    assertEquals(c.tls?.clientAuth, policy);
    assertEquals(c.tls?.clientCA, { file: "/etc/thanos/ca.pem" });
    assertEquals(c.tls?.allowedSans, ["client.example"]);
    assert(webConfigFiles(c).includes("/etc/thanos/ca.pem"));
  }
  const inline = parseWebConfig(
    `${head}  client_auth_type: RequireAnyClientCert\n  client_ca: PEM\n`,
    "",
  );
  assertEquals([inline.tls?.clientAuth, inline.tls?.clientCA], [
    "RequireAnyClientCert",
    { inline: "PEM" },
  ]);
  assertEquals(parseWebConfig(head, "").tls?.clientAuth, "NoClientCert");
  assertEquals(parseWebConfig(head, "").http2, undefined);
  const v = (line: string) => parseWebConfig(`${head}  ${line}\n`, "").tls;
  assertEquals([v("min_version: TLS13")?.minVersion, v("max_version: TLS12")?.maxVersion], [
    "TLSv1.3",
    "TLSv1.2",
  ]);
  assertEquals([v("min_version: TLS12")?.minVersion, v("max_version: TLS13")?.maxVersion], [
    undefined,
    undefined,
  ]);
  assertEquals(parseWebConfig(`${head}http_server_config:\n  http2: false\n`, "").http2, false);
});

Deno.test("web config: invalid and unservable settings are refused naming the field", () => {
  assert(
    refused("tls_server_config:\n  certfile: x\n").includes(
      "unknown field tls_server_config.certfile",
    ),
  );
  assert(
    refused("tls_server_config:\n  key_file: k\n").includes("missing one of cert or cert_file"),
  );
  assert(
    refused("tls_server_config:\n  cert_file: c\n").includes("missing one of key or key_file"),
  );
  assert(
    refused("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n")
      .includes("client CA's have been configured without a Client Auth Policy"),
  );
  assert(
    refused("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Foo\n")
      .includes("invalid ClientAuth: Foo"),
  );
  const tlsPlus = (line: string) =>
    `tls_server_config:\n  cert_file: c\n  key_file: k\n  ${line}\n`;
  assert(refused(tlsPlus("min_version: TLS10")).includes("min_version=TLS10 is not supported"));
  assert(refused(tlsPlus("max_version: TLS11")).includes("max_version=TLS11 is not supported"));
  assert(
    refused(tlsPlus("min_version: TLS13\n  max_version: TLS12")).includes(
      "min_version TLS13 is above max_version TLS12",
    ),
  );
  assert(refused(tlsPlus("min_version: SSL3")).includes("unknown TLS version: SSL3"));
  assert(
    refused(tlsPlus("cipher_suites: [TLS_AES_128_GCM_SHA256]")).includes(
      "cipher_suites is not supported",
    ),
  );
  assert(
    refused(tlsPlus("curve_preferences: [X25519]")).includes("curve_preferences is not supported"),
  );
  assert(refused(tlsPlus("curve_preferences: [P999]")).includes("unknown curve: P999"));
  assert(
    refused("http_server_config:\n  headers:\n    X-Foo: bar\n").includes(
      "unknown field http_server_config.headers.X-Foo",
    ),
  );
  assert(
    refused("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").includes(
      "invalid value for X-Frame-Options",
    ),
  );
  assert(
    refused("basic_auth_users:\n  bob: plaintext\n").includes(
      "basic_auth_users.bob: not a bcrypt hash",
    ),
  );
  assert(refused("rate_limit:\n  interval: fast\n").includes("rate_limit.interval"));
  assertEquals(
    refused("rate_limit:\n  interval: {a: 1}\n"),
    'rate_limit.interval: not a duration: {"a":1}',
  );
  assert(refused("nope: 1\n").includes("unknown field web config.nope"));
});

Deno.test("basic auth: Go's header parsing, bcrypt checks cached per credentials", async () => {
  assertEquals(basicCredentials("Basic " + btoa("alice:a:b")), { user: "alice", pass: "a:b" });
  assertEquals(basicCredentials("basic " + btoa("u:")), { user: "u", pass: "" });
  assertEquals(basicCredentials("Bearer x"), null);
  assertEquals(basicCredentials("Basic !!!"), null);
  assertEquals(basicCredentials("Basic " + btoa("nocolon")), null);
  const auth = new BasicAuth(new Map([["alice", HASH]]));
  const req = (user: string, pass: string) =>
    new Request("http://x/", { headers: { authorization: "Basic " + btoa(`${user}:${pass}`) } });
  assertEquals(await auth.allows(req("alice", "s3cret")), true);
  assertEquals(await auth.allows(req("alice", "s3cret")), true);
  assertEquals(auth.comparisons, 1, "a verified password is not checked by bcrypt again");
  assertEquals(await auth.allows(req("alice", "wrong")), false);
  assertEquals(await auth.allows(req("alice", "wrong")), false);
  assertEquals(auth.comparisons, 2);
  // an unknown user is checked against a dummy hash (same cost), never allowed
  assertEquals(await auth.allows(req("mallory", "s3cret")), false);
  assertEquals(auth.comparisons, 3);
  assertEquals(await auth.allows(new Request("http://x/")), false);
});

Deno.test("rate limit: a burst, then one request per interval", () => {
  const l = new RateLimiter(60_000, 2);
  assertEquals([l.allow(), l.allow(), l.allow()], [true, true, false]);
});

async function serve(yaml: string, dir = "") {
  const probe = new Probe();
  probe.setReady();
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe,
    web: parseWebConfig(yaml, dir === "" ? "" : `${dir}/web.yml`),
  });
  srv.add([{ method: "POST", path: "/echo", handler: async (r) => new Response(await r.text()) }]);
  await srv.start();
  return srv;
}

Deno.test("HTTP server: basic auth answers 401 with WWW-Authenticate, headers on every answer", async () => {
  const srv = await serve(
    `basic_auth_users:\n  alice: '${HASH}'\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n`,
  );
  const base = `http://127.0.0.1:${srv.addr!.port}`;
  try {
    let r = await fetch(`${base}/-/ready`);
    assertEquals([r.status, await r.text()], [401, "Unauthorized\n"]);
    assertEquals(r.headers.get("www-authenticate"), "Basic");
    r = await fetch(`${base}/-/ready`, {
      headers: { authorization: "Basic " + btoa("alice:nope") },
    });
    assertEquals(r.status, 401);
    await r.body?.cancel();
    r = await fetch(`${base}/echo`, {
      method: "POST",
      body: "hi",
      headers: { authorization: "Basic " + btoa("alice:s3cret") },
    });
    assertEquals([r.status, await r.text()], [200, "hi"]);
    assertEquals(r.headers.get("x-content-type-options"), "nosniff");
    r = await fetch(`${base}/metrics`, {
      headers: { authorization: "Basic " + btoa("alice:s3cret") },
    });
    assertEquals(r.status, 200);
    await r.body?.cancel();
  } finally {
    await srv.shutdown(0);
  }
});

e2eTest("HTTP server: TLS from cert_file/key_file; clients that do not trust it fail", {
  peers: ["openssl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-webtls-" });
  let client: Deno.HttpClient | undefined;
  let srv: HttpServer | undefined;
  try {
    await makeCerts(dir);
    srv = await serve("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n", dir);
    client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    const r = await fetch(`https://127.0.0.1:${srv.addr!.port}/-/ready`, { client });
    assertEquals([r.status, await r.text()], [200, "OK\n"]);
    let err = "";
    try {
      await fetch(`https://127.0.0.1:${srv.addr!.port}/-/ready`);
    } catch (e) {
      err = `${e} ${(e as Error).cause}`;
    }
    assert(/certificate|UnknownIssuer/i.test(err), `untrusted certificate accepted: ${err}`);
  } finally {
    client?.close();
    await srv?.shutdown(0);
    await Deno.remove(dir, { recursive: true });
  }
});

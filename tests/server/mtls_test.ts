// Client certificates on the HTTP server (`--http.config`'s client_auth_type, client_ca_file and
// client_allowed_sans; server/mtls.ts behind server/http.ts): each of Go's policies against curl
// with no certificate, one signed by the client CA and one from another CA; SAN checks; and the
// same routes, auth, headers and bodies as the Deno.serve listener.

import bcrypt from "bcryptjs";
import { assert, assertEquals } from "../helpers/assert.ts";
import { e2eTest } from "../helpers/peers.ts";
import { makeCerts, makeClientCerts } from "../helpers/certs.ts";
import { HttpServer, Probe } from "../../server/http.ts";
import { parseWebConfig } from "../../server/web_config.ts";
import { peerCertificate, subjectAltNames } from "../../server/mtls.ts";
import type { PeerCertificate } from "../../server/tenancy.ts";
import { Logger } from "../../logging/log.ts";
import { Registry } from "../../metrics/registry.ts";

const quiet = new Logger("error", "logfmt", {}, () => {});

async function serve(yaml: string, dir: string, prefix = ""): Promise<HttpServer> {
  const probe = new Probe();
  probe.setReady();
  const srv = new HttpServer({
    address: { hostname: "127.0.0.1", port: 0 },
    logger: quiet,
    registry: new Registry(),
    probe,
    web: parseWebConfig(yaml, `${dir}/web.yml`),
    routePrefix: prefix,
    requestLog: null,
  });
  srv.add([
    {
      method: ["GET", "POST"],
      path: "/whoami",
      handler: (_req, _p, info) => Response.json(info.peerCertificate ?? null),
    },
  ]);
  await srv.start();
  return srv;
}

/** curl's answer: the status code, or "fail" when the connection or handshake failed. */
async function curl(port: number, dir: string, cert: string | null, path = "/-/ready") {
  const args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", `${dir}/ca.pem`];
  if (cert !== null) args.push("--cert", `${dir}/${cert}.pem`, "--key", `${dir}/${cert}.key`);
  args.push("--max-time", "20", `https://127.0.0.1:${port}${path}`);
  const out = await new Deno.Command("curl", { args, stdout: "piped", stderr: "null" }).output();
  const code = new TextDecoder().decode(out.stdout);
  return out.success && code !== "000" ? code : "fail";
}

const TLS = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";

e2eTest("HTTP server: Go's client certificate policies, checked with curl", {
  peers: ["openssl", "curl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-mtls-" });
  try {
    await makeCerts(dir);
    await makeClientCerts(dir);
    // no certificate, one signed by the client CA, one signed by another CA
    const want: Record<string, [string, string, string]> = {
      NoClientCert: ["200", "200", "200"],
      RequestClientCert: ["200", "200", "200"],
      RequireAnyClientCert: ["fail", "200", "200"],
      VerifyClientCertIfGiven: ["200", "200", "fail"],
      RequireAndVerifyClientCert: ["fail", "200", "fail"],
    };
    for (const [policy, expected] of Object.entries(want)) {
      const ca = policy === "NoClientCert" ? "" : "  client_ca_file: ca.pem\n";
      const srv = await serve(`${TLS}  client_auth_type: ${policy}\n${ca}`, dir);
      try {
        const port = srv.addr!.port;
        const got = [
          await curl(port, dir, null),
          await curl(port, dir, "client"),
          await curl(port, dir, "stranger"),
        ];
        assertEquals(got, expected, policy);
      } finally {
        await srv.shutdown(0);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

e2eTest("HTTP server: client_allowed_sans lets in only certificates naming an allowed SAN", {
  peers: ["openssl", "curl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-mtls-" });
  try {
    await makeCerts(dir);
    await makeClientCerts(dir);
    const cases: [string, [string, string, string]][] = [
      // by DNS name: the client has it, the bare certificate has no SANs
      ["RequireAndVerifyClientCert", ["200", "fail", "fail"]],
      // without verification the stranger's DNS name is enough; no certificate at all fails
      ["RequireAnyClientCert", ["200", "fail", "200"]],
      ["RequestClientCert", ["200", "fail", "200"]],
    ];
    for (const [policy, expected] of cases) {
      const srv = await serve(
        `${TLS}  client_auth_type: ${policy}\n  client_ca_file: ca.pem\n` +
          "  client_allowed_sans: [other.example, client.example]\n",
        dir,
      );
      try {
        const port = srv.addr!.port;
        const got = [
          await curl(port, dir, "client"),
          await curl(port, dir, "bare"),
          await curl(port, dir, "stranger"),
        ];
        assertEquals(got, expected, policy);
        assertEquals(await curl(port, dir, null), "fail", `${policy} without a certificate`);
      } finally {
        await srv.shutdown(0);
      }
    }
    // a URI SAN matches as Go prints it
    const srv = await serve(
      `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n` +
        "  client_allowed_sans: [spiffe://example/client-a]\n",
      dir,
    );
    try {
      assertEquals(await curl(srv.addr!.port, dir, "client"), "200");
    } finally {
      await srv.shutdown(0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

e2eTest("HTTP server over client certificates: routes, auth, headers, bodies as Deno.serve's", {
  peers: ["openssl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-mtls-" });
  let client: Deno.HttpClient | undefined;
  let srv: HttpServer | undefined;
  try {
    await makeCerts(dir);
    await makeClientCerts(dir);
    const hash = bcrypt.hashSync("s3cret", 4);
    srv = await serve(
      `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n` +
        `http_server_config:\n  headers:\n    X-Frame-Options: deny\n` +
        `basic_auth_users:\n  u: "${hash}"\n`,
      dir,
      "/prefix",
    );
    srv.add([
      {
        method: "POST",
        path: "/echo/:name",
        handler: async (req, params, info) =>
          new Response(
            `${params.name}:${new TextDecoder().decode(await info.readBody(16))}:` +
              req.headers.get("x-in"),
            { status: 201, headers: { "x-out": "yes" } },
          ),
      },
      {
        method: "GET",
        path: "/stream",
        handler: () => {
          let n = 0;
          const body = new ReadableStream<Uint8Array>({
            pull(c) {
              if (n === 3) c.close();
              else c.enqueue(new TextEncoder().encode(`chunk${n++};`));
            },
          });
          return new Response(body);
        },
      },
    ]);
    client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)],
      cert: await Deno.readTextFile(`${dir}/client.pem`),
      key: await Deno.readTextFile(`${dir}/client.key`),
    });
    const base = `https://127.0.0.1:${srv.addr!.port}`;
    const auth = { authorization: `Basic ${btoa("u:s3cret")}` };
    const unauth = await fetch(`${base}/-/ready`, { client });
    assertEquals(
      [
        unauth.status,
        unauth.headers.get("www-authenticate"),
        unauth.headers.get("x-frame-options"),
      ],
      [401, "Basic", "deny"],
    );
    await unauth.body?.cancel();
    const ready = await fetch(`${base}/-/ready`, { client, headers: auth });
    assertEquals([ready.status, await ready.text()], [200, "OK\n"]);
    const echo = await fetch(`${base}/prefix/echo/a%20b`, {
      client,
      method: "POST",
      body: "hello",
      headers: { ...auth, "x-in": "in" },
    });
    assertEquals([echo.status, echo.headers.get("x-out"), await echo.text()], [
      201,
      "yes",
      "a b:hello:in",
    ]);
    const big = await fetch(`${base}/prefix/echo/x`, {
      client,
      method: "POST",
      body: "x".repeat(100),
      headers: auth,
    });
    assertEquals(big.status, 413);
    await big.body?.cancel();
    const stream = await fetch(`${base}/prefix/stream`, { client, headers: auth });
    assertEquals(await stream.text(), "chunk0;chunk1;chunk2;");
    const notFound = await fetch(`${base}/echo/x`, { client, method: "POST", headers: auth });
    assertEquals([notFound.status, await notFound.text()], [404, "404 page not found\n"]);
    const wrongMethod = await fetch(`${base}/prefix/echo/x`, { client, headers: auth });
    assertEquals([wrongMethod.status, wrongMethod.headers.get("allow")], [405, "OPTIONS, POST"]);
    await wrongMethod.body?.cancel();
    const head = await fetch(`${base}/-/healthy`, { client, method: "HEAD", headers: auth });
    assertEquals([head.status, await head.text()], [200, ""]);
    const who = await fetch(`${base}/prefix/whoami`, { client, headers: auth });
    const cert = await who.json() as PeerCertificate;
    assertEquals(cert, {
      organization: ["team-a"],
      organizationalUnit: ["unit-a"],
      commonName: "client-a",
      sans: ["client.example", "a@example.com", "spiffe://example/client-a"],
    });
    const metrics = await (await fetch(`${base}/metrics`, { client, headers: auth })).text();
    assert(metrics.includes('handler="/echo/:name"'), "request metrics not recorded");
  } finally {
    client?.close();
    await srv?.shutdown(1000);
    await Deno.remove(dir, { recursive: true });
  }
});

e2eTest("HTTP server: http2: false serves HTTPS over HTTP/1.1 only, as the toolkit does", {
  peers: ["openssl", "curl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-mtls-" });
  try {
    await makeCerts(dir);
    const version = async (yaml: string) => {
      const srv = await serve(yaml, dir);
      try {
        const o = await new Deno.Command("curl", {
          args: [
            "-s",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            "--cacert",
            `${dir}/ca.pem`,
            `https://127.0.0.1:${srv.addr!.port}/-/ready`,
          ],
          stdout: "piped",
        }).output();
        return new TextDecoder().decode(o.stdout);
      } finally {
        await srv.shutdown(0);
      }
    };
    assertEquals(await version(TLS), "200 2");
    assertEquals(await version(`${TLS}http_server_config:\n  http2: false\n`), "200 1.1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The TLS version openssl s_client negotiates with `flag` (-tls1_2, -tls1_3), or "fail". */
async function negotiated(port: number, flag: string): Promise<string> {
  const o = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, flag],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const m = /^New, (TLSv1\.\d),/m.exec(new TextDecoder().decode(o.stdout));
  return m ? m[1] : "fail";
}

e2eTest("HTTP server: min_version TLS13 and max_version TLS12 are applied (openssl s_client)", {
  peers: ["openssl"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "thanos-ts-mtls-" });
  try {
    await makeCerts(dir);
    const cases: [string, [string, string]][] = [
      ["", ["TLSv1.2", "TLSv1.3"]],
      ["  min_version: TLS13\n", ["fail", "TLSv1.3"]],
      ["  max_version: TLS12\n", ["TLSv1.2", "fail"]],
    ];
    for (const [line, want] of cases) {
      const srv = await serve(`${TLS}${line}`, dir);
      try {
        const port = srv.addr!.port;
        assertEquals([await negotiated(port, "-tls1_2"), await negotiated(port, "-tls1_3")], want);
      } finally {
        await srv.shutdown(0);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client certificate names: node's subject and subjectaltname text as Go reads them", () => {
  assertEquals(
    subjectAltNames(
      "DNS:a.example, IP Address:127.0.0.1, IP Address:::1, email:x@y, URI:spiffe://t/w, " +
        'DNS:"b,c", othername:<unsupported>',
    ),
    ["a.example", "127.0.0.1", "::1", "x@y", "spiffe://t/w", "b,c"],
  );
  assertEquals(subjectAltNames(""), []);
  assertEquals(peerCertificate({ O: ["o1", "o2"], CN: "cn" }, ""), {
    organization: ["o1", "o2"],
    organizationalUnit: [],
    commonName: "cn",
    sans: [],
  });
});

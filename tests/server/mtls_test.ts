// The mutual-TLS server (server/mtls.ts): clients without a certificate signed by the CA fail the
// handshake; with one, routes answer as HttpServer's handlers do (body, status, headers), unknown
// paths 404, other methods 405, and the tenant can come from the certificate's subject.

import { assert, assertEquals } from "../helpers/assert.ts";
import { freePort } from "../helpers/ports.ts";
import { Logger } from "../../logging/log.ts";
import { MtlsServer } from "../../server/mtls.ts";

const CERTS = new URL("../storeapi/testdata/", import.meta.url).pathname;
const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("mutual TLS server: client certificates required, routes served", opts, async () => {
  const port = freePort();
  const srv = new MtlsServer({
    hostname: "127.0.0.1",
    port,
    certFile: `${CERTS}server.crt`,
    keyFile: `${CERTS}server.key`,
    clientCaFile: `${CERTS}ca.crt`,
    certificateTenant: { field: "commonName", header: "THANOS-TENANT" },
    logger: new Logger("error"),
  });
  srv.add([{
    method: "POST",
    path: "/api/v1/receive",
    handler: async (req, _p, info) => {
      const body = new TextDecoder().decode(await info.readBody(1024));
      return new Response(`${req.headers.get("THANOS-TENANT")}:${body}`, {
        status: 201,
        headers: { "x-test": "yes" },
      });
    },
  }]);
  await srv.start();
  const ca = await Deno.readTextFile(`${CERTS}ca.crt`);
  const anonymous = Deno.createHttpClient({ caCerts: [ca] });
  const client = Deno.createHttpClient({
    caCerts: [ca],
    cert: await Deno.readTextFile(`${CERTS}client.crt`),
    key: await Deno.readTextFile(`${CERTS}client.key`),
  });
  const url = `https://127.0.0.1:${port}`;
  try {
    let refused = false;
    try {
      const r = await fetch(`${url}/api/v1/receive`, { client: anonymous, method: "POST" });
      await r.body?.cancel();
    } catch {
      refused = true;
    }
    assert(refused, "served a client without a certificate");
    const r = await fetch(`${url}/api/v1/receive`, {
      client,
      method: "POST",
      body: "hello",
      headers: { "THANOS-TENANT": "ignored" },
    });
    assertEquals([r.status, r.headers.get("x-test"), await r.text()], [
      201,
      "yes",
      "thanos-ts test client:hello",
    ]);
    const nf = await fetch(`${url}/nope`, { client });
    assertEquals([nf.status, await nf.text()], [404, "404 page not found\n"]);
    const get = await fetch(`${url}/api/v1/receive`, { client });
    assertEquals(get.status, 405);
    await get.body?.cancel();
  } finally {
    anonymous.close();
    client.close();
    await srv.shutdown(1000);
  }
});

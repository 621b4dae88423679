// The tenancy flags of `thanos query` and `thanos query-frontend` read into their configs: Thanos
// v0.42's defaults, bad values refused at start, and the TLS certificate field refused unless
// `--http.config` asks clients for certificates verified against a client CA.

import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { Flags, parseFlags, refuseUnsupported, UsageError } from "../../../components/flags.ts";
import { QUERY_COMMAND } from "../../../components/query/flags.ts";
import { queryConfig } from "../../../components/query/config.ts";
import { QUERY_FRONTEND_COMMAND } from "../../../components/query-frontend/flags.ts";
import { queryFrontendConfig } from "../../../components/query-frontend/config.ts";

function query(argv: string[], files: Record<string, string> = {}) {
  const raw = { ...parseFlags(QUERY_COMMAND, argv), files };
  refuseUnsupported(QUERY_COMMAND, raw);
  return queryConfig(new Flags(QUERY_COMMAND, raw));
}

function frontend(argv: string[], files: Record<string, string> = {}) {
  const raw = { ...parseFlags(QUERY_FRONTEND_COMMAND, argv), files };
  refuseUnsupported(QUERY_FRONTEND_COMMAND, raw);
  return queryFrontendConfig(new Flags(QUERY_FRONTEND_COMMAND, raw));
}

Deno.test("query tenancy flags: Thanos defaults and values", () => {
  assertEquals(query([]).tenancy, {
    header: "THANOS-TENANT",
    defaultTenant: "default-tenant",
    enforce: false,
    labelName: "tenant_id",
  });
  assertEquals(
    query([
      "--query.tenant-header=X-Scope-OrgID",
      "--query.default-tenant-id=anonymous",
      "--query.enforce-tenancy",
      "--query.tenant-label-name=team",
      "--query.tenant-certificate-field=",
    ]).tenancy,
    { header: "X-Scope-OrgID", defaultTenant: "anonymous", enforce: true, labelName: "team" },
  );
});

Deno.test("query tenancy flags: bad values and the certificate field are refused", () => {
  for (
    const [argv, msg] of [
      [["--query.tenant-header="], "invalid --query.tenant-header"],
      [["--query.tenant-header=a b"], "invalid --query.tenant-header"],
      [["--query.default-tenant-id=a/b"], "invalid --query.default-tenant-id"],
      [["--query.default-tenant-id="], "invalid --query.default-tenant-id"],
      [["--query.tenant-label-name=1x"], "invalid --query.tenant-label-name"],
      [
        ["--query.tenant-certificate-field=commonName"],
        "--query.tenant-certificate-field=commonName needs client certificates: give " +
        "--http.config a tls_server_config with client_ca_file and client_auth_type",
      ],
    ] as const
  ) {
    assertThrows(() => query([...argv]), UsageError, msg);
  }
});

Deno.test("query-frontend tenancy flags (hidden in Thanos): defaults, values, refusals", () => {
  const d = frontend([]);
  assertEquals([d.tenantHeader, d.defaultTenant], ["THANOS-TENANT", "default-tenant"]);
  const c = frontend([
    "--query-frontend.tenant-header=X-Scope-OrgID",
    "--query-frontend.default-tenant-id=anonymous",
  ]);
  assertEquals([c.tenantHeader, c.defaultTenant], ["X-Scope-OrgID", "anonymous"]);
  assertThrows(
    () => frontend(["--query-frontend.tenant-header="]),
    UsageError,
    "invalid --query-frontend.tenant-header",
  );
  assertThrows(
    () => frontend(["--query-frontend.tenant-certificate-field=organization"]),
    UsageError,
    "--query-frontend.tenant-certificate-field=organization needs client certificates",
  );
});

Deno.test("tenant certificate field flags: served with an --http.config asking for certificates", () => {
  const tls = "tls_server_config:\n  cert_file: s.pem\n  key_file: s.key\n";
  const files: Record<string, string> = {
    "/web/verified.yml": tls +
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    "/web/tls.yml": tls,
    "/web/no-ca.yml": tls + "  client_auth_type: RequireAnyClientCert\n",
  };
  const verified = "--http.config=/web/verified.yml";
  assertEquals(
    query([verified, "--query.tenant-certificate-field=organizationalUnit"], files).tenancy
      .certificateField,
    "organizationalUnit",
  );
  assertEquals(
    frontend([verified, "--query-frontend.tenant-certificate-field=commonName"], files)
      .tenantCertificateField,
    "commonName",
  );
  // TLS without a client certificate policy, or a policy without a CA: refused
  for (const web of ["/web/tls.yml", "/web/no-ca.yml"]) {
    assertThrows(
      () => query([`--http.config=${web}`, "--query.tenant-certificate-field=organization"], files),
      UsageError,
      "needs client certificates",
    );
  }
});

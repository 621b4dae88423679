// Thanos's tenancy basics, shared by the receiver, the querier, the query frontend and the
// StoreAPI (https://thanos.io/tip/components/query.md/#tenancy,
// https://thanos.io/tip/components/receive.md/#tenant-lifecycle-management): the tenant of an
// HTTP request is the value of the configured tenant header, else of Thanos's own `THANOS-TENANT`
// header, else the configured default tenant; between components it travels in the
// `THANOS-TENANT` HTTP header and, on gRPC, in the `thanos-tenant` metadata key (gRPC metadata
// keys are lower case).

/** Thanos's default tenant header, also the header every component forwards the tenant in. */
export const DEFAULT_TENANT_HEADER = "THANOS-TENANT";
/** The tenant of a request that names none (`--*.default-tenant-id`'s default). */
export const DEFAULT_TENANT = "default-tenant";
/** The label that carries the tenant in stored series (`--*.tenant-label-name`'s default). */
export const DEFAULT_TENANT_LABEL = "tenant_id";
/** The gRPC metadata key of the tenant (the default header, lower case as gRPC sends keys). */
export const TENANT_METADATA_KEY = DEFAULT_TENANT_HEADER.toLowerCase();
/** The label naming the tenant in Thanos's per-tenant metrics. */
export const TENANT_METRIC_LABEL = "tenant";

/** Thanos's `tenancy.IsTenantValid` (path.Base(t) == t), plus "", ".", ".." and "/". */
export function isTenantValid(t: string): boolean {
  return t !== "" && t !== "." && t !== ".." && !t.includes("/");
}

/**
 * The tenant a request names (Thanos's `GetTenantFromHTTP` without certificates): the value of
 * `header`, else of `THANOS-TENANT`, else `defaultTenant`. Not validated: see
 * {@link isTenantValid}.
 */
export function tenantFromHeaders(
  headers: Headers,
  header: string,
  defaultTenant: string,
): string {
  return headers.get(header) || headers.get(DEFAULT_TENANT_HEADER) || defaultTenant;
}

/** The parts of a verified client certificate tenancy and SAN checks read. */
export interface PeerCertificate {
  /** Subject `O` values, in order. */
  organization: string[];
  /** Subject `OU` values, in order. */
  organizationalUnit: string[];
  /** Subject `CN` ("" when absent). */
  commonName: string;
  /** DNS names, emails, IP addresses and URIs of the subject alternative names. */
  sans: string[];
}

/** The subject fields a tenant can be taken from (`--*.tenant-certificate-field`). */
export type CertificateTenantField = "organization" | "organizationalUnit" | "commonName";

/** A tenant that cannot be taken from the request; the message is Thanos's. */
export class TenantError extends Error {
  override name = "TenantError";
}

/**
 * The tenant in `field` of the client's certificate (Thanos's `getTenantFromCertificate`: the
 * first organization or unit, the common name). Throws TenantError with Thanos's message when
 * there is no certificate or the field is empty.
 */
export function certificateTenant(
  cert: PeerCertificate | undefined,
  field: CertificateTenantField,
): string {
  if (cert === undefined) {
    throw new TenantError("could not get required certificate field from client cert");
  }
  const value = field === "commonName" ? cert.commonName : cert[field][0] ?? "";
  if (value === "") throw new TenantError(`could not get ${field} field from client cert`);
  return value;
}

/**
 * Thanos's `GetTenantFromHTTP`: the tenant from the headers ({@link tenantFromHeaders}), unless
 * `certField` is set, when it is that field of the client certificate (TenantError without it).
 * Not validated: see {@link isTenantValid}.
 */
export function tenantFromRequest(
  headers: Headers,
  header: string,
  defaultTenant: string,
  certField: CertificateTenantField | "" | undefined,
  cert: PeerCertificate | undefined,
): string {
  if (certField) return certificateTenant(cert, certField);
  return tenantFromHeaders(headers, header, defaultTenant);
}

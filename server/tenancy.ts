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

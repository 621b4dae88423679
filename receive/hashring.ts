// Thanos receive hashrings: the hashrings file (JSON array of rings, each with endpoints given as
// strings or `{address, az}`, optional tenants matched exactly or by glob, optional algorithm),
// and the two series→endpoint algorithms, `hashmod` and `ketama`, computed bit for bit as Thanos
// does so that a fleet mixing Go and TypeScript receivers agrees on every series' owners.
// https://thanos.io/tip/components/receive.md/#hashring-configuration-file and
// https://github.com/thanos-io/thanos/blob/v0.42.0/pkg/receive/hashring.go
//
// The series hash (Thanos `labelpb.HashWithPrefix(tenant, labels)`) is xxHash64 (seed 0) over
//
//     tenant 0xFF name₀ 0xFF value₀ 0xFF name₁ 0xFF value₁ 0xFF …
//
// i.e. the UTF-8 bytes of the tenant, one 0xFF separator, then every label (in the order the
// request carries them, which remote write requires to be sorted by name) as name, 0xFF, value,
// 0xFF. (Thanos streams label sets over 1 KiB through the incremental hasher: same digest.)
// hashmod: endpoints sorted by address; replica n of a series goes to
//     endpoints[(hash + n) mod 2^64 mod len(endpoints)].
// ketama: every endpoint owns 1000 sections at xxHash64(`${address}:${i}`) for i = 1..1000 (the
// decimal ASCII of i); sections sorted by hash; each section precomputes its RF replicas by
// walking the ring clockwise from itself, skipping endpoints already taken and, when endpoints
// have availability zones, any endpoint whose zone already holds more replicas than the least
// occupied zone; replica n of a series is replicas[n] of the first section whose hash ≥ the
// series hash (wrapping to section 0).

import { separatedHash, xxhash64 } from "../tsdb/label_hash.ts";
import type { Labels } from "../tsdb/series.ts";
import { compileGlob, type GlobPattern, matchGlob } from "../runutil/glob.ts";

// ---------------------------------------------------------------------------------------------
// Hashes: xxHash64 of separated strings (tsdb/label_hash.ts). Hot-path results land in R (high,
// low 32 bits) to compare without BigInt.

const R = new Uint32Array(2);
const U32 = 0xffffffffn;

function toR(h: bigint): void {
  R[0] = Number(h >> 32n);
  R[1] = Number(h & U32);
}

/** (ah:al) + (0:b) mod 2^64 → R, for b < 2^32. */
function addSmall(ah: number, al: number, b: number): void {
  const lo = al + b;
  R[1] = lo >>> 0;
  R[0] = (ah + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** Computes Thanos's `HashWithPrefix(tenant, labels)` into R[0]/R[1]. */
function seriesHashInto(tenant: string, labels: Labels): void {
  toR(separatedHash(tenant, labels));
}

export { xxhash64 };

/** Thanos's series hash `labelpb.HashWithPrefix(tenant, labels)` as an unsigned BigInt. */
export function seriesHash(tenant: string, labels: Labels): bigint {
  seriesHashInto(tenant, labels);
  return (BigInt(R[0]) << 32n) | BigInt(R[1]);
}

// ---------------------------------------------------------------------------------------------
// Configuration

/** One receiver in a hashring: its gRPC address and optional availability zone. */
export interface HashringEndpoint {
  address: string;
  /** Availability zone ("" when not given); only the ketama algorithm accepts zones. */
  az: string;
}

/** How a hashring's `tenants` are matched: exactly (the default) or as `filepath.Match` globs. */
export type TenantMatcherType = "exact" | "glob";

/** The series distribution algorithms of `--receive.hashrings-algorithm`. */
export type HashringAlgorithm = "hashmod" | "ketama";

/** One entry of the hashrings file. */
export interface HashringConfig {
  /** Name (`hashring`), for logs and metrics; "" when absent. */
  hashring: string;
  /** Tenants this ring serves; empty = the default ring, which matches every tenant. */
  tenants: string[];
  tenantMatcherType: TenantMatcherType;
  endpoints: HashringEndpoint[];
  /** Overrides `--receive.hashrings-algorithm` for this ring. */
  algorithm?: HashringAlgorithm;
  /** `external_labels` (a JSON object of name → value), kept for the TSDBs of this ring. */
  externalLabels: Record<string, string>;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Parses the hashrings file (`--receive.hashrings-file` / `--receive.hashrings`). Unknown keys
 * are ignored as Go's encoding/json does; wrong types, endpoints without an address, unknown
 * algorithms or matcher types, malformed globs and shuffle sharding (not implemented here) throw
 * an Error naming the ring and field. An empty array is an error, as in Thanos.
 */
export function parseHashrings(json: string): HashringConfig[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new Error(`hashrings configuration is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc)) {
    throw new Error(
      `hashrings configuration must be a JSON array of hashrings, got ${describe(doc)}`,
    );
  }
  if (doc.length === 0) throw new Error("hashrings configuration is empty");
  return doc.map((raw, i) => parseRing(raw, i));
}

function parseRing(raw: unknown, i: number): HashringConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`hashring #${i}: must be an object, got ${describe(raw)}`);
  }
  const o = raw as Record<string, unknown>;
  const name = o.hashring ?? "";
  if (typeof name !== "string") throw new Error(`hashring #${i}: "hashring" must be a string`);
  const where = name ? `hashring #${i} (${JSON.stringify(name)})` : `hashring #${i}`;
  const tenants = o.tenants ?? [];
  if (!Array.isArray(tenants) || tenants.some((t) => typeof t !== "string")) {
    throw new Error(`${where}: "tenants" must be an array of strings`);
  }
  const mt = o.tenant_matcher_type ?? "";
  if (mt !== "" && mt !== "exact" && mt !== "glob") {
    throw new Error(
      `${where}: unknown "tenant_matcher_type" ${JSON.stringify(mt)} (want "exact" or "glob")`,
    );
  }
  const tenantMatcherType: TenantMatcherType = mt === "glob" ? "glob" : "exact";
  if (tenantMatcherType === "glob") {
    for (const t of tenants as string[]) {
      try {
        compileGlob(t);
      } catch (e) {
        throw new Error(`${where}: tenant pattern ${JSON.stringify(t)}: ${(e as Error).message}`);
      }
    }
  }
  if (o.endpoints === undefined || o.endpoints === null) {
    throw new Error(`${where}: "endpoints" is required`);
  }
  if (!Array.isArray(o.endpoints)) throw new Error(`${where}: "endpoints" must be an array`);
  const endpoints = o.endpoints.map((e, j): HashringEndpoint => {
    if (typeof e === "string") {
      if (e === "") throw new Error(`${where}: endpoint #${j}: endpoint address must be set`);
      return { address: e, az: "" };
    }
    if (typeof e !== "object" || e === null || Array.isArray(e)) {
      throw new Error(
        `${where}: endpoint #${j} must be a string or an object {"address", "az"}, got ${
          describe(e)
        }`,
      );
    }
    const eo = e as Record<string, unknown>;
    const address = eo.address ?? "";
    const az = eo.az ?? "";
    if (typeof address !== "string" || typeof az !== "string") {
      throw new Error(`${where}: endpoint #${j}: "address" and "az" must be strings`);
    }
    if (address === "") throw new Error(`${where}: endpoint #${j}: endpoint address must be set`);
    return { address, az };
  });
  const algorithm = o.algorithm ?? "";
  if (algorithm !== "" && algorithm !== "hashmod" && algorithm !== "ketama") {
    throw new Error(
      `${where}: unknown "algorithm" ${JSON.stringify(algorithm)} (want "hashmod" or "ketama")`,
    );
  }
  const ext = o.external_labels ?? {};
  if (
    typeof ext !== "object" || ext === null || Array.isArray(ext) ||
    Object.values(ext).some((v) => typeof v !== "string")
  ) {
    throw new Error(`${where}: "external_labels" must be an object of string values`);
  }
  const ss = o.shuffle_sharding_config as Record<string, unknown> | undefined;
  if (ss && typeof ss === "object" && typeof ss.shard_size === "number" && ss.shard_size > 0) {
    throw new Error(`${where}: "shuffle_sharding_config" is not supported by this receiver`);
  }
  return {
    hashring: name,
    tenants: tenants as string[],
    tenantMatcherType,
    endpoints,
    algorithm: algorithm === "" ? undefined : algorithm,
    externalLabels: { ...(ext as Record<string, string>) },
  };
}

// ---------------------------------------------------------------------------------------------
// Rings

/** Routes series to receivers. */
export interface Hashring {
  /**
   * Address of the endpoint owning replica `replica` (0-based) of the series `labels` of
   * `tenant`; throws when no ring matches the tenant or the ring is too small.
   */
  get(tenant: string, labels: Labels, replica: number): string;
  /** Every endpoint address of every ring, sorted, each once. */
  endpoints(): string[];
  /**
   * Set when replica 0 of every series of every tenant goes to this one address (the
   * single-node ring): routing need not look at the series.
   */
  readonly soleOwner?: string;
}

/** Thrown when a ring cannot provide the requested replica, as Thanos's insufficientNodesError. */
export class InsufficientNodesError extends Error {
  override name = "InsufficientNodesError";
  constructor(readonly have: number, readonly want: number) {
    super(`insufficient nodes; have ${have}, want ${want}`);
  }
}

/** Compares 64-bit values held as (hi, lo) u32 pairs. */
function lessOrEqual(ah: number, al: number, bh: number, bl: number): boolean {
  return ah < bh || (ah === bh && al <= bl);
}

interface SingleRing {
  get(tenant: string, labels: Labels, replica: number): string;
  readonly addresses: readonly string[];
}

/**
 * Remembers the last series hashed: the handler asks for replicas 0..RF-1 of one series in a row,
 * so a series is hashed once, not RF times.
 */
class HashMemo {
  private tenant = "";
  private labels: Labels | null = null;
  private h = 0;
  private l = 0;
  hash(tenant: string, labels: Labels): void {
    if (labels === this.labels && tenant === this.tenant) {
      R[0] = this.h;
      R[1] = this.l;
      return;
    }
    seriesHashInto(tenant, labels);
    this.tenant = tenant;
    this.labels = labels;
    this.h = R[0];
    this.l = R[1];
  }
}

/** Thanos's `simpleHashring` (hashmod): endpoints sorted by address. */
class HashmodRing implements SingleRing {
  readonly addresses: string[];
  private readonly memo = new HashMemo();
  constructor(endpoints: readonly HashringEndpoint[]) {
    if (endpoints.some((e) => e.az !== "")) {
      throw new Error(
        "Hashmod algorithm does not support AZ aware hashring configuration. Either use Ketama or remove AZ configuration.",
      );
    }
    this.addresses = endpoints.map((e) => e.address).sort(compareStrings);
  }
  get(tenant: string, labels: Labels, n: number): string {
    const len = this.addresses.length;
    if (n >= len) throw new InsufficientNodesError(len, n + 1);
    if (len === 1) return this.addresses[0]; // anything mod 1 is 0: no need to hash
    this.memo.hash(tenant, labels);
    // (hash + n) mod 2^64, then mod len: ((hi mod len)·2^32 + lo) mod len, exact in doubles
    addSmall(R[0], R[1], n);
    const idx = ((R[0] % len) * 4294967296 + R[1]) % len;
    return this.addresses[idx];
  }
}

/** Number of ring sections per endpoint (Thanos `SectionsPerNode`). */
export const SECTIONS_PER_NODE = 1000;

/** Thanos's `ketamaHashring`: consistent hashing with zone-aware precomputed replicas. */
class KetamaRing implements SingleRing {
  readonly addresses: string[];
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  /** replicas[s * rf + n] = endpoint index of replica n of section s. */
  private readonly replicas: Uint32Array;
  private readonly memo = new HashMemo();

  constructor(
    private readonly eps: readonly HashringEndpoint[],
    sectionsPerNode: number,
    private readonly rf: number,
  ) {
    if (eps.length < rf) {
      throw new Error("ketama: amount of endpoints needs to be larger than replication factor");
    }
    this.addresses = eps.map((e) => e.address);
    const n = eps.length * sectionsPerNode;
    const sh = new Uint32Array(n), sl = new Uint32Array(n), se = new Uint32Array(n);
    let k = 0;
    for (let e = 0; e < eps.length; e++) {
      for (let i = 1; i <= sectionsPerNode; i++) {
        toR(xxhash64(`${eps[e].address}:${i}`));
        sh[k] = R[0];
        sl[k] = R[1];
        se[k] = e;
        k++;
      }
    }
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => sh[a] - sh[b] || sl[a] - sl[b]);
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    const endpointOf = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      this.hi[i] = sh[order[i]];
      this.lo[i] = sl[order[i]];
      endpointOf[i] = se[order[i]];
    }
    // calculateSectionReplicas
    const azs = [...new Set(eps.map((e) => e.az))];
    const azIndex = new Map(azs.map((a, i) => [a, i]));
    const epAz = eps.map((e) => azIndex.get(e.az)!);
    this.replicas = new Uint32Array(n * rf);
    const taken = new Uint8Array(eps.length);
    const spread = new Array<number>(azs.length);
    for (let s = 0; s < n; s++) {
      taken.fill(0);
      spread.fill(0);
      let got = 0;
      let j = s - 1;
      let idle = 0;
      while (got < rf) {
        j = (j + 1) % n;
        // (Go loops forever here when the zones cannot be balanced, e.g. RF=4 over zones of
        // 3 and 1 endpoints; say so instead)
        if (++idle > n) {
          throw new Error(
            `ketama: cannot place ${rf} replicas evenly across availability zones ${
              JSON.stringify(azs)
            }`,
          );
        }
        const ep = endpointOf[j];
        if (taken[ep]) continue;
        const az = epAz[ep];
        if (azs.length > 1 && spread[az] > 0 && spread[az] > Math.min(...spread)) continue;
        idle = 0;
        taken[ep] = 1;
        spread[az]++;
        this.replicas[s * rf + got++] = ep;
      }
    }
  }

  get(tenant: string, labels: Labels, n: number): string {
    const len = this.eps.length;
    if (n >= len) throw new InsufficientNodesError(len, n + 1);
    if (n >= this.rf) {
      // Thanos precomputes only RF replicas per section (and would index out of range)
      throw new InsufficientNodesError(this.rf, n + 1);
    }
    if (len === 1) return this.addresses[0]; // every section belongs to the one endpoint
    this.memo.hash(tenant, labels);
    const vh = R[0], vl = R[1];
    // first section with hash >= v
    let a = 0, b = this.hi.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (lessOrEqual(vh, vl, this.hi[m], this.lo[m])) b = m;
      else a = m + 1;
    }
    if (a === this.hi.length) a = 0;
    return this.addresses[this.replicas[a * this.rf + n]];
  }
}

function compareStrings(a: string, b: string): number {
  // Go compares strings bytewise (UTF-8); code-unit order differs only for astral characters
  return a < b ? -1 : a > b ? 1 : 0;
}

interface TenantSet {
  exact: Set<string>;
  globs: GlobPattern[];
}

/** Thanos's `multiHashring`: the first ring whose tenants match (a ring without tenants matches all). */
class MultiHashring implements Hashring {
  private readonly cache = new Map<string, SingleRing>();
  private readonly all: string[];
  constructor(
    private readonly rings: readonly SingleRing[],
    private readonly tenantSets: readonly (TenantSet | null)[],
  ) {
    this.all = [...new Set(rings.flatMap((r) => r.addresses))].sort(compareStrings);
  }

  private ringFor(tenant: string): SingleRing {
    const c = this.cache.get(tenant);
    if (c) return c;
    for (let i = 0; i < this.rings.length; i++) {
      const t = this.tenantSets[i];
      if (t === null || t.exact.has(tenant) || t.globs.some((g) => matchGlob(g, tenant))) {
        this.cache.set(tenant, this.rings[i]);
        return this.rings[i];
      }
    }
    throw new Error("no matching hashring to handle tenant");
  }

  get(tenant: string, labels: Labels, replica: number): string {
    return this.ringFor(tenant).get(tenant, labels, replica);
  }

  endpoints(): string[] {
    return this.all.slice();
  }
}

/**
 * Builds the routing for a parsed hashrings file (Thanos `NewMultiHashring`). `algorithm` is
 * `--receive.hashrings-algorithm`, overridden per ring by its `algorithm`. Throws when a ring
 * cannot hold `replicationFactor` replicas (fewer endpoints than RF — Thanos rejects that for
 * ketama at load time and fails every write for hashmod; both are rejected here), when hashmod
 * is given zones, or when there is no ring.
 */
export function newHashring(
  cfgs: readonly HashringConfig[],
  algorithm: HashringAlgorithm,
  replicationFactor: number,
  opts: { sectionsPerNode?: number } = {},
): Hashring {
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
    throw new Error(`replication factor must be a positive integer, got ${replicationFactor}`);
  }
  if (cfgs.length === 0) throw new Error("hashrings configuration is empty");
  const rings: SingleRing[] = [];
  const sets: (TenantSet | null)[] = [];
  for (const [i, c] of cfgs.entries()) {
    const where = c.hashring ? `hashring ${JSON.stringify(c.hashring)}` : `hashring #${i}`;
    const algo = c.algorithm ?? algorithm;
    if (c.endpoints.length < replicationFactor) {
      throw new Error(
        `${where}: replication factor ${replicationFactor} exceeds the number of endpoints (${c.endpoints.length})`,
      );
    }
    rings.push(
      algo === "ketama"
        ? new KetamaRing(c.endpoints, opts.sectionsPerNode ?? SECTIONS_PER_NODE, replicationFactor)
        : new HashmodRing(c.endpoints),
    );
    if (c.tenants.length === 0) sets.push(null);
    else if (c.tenantMatcherType === "glob") {
      sets.push({ exact: new Set(), globs: c.tenants.map(compileGlob) });
    } else sets.push({ exact: new Set(c.tenants), globs: [] });
  }
  return new MultiHashring(rings, sets);
}

/**
 * The ring of a receiver without hashrings configuration (Thanos `SingleNodeHashring`, the
 * ingestor-only mode): every series to `address`; replicas above 0 are an error.
 */
export function singleNodeHashring(address: string): Hashring {
  return {
    soleOwner: address,
    get(_tenant: string, _labels: Labels, replica: number): string {
      if (replica > 0) throw new InsufficientNodesError(1, replica + 1);
      return address;
    },
    endpoints: () => [address],
  };
}

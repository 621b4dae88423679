// Where an S3 bucket lives, from its config alone (no SDK): the launcher derives the role's
// network grants from these before the worker loads the AWS SDK (objstore/s3.ts), which only
// roles with an S3 bucket import.

import type { S3Config } from "./config.ts";

/**
 * True when requests go to `<bucket>.<endpoint>` (virtual-hosted style): as configured, else
 * (auto, like minio-go) for AWS endpoints and bucket names valid as DNS labels.
 */
export function s3UsesVirtualHost(cfg: S3Config): boolean {
  if (cfg.bucket_lookup_type === "path") return false;
  if (cfg.bucket_lookup_type === "virtual-hosted") return true;
  const host = cfg.endpoint.replace(/:\d+$/, "");
  return /(^|\.)amazonaws\.com(\.cn)?$/.test(host) && !cfg.bucket.includes(".");
}

/** The signing region: configured, else taken from an AWS endpoint, else us-east-1. */
export function s3RegionFor(cfg: S3Config): string {
  if (cfg.region !== "") return cfg.region;
  const m = /^s3[.-](?:dualstack\.)?([a-z0-9-]+)\.amazonaws\.com/.exec(cfg.endpoint);
  if (m && m[1] !== "external-1") return m[1];
  return "us-east-1";
}

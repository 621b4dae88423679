// Object storage flags on both sides of the launcher: the main thread substitutes `$(ENV)`
// references and derives the permissions a bucket config needs; the worker opens the bucket.

import { BucketConfigError } from "../objstore/config.ts";
import {
  bucketPermissions,
  createBucket,
  parseBucketConfig,
  substituteEnv,
} from "../objstore/config.ts";
import type { Bucket } from "../objstore/bucket.ts";
import type { Registry } from "../metrics/registry.ts";
import { type Flags, type GroupName, type OBJSTORE_FLAGS, UsageError } from "./flags.ts";
import type { Logger } from "../logging/log.ts";
import type { ObjstorePermissions } from "./permissions.ts";

function usage(e: unknown): never {
  if (e instanceof BucketConfigError) throw new UsageError(e.message);
  throw e;
}

/** Replaces `$(NAME)` with environment variables, as Thanos does (launcher side). */
export function substituteObjstoreEnv(text: string): string {
  try {
    return substituteEnv(text, (name) => Deno.env.get(name));
  } catch (e) {
    usage(e);
  }
}

/** Permissions for a bucket config given as YAML text; bad configs are usage errors. */
export const objstoreLauncherPermissions: ObjstorePermissions = (yaml) => {
  try {
    return bucketPermissions(parseBucketConfig(yaml), { homeDir: Deno.env.get("HOME") });
  } catch (e) {
    usage(e);
  }
};

/** The bucket config text given by `--objstore.config-file` or `--objstore.config`, or "". */
export function objstoreConfigText(flags: Flags<GroupName<typeof OBJSTORE_FLAGS>>): string {
  // `?? ""`: the launcher turns an unset --objstore.config into an empty value list
  return (flags.fileContents("objstore.config-file") || flags.string("objstore.config")) ?? "";
}

export interface OpenBucketOptions {
  registry?: Registry;
  logger?: Logger;
  component?: string;
}

/**
 * Opens the bucket configured by `text` (from `objstoreConfigText`; worker side). UsageError
 * when none is configured.
 */
export async function openBucket(text: string, opts: OpenBucketOptions): Promise<Bucket> {
  if (text.trim() === "") {
    throw new UsageError(
      "no object storage configured: set --objstore.config-file or --objstore.config",
    );
  }
  let cfg;
  try {
    cfg = parseBucketConfig(text);
  } catch (e) {
    usage(e);
  }
  const log = opts.logger;
  return await createBucket(cfg, {
    registry: opts.registry,
    component: opts.component,
    logger: log ? (msg, fields) => log.debug(msg, fields) : undefined,
  });
}

/**
 * Opens the bucket configured by `text`, runs `fn` with it and closes it however `fn` ends
 * (worker side): the one open/try/finally-close of the roles and tools.
 */
export async function withBucket<T>(
  text: string,
  opts: OpenBucketOptions,
  fn: (bucket: Bucket) => Promise<T>,
): Promise<T> {
  const bucket = await openBucket(text, opts);
  try {
    return await fn(bucket);
  } finally {
    await bucket.close();
  }
}

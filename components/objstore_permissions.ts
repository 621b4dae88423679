// Launcher side of object storage: what a bucket configuration needs from Deno's permissions.

import { UsageError } from "./flags.ts";
import type { ObjstorePermissions } from "./permissions.ts";

/** Permissions for a bucket config given as YAML text; bad configs are usage errors. */
export const objstoreLauncherPermissions: ObjstorePermissions = () => {
  throw new UsageError("object storage is not available yet");
};

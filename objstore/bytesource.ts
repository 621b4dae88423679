// A ByteSource over one bucket object: index and chunk readers read it with range requests
// (store gateway), exactly as they read a local file.

import type { ByteSource } from "../tsdb/bytesource.ts";
import type { Bucket } from "./bucket.ts";

class BucketByteSource implements ByteSource {
  constructor(
    private readonly bucket: Bucket,
    readonly name: string,
    readonly size: number,
  ) {}

  read(offset: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n === 0) return Promise.resolve(new Uint8Array(0));
    return this.bucket.getRange(this.name, offset, n);
  }
}

/**
 * A ByteSource reading object `name` of `bucket` with `getRange`. Without `size`, asks the bucket
 * for the object's attributes (throws ObjectNotFoundError when it does not exist).
 */
export async function bucketByteSource(
  bucket: Bucket,
  name: string,
  size?: number,
): Promise<ByteSource> {
  const s = size ?? (await bucket.attributes(name)).size;
  return new BucketByteSource(bucket, name, s);
}

// Typed errors of the TSDB layer. Every corruption names the file and, where known, the offset,
// so an operator can find the damaged block.

/** Data on disk (or in a bucket) does not match the format: bad magic, CRC, truncation. */
export class CorruptionError extends Error {
  override name = "CorruptionError";
  constructor(
    /** File (or object) that is damaged, e.g. `01H…/index`. */
    readonly file: string,
    /** Byte offset of the damaged part, or -1 when not known. */
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${file}${offset >= 0 ? ` at offset ${offset}` : ""}: ${detail}`);
  }
}

/** A block's meta.json cannot be read or is not valid. */
export class InvalidMetaError extends Error {
  override name = "InvalidMetaError";
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: invalid meta.json: ${detail}`);
  }
}

/** A file a block needs (index, chunk segment, meta.json) is missing. */
export class MissingFileError extends Error {
  override name = "MissingFileError";
  constructor(readonly file: string, readonly detail = "file is missing") {
    super(`${file}: ${detail}`);
  }
}

/** A caller passed data that violates a writer's invariants (unsorted series, overlapping chunks). */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";
}

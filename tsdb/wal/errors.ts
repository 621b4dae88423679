// The WAL's corruption error: names the segment and the byte offset of the last good record
// boundary, so that a repair can truncate there (Prometheus: wlog.CorruptionErr,
// https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/wlog/wlog.go).

import { CorruptionError } from "../errors.ts";

/**
 * A WAL segment (or a record) does not decode. `segment` is the segment index (-1 when the
 * error comes from decoding a record outside any segment) and `offset` the byte offset inside
 * the segment where the damaged record starts: everything before it is intact.
 */
export class WalCorruptionError extends CorruptionError {
  override name = "WalCorruptionError";
  constructor(
    readonly segment: number,
    offset: number,
    detail: string,
    file = segment >= 0 ? `segment ${String(segment).padStart(8, "0")}` : "<wal record>",
  ) {
    super(file, offset, detail);
  }
}

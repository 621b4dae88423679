import { assert, assertEquals } from "../helpers/assert.ts";
import { stepFlags, stepValues } from "../../promql/step_arrays.ts";

Deno.test("step arrays are zeroed and never share memory, across shared-buffer boundaries", () => {
  // enough arrays of mixed sizes to fill several shared buffers
  const vals: Float64Array[] = [];
  const flags: Uint8Array[] = [];
  for (let i = 0; i < 5000; i++) {
    const n = 1 + (i % 37);
    const v = stepValues(n);
    const f = stepFlags(n);
    assertEquals(v.length, n);
    assertEquals(f.length, n);
    assert(v.every((x) => x === 0) && f.every((x) => x === 0), `array ${i} not zeroed`);
    v.fill(i);
    f.fill(i & 0xff);
    vals.push(v);
    flags.push(f);
  }
  for (let i = 0; i < vals.length; i++) {
    assert(vals[i].every((x) => x === i), `values ${i} overwritten`);
    assert(flags[i].every((x) => x === (i & 0xff)), `flags ${i} overwritten`);
  }
  // large arrays get a buffer of their own
  const big = stepValues(100_000);
  assertEquals(big.length, 100_000);
  assertEquals(big.byteOffset, 0);
  assertEquals(big.buffer.byteLength, 800_000);
});

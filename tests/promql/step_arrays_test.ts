import { assert, assertEquals } from "../helpers/assert.ts";
import { recycleStepArrays, stepFlags, stepValues } from "../../promql/step_arrays.ts";

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

Deno.test("given-back step arrays are cut again zeroed, and never over arrays still in use", () => {
  const live: [Float64Array, Uint8Array, number][] = [];
  for (let round = 0; round < 200; round++) {
    // sizes on both sides of the own-buffer bound (1,024 values)
    const n = round % 3 === 0 ? 1500 : 20 + (round % 90);
    const v = stepValues(n);
    const f = stepFlags(n);
    assert(v.every((x) => x === 0) && f.every((x) => x === 0), `round ${round} not zeroed`);
    v.fill(round + 1);
    f.fill(1);
    if (round % 2 === 0) recycleStepArrays(v, f);
    else live.push([v, f, round + 1]);
  }
  for (const [v, f, k] of live) {
    assert(v.every((x) => x === k) && f.every((x) => x === 1), `live arrays ${k} overwritten`);
  }
  // the memory given back last is what the next large array gets
  const v = stepValues(1500);
  v.fill(7);
  recycleStepArrays(v, stepFlags(1500));
  const v2 = stepValues(1500);
  assert(v2.buffer === v.buffer && v2.byteOffset === v.byteOffset, "values reused");
  assert(v2.every((x) => x === 0), "reused values zeroed");
});

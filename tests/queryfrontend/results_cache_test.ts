// Extents: the missing ranges of a request given what is cached, and merging new extents.

import { assertEquals } from "../helpers/assert.ts";
import { type Extent, mergeExtents, partition } from "../../queryfrontend/results_cache.ts";
import { matrixResponseText, mergeMatrices } from "../../queryfrontend/matrix.ts";

function ext(start: number, end: number, step: number): Extent {
  const points: [number, string][] = [];
  for (let t = start; t <= end; t += step) points.push([t, String(t)]);
  return { start, end, matrix: [{ labels: ["a", "1"], points }] };
}

Deno.test("partition: only the uncovered grid points are requested", () => {
  const step = 10;
  const req = { start: 0, end: 105 };
  assertEquals(partition(req, step, []).missing, [{ start: 0, end: 105 }]);
  const p = partition(req, step, [ext(20, 50, step), ext(80, 90, step)]);
  assertEquals(p.missing, [{ start: 0, end: 10 }, { start: 60, end: 70 }, {
    start: 100,
    end: 105,
  }]);
  const cached = mergeMatrices(p.cached);
  assertEquals(cached[0].points.map(([t]) => t), [20, 30, 40, 50, 80, 90]);
  // fully covered: nothing to fetch
  assertEquals(partition({ start: 20, end: 50 }, step, [ext(0, 100, step)]).missing, []);
  // an extent ending off the grid does not shift the grid
  assertEquals(partition({ start: 0, end: 40 }, step, [ext(0, 25, step)]).missing, [{
    start: 30,
    end: 40,
  }]);
});

Deno.test("mergeExtents joins overlapping and touching extents, keeps gaps", () => {
  const m = mergeExtents([ext(50, 60, 10), ext(0, 20, 10), ext(30, 40, 10), ext(90, 90, 10)], 10);
  assertEquals(m.map((x) => [x.start, x.end]), [[0, 60], [90, 90]]);
  assertEquals(m[0].matrix[0].points.length, 7);
});

Deno.test("matrix text matches the querier's format", () => {
  const text = matrixResponseText(
    mergeMatrices([
      [{ labels: ["b", "2"], points: [[1500, "1"]] }],
      [{ labels: ["a", 'x"y'], points: [[2000, "NaN"], [1000, "+Inf"]] }],
    ]),
    ["w"],
  );
  assertEquals(
    text,
    '{"status":"success","data":{"resultType":"matrix","result":[' +
      '{"metric":{"a":"x\\"y"},"values":[[1,"+Inf"],[2,"NaN"]]},' +
      '{"metric":{"b":"2"},"values":[[1.500,"1"]]}]},"warnings":["w"]}',
  );
});

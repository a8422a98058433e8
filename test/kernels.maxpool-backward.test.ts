/**
 * The 2x2 / stride 2 max-pooling backward kernel (compiler/wgsl/maxpool-backward.ts) against the
 * float64 reference (PyTorch's argmax rule: first max in window order wins ties, NaN wins, the
 * last NaN when several; dropped rows / columns get 0).
 *
 * Random x and dy (never zeros), NaN-poisoned dx (so every dx element must be written: the zeros
 * included), max |gpu - ref| / max |ref| < 1e-4 (the op is exact). Ties are hand-made.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import {
  maxpoolBackwardKernels,
  type MaxpoolBackwardSpec,
} from '../compiler/wgsl/maxpool-backward.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { maxpoolBackwardRef } from './reference/maxpool-backward.js';
import { randomArray } from './reference/random.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

const SHAPES: MaxpoolBackwardSpec[] = [
  { n: 1, c: 3, h: 8, w: 8 }, // vec4 form
  { n: 2, c: 5, h: 7, w: 9 }, // odd sides: scalar form, last row and column zeroed
  { n: 1, c: 7, h: 6, w: 12 }, // vec4 form, non-square
  { n: 3, c: 1, h: 5, w: 4 }, // vec4 form, odd height
  { n: 2, c: 3, h: 9, w: 2 }, // one output column, odd height
  { n: 1, c: 5, h: 2, w: 3 }, // one output row, odd width
  { n: 2, c: 2, h: 6, w: 6 }, // scalar form, even sides
  { n: 1, c: 64, h: 56, w: 56 }, // a VGG layer
];

const name = (s: MaxpoolBackwardSpec): string => `n${s.n} c${s.c} ${s.h}x${s.w}`;

let seed = 9500;

async function run(g: Gpu, spec: MaxpoolBackwardSpec, target: TargetInfo, x: Float32Array) {
  const dyCount = spec.n * spec.c * Math.floor(spec.h / 2) * Math.floor(spec.w / 2);
  // dy away from zero so that "dy landed at the wrong element" cannot pass as a 0.
  const dy = randomArray(dyCount, seed++, 1).map((v) => (v < 0 ? v - 0.5 : v + 0.5));
  const count = spec.n * spec.c * spec.h * spec.w;
  const out = await runKernels(g, maxpoolBackwardKernels(spec, target), { x, dy, dx: count }, [
    'dx',
  ]);
  return { dx: out['dx']!, ref: maxpoolBackwardRef(x, dy, spec), dy };
}

describe('maxpool backward kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment, flops and bytes', () => {
    const [k, ...rest] = maxpoolBackwardKernels({ n: 1, c: 64, h: 224, w: 224 }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// maxpool2x2_bwd_c64_224x224:')).toBe(true); // no batch
    expect(k!.name).toBe('maxpool2x2_bwd_c64_224x224_n1');
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['x', 'dy', 'dx']);
    expect(k!.flops).toBe(3 * 64 * 112 * 112);
    expect(k!.bytes).toBe(4 * (2 * 64 * 224 * 224 + 64 * 112 * 112));
  });

  for (const spec of SHAPES) {
    it(name(spec), async () => {
      const x = randomArray(spec.n * spec.c * spec.h * spec.w, seed++, 1);
      const { dx, ref } = await run(g, spec, targetOf(g), x);
      expect(compare(dx, ref)).toBeLessThan(1e-4);
    });
  }

  it('folds a large grid into 2-D (fake small maxComputeWorkgroupsPerDimension)', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 5 };
    for (const spec of [SHAPES[0]!, SHAPES[1]!, { n: 2, c: 16, h: 16, w: 16 }]) {
      const x = randomArray(spec.n * spec.c * spec.h * spec.w, seed++, 1);
      const { dx, ref } = await run(g, spec, target, x);
      expect(compare(dx, ref)).toBeLessThan(1e-4);
    }
  });

  // Hand-made ties: each window of a 2 x 4 plane (vec4 form) or 2 x 6 plane (scalar form) holds
  // a pattern; the gradient must land on the FIRST max in the order TL, TR, BL, BR (PyTorch).
  // Patterns as [TL, TR, BL, BR] and the expected winner.
  const TIES: [number[], number][] = [
    [[1, 1, 1, 1], 0], // all equal: top-left
    [[0, 2, 2, 1], 1], // TR and BL tie: TR comes first
    [[0, 1, 2, 2], 2], // BL and BR tie: BL
    [[3, 0, 0, 3], 0], // TL and BR tie: TL
    [[-1, -2, -1, -1], 0], // negative ties
    [[-5, -5, -7, -5], 0],
    [[-0, 0, -1, -1], 0], // -0 == 0: a tie, TL
    [[-Infinity, -Infinity, -Infinity, -Infinity], 0], // all -inf: TL (PyTorch keeps index 0)
    [[1, NaN, 5, 2], 1], // NaN wins
    [[NaN, 1, NaN, 2], 2], // several NaNs: the last one (PyTorch's `|| isnan(val)`)
  ];
  for (const w of [4, 6]) {
    it(`ties go to the first max, NaN wins (${w === 4 ? 'vec4' : 'scalar'} form)`, async () => {
      const perPlane = w / 2; // windows per plane (one row of windows)
      const planes = Math.ceil(TIES.length / perPlane);
      const spec = { n: 1, c: planes, h: 2, w };
      const x = new Float32Array(planes * 2 * w).fill(-100);
      TIES.forEach(([v], t) => {
        const p = Math.floor(t / perPlane);
        const ox = t % perPlane;
        const top = p * 2 * w + 2 * ox;
        [top, top + 1, top + w, top + w + 1].forEach((cell, k) => (x[cell] = v[k]!));
      });
      const { dx, ref, dy } = await run(g, spec, targetOf(g), x);
      TIES.forEach(([, winner], t) => {
        const p = Math.floor(t / perPlane);
        const ox = t % perPlane;
        const top = p * 2 * w + 2 * ox;
        const cells = [top, top + 1, top + w, top + w + 1];
        const expected = cells.map((_, k) => (k === winner ? dy[t]! : 0));
        expect(
          cells.map((c) => dx[c]),
          `pattern ${t}`,
        ).toEqual(expected);
        expect(
          cells.map((c) => ref[c]),
          `reference, pattern ${t}`,
        ).toEqual(expected.map((e) => Math.fround(e)));
      });
    });
  }
});

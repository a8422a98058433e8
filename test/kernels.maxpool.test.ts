/**
 * The 2x2 / stride 2 max-pooling kernel (compiler/wgsl/maxpool.ts) against the float64 reference.
 *
 * Every run uploads fresh random x (never zeros) and a NaN-poisoned y (the harness does), and
 * compares max |gpu - ref| / max |ref| < 1e-4 over the whole output (max pooling is exact, so
 * the error is in fact 0). A NaN or infinity in the output fails unless the reference has it too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { maxpoolKernels, type MaxpoolSpec } from '../compiler/wgsl/maxpool.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { maxpoolRef } from './reference/maxpool.js';
import { relativeError } from './helpers.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const SHAPES: MaxpoolSpec[] = [
  { n: 1, c: 3, h: 8, w: 8 }, // vec4 form
  { n: 2, c: 5, h: 7, w: 9 }, // odd sides: scalar form, last row and column dropped
  { n: 1, c: 7, h: 6, w: 12 }, // vec4 form, non-square
  { n: 3, c: 1, h: 5, w: 4 }, // vec4 form, odd height
  { n: 2, c: 3, h: 9, w: 2 }, // one output column
  { n: 1, c: 5, h: 2, w: 3 }, // one output row
  { n: 1, c: 64, h: 56, w: 56 }, // a VGG layer
];

const name = (s: MaxpoolSpec): string => `n${s.n} c${s.c} ${s.h}x${s.w}`;

let seed = 1000;

async function run(g: Gpu, spec: MaxpoolSpec, target: TargetInfo, x: Float32Array) {
  const outCount = spec.n * spec.c * Math.floor(spec.h / 2) * Math.floor(spec.w / 2);
  const out = await runKernels(g, maxpoolKernels(spec, target), { x, y: outCount }, ['y']);
  return relativeError(out['y']!, maxpoolRef(x, spec));
}

describe('maxpool kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment, flops and bytes', () => {
    const [k, ...rest] = maxpoolKernels({ n: 1, c: 64, h: 224, w: 224 }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// maxpool2x2_c64_224x224:')).toBe(true);
    expect(k!.name).toBe('maxpool2x2_c64_224x224_n1');
    // The batch is read at run time: another batch, the same code (one pipeline).
    const [k3] = maxpoolKernels({ n: 3, c: 64, h: 224, w: 224 }, targetOf(g));
    expect(k3!.code).toBe(k!.code);
    expect(k3!.uniforms!.values).toEqual([3 * 64 * 112 * 56]);
    expect(k!.flops).toBe(3 * 64 * 112 * 112);
    expect(k!.bytes).toBe(4 * 64 * (224 * 224 + 112 * 112));
    expect(() => maxpoolKernels({ n: 1, c: 1, h: 1, w: 4 }, targetOf(g))).toThrow(/smaller/);
  });

  for (const spec of SHAPES) {
    it(name(spec), async () => {
      const x = randomArray(spec.n * spec.c * spec.h * spec.w, seed++, 2);
      expect(await run(g, spec, targetOf(g), x)).toBeLessThan(1e-4);
    });
  }

  it('folds a grid larger than maxComputeWorkgroupsPerDimension into 2-D', async () => {
    // A fake limit of 7 workgroups per dimension makes the small grids below fold.
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 7 };
    for (const spec of [
      { n: 4, c: 9, h: 11, w: 13 },
      { n: 3, c: 10, h: 10, w: 16 },
    ]) {
      const [k] = maxpoolKernels(spec, target);
      expect(k!.dispatch[1]).toBeGreaterThan(1);
      expect(k!.dispatch[0]).toBeLessThanOrEqual(7);
      const x = randomArray(spec.n * spec.c * spec.h * spec.w, seed++, 2);
      expect(await run(g, spec, target, x)).toBeLessThan(1e-4);
    }
  });

  it('propagates NaN like PyTorch, in both the vec4 and the scalar form', async () => {
    for (const spec of [SHAPES[0]!, SHAPES[1]!]) {
      const x = randomArray(spec.n * spec.c * spec.h * spec.w, seed++, 2);
      // NaNs in every position of a window across the first few windows, plus +-Infinity.
      for (const i of [0, 3, spec.w + 4, 2 * spec.w + 1, 3 * spec.w + 6]) x[i] = NaN;
      x[4 * spec.w] = Infinity;
      x[4 * spec.w + 2] = -Infinity;
      const ref = maxpoolRef(x, spec);
      expect(ref.filter(Number.isNaN).length).toBeGreaterThanOrEqual(4);
      const out = await runKernels(g, maxpoolKernels(spec, targetOf(g)), { x, y: ref.length }, [
        'y',
      ]);
      const y = out['y']!;
      for (let i = 0; i < ref.length; i++) {
        if (Number.isNaN(ref[i]!)) expect(y[i], `y[${i}]`).toBeNaN();
        else expect(y[i], `y[${i}]`).toBe(ref[i]);
      }
    }
  });
});

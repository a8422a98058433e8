/**
 * The cross-channel LRN kernel (compiler/wgsl/lrn.ts) against the float64 reference, which uses
 * the VGG paper's formula (alpha multiplies the sum directly, window i - size/2 .. i + size/2).
 *
 * Every run uploads fresh random x (never zeros) and a NaN-poisoned y (the harness does), and
 * compares max |gpu - ref| / max |ref| < 1e-4 over the whole output; NaN anywhere fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { lrnKernels, type LrnSpec } from '../compiler/wgsl/lrn.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { lrnRef } from './reference/lrn.js';
import { relativeError as compareToRef } from './helpers.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

/** AlexNet's constants, as the paper quotes them. */
const ALEXNET = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
/** A strong normalisation, so that the window sum dominates and any window mistake shows. */
const STRONG = { size: 5, alpha: 0.5, beta: 0.75, k: 1 };

const SHAPES: LrnSpec[] = [
  { n: 1, c: 64, h: 8, w: 8, ...ALEXNET }, // vec4 form (H * W % 4 == 0)
  { n: 1, c: 64, h: 8, w: 8, ...STRONG },
  { n: 2, c: 3, h: 5, w: 7, ...STRONG }, // scalar form; fewer channels than the window
  { n: 1, c: 7, h: 4, w: 5, ...STRONG }, // vec4 form, non-square, C not a multiple of 5
  { n: 3, c: 5, h: 3, w: 3, ...STRONG, size: 3 }, // scalar form, batch 3
  { n: 1, c: 6, h: 4, w: 4, ...STRONG, size: 4 }, // even size: the formula's size + 1 window
  { n: 2, c: 5, h: 2, w: 6, ...STRONG, size: 1 }, // the channel alone
  { n: 1, c: 11, h: 3, w: 4, ...STRONG, size: 9, beta: 0.5 },
  { n: 2, c: 64, h: 28, w: 28, ...ALEXNET, alpha: 1e-2 },
];

const name = (s: LrnSpec): string =>
  `n${s.n} c${s.c} ${s.h}x${s.w} size${s.size} alpha${s.alpha} beta${s.beta} k${s.k}`;

let seed = 2000;

async function relativeError(g: Gpu, spec: LrnSpec, target: TargetInfo) {
  const x = randomArray(spec.n * spec.c * spec.h * spec.w, seed++, 2);
  const out = await runKernels(g, lrnKernels(spec, target), { x, y: x.length }, ['y']);
  const ref = lrnRef(x, spec);
  const y = out['y']!;
  return compareToRef(y, ref);
}

describe('lrn kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment naming the paper formula, flops and bytes', () => {
    const [k, ...rest] = lrnKernels({ n: 1, c: 64, h: 224, w: 224, ...ALEXNET }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// lrn5_c64:')).toBe(true);
    expect(k!.name).toBe('lrn5_c64_224x224_n1');
    expect(k!.code).toContain("paper's formula");
    expect(k!.flops).toBeGreaterThan(0);
    expect(k!.bytes).toBe(2 * 4 * 64 * 224 * 224);
  });

  for (const spec of SHAPES) {
    it(name(spec), async () => {
      expect(await relativeError(g, spec, targetOf(g))).toBeLessThan(1e-4);
    });
  }

  it('folds a grid larger than maxComputeWorkgroupsPerDimension into 2-D', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 5 };
    const spec: LrnSpec = { n: 3, c: 6, h: 15, w: 13, ...STRONG };
    const [k] = lrnKernels(spec, target);
    expect(k!.dispatch[1]).toBeGreaterThan(1);
    expect(await relativeError(g, spec, target)).toBeLessThan(1e-4);
  });
});

/**
 * The soft-max kernel (compiler/wgsl/softmax.ts) against the float64 reference.
 *
 * Every run uploads fresh random x (never zeros) and a NaN-poisoned y (the harness does), and
 * compares max |gpu - ref| / max |ref| < 1e-4 over the whole output; NaN anywhere fails. The
 * outputs are probabilities, so the error is relative to the largest one of the batch.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { softmaxKernels, type SoftmaxSpec } from '../compiler/wgsl/softmax.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { relativeError as compareToRef } from './helpers.js';
import { randomArray } from './reference/random.js';
import { softmaxRef } from './reference/softmax.js';

afterAll(releaseGpu);

const SHAPES: [SoftmaxSpec, number][] = [
  [{ n: 1, classes: 1000 }, 4],
  [{ n: 2, classes: 10 }, 4],
  [{ n: 3, classes: 7 }, 4],
  [{ n: 4, classes: 3 }, 4],
  [{ n: 5, classes: 1003 }, 4],
  [{ n: 2, classes: 1 }, 4],
  [{ n: 64, classes: 65 }, 4],
  // Logits up to +-200: exp() overflows f32 without subtracting the max.
  [{ n: 3, classes: 100 }, 200],
];

let seed = 4000;

async function relativeError(g: Gpu, spec: SoftmaxSpec, target: TargetInfo, scale: number) {
  const x = randomArray(spec.n * spec.classes, seed++, scale);
  const out = await runKernels(g, softmaxKernels(spec, target), { x, y: x.length }, ['y']);
  const ref = softmaxRef(x, spec);
  const y = out['y']!;
  return compareToRef(y, ref);
}

describe('softmax kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment, flops and bytes', () => {
    const [k, ...rest] = softmaxKernels({ n: 1, classes: 1000 }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// softmax_1000:')).toBe(true);
    expect(k!.name).toBe('softmax_1000_n1');
    expect(k!.flops).toBeGreaterThan(0);
    expect(k!.bytes).toBe(8000);
  });

  for (const [spec, scale] of SHAPES) {
    it(`n${spec.n} classes${spec.classes} logits +-${scale}`, async () => {
      expect(await relativeError(g, spec, targetOf(g), scale)).toBeLessThan(1e-4);
    });
  }

  it('folds more samples than maxComputeWorkgroupsPerDimension into a 2-D grid', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 8 };
    const spec = { n: 20, classes: 33 };
    const [k] = softmaxKernels(spec, target);
    expect(k!.dispatch).toEqual([7, 3, 1]);
    expect(await relativeError(g, spec, target, 4)).toBeLessThan(1e-4);
  });
});

/**
 * The standalone ReLU backward kernel (compiler/wgsl/relu-backward.ts) against the float64
 * reference: fresh random x and dy (never zeros), NaN-poisoned dx, max |gpu - ref| / max |ref|
 * < 1e-4 (the op is exact, so the error is 0).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { reluBackwardKernels } from '../compiler/wgsl/relu-backward.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { randomArray } from './reference/random.js';
import { reluBackwardRef } from './reference/relu-backward.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

let seed = 9100;

describe('relu backward kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment, flops and bytes', () => {
    const [k, ...rest] = reluBackwardKernels({ count: 1000 }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// relu_bwd:')).toBe(true); // the count is read at run time
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['x', 'dy', 'dx']);
    expect(k!.flops).toBe(1000);
    expect(k!.bytes).toBe(12000);
  });

  // vec4 and scalar forms, one element, more than one workgroup.
  for (const count of [1, 7, 64, 1000, 4099, 300_000]) {
    it(`${count} elements`, async () => {
      const x = randomArray(count, seed++, 1);
      const dy = randomArray(count, seed++, 1);
      if (count === 1) x[0] = 0.5; // one element: make it pass through
      const out = await runKernels(
        g,
        reluBackwardKernels({ count }, targetOf(g)),
        { x, dy, dx: count },
        ['dx'],
      );
      expect(compare(out['dx']!, reluBackwardRef(x, dy))).toBeLessThan(1e-4);
    });
  }

  it('zero in x gives 0 (the subgradient PyTorch uses), positive passes dy', async () => {
    const x = new Float32Array([0, -0, 1e-30, -1e-30, 3, -3, 0, 2]);
    const dy = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const out = await runKernels(
      g,
      reluBackwardKernels({ count: 8 }, targetOf(g)),
      { x, dy, dx: 8 },
      ['dx'],
    );
    expect(Array.from(out['dx']!)).toEqual([0, 0, 3, 0, 5, 0, 0, 8]);
  });

  it('folds a large grid into 2-D (fake small maxComputeWorkgroupsPerDimension)', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 7 };
    const count = 40_000;
    const ks = reluBackwardKernels({ count }, target);
    expect(ks[0]!.dispatch[1]).toBeGreaterThan(1);
    const x = randomArray(count, seed++, 1);
    const dy = randomArray(count, seed++, 1);
    const out = await runKernels(g, ks, { x, dy, dx: count }, ['dx']);
    expect(compare(out['dx']!, reluBackwardRef(x, dy))).toBeLessThan(1e-4);
  });
});

/**
 * The dropout kernels (compiler/wgsl/dropout.ts). The mask is a counter-based hash of
 * (seed, step, stream, index); test/reference/dropout.ts re-implements it in TypeScript bit for
 * bit, so the GPU output is compared with a float64 reference built from the TS mask (relative
 * error < 1e-4, and the mask must match exactly). Also: same params -> same mask, another step
 * or stream -> another mask, keep rate within 2% of 1 - p over 1e5+ elements, and the backward
 * uses the forward's mask and scale.
 *
 * 'params' is 4 x u32 on the GPU; the harness uploads Float32Array only, so the tests pass a
 * Float32Array view of a Uint32Array's bytes (the harness copies bytes unchanged).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { dropoutBackwardKernels, dropoutForwardKernels } from '../compiler/wgsl/dropout.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { dropoutMaskRef, dropoutRef } from './reference/dropout.js';
import { randomArray } from './reference/random.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

let seed = 12000;

const params = (s: number, step: number, stream = 0): Float32Array =>
  new Float32Array(new Uint32Array([s, step, stream, 0]).buffer);

/** Random values at least 0.1 away from zero, so that y == 0 means "dropped". */
const nonzero = (n: number): Float32Array =>
  randomArray(n, seed++, 1).map((v) => (v < 0 ? v - 0.1 : v + 0.1));

async function forward(g: Gpu, x: Float32Array, p: number, prm: Float32Array) {
  const ks = dropoutForwardKernels({ count: x.length, p }, targetOf(g));
  return (await runKernels(g, ks, { x, params: prm, y: x.length }, ['y']))['y']!;
}

async function backward(g: Gpu, dy: Float32Array, p: number, prm: Float32Array) {
  const ks = dropoutBackwardKernels({ count: dy.length, p }, targetOf(g));
  return (await runKernels(g, ks, { dy, params: prm, dx: dy.length }, ['dx']))['dx']!;
}

const maskOf = (y: Float32Array): Uint8Array => Uint8Array.from(y, (v) => (v !== 0 ? 1 : 0));

describe('dropout kernels', async () => {
  const g = await acquireGpu();

  it('have header comments, bindings, flops and bytes', () => {
    const [f] = dropoutForwardKernels({ count: 4096, p: 0.5 }, targetOf(g));
    const [b] = dropoutBackwardKernels({ count: 4096, p: 0.5 }, targetOf(g));
    // The headers leave out the count, which the code reads at run time.
    expect(f!.code.startsWith('// dropout_fwd_p0_5:')).toBe(true);
    expect(b!.code.startsWith('// dropout_bwd_p0_5:')).toBe(true);
    expect(f!.bindings.map((x) => x.tensor)).toEqual(['x', 'params', 'y']);
    expect(b!.bindings.map((x) => x.tensor)).toEqual(['dy', 'params', 'dx']);
    expect(f!.flops).toBe(4096);
    expect(f!.bytes).toBe(4 * 2 * 4096 + 16);
    expect(() => dropoutForwardKernels({ count: 10, p: 1 }, targetOf(g))).toThrow(/not in/);
  });

  // vec4 (count % 4 == 0) and scalar forms, several p.
  for (const [count, p] of [
    [4096, 0.5],
    [1001, 0.5],
    [100_000, 0.2],
    [100_003, 0.7],
  ] as const) {
    it(`forward and backward match the TS hash bit for bit: ${count} elements, p = ${p}`, async () => {
      const x = nonzero(count);
      const dy = nonzero(count);
      const s = 1234 + count;
      const prm = params(s, 7, 3);
      const y = await forward(g, x, p, prm);
      const mask = dropoutMaskRef(count, p, s, 7, 3);
      expect(maskOf(y)).toEqual(mask);
      expect(compare(y, dropoutRef(x, mask, p))).toBeLessThan(1e-4);
      // The backward regenerates the same mask and scales by the same 1 / (1 - p).
      const dx = await backward(g, dy, p, prm);
      expect(maskOf(dx)).toEqual(mask);
      expect(compare(dx, dropoutRef(dy, mask, p))).toBeLessThan(1e-4);
      // Keep rate within 2% (absolute) of 1 - p.
      const kept = mask.reduce((a, b) => a + b, 0) / count;
      if (count >= 100_000) expect(Math.abs(kept - (1 - p))).toBeLessThan(0.02);
    });
  }

  it('same seed and step -> same mask; another step, seed or stream -> another mask', async () => {
    const count = 100_000;
    const x = nonzero(count);
    const a = maskOf(await forward(g, x, 0.5, params(42, 1)));
    const again = maskOf(await forward(g, x, 0.5, params(42, 1)));
    expect(again).toEqual(a);
    const kept = a.reduce((s, v) => s + v, 0) / count;
    expect(Math.abs(kept - 0.5)).toBeLessThan(0.02);
    for (const other of [params(42, 2), params(43, 1), params(42, 1, 1)]) {
      const b = maskOf(await forward(g, x, 0.5, other));
      // Independent masks at p = 0.5 disagree on about half of the elements.
      let differ = 0;
      for (let i = 0; i < count; i++) differ += a[i] !== b[i] ? 1 : 0;
      expect(Math.abs(differ / count - 0.5)).toBeLessThan(0.02);
    }
  });

  it('backward run after the forward (same submit) uses the forward mask and 1 / (1 - p)', async () => {
    const count = 50_000;
    const p = 0.5;
    const x = nonzero(count);
    const dy = nonzero(count);
    const ks = [
      ...dropoutForwardKernels({ count, p }, targetOf(g)),
      ...dropoutBackwardKernels({ count, p }, targetOf(g)),
    ];
    const out = await runKernels(g, ks, { x, dy, params: params(99, 5, 2), y: count, dx: count }, [
      'y',
      'dx',
    ]);
    const y = out['y']!;
    const dx = out['dx']!;
    for (let i = 0; i < count; i++) {
      if (y[i] === 0) expect(dx[i]).toBe(0);
      else {
        expect(y[i]).toBe(Math.fround(x[i]! * 2));
        expect(dx[i]).toBe(Math.fround(dy[i]! * 2));
      }
    }
  });

  it('p = 0 is the identity', async () => {
    const x = nonzero(1000);
    expect(Array.from(await forward(g, x, 0, params(1, 1)))).toEqual(Array.from(x));
  });

  it('folds a large grid into 2-D (fake small maxComputeWorkgroupsPerDimension)', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 8 };
    const count = 40_000;
    const ks = dropoutForwardKernels({ count, p: 0.5 }, target);
    expect(ks[0]!.dispatch[1]).toBeGreaterThan(1);
    const x = nonzero(count);
    const y = (await runKernels(g, ks, { x, params: params(5, 6), y: count }, ['y']))['y']!;
    expect(compare(y, dropoutRef(x, dropoutMaskRef(count, 0.5, 5, 6, 0), 0.5))).toBeLessThan(1e-4);
  });
});

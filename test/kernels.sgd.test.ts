/**
 * The SGD kernels (compiler/wgsl/sgd.ts) against a float64 CPU loop of PyTorch's update
 * (g' = g + wd w; v = mu v + g'; w -= lr v), over several steps with fresh random gradients,
 * momentum and weight decay, with the flat parameter range whole and split into chunks under a
 * fake small maxStorageBufferBindingSize. Relative error max |gpu - ref| / max |ref| < 1e-4 for w
 * and v after every step. The GPU state (w, v) is read back and uploaded again between steps,
 * which is exact; the reference keeps its own float64 state from the start.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { sgdChunks, sgdKernels } from '../compiler/wgsl/sgd.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { randomArray } from './reference/random.js';
import { sgdStepRef, type SgdHyper } from './reference/sgd.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

let seed = 13000;

const hyperOf = (h: SgdHyper): Float32Array =>
  new Float32Array([h.lr, h.momentum, h.weightDecay, 0]);

/** `steps` SGD steps on the GPU, one submit each, against the float64 loop. */
async function train(g: Gpu, count: number, target: TargetInfo, schedule: SgdHyper[]) {
  const ks = sgdKernels({ count }, target);
  let w: Float32Array = randomArray(count, seed++, 1);
  let v: Float32Array = new Float32Array(count); // PyTorch's momentum buffer starts empty: v = 0 gives v = g'
  const wRef = Float64Array.from(w);
  const vRef = new Float64Array(count);
  for (const h of schedule) {
    const grad = randomArray(count, seed++, 0.5);
    const out = await runKernels(g, ks, { w, g: grad, v, hyper: hyperOf(h) }, ['w', 'v']);
    w = out['w']!;
    v = out['v']!;
    // The reference sees the f32 hyper-parameters the GPU sees.
    const h32 = {
      lr: Math.fround(h.lr),
      momentum: Math.fround(h.momentum),
      weightDecay: Math.fround(h.weightDecay),
    };
    sgdStepRef(wRef, grad, vRef, h32);
    expect(compare(w, wRef, 'w')).toBeLessThan(1e-4);
    expect(compare(v, vRef, 'v')).toBeLessThan(1e-4);
  }
  return ks;
}

// The paper's momentum and decay; a larger decay so that its term is visible in the error; a
// learning-rate schedule that changes between steps without a recompile.
const PAPER: SgdHyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
const STRONG: SgdHyper = { lr: 0.1, momentum: 0.9, weightDecay: 0.05 };
const SCHEDULE: SgdHyper[] = [PAPER, PAPER, STRONG, STRONG, { ...PAPER, lr: 0.001 }];

describe('sgd kernels', async () => {
  const g = await acquireGpu();

  it('have a header comment, bindings, flops and bytes', () => {
    const [k, ...rest] = sgdKernels({ count: 1000 }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// sgd:')).toBe(true); // the count is read at run time
    expect(k!.name).toBe('sgd_1000');
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['w', 'g', 'v', 'hyper']);
    expect(k!.bindings.every((b) => b.offsetBytes === undefined)).toBe(true);
    expect(k!.flops).toBe(6000);
    expect(k!.bytes).toBe(4 * (5 * 1000 + 4));
  });

  it("split VGG-16's 138M parameters (553 MB) into aligned chunks under 128 MiB", () => {
    const count = 138_357_544;
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 128 * 1024 * 1024 };
    const ks = sgdKernels({ count }, target);
    expect(ks.length).toBe(5);
    let next = 0;
    for (const k of ks) {
      for (const t of ['w', 'g', 'v']) {
        const b = k.bindings.find((x) => x.tensor === t)!;
        expect(b.offsetBytes).toBe(next);
        expect(b.offsetBytes! % 256).toBe(0);
        expect(b.sizeBytes!).toBeLessThanOrEqual(128 * 1024 * 1024);
      }
      next += k.bindings[0]!.sizeBytes!;
      expect(k.dispatch[0]).toBeLessThanOrEqual(target.maxComputeWorkgroupsPerDimension);
    }
    expect(next).toBe(count * 4);
    expect(ks.reduce((s, k) => s + k.flops, 0)).toBe(6 * count);
  });

  for (const count of [1, 7, 1000, 4099, 100_000]) {
    it(`${count} parameters, ${SCHEDULE.length} steps (momentum, weight decay, lr schedule)`, async () => {
      await train(g, count, targetOf(g), SCHEDULE);
    });
  }

  it('split: 64 KiB bindings (fake limit), several chunks, the last one scalar', async () => {
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 64 * 1024 };
    const count = 50_001; // 200 KB: 4 chunks, the last of odd length
    const chunks = sgdChunks({ count }, target);
    expect(chunks.length).toBeGreaterThan(2);
    let next = 0;
    for (const c of chunks) {
      expect(c.offset).toBe(next);
      expect((c.offset * 4) % 256).toBe(0);
      expect(c.length * 4).toBeLessThanOrEqual(64 * 1024);
      next += c.length;
    }
    expect(next).toBe(count);
    const ks = await train(g, count, target, SCHEDULE);
    expect(ks.length).toBe(chunks.length);
    expect(ks[ks.length - 1]!.code).toContain('array<f32>');
    expect(ks[0]!.code).toContain('array<vec4<f32>>');
  });

  it('three steps in one submit (kernels repeated) equal three reference steps', async () => {
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 64 * 1024 };
    const count = 30_000;
    const ks = sgdKernels({ count }, target);
    expect(ks.length).toBeGreaterThan(1);
    const w = randomArray(count, seed++, 1);
    const grad = randomArray(count, seed++, 0.5);
    const out = await runKernels(
      g,
      [...ks, ...ks, ...ks],
      { w, g: grad, v: new Float32Array(count), hyper: hyperOf(STRONG) },
      ['w', 'v'],
    );
    const wRef = Float64Array.from(w);
    const vRef = new Float64Array(count);
    const h32 = {
      lr: Math.fround(0.1),
      momentum: Math.fround(0.9),
      weightDecay: Math.fround(0.05),
    };
    for (let s = 0; s < 3; s++) sgdStepRef(wRef, grad, vRef, h32);
    expect(compare(out['w']!, wRef, 'w')).toBeLessThan(1e-4);
    expect(compare(out['v']!, vRef, 'v')).toBeLessThan(1e-4);
  });
});

/**
 * Dense evaluation end to end (runtime/dense.ts, cli/dense.ts): the score map at the declared
 * size equals the FC path's logits, a larger image matches the float64 reference of the
 * rewritten network, a split weight through the whole plan, `classScores` by hand, and the CLI.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDense } from '../cli/dense.js';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { denseGraph } from '../compiler/passes/fc-to-conv.js';
import { VggcError } from '../dsl/diagnostics.js';
import { classScores, createDenseInference } from '../runtime/dense.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { readNpy, writeNpy } from '../runtime/npy.js';
import { parameterLayout, saveWeights } from '../runtime/weights.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const TEXT = `model s { input 3x16x16
  conv3-4, maxpool
  conv3-4, maxpool
  FC-64, dropout 0.5
  FC-10
  soft-max }`;
const graph = checkSource({ name: 's.vgg', text: TEXT });

// Weights of the FC model, by torchvision name (classifier.0.weight is [64, 64]).
const weights = new Map<string, Float32Array>();
parameterLayout(graph).forEach((p, i) => {
  const count = p.shape.reduce((a, b) => a * b, 1);
  weights.set(p.name, randomArray(count, 900 + i, Math.sqrt(3 / (count / p.shape[0]!))));
});

function relativeError(gpu: Float32Array, ref: ArrayLike<number>): number {
  expect(gpu.length).toBe(ref.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(gpu[i]! - ref[i]!));
    den = Math.max(den, Math.abs(ref[i]!));
  }
  return Number.isNaN(num) ? Infinity : num / den;
}

describe('dense evaluation', async () => {
  const gpu = await acquireGpu();

  it('(a) at the declared size, the 1x1 score map equals the FC path logits', async () => {
    const n = 2;
    const x = randomArray(n * 3 * 16 * 16, 11, 1);
    const fcPlan = compileInference(graph, { target: targetOf(gpu), batch: n });
    const fcExe = await prepare(gpu, fcPlan, weights);
    const dense = await createDenseInference(graph, weights, { gpu });
    try {
      const logits = await fcExe.run(x);
      const { scores, shape } = await dense.run(x, n, [3, 16, 16]);
      expect(shape).toEqual([n, 10, 1, 1]);
      expect(relativeError(scores, logits)).toBeLessThan(1e-5);
    } finally {
      fcExe.destroy();
      dense.destroy();
    }
  });

  it('(b) on a larger image, the score map matches the float64 reference of the rewritten net', async () => {
    const dense = await createDenseInference(graph, weights, { gpu });
    try {
      for (const [h, w] of [
        [24, 20],
        [24, 20], // the cached plan
      ] as const) {
        const n = 1;
        const x = randomArray(n * 3 * h * w, 100 + h + w, 1);
        const { scores, shape } = await dense.run(x, n, [3, h, w]);
        const g = denseGraph(graph, [3, h, w]);
        const out = g.nodes.at(-1)!.out;
        expect(shape).toEqual([n, 10, out[1], out[2]]);
        expect(relativeError(scores, networkRef(g, weights, x, n))).toBeLessThan(1e-4);
      }
      expect(shapeOf(denseGraph(graph, [3, 24, 20]))).toEqual([10, 3, 2]);
      expect(dense.cachedPlans()).toEqual(['3x24x20/n1']);
      expect(dense.minInput).toEqual([3, 16, 16]);
      await expect(dense.run(new Float32Array(3 * 15 * 30), 1, [3, 15, 30])).rejects.toThrow(
        /smallest image is 3x16x16/,
      );
    } finally {
      dense.destroy();
    }
  });

  it('(c) splits the converted FC weight over a small binding limit', async () => {
    // classifier.0 as a 4x4 conv: 64 rows of 64 floats (256 bytes); 8 KiB holds 32 rows. Batch 1
    // and the size of (b), so that only the split kernels are new to lavapipe.
    const target = { ...targetOf(gpu), maxStorageBufferBindingSize: 8 * 1024 };
    const n = 1;
    const g = denseGraph(graph, [3, 24, 20]);
    const plan = compileInference(g, { target, batch: n });
    const parts = plan.steps.filter((s) => s.bind.w === 'classifier.0.weight');
    expect(parts.length).toBe(2);
    expect(parts.map((s) => s.kernel.bindings.find((b) => b.tensor === 'w')!.offsetBytes)).toEqual([
      0,
      32 * 256,
    ]);
    expect(plan.tensors.find((t) => t.name === 'classifier.0.weight')!.shape).toEqual([
      64, 4, 4, 4,
    ]);
    const exe = await prepare(gpu, plan, weights);
    try {
      const x = randomArray(n * 3 * 24 * 20, 77, 1);
      expect(relativeError(await exe.run(x), networkRef(g, weights, x, n))).toBeLessThan(1e-4);
    } finally {
      exe.destroy();
    }
  });
});

const shapeOf = (g: { nodes: readonly { out: readonly number[] }[] }) => g.nodes.at(-1)!.out;

describe('(e) a model with a non-square input', async () => {
  const gpu = await acquireGpu();
  // FC-6 reads 4 x 3 x 2: a 3x2 convolution in dense evaluation.
  const rect = checkSource({
    name: 'r.vgg',
    text: 'model r { input 3x12x8\n conv3-4, maxpool\n conv3-4, maxpool\n FC-6\n FC-5 }',
  });
  const w = new Map<string, Float32Array>();
  parameterLayout(rect).forEach((p, i) => {
    const count = p.shape.reduce((a, b) => a * b, 1);
    w.set(p.name, randomArray(count, 1300 + i, Math.sqrt(3 / (count / p.shape[0]!))));
  });

  it('runs at any size from the declared input up, against the float64 reference', async () => {
    const dense = await createDenseInference(rect, w, { gpu });
    try {
      expect(dense.minInput).toEqual([3, 12, 8]);
      for (const [h, wd] of [
        [12, 8],
        [13, 11],
        [20, 9],
      ] as const) {
        const x = randomArray(3 * h * wd, 1400 + h * wd, 1);
        const { scores, shape } = await dense.run(x, 1, [3, h, wd]);
        const g = denseGraph(rect, [3, h, wd]);
        expect(shape).toEqual([1, 5, ...shapeOf(g).slice(1)]);
        expect(relativeError(scores, networkRef(g, w, x, 1))).toBeLessThan(1e-4);
      }
    } finally {
      dense.destroy();
    }
  });
});

describe('(d) classScores', () => {
  it('averages each class map, then applies soft-max', () => {
    // n = 2, 3 classes, 1 x 2 maps.
    const map = Float32Array.from([1, 3, 0, 0, 2, -2, 1000, 1000, 999, 999, -5, 5]);
    const p = classScores(map, 2, 3, 1, 2);
    // sample 0: means 2, 0, 0
    const e2 = Math.exp(2);
    const want0 = [e2 / (e2 + 2), 1 / (e2 + 2), 1 / (e2 + 2)];
    // sample 1: means 1000, 999, 0: stable for large scores
    const z = 1 + Math.exp(-1) + Math.exp(-1000);
    const want1 = [1 / z, Math.exp(-1) / z, Math.exp(-1000) / z];
    [...want0, ...want1].forEach((v, i) => expect(p[i]).toBeCloseTo(v, 6));
    expect(p[0]! + p[1]! + p[2]!).toBeCloseTo(1, 6);
    expect(() => classScores(map, 2, 3, 2, 2)).toThrow(/holds 12 values/);
  });
});

describe('cli runDense', () => {
  const dir = mkdtemp(join(tmpdir(), 'vggc-dense-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));

  it('writes N x classes x h x w, and nothing on a too small image or wrong channels', async () => {
    const d = await dir;
    const file = join(d, 's.vgg');
    await writeFile(file, TEXT);
    const w = join(d, 'w.safetensors');
    await saveWeights(w, graph, weights);
    const x = randomArray(3 * 24 * 20, 5, 1);
    await writeNpy(join(d, 'x.npy'), [1, 3, 24, 20], x);
    const lines: string[] = [];
    const flags = { weights: w, input: join(d, 'x.npy'), out: join(d, 'y.npy') };
    await runDense(file, flags, (s) => lines.push(s));
    const y = await readNpy(join(d, 'y.npy'));
    expect(y.shape).toEqual([1, 10, 3, 2]);
    const ref = networkRef(denseGraph(graph, [3, 24, 20]), weights, x, 1);
    expect(relativeError(y.data, ref)).toBeLessThan(1e-4);
    expect(lines.join('\n')).toMatch(/\[1, 10, 3, 2\] class score maps/);

    await writeNpy(join(d, 'small.npy'), [1, 3, 12, 40], randomArray(3 * 12 * 40, 6));
    const bad = { ...flags, input: join(d, 'small.npy'), out: join(d, 'no.npy') };
    const e1 = await runDense(file, bad, () => {}).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(VggcError);
    expect((e1 as VggcError).message).toMatch(/small\.npy: .*smallest image is 3x16x16/);
    await writeNpy(join(d, 'grey.npy'), [1, 1, 24, 24], randomArray(24 * 24, 7));
    const grey = { ...flags, input: join(d, 'grey.npy'), out: join(d, 'no.npy') };
    await expect(runDense(file, grey, () => {})).rejects.toThrow(/3-channel images, not 1/);
    expect(existsSync(join(d, 'no.npy'))).toBe(false);
  });
});

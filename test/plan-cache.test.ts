/**
 * runtime/plan-cache.ts and runtime/executor.ts: batch slicing (a short last slice compiles a
 * plan of its own, or is padded to reuse the others'), an inference plan bound to a trainer's
 * flat parameter buffer (validation during training) that sees every step without an upload,
 * and the errors for a missing or mis-sized parameter.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import { VggcError } from '../dsl/diagnostics.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { createExecutor } from '../runtime/executor.js';
import { PlanCache } from '../runtime/plan-cache.js';
import { createTrainer } from '../runtime/trainer.js';
import { relativeError } from './helpers.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const graph = checkSource({
  name: 'p.vgg',
  text: 'model p { input 2x6x6\n conv3-3, maxpool\n FC-8\n FC-4 }',
});
const PER = 2 * 6 * 6;
const weights = new Map<string, Float32Array>();
paramList(graph).forEach((p, i) => {
  const count = p.shape.reduce((a, b) => a * b, 1);
  weights.set(p.name, randomArray(count, 40 + i, Math.sqrt(6 / (count / p.shape[0]!))));
});

describe('PlanCache and the executor', async () => {
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const compile = (batch: number) => compileInference(graph, { target, batch });

  it('slices a batch: the short last slice gets its own plan, or is padded to reuse one', async () => {
    const count = 5;
    const x = randomArray(count * PER, 7, 1);
    const ref = networkRef(graph, weights, x, count);
    const plans = new PlanCache(gpu, { weights });
    try {
      const y = await plans.run('a', compile, count, x, { slice: 2 });
      expect(relativeError(y, ref)).toBeLessThan(1e-4);
      expect(plans.keys()).toEqual(['a/n2', 'a/n1']);
      const done: number[] = [];
      const fill = (j: number, out: Float32Array) => out.set(x.subarray(j * PER, (j + 1) * PER));
      const padded = await plans.run('b', compile, count, fill, {
        slice: 2,
        pad: true,
        onProgress: (d) => done.push(d),
      });
      expect(relativeError(padded, ref)).toBeLessThan(1e-4);
      expect(plans.keys()).toEqual(['a/n2', 'a/n1', 'b/n2']);
      expect(done).toEqual([2, 4, 5]);
      // A padded array input: the zero images past the end do not reach the result.
      const one = await plans.run('b', compile, 1, x.subarray(0, PER), { slice: 2, pad: true });
      expect(relativeError(one, networkRef(graph, weights, x.subarray(0, PER), 1))).toBeLessThan(
        1e-4,
      );
      expect(plans.keys()).toHaveLength(3);
    } finally {
      plans.destroy();
    }
  });

  it("binds a trainer's parameters: the plan sees each step, with no upload", async () => {
    const n = 2;
    const x = randomArray(n * PER, 8, 1);
    const labels = Int32Array.from([1, 3]);
    const trainer = await createTrainer(gpu, compileTraining(graph, { target, batch: n }), weights);
    const plans = new PlanCache(gpu, { params: trainer.executor.locate });
    try {
      const before = await plans.run('v', compile, n, x, { slice: n });
      expect(relativeError(before, networkRef(graph, weights, x, n))).toBeLessThan(1e-4);
      const hyper = { lr: 0.2, momentum: 0.9, weightDecay: 0, seed: 1 };
      for (let step = 0; step < 2; step++) await trainer.step(x, labels, { ...hyper, step });
      const after = await plans.run('v', compile, n, x, { slice: n });
      const trained = await trainer.readWeights();
      expect(relativeError(after, networkRef(graph, trained, x, n))).toBeLessThan(1e-4);
      // The steps moved the output, so a stale copy of the weights would fail the line above.
      expect(relativeError(after, networkRef(graph, weights, x, n))).toBeGreaterThan(1e-3);
      expect(plans.keys()).toEqual(['v/n2']);
    } finally {
      plans.destroy();
      trainer.destroy();
    }
  });

  it('names a missing or mis-sized parameter, uploaded or bound', async () => {
    const plan = compile(1);
    const [first, , fcWeight] = paramList(graph).map((p) => p.name);
    const missing = new Map(weights);
    missing.delete(first!);
    const short = new Map(weights).set(fcWeight!, new Float32Array(3));
    const size = weights.get(fcWeight!)!.length;
    const buffer = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
    const bound = (name: string) => (name === first ? { buffer, offset: 0, bytes: 8 } : undefined);
    const cases: [Parameters<typeof createExecutor>[2], string][] = [
      [{ weights: missing }, `no weights for tensor '${first}'`],
      [{ weights: short }, `tensor '${fcWeight}' holds 3 values, the model needs ${size}`],
      [{ weights, params: bound }, `tensor '${first}' holds 2 values, the model needs 54`],
    ];
    try {
      for (const [options, message] of cases) {
        const made = createExecutor(gpu, plan, options);
        await expect(made).rejects.toThrow(VggcError);
        await expect(made).rejects.toThrow(message);
      }
    } finally {
      buffer.destroy();
    }
  });
});

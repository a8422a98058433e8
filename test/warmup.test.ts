/**
 * runtime/warmup.ts: compiling every pipeline of a command's plans up front never changes a
 * result, never writes a plan's real buffers (an SGD step must not run on the real parameters),
 * and counts distinct pipelines once: two plans sharing kernels count them once, a second
 * warm-up of the same plans counts none, and a pipeline a run already used is not counted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import { TRAIN_HOST, type KernelPlan } from '../compiler/plan.js';
import { acquireGpu, openExtraGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { createExecutor } from '../runtime/executor.js';
import { createTrainer } from '../runtime/trainer.js';
import { pendingPipelines, warmUp } from '../runtime/warmup.js';
import { SMALL_NET } from './helpers.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const graph = checkSource({ name: 'small.vgg', text: SMALL_NET });
const weightsOf = (g: typeof graph) =>
  new Map(
    paramList(g).map(
      (p, i) =>
        [
          p.name,
          randomArray(
            p.shape.reduce((a, b) => a * b, 1),
            100 + i,
            0.5,
          ),
        ] as const,
    ),
  );
const weights = weightsOf(graph);
const inference = (gpu: Gpu, batch: number, output: 'logits' | 'probs' = 'logits', g = graph) =>
  compileInference(g, { target: targetOf(gpu), batch, fuse: true, output });

/**
 * SMALL_NET with `channels` in its conv and FC-`units`: kernels whose code no other test here
 * builds (the batch is read at run time, so a new batch size is no longer a new pipeline).
 */
const fresh = (channels: number, units: number) =>
  checkSource({
    name: `fresh${channels}.vgg`,
    text: SMALL_NET.replace('conv3-4', `conv3-${channels}`).replace('FC-6', `FC-${units}`),
  });

/** Distinct (entry point, code) pairs of the plans, counted here without the runtime's key. */
const distinct = (plans: readonly KernelPlan[]) =>
  new Set(plans.flatMap((p) => p.steps.map((s) => `${s.kernel.entryPoint}|${s.kernel.code}`))).size;

/** Runs an inference plan on `x` with its output poisoned (NaN) first; returns the output. */
async function runPoisoned(
  gpu: Gpu,
  plan: KernelPlan,
  x: Float32Array,
  w = weights,
): Promise<Float32Array> {
  const exe = await createExecutor(gpu, plan, { weights: w });
  try {
    const out = exe.locate(plan.output)!;
    const nan = new Float32Array(out.bytes / 4).fill(NaN);
    gpu.device.queue.writeBuffer(out.buffer, out.offset, nan);
    const [y] = await exe.run({ input: x });
    return y!.slice();
  } finally {
    exe.destroy();
  }
}

describe('warmUp', () => {
  it('leaves a plan’s results bit for bit as an unwarmed run gives them', async () => {
    const gpu = await acquireGpu();
    const plan = inference(gpu, 2);
    const x = randomArray(2 * 3 * 8 * 8, 7, 1);
    expect(await warmUp(gpu, [plan], { helper: false })).toBe(distinct([plan]));
    const warmed = await runPoisoned(gpu, plan, x);
    // Unwarmed: a device of its own, whose first run compiles at its dispatches.
    const cold = await openExtraGpu();
    try {
      const unwarmed = await runPoisoned(cold, inference(cold, 2), x);
      expect(warmed.every(Number.isFinite)).toBe(true);
      expect(warmed.some((v) => v !== 0)).toBe(true);
      expect(Array.from(warmed)).toEqual(Array.from(unwarmed));
    } finally {
      cold.device.destroy();
    }
  });

  it('never writes a real buffer: an SGD plan’s parameters and momenta stay as they were', async () => {
    const gpu = await acquireGpu();
    // Batch 4: no other test here runs it, so every pipeline of the step is still cold.
    const plan = compileTraining(graph, { target: targetOf(gpu), batch: 4, fuse: true });
    const trainer = await createTrainer(gpu, plan, weights);
    try {
      // Real state an SGD dispatch on the real buffers would change: a learning rate, gradients.
      const exe = trainer.executor;
      const hyper = exe.locate(TRAIN_HOST.hyper)!;
      gpu.device.queue.writeBuffer(
        hyper.buffer,
        hyper.offset,
        new Float32Array([0.5, 0.9, 0.1, 0]),
      );
      const grads = exe.locate('grads')!;
      const g = randomArray(grads.bytes / 4, 9, 1);
      gpu.device.queue.writeBuffer(grads.buffer, grads.offset, g);
      const before = await trainer.readWeights();
      const momentaBefore = await trainer.readMomenta();
      expect(pendingPipelines(gpu, [plan]).length).toBe(distinct([plan]));
      expect(await warmUp(gpu, [plan])).toBe(distinct([plan]));
      const after = await trainer.readWeights();
      for (const [name, w] of before) expect(after.get(name), name).toEqual(w);
      for (const [name, m] of await trainer.readMomenta()) {
        expect(m, name).toEqual(momentaBefore.get(name));
      }
      expect(new Float32Array(await exe.read('grads'))).toEqual(g);
    } finally {
      trainer.destroy();
    }
  });

  it('counts distinct pipelines: shared kernels once, a second warm-up none', async () => {
    const gpu = await acquireGpu();
    // Channels no other test here uses: none of its pipelines ran yet.
    const g = fresh(5, 7);
    const a = inference(gpu, 3, 'logits', g);
    const b = inference(gpu, 3, 'probs', g);
    const union = distinct([a, b]);
    expect(union).toBeLessThan(distinct([a]) + distinct([b])); // they do share kernels
    const calls: [number, number][] = [];
    const n = await warmUp(gpu, [a, b], { onProgress: (done, total) => calls.push([done, total]) });
    expect(n).toBe(union);
    expect(calls[0]).toEqual([0, union]);
    expect(calls.at(-1)).toEqual([union, union]);
    expect(calls.every(([, t]) => t === union)).toBe(true);
    for (let i = 1; i < calls.length; i++) expect(calls[i]![0]).toBeGreaterThan(calls[i - 1]![0]);
    const again: [number, number][] = [];
    expect(await warmUp(gpu, [a, b], { onProgress: (d, t) => again.push([d, t]) })).toBe(0);
    expect(again).toEqual([]);
  });

  it('does not count pipelines that a run already compiled', async () => {
    const gpu = await acquireGpu();
    const g = fresh(6, 9);
    const plan = inference(gpu, 5, 'logits', g);
    expect(pendingPipelines(gpu, [plan]).length).toBe(distinct([plan]));
    await runPoisoned(gpu, plan, randomArray(5 * 3 * 8 * 8, 3, 1), weightsOf(g));
    expect(pendingPipelines(gpu, [plan])).toEqual([]);
    expect(await warmUp(gpu, [plan])).toBe(0);
  });
});

/**
 * Whole networks with their 3x3 convolutions (forward and data gradient) on the Winograd kernels
 * (compiler/wgsl/winograd.ts), chosen through the compile options' `choose`, against the float64
 * references at the tolerances of test/network.forward.test.ts and test/train.step.test.ts.
 * The chooser mixes F(2,3) and F(4,3) by layer size, and the test checks that the plan ran them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Chooser } from '../compiler/algorithms.js';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import type { KernelPlan } from '../compiler/plan.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { createTrainer } from '../runtime/trainer.js';
import { relativeError } from './helpers.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';
import { trainStepRef } from './reference/train.js';

afterAll(releaseGpu);

/** F(4,3) on the larger maps, F(2,3) on the smaller ones. */
const winograd: Chooser = (l) => ({
  algorithm: l.h * l.w >= 64 ? 'winograd-f4' : 'winograd-f2',
  reason: 'test: forced',
});

function randomWeights(graph: TypedGraph, seed: number, gain: number): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  paramList(graph).forEach((p, i) => {
    const count = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = count / p.shape[0]!;
    weights.set(p.name, randomArray(count, seed + i, Math.sqrt(gain / fanIn)));
  });
  return weights;
}

/** The Winograd algorithms the plan's steps of `op` ran (and that their kernels are Winograd's). */
function algorithmsOf(plan: KernelPlan, label: RegExp): Set<string> {
  const steps = plan.steps.filter((s) => label.test(s.label));
  expect(steps.length).toBeGreaterThan(0);
  for (const s of steps) {
    expect(s.algorithm?.reason).toBe('test: forced');
    expect(s.kernel.name).toMatch(/^winograd_f[24]_/);
  }
  return new Set(steps.map((s) => s.algorithm!.algorithm));
}

describe('networks on Winograd convolutions match the float64 reference', () => {
  it('forward: conv-relu, conv-relu-pool with odd sides, batch 2', async () => {
    const gpu = await acquireGpu();
    const graph = checkSource({
      name: 'net.vgg',
      text: `model w { input 3x12x10
         conv3-8 x2, maxpool
         conv3-12, maxpool
         FC-5 }`,
    });
    const batch = 2;
    const weights = randomWeights(graph, 1000, 3);
    const x = randomArray(batch * 3 * 12 * 10, 17, 1);
    const plan = compileInference(graph, {
      target: targetOf(gpu),
      batch,
      fuse: true,
      output: 'logits',
      choose: winograd,
    });
    expect(algorithmsOf(plan, /^conv3/)).toEqual(new Set(['winograd-f2', 'winograd-f4']));
    const exe = await prepare(gpu, plan, weights);
    try {
      const y = await exe.run(x);
      expect(relativeError(y, networkRef(graph, weights, x, batch))).toBeLessThan(1e-4);
    } finally {
      exe.destroy();
    }
  });

  it('training steps: forward and data-gradient convolutions, ReLU mask fused', async () => {
    const gpu = await acquireGpu();
    const graph = checkSource({
      name: 'net.vgg',
      text: `model t { input 2x10x10
         (conv3-4 x2, maxpool) x2
         FC-6 }`,
    });
    const n = 3;
    const hyper = { lr: 0.05, momentum: 0.9, weightDecay: 5e-3 };
    const initial = randomWeights(graph, 300, 6);
    const batches = [0, 1].map((s) => ({
      x: randomArray(n * 2 * 10 * 10, 50 + s, 1),
      labels: Int32Array.from(randomArray(n, 90 + s, 1), (v) =>
        Math.min(5, Math.floor((v + 1) * 3)),
      ),
    }));
    const plan = compileTraining(graph, {
      target: targetOf(gpu),
      batch: n,
      fuse: true,
      choose: winograd,
    });
    expect(algorithmsOf(plan, /^conv-grad-data/)).toEqual(new Set(['winograd-f2', 'winograd-f4']));
    const trainer = await createTrainer(gpu, plan, initial);
    try {
      let weights: Map<string, ArrayLike<number>> = initial;
      let momenta: Map<string, ArrayLike<number>> | undefined;
      for (const [s, b] of batches.entries()) {
        const ref = trainStepRef(graph, weights, momenta, b.x, b.labels, n, hyper, {
          seed: 11,
          step: s,
        });
        const got = await trainer.step(b.x, b.labels, { ...hyper, seed: 11, step: s });
        expect(Math.abs(got.loss - ref.loss) / ref.loss, `loss, step ${s}`).toBeLessThan(1e-4);
        weights = ref.weights;
        momenta = ref.momenta;
      }
      const after = await trainer.readWeights();
      for (const [name, ref] of weights) {
        const start = initial.get(name)!;
        const delta = after.get(name)!.map((v, i) => v - start[i]!);
        const refDelta = Float64Array.from(ref, (v, i) => v - start[i]!);
        expect(relativeError(delta, refDelta, name), name).toBeLessThan(1e-4);
      }
    } finally {
      trainer.destroy();
    }
  });
});

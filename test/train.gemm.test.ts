/**
 * A training step whose 1x1 convolution, FC layers and FC gradients run on the GEMM kernels
 * (compiler/wgsl/gemm.ts), chosen by a chooser that answers 'gemm' wherever APPLICABLE.gemm
 * offers a kernel, against the float64 reference (test/reference/train.ts) at the tolerances of
 * test/train.step.test.ts. Fused (FC + ReLU + dropout in the GEMM epilogue) only: the unfused FC
 * without epilogue is covered by test/kernels.gemm.test.ts, and each plan compiles its own shaders.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { APPLICABLE, directChooser, type Chooser } from '../compiler/algorithms.js';
import { compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import type { TypedGraph } from '../compiler/shapes.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { createTrainer } from '../runtime/trainer.js';
import { relativeError } from './helpers.js';
import { randomArray } from './reference/random.js';
import { trainStepRef } from './reference/train.js';

afterAll(releaseGpu);

const NET = `model g { input 3x6x6
  conv3-4, conv1-6, maxpool
  FC-12, dropout 0.25
  FC-5
  soft-max }`;
const N = 10; // >= 8: the FC layers take the GEMM; not a multiple of the 8-sample tile
const HYPER = { lr: 0.05, momentum: 0.9, weightDecay: 5e-3 };
const STEPS = 2;

/** 'gemm' with its first tuning wherever it applies, else the direct kernels. */
const gemmWherever =
  (target: TargetInfo): Chooser =>
  (layer) => {
    const tunings = APPLICABLE.gemm(layer, target);
    return tunings.length > 0
      ? { algorithm: 'gemm', tuning: tunings[0]!, reason: 'test: gemm wherever it applies' }
      : directChooser(layer);
  };

function randomWeights(graph: TypedGraph, seed: number): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  paramList(graph).forEach((p, i) => {
    const count = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = count / p.shape[0]!;
    weights.set(p.name, randomArray(count, seed + i, Math.sqrt(6 / fanIn)));
  });
  return weights;
}

describe('a training step on the GEMM kernels', () => {
  it('matches the float64 reference (fused)', async () => {
    const gpu = await acquireGpu();
    const target = targetOf(gpu);
    const graph = checkSource({ name: 'net.vgg', text: NET });
    const [c, h, w] = graph.nodes[0]!.out;
    const initial = randomWeights(graph, 900);
    const batches = Array.from({ length: STEPS }, (_, s) => ({
      x: randomArray(N * c * h * w, 60 + s, 1),
      labels: Int32Array.from(randomArray(N, 80 + s, 1), (v) =>
        Math.min(4, Math.floor(((v + 1) / 2) * 5)),
      ),
    }));
    const refs = [];
    let weights: Map<string, ArrayLike<number>> = initial;
    let momenta: Map<string, ArrayLike<number>> | undefined;
    for (const [s, b] of batches.entries()) {
      const r = trainStepRef(graph, weights, momenta, b.x, b.labels, N, HYPER, {
        seed: 13,
        step: s,
      });
      refs.push(r);
      weights = r.weights;
      momenta = r.momenta;
    }

    for (const fuse of [true]) {
      const plan = compileTraining(graph, {
        target,
        batch: N,
        fuse,
        choose: gemmWherever(target),
      });
      // Every FC forward and gradient and the 1x1 conv run on the GEMM; the 3x3 conv does not.
      const gemm = plan.steps.filter((st) => st.algorithm?.algorithm === 'gemm');
      const names = gemm.map((st) => st.kernel.name);
      expect(names.filter((k) => k.startsWith('gemm_fc_') && !k.includes('bwd')).length).toBe(2);
      expect(names.filter((k) => k.startsWith('gemm_fc_bwd_weight')).length).toBe(2);
      expect(names.filter((k) => k.startsWith('gemm_fc_bwd_data')).length).toBe(2);
      expect(names.filter((k) => k.startsWith('gemm_conv1x1')).length).toBe(1);
      expect(gemm.every((st) => st.kernel.name.startsWith('gemm_'))).toBe(true);
      const trainer = await createTrainer(gpu, plan, initial);
      for (const [s, b] of batches.entries()) {
        const got = await trainer.step(b.x, b.labels, { ...HYPER, seed: 13, step: s });
        const ref = refs[s]!;
        expect(Math.abs(got.loss - ref.loss) / ref.loss, `loss, step ${s}`).toBeLessThan(1e-4);
        expect(got.correct, `hits, step ${s}`).toBe(ref.correct);
      }
      const after = await trainer.readWeights();
      const mom = await trainer.readMomenta();
      const last = refs.at(-1)!;
      for (const [name, ref] of last.weights) {
        const start = initial.get(name)!;
        const delta = after.get(name)!.map((v, i) => v - start[i]!);
        const refDelta = ref.map((v, i) => v - start[i]!);
        expect(relativeError(delta, refDelta, name), `${name} (fuse ${fuse})`).toBeLessThan(1e-4);
        expect(relativeError(mom.get(name)!, last.momenta.get(name)!, name)).toBeLessThan(1e-4);
      }
      trainer.destroy();
    }
  });
});

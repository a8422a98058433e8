/**
 * Whole training steps on the GPU against the float64 reference (test/reference/train.ts, which
 * differentiates layer by layer without the autodiff pass): forward, backward, soft-max
 * cross-entropy and SGD with momentum and weight decay over several steps, with dropout, LRN,
 * odd sizes and conv1; fused and unfused, which must also agree with each other. Both nets have
 * FC + ReLU + dropout: fused, the dropout runs in the FC's epilogue (fc-dropout) and the mask
 * its backward regenerates must be the one the epilogue drew.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import { FUSIONS } from '../compiler/passes/index.js';
import { planStats } from '../compiler/plan.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { createTrainer } from '../runtime/trainer.js';
import { relativeError } from './helpers.js';
import { randomArray } from './reference/random.js';
import { trainStepRef } from './reference/train.js';

afterAll(releaseGpu);

const NETS: [name: string, text: string, batch: number][] = [
  [
    'LRN, odd sides, conv1, dropout, soft-max',
    `model a { input 3x11x9
       conv3-6, LRN, maxpool
       conv1-5, conv3-8, maxpool
       FC-12, dropout 0.5
       FC-5
       soft-max }`,
    4,
  ],
  [
    'grey digits-like stacks without soft-max, batch 3',
    `model b { input 1x12x12
       (conv3-4 x2, maxpool) x2
       FC-16, dropout 0.25
       FC-7 }`,
    3,
  ],
];

const HYPER = { lr: 0.05, momentum: 0.9, weightDecay: 5e-3 };
const STEPS = 3;

function randomWeights(graph: TypedGraph, seed: number): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  paramList(graph).forEach((p, i) => {
    const count = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = count / p.shape[0]!;
    weights.set(p.name, randomArray(count, seed + i, Math.sqrt(6 / fanIn)));
  });
  return weights;
}

function labelsFor(n: number, classes: number, seed: number): Int32Array {
  const r = randomArray(n, seed, 1);
  return Int32Array.from(r, (v) => Math.min(classes - 1, Math.floor(((v + 1) / 2) * classes)));
}

describe('training steps match the float64 reference', () => {
  for (const [label, text, n] of NETS) {
    it(label, async () => {
      const gpu = await acquireGpu();
      const graph = checkSource({ name: 'net.vgg', text });
      const [c, h, w] = graph.nodes[0]!.out;
      const classes = graph.nodes.filter((x) => x.op.op === 'fc').at(-1)!.out[0];
      const initial = randomWeights(graph, 300);
      const batches = Array.from({ length: STEPS }, (_, s) => ({
        x: randomArray(n * c * h * w, 50 + s, 1),
        labels: labelsFor(n, classes, 90 + s),
      }));

      // The reference, step by step from the same start.
      const refs = [];
      let weights: Map<string, ArrayLike<number>> = initial;
      let momenta: Map<string, ArrayLike<number>> | undefined;
      for (const [s, b] of batches.entries()) {
        const r = trainStepRef(graph, weights, momenta, b.x, b.labels, n, HYPER, {
          seed: 11,
          step: s,
        });
        refs.push(r);
        weights = r.weights;
        momenta = r.momenta;
      }

      const finals: Map<string, Float32Array>[] = [];
      for (const fuse of [true, false]) {
        const plan = compileTraining(graph, { target: targetOf(gpu), batch: n, fuse });
        // fc-dropout fused: no standalone dropout forward, one FC writing the dropout output.
        const labels = plan.steps.map((st) => st.label);
        expect(labels.some((l) => /^FC-\d+\+relu\+dropout$/.test(l))).toBe(fuse);
        expect(labels.some((l) => l.startsWith('dropout '))).toBe(!fuse);
        const trainer = await createTrainer(gpu, plan, initial);
        for (const [s, b] of batches.entries()) {
          const got = await trainer.step(b.x, b.labels, { ...HYPER, seed: 11, step: s });
          const ref = refs[s]!;
          expect(Math.abs(got.loss - ref.loss) / ref.loss, `loss, step ${s}`).toBeLessThan(1e-4);
          expect(got.correct, `hits, step ${s}`).toBe(ref.correct);
        }
        const after = await trainer.readWeights();
        const mom = await trainer.readMomenta();
        const last = refs.at(-1)!;
        for (const [name, ref] of last.weights) {
          // The change a step made is what must be right, not the (large) unchanged part.
          const start = initial.get(name)!;
          const delta = after.get(name)!.map((v, i) => v - start[i]!);
          const refDelta = ref.map((v, i) => v - start[i]!);
          expect(relativeError(delta, refDelta, name), `${name} (fuse ${fuse})`).toBeLessThan(1e-4);
          expect(relativeError(mom.get(name)!, last.momenta.get(name)!, name)).toBeLessThan(1e-4);
        }
        finals.push(after);
        trainer.destroy();
      }
      for (const [name, fused] of finals[0]!) {
        const unfused = Float64Array.from(finals[1]!.get(name)!);
        expect(relativeError(fused, unfused, name), `${name} fused vs unfused`).toBeLessThan(1e-5);
      }
    });
  }

  it('each fusion alone gives the unfused training step (1e-5)', async () => {
    const gpu = await acquireGpu();
    const graph = checkSource({ name: 'net.vgg', text: NETS[1]![1] });
    const n = NETS[1]![2];
    const [c, h, w] = graph.nodes[0]!.out;
    const initial = randomWeights(graph, 700);
    const x = randomArray(n * c * h * w, 71, 1);
    const labels = labelsFor(n, 7, 72);
    const run = async (fuse: boolean | string[]) => {
      const plan = compileTraining(graph, { target: targetOf(gpu), batch: n, fuse });
      const trainer = await createTrainer(gpu, plan, initial);
      for (let s = 0; s < 2; s++) await trainer.step(x, labels, { ...HYPER, seed: 5, step: s });
      const out = await trainer.readWeights();
      trainer.destroy();
      return { out, dispatches: plan.steps.length };
    };
    const none = await run(false);
    const reluOnly = await run(['conv-relu']);
    for (const name of Object.keys(FUSIONS)) {
      // fc-dropout fuses into an FC whose ReLU is already fused: compare it on top of conv-relu.
      const needsRelu = name === 'fc-dropout';
      const base = needsRelu ? reluOnly : none;
      const one = await run(needsRelu ? ['conv-relu', name] : [name]);
      for (const [t, v] of base.out) {
        const d = relativeError(one.out.get(t)!, Float64Array.from(v), t);
        expect(d, `${name}: ${t}`).toBeLessThan(1e-5);
      }
      // Every pass but conv-relu-pool (which must not fuse in training) removes dispatches.
      if (name === 'conv-relu-pool') expect(one.dispatches, name).toBe(base.dispatches);
      else expect(one.dispatches, name).toBeLessThan(base.dispatches);
    }
  });

  it('fusion removes dispatches from the training step', async () => {
    const gpu = await acquireGpu();
    const graph = checkSource({ name: 'net.vgg', text: NETS[0]![1] });
    const target = targetOf(gpu);
    const fused = planStats(compileTraining(graph, { target, batch: 2, fuse: true }));
    const unfused = planStats(compileTraining(graph, { target, batch: 2, fuse: false }));
    // Unfused: a ReLU forward and backward per conv/FC+ReLU, a soft-max and a cross-entropy
    // kernel, one SGD dispatch per parameter tensor (5 layers: 10), a dropout forward.
    expect(unfused.dispatches - fused.dispatches).toBeGreaterThanOrEqual(4 + 1 + 9 + 1);
    expect(unfused.bytes).toBeGreaterThan(fused.bytes);
  });
});

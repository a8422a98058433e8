/**
 * Opt-in (`npm run test:opt-in`): one training step of the MNIST net at batch 64 (the main job's
 * shapes and kernel variants), fused, against the float64 reference of test/reference/train.ts.
 * The CI suite checks the same code paths on smaller shapes; this one checks the exact kernels
 * the main job runs (the reference takes a few seconds on the CPU).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileTraining } from '../../compiler/compile.js';
import { checkSource } from '../../compiler/frontend.js';
import { acquireGpu, releaseGpu, targetOf } from '../../runtime/device.js';
import { initWeights } from '../../runtime/init.js';
import { createTrainer } from '../../runtime/trainer.js';
import { relativeError } from '../helpers.js';
import { randomArray } from '../reference/random.js';
import { trainStepRef } from '../reference/train.js';

afterAll(releaseGpu);

const root = new URL('../..', import.meta.url).pathname;

describe('MNIST net training step, batch 64', () => {
  it('matches the float64 reference', { timeout: 600_000 }, async () => {
    const graph = checkSource({
      name: 'mnist.vgg',
      text: readFileSync(`${root}/examples/mnist.vgg`, 'utf8'),
    });
    const n = 64;
    const weights = initWeights(graph, { scheme: 'kaiming', seed: 4 });
    const x = randomArray(n * 784, 8, 1);
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 10);
    const hyper = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };
    const gpu = await acquireGpu();
    for (const fuse of [true, false]) {
      const trainer = await createTrainer(
        gpu,
        compileTraining(graph, { target: targetOf(gpu), batch: n, fuse }),
        weights,
      );
      const ref = trainStepRef(graph, weights, undefined, x, labels, n, hyper, {
        seed: 3,
        step: 0,
      });
      const got = await trainer.step(x, labels, { ...hyper, seed: 3, step: 0 });
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-4);
      const after = await trainer.readWeights();
      for (const [name, w] of ref.weights) {
        const start = weights.get(name)!;
        const delta = after.get(name)!.map((v, i) => v - start[i]!);
        const refDelta = w.map((v, i) => v - start[i]!);
        expect(relativeError(delta, refDelta, name), `${name} fuse ${fuse}`).toBeLessThan(1e-4);
      }
      trainer.destroy();
    }
  });
});

/** runtime/executor.ts: per-dispatch GPU times for the benchmarks. */
import { afterAll, expect, it } from 'vitest';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { initWeights } from '../runtime/init.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

it('profile() times every dispatch and leaves run() results unchanged', async () => {
  const gpu = await acquireGpu();
  const graph = checkSource({
    name: 'p.vgg',
    text: 'model p { input 2x8x8\n conv3-4, maxpool\n FC-3 }',
  });
  const plan = compileInference(graph, { target: targetOf(gpu), batch: 2, fuse: false });
  const exe = await prepare(gpu, plan, initWeights(graph, { scheme: 'kaiming', seed: 2 }));
  try {
    const x = randomArray(2 * 2 * 8 * 8, 11, 1);
    const before = await exe.run(x);
    const t = await exe.profile(x);
    expect(t.stepsMs).toHaveLength(plan.steps.length);
    for (const ms of t.stepsMs) {
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(0);
    }
    expect(t.stepsMs.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(t.source).toBe(
      gpu.features.has('timestamp-query') ? 'timestamp-query' : 'fenced wall time',
    );
    expect(Array.from(await exe.run(x))).toEqual(Array.from(before));
  } finally {
    exe.destroy();
  }
});

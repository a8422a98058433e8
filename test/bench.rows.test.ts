/**
 * runtime/bench.ts `kernelRows`, without a GPU: the fused and unfused plans of a small model and
 * of its training step, each kernel given a distinct made-up time, paired row by row. Every
 * dispatch lands in exactly one row, each row's time is the sum of its kernels', and the passes
 * fusion removes (ReLU, ReLU backward, per-tensor SGD) are rows of their own with no fused kernel.
 */
import { describe, expect, it } from 'vitest';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { KernelPlan } from '../compiler/plan.js';
import { kernelRows, rowOf } from '../runtime/bench.js';
import { TEST_TARGET } from './helpers.js';

const graph = checkSource({
  name: 'rows.vgg',
  text: 'model rows {\n  input 3x8x8\n  conv3-4 x2, maxpool\n  FC-6, FC-5\n}\n',
});

/** Step i of a plan takes (i + 1) * scale ms: every kernel's time is different. */
const timed = (plan: KernelPlan, scale: number) => ({
  plan,
  perKernel: plan.steps.map((_, i) => ({ ms: (i + 1) * scale })),
});

function check(fusedPlan: KernelPlan, unfusedPlan: KernelPlan) {
  const fused = timed(fusedPlan, 1);
  const unfused = timed(unfusedPlan, 0.5);
  const rows = kernelRows(fused, unfused);
  expect(new Set(rows.map((r) => r.row)).size).toBe(rows.length);
  expect(rows.reduce((a, r) => a + r.fusedDispatches, 0)).toBe(fusedPlan.steps.length);
  expect(rows.reduce((a, r) => a + r.unfusedDispatches, 0)).toBe(unfusedPlan.steps.length);
  for (const [t, field, count] of [
    [fused, 'fusedMs', 'fusedDispatches'],
    [unfused, 'unfusedMs', 'unfusedDispatches'],
  ] as const) {
    for (const r of rows) {
      const mine = t.plan.steps.flatMap((s, i) => (rowOf(s) === r.row ? [t.perKernel[i]!.ms] : []));
      expect(r[count]).toBe(mine.length);
      expect(r[field]).toBeCloseTo(
        mine.reduce((a, b) => a + b, 0),
        3,
      );
    }
  }
  return rows;
}

describe('kernelRows pairs the kernels of the fused and unfused plans', () => {
  it('inference: conv with ReLU and pool fused, ReLU and pool passes collected', () => {
    const f = compileInference(graph, { target: TEST_TARGET, fuse: true });
    const u = compileInference(graph, { target: TEST_TARGET, fuse: false });
    const rows = check(f, u);
    const relu = rows.find((r) => r.row === 'ReLU passes')!;
    // Two convs and the first FC each have a ReLU pass when unfused.
    expect(relu).toMatchObject({ unfusedDispatches: 3, fusedDispatches: 0, fusedMs: 0 });
    // The unfused plan's first step is the first conv: row 0, and so in the fused plan.
    expect(rows[0]!.row).toBe(rowOf(u.steps[0]!));
    expect(rows[0]!.fusedDispatches).toBe(1);
  });

  it('training: backward ReLU and the per-tensor SGD updates', () => {
    const f = compileTraining(graph, { target: TEST_TARGET, batch: 2, fuse: true });
    const u = compileTraining(graph, { target: TEST_TARGET, batch: 2, fuse: false });
    const rows = check(f, u);
    const sgd = rows.find((r) => r.row === 'SGD update (all parameters)')!;
    // One update per parameter tensor unfused (4 weights + 4 biases), one dispatch fused.
    expect(sgd).toMatchObject({ unfusedDispatches: 8, fusedDispatches: 1 });
    expect(rows.find((r) => r.row === 'ReLU backward passes')!.fusedDispatches).toBe(0);
  });
});

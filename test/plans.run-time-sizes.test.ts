/**
 * What run-time sizes in the forward kernels (docs/kernels.md, "Run-time sizes") buy whole plans,
 * compiler only: VGG-16's dense evaluation at three scales needs no more distinct kernel codes
 * (so pipelines) than at one scale, the plans of a full batch and of the last partial batch have
 * the same set of codes, and FC6's weight chunks share one code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileDense, compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { KernelPlan } from '../compiler/plan.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { TEST_TARGET } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;
const example = (file: string) =>
  checkSource({ name: file, text: readFileSync(join(root, 'examples', file), 'utf8') });
const vgg16 = example('vgg16.vgg');
const mnist = example('mnist.vgg');

const codes = (p: KernelPlan): Set<string> => new Set(p.steps.map((s) => s.kernel.code));
const union = (sets: Set<string>[]): Set<string> => new Set(sets.flatMap((s) => [...s]));

/** lavapipe-like, with subgroups. */
const SG: TargetInfo = { ...TEST_TARGET, subgroups: true, subgroupMinSize: 8 };
/** A binding limit large enough for VGG-16 at batch 64 (a 784 MiB activation). */
const large = (t: TargetInfo): TargetInfo => ({ ...t, maxStorageBufferBindingSize: 2 ** 31 });

describe.each([
  ['subgroups', SG],
  ['no subgroups', TEST_TARGET],
] as const)('plans with %s', (_, target) => {
  it('VGG-16 dense at Q = 256, 384, 512: as many distinct kernels as at one scale', () => {
    const dense = compileDense(vgg16);
    const plans = [256, 384, 512].map((q) => dense.plan([3, q, q], { target }));
    const perScale = plans.map((p) => codes(p).size);
    // 13 conv layers (2 pairs of the same shape), FC6 as 4 weight chunks of one 7x7 valid conv,
    // FC7 and FC8 as 1x1 convs: 13 kernels at each scale.
    expect(perScale).toEqual([13, 13, 13]);
    expect(plans[0]!.steps.length).toBe(19);
    expect(union(plans.map(codes)).size).toBe(13);
    // The names keep the sizes: the plans do differ.
    expect(plans[0]!.steps[0]!.kernel.name).not.toBe(plans[2]!.steps[0]!.kernel.name);
  });

  it('inference at batch 64 and at batch 17 (a last partial batch): the same kernels', () => {
    for (const [graph, t] of [
      [vgg16, large(target)],
      [mnist, target],
    ] as const) {
      const full = codes(compileInference(graph, { target: t, batch: 64 }));
      const rest = codes(compileInference(graph, { target: t, batch: 17 }));
      expect(rest).toEqual(full);
    }
  });

  it("VGG-16 at 224: FC6's four weight chunks share one kernel", () => {
    const plan = compileInference(vgg16, { target, batch: 1 });
    const fc6 = plan.steps.filter((s) => s.kernel.name.startsWith('fc_25088x4096'));
    expect(fc6.length).toBe(4);
    expect(new Set(fc6.map((s) => s.kernel.code)).size).toBe(1);
    // 392 MiB over 128 MiB bindings: 4 chunks of 1024 rows, told apart by their first row.
    const row0 = fc6.map((s) => {
      const u = s.kernel.uniforms!;
      return u.values[u.fields.indexOf('row0')];
    });
    expect(row0).toEqual([0, 1024, 2048, 3072]);
  });
});

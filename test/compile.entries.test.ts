/**
 * compiler/compile.ts, the entries runtime/ uses instead of importing passes: forInference (the
 * test graph of a training model), setDropout, compileDense (dense evaluation).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileDense, compileInference, forInference, setDropout } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { Graph } from '../compiler/ir.js';
import { planFiles } from '../compiler/plan-json.js';
import { TEST_TARGET } from './helpers.js';

const root = new URL('..', import.meta.url).pathname;
const vgg16 = checkSource({
  name: 'vgg16.vgg',
  text: readFileSync(join(root, 'examples/vgg16.vgg'), 'utf8'),
});
const small = checkSource({
  name: 's.vgg',
  text: `model s { input 3x16x16
    conv3-8, maxpool
    conv3-12, maxpool
    FC-20, dropout 0.5
    FC-10
    soft-max }`,
});
const ops = (g: Graph) => g.nodes.map((n) => n.op.op);

describe('forInference', () => {
  it('drops dropout and the trailing soft-max, fuses, and keeps the parameter names', () => {
    const g = forInference(small);
    expect(ops(g)).toEqual(['input', 'conv', 'conv', 'fc', 'fc']);
    expect(g.nodes.map((n) => n.param ?? null)).toEqual([
      null,
      'features.0',
      'features.3',
      'classifier.0',
      'classifier.3',
    ]);
    expect(ops(forInference(small, { fuse: false, output: 'probs' }))).toEqual([
      'input',
      'conv',
      'relu',
      'maxpool',
      'conv',
      'relu',
      'maxpool',
      'fc',
      'relu',
      'fc',
      'softmax',
    ]);
  });

  it('is the graph compileInference schedules', () => {
    const a = planFiles(compileInference(small, { target: TEST_TARGET, batch: 2 })).json;
    const b = planFiles(
      compileInference(forInference(small), { target: TEST_TARGET, batch: 2 }),
    ).json;
    expect(a).toEqual(b);
  });

  it('gives the same test graph for a model trained at any dropout probability', () => {
    for (const p of [0, 0.3])
      expect(forInference(setDropout(small, p))).toEqual(forInference(small));
  });
});

describe('compileDense', () => {
  it("gives VGG-16's smallest input, classes and score maps", () => {
    const d = compileDense(vgg16);
    expect(d.minInput).toEqual([3, 224, 224]);
    expect(d.classes).toBe(1000);
    expect(d.graphAt([3, 384, 384]).nodes.at(-1)!.out).toEqual([1000, 6, 6]);
    expect(d.graphAt([3, 384, 384])).toBe(d.graphAt([3, 384, 384])); // kept per size
    expect(d.graphAt([3, 256, 341]).nodes.at(-1)!.out).toEqual([1000, 2, 4]);
  });

  it('plans the fully convolutional graph: no FC kernel, the score map as output', () => {
    const d = compileDense(small);
    expect(d.minInput).toEqual([3, 16, 16]);
    expect(d.classes).toBe(10);
    const plan = d.plan([3, 24, 20], { target: TEST_TARGET, batch: 3 });
    expect(plan.outputShape).toEqual([10, 3, 2]);
    expect(plan.batch).toBe(3);
    expect(plan.steps.map((s) => s.label.split('+')[0])).toEqual([
      'conv3-8',
      'conv3-12',
      'conv4-20',
      'conv1-10',
    ]);
  });

  it('turns a non-square first FC into a kh x kw conv; refuses too small or wrong-channel inputs', () => {
    const r = checkSource({
      name: 't.vgg',
      text: `model r {\n input 3x16x12\n conv3-4, maxpool, maxpool\n FC-5\n}`,
    });
    const rect = compileDense(r);
    expect(rect.minInput).toEqual([3, 16, 12]);
    expect(rect.classes).toBe(5);
    const conv = rect.graphAt([3, 16, 12]).nodes.find((n) => n.fromFc);
    expect(conv?.op).toMatchObject({ op: 'conv', kernel: 4, kernelW: 3, pad: 0 });
    expect(rect.graphAt([3, 24, 20]).nodes.at(-1)!.out).toEqual([5, 3, 3]);
    const d = compileDense(small);
    expect(() => d.graphAt([3, 16, 15])).toThrow(/smallest image is 3x16x16/);
    expect(() => d.plan([1, 16, 16], { target: TEST_TARGET })).toThrow(/takes 3-channel images/);
  });
});

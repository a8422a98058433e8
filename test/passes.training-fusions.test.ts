/**
 * The training fusions, one by one, on graphs from the autodiff pass: soft-max + cross-entropy,
 * the ReLU mask into the backward conv / FC (both patterns), one optimiser node. Each is checked
 * for what it rewrites and what it must leave alone; the numbers of fused against unfused
 * training steps are compared on the GPU in train.step.test.
 */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { autodiff } from '../compiler/passes/autodiff.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { fuseReluGrad } from '../compiler/passes/fuse-relu-grad.js';
import { fuseSgd } from '../compiler/passes/fuse-sgd.js';
import { fuseSoftmaxXent } from '../compiler/passes/fuse-softmax-xent.js';
import { FUSIONS, optimizeForTraining } from '../compiler/passes/index.js';
import type { TypedGraph } from '../compiler/shapes.js';

const vgg = autodiff(
  checkSource({
    name: 'v.vgg',
    text: `model v { input 3x16x16
      conv3-4, conv3-4, maxpool
      conv3-8, maxpool
      FC-10, dropout 0.5, FC-5, soft-max }`,
  }),
);
const ops = (g: TypedGraph) => g.nodes.map((n) => n.op.op);
const count = (g: TypedGraph, op: string) => ops(g).filter((o) => o === op).length;

describe('training fusions', () => {
  it('softmax-xent replaces soft-max + xent-grad by one node reading the logits', () => {
    const g = fuseSoftmaxXent(vgg);
    expect(count(g, 'softmax')).toBe(0);
    expect(count(g, 'xent-grad')).toBe(0);
    const head = g.nodes.find((n) => n.op.op === 'softmax-xent')!;
    const softmax = vgg.nodes.find((n) => n.op.op === 'softmax')!;
    expect(head.inputs).toEqual(softmax.inputs);
    expect(g.nodes.length).toBe(vgg.nodes.length - 1);
  });

  it('relu-grad-mask folds the ReLU backward into the data gradient (both patterns)', () => {
    const g = fuseReluGrad(vgg);
    // Three ReLU backwards before it: conv1 (conv2 reads it: pattern 1), conv2 (conv3 reads
    // pool(conv2): pattern 2), conv3 (the FC reads pool(conv3): pattern 2). The FC's ReLU sits
    // behind a dropout backward and the ReLU into the image's conv has no data gradient.
    expect(count(vgg, 'relu-grad')).toBe(4);
    expect(count(g, 'relu-grad')).toBe(1);
    const masked = g.nodes.filter(
      (n) => (n.op.op === 'conv-grad-data' || n.op.op === 'fc-grad-data') && n.op.mask,
    );
    expect(masked.map((n) => n.param)).toEqual(['classifier.0', 'features.5', 'features.2']);
    const byId = new Map(vgg.nodes.map((n) => [n.id, n]));
    const src = masked.map((n) => byId.get(n.inputs[1]!)!.op.op);
    expect(src).toEqual(['maxpool', 'maxpool', 'relu']);
    // Every consumer of a removed relu-grad now reads the node that replaced it.
    const ids = new Set(g.nodes.map((n) => n.id));
    for (const n of g.nodes) for (const i of n.inputs) expect(ids.has(i)).toBe(true);
  });

  it('relu-grad-mask leaves a ReLU backward alone when its gradient has another reader', () => {
    const kindOf = new Map(vgg.nodes.map((n) => [n.id, n.op.op]));
    // Pattern 1: the ReLU backward right behind conv2's data gradient.
    const relu = vgg.nodes.find(
      (n) => n.op.op === 'relu-grad' && kindOf.get(n.inputs[1]!) === 'conv-grad-data',
    )!;
    expect(fuseReluGrad(vgg).nodes.some((n) => n.id === relu.id)).toBe(false);
    const spy = { ...relu, id: 999, inputs: [relu.inputs[1]!] };
    const g = fuseReluGrad({ ...vgg, nodes: [...vgg.nodes, spy] });
    expect(g.nodes.some((n) => n.id === relu.id)).toBe(true);
  });

  it('sgd-one-dispatch merges every update into one node covering all parameters', () => {
    const g = fuseSgd(vgg);
    const sgd = g.nodes.filter((n) => n.op.op === 'sgd');
    expect(sgd.length).toBe(1);
    expect(sgd[0]!.op).toEqual({
      op: 'sgd',
      params: ['features.0', 'features.2', 'features.5', 'classifier.0', 'classifier.3'],
    });
    expect(sgd[0]!.inputs.length).toBe(5);
  });

  it('conv+ReLU still fuses in a training graph; --fuse picks single passes', () => {
    const g = fuseRelu(vgg);
    expect(count(g, 'relu')).toBe(0);
    expect(count(optimizeForTraining(vgg, ['sgd-one-dispatch']), 'sgd')).toBe(1);
    expect(count(optimizeForTraining(vgg, ['sgd-one-dispatch']), 'relu')).toBe(4);
    expect(optimizeForTraining(vgg, false)).toBe(vgg);
    expect(Object.keys(FUSIONS)).toEqual(
      expect.arrayContaining(['conv-relu', 'softmax-xent', 'relu-grad-mask', 'sgd-one-dispatch']),
    );
  });
});

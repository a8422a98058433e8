/**
 * The relu-grad-mask training fusion (compiler/passes/fuse-relu-grad.ts), both patterns and its
 * refusal. Numbers: train.step.test.
 */
import { describe, expect, it } from 'vitest';
import { fuseReluGrad } from '../compiler/passes/fuse-relu-grad.js';
import { count, vgg } from './training-graph.js';

describe('relu-grad-mask', () => {
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
});

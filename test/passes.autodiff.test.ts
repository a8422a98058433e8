/**
 * The autodiff pass's structure: the backward nodes of a VGG-style chain in reverse order, what
 * each reads, no data gradient into the image, one SGD node per layer, and its refusals. (The
 * numbers are checked end to end against an independent float64 reference in train.step.test.)
 */
import { describe, expect, it } from 'vitest';
import type { Node } from '../compiler/ir.js';
import { autodiff, NO_ACTIVATION } from '../compiler/passes/autodiff.js';
import { checkSource } from '../compiler/frontend.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { VggcError } from '../dsl/diagnostics.js';

const net = checkSource({
  name: 'n.vgg',
  text: `model n { input 3x8x8
    conv3-4, LRN, maxpool
    FC-6, dropout 0.5
    FC-3, soft-max }`,
});

const byId = (g: TypedGraph) => new Map(g.nodes.map((n) => [n.id, n]));
const kind = (g: TypedGraph, id: number) => byId(g).get(id)!.op.op;

describe('autodiff', () => {
  const g = autodiff(net);
  const added = g.nodes.slice(net.nodes.length);

  it('keeps the forward graph and appends the backward ops in reverse layer order', () => {
    expect(g.nodes.slice(0, net.nodes.length)).toEqual(net.nodes);
    expect(added.map((n) => n.op.op)).toEqual([
      'xent-grad',
      'fc-grad-weight', // FC-3
      'fc-grad-data',
      'dropout-grad',
      'relu-grad', // ReLU after FC-6
      'fc-grad-weight', // FC-6
      'fc-grad-data',
      'maxpool-grad',
      'lrn-grad',
      'relu-grad', // ReLU after the conv
      'conv-grad-weight', // no conv-grad-data: the conv reads the image
      'sgd',
      'sgd',
      'sgd',
    ]);
  });

  it('wires each gradient to the forward tensors it needs', () => {
    const fwd = byId(net);
    for (const node of added) {
      const reads = node.inputs.map((i) => kind(g, i));
      switch (node.op.op) {
        case 'xent-grad':
          expect(reads).toEqual(['softmax']);
          expect(node.out).toEqual([3, 1, 1]);
          break;
        case 'relu-grad':
          // The mask source is the ReLU's own output.
          expect(reads[0]).toBe('relu');
          break;
        case 'maxpool-grad':
        case 'lrn-grad': {
          // x is the forward op's input; dx has its shape.
          const x = fwd.get(node.inputs[0]!)!;
          expect(node.out).toEqual(x.out);
          break;
        }
        case 'conv-grad-weight':
        case 'fc-grad-weight': {
          const layer = net.nodes.find((n) => n.param === node.param)!;
          expect(node.inputs[0]).toBe(layer.inputs[0]);
          expect(node.out).toEqual(NO_ACTIVATION);
          break;
        }
        case 'dropout-grad': {
          const drop = net.nodes.find((n) => n.op.op === 'dropout')!;
          expect(node.op).toEqual({ op: 'dropout-grad', p: 0.5, stream: drop.id });
          break;
        }
        case 'sgd':
          expect(reads[0]).toMatch(/-grad-weight$/);
          break;
      }
    }
    expect(added.filter((n) => n.op.op === 'sgd').map((n) => n.op)).toEqual([
      { op: 'sgd', params: ['features.0'] },
      { op: 'sgd', params: ['classifier.0'] },
      { op: 'sgd', params: ['classifier.3'] },
    ]);
  });

  it('adds a soft-max head to a model that has none', () => {
    const logits = checkSource({ name: 'l.vgg', text: 'model l { input 1x4x4\n conv3-2, FC-3 }' });
    const h = autodiff(logits);
    const extra = h.nodes.slice(logits.nodes.length).map((n) => n.op.op);
    expect(extra.slice(0, 2)).toEqual(['softmax', 'xent-grad']);
  });

  it('runs before fusion and needs a chain', () => {
    expect(() => autodiff(fuseRelu(net))).toThrow(/before fusion/);
    const branch: Node = { ...net.nodes[2]!, id: 99, inputs: [net.nodes[1]!.id] };
    const forked = { ...net, nodes: [...net.nodes, branch] } as TypedGraph;
    expect(() => autodiff(forked)).toThrow(VggcError);
    expect(() => autodiff(forked)).toThrow(/chain/);
  });
});

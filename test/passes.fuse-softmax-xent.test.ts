/**
 * The softmax-xent training fusion (compiler/passes/fuse-softmax-xent.ts). Numbers:
 * train.step.test.
 */
import { describe, expect, it } from 'vitest';
import { fuseSoftmaxXent } from '../compiler/passes/fuse-softmax-xent.js';
import { addReader } from './helpers.js';
import { count, vgg } from './training-graph.js';

describe('softmax-xent', () => {
  it('softmax-xent replaces soft-max + xent-grad by one node reading the logits', () => {
    const g = fuseSoftmaxXent(vgg);
    expect(count(g, 'softmax')).toBe(0);
    expect(count(g, 'xent-grad')).toBe(0);
    const head = g.nodes.find((n) => n.op.op === 'softmax-xent')!;
    const softmax = vgg.nodes.find((n) => n.op.op === 'softmax')!;
    expect(head.inputs).toEqual(softmax.inputs);
    expect(g.nodes.length).toBe(vgg.nodes.length - 1);
  });

  it('must not fuse when the soft-max output has another reader', () => {
    const softmax = vgg.nodes.find((n) => n.op.op === 'softmax')!;
    const g = fuseSoftmaxXent(addReader(vgg, softmax.id));
    expect(count(g, 'softmax')).toBe(1);
    expect(count(g, 'xent-grad')).toBe(1);
    expect(count(g, 'softmax-xent')).toBe(0);
  });
});

/** The sgd-one-dispatch training fusion (compiler/passes/fuse-sgd.ts). Numbers: train.step.test. */
import { describe, expect, it } from 'vitest';
import { fuseSgd } from '../compiler/passes/fuse-sgd.js';
import { addReader } from './helpers.js';
import { count, vgg } from './training-graph.js';

describe('sgd-one-dispatch', () => {
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

  it('must not merge the updates when one of them has a reader', () => {
    const first = vgg.nodes.find((n) => n.op.op === 'sgd')!;
    const g = fuseSgd(addReader(vgg, first.id));
    expect(count(g, 'sgd')).toBe(count(vgg, 'sgd'));
    expect(count(vgg, 'sgd')).toBe(5);
  });
});

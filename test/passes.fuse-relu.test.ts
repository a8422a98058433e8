/** compiler/passes/fuse-relu.ts on small hand-written models. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';

const model = (body: string) =>
  checkSource({ name: 't.vgg', text: `model t {\n input 3x8x8\n ${body}\n}` });
const ops = (g: { nodes: readonly { op: { op: string } }[] }) => g.nodes.map((n) => n.op.op);

describe('fuse-relu (conv + bias + ReLU, FC + bias + ReLU)', () => {
  it('moves each ReLU into its producer', () => {
    const g = fuseRelu(model('conv3-4, maxpool, conv1-3\n FC-5\n FC-2'));
    expect(ops(g)).toEqual(['input', 'conv', 'maxpool', 'conv', 'fc', 'fc']);
    const epilogues = g.nodes.map((n) =>
      'epilogue' in n.op ? n.op.epilogue.map((s) => s.kind) : null,
    );
    expect(epilogues).toEqual([null, ['relu'], null, ['relu'], ['relu'], []]);
  });

  it('keeps shapes and parameter names', () => {
    const before = model('conv3-4, conv3-6, maxpool\n FC-2');
    const after = fuseRelu(before);
    const names = (g: typeof before) => g.nodes.filter((n) => n.param).map((n) => [n.param, n.out]);
    expect(names(after)).toEqual(names(before));
    expect(names(after).map(([p]) => p)).toEqual(['features.0', 'features.2', 'classifier.0']);
  });
});

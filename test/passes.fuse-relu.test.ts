/** compiler/passes/fuse-relu.ts on small hand-written models. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { addReader } from './helpers.js';

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

  it('must not fuse when the conv or FC output has another reader', () => {
    const g = model('conv3-4, conv1-3\n FC-5\n FC-2');
    const [conv1, conv2] = g.nodes.filter((n) => n.op.op === 'conv');
    const fc = g.nodes.find((n) => n.op.op === 'fc')!;
    for (const producer of [conv1!, fc]) {
      const read = addReader(g, producer.id); // the pre-ReLU tensor is needed elsewhere
      const fused = fuseRelu(read);
      const at = (id: number) => fused.nodes.find((n) => n.id === id)!;
      expect(at(producer.id).op).toMatchObject({ epilogue: [] });
      // Its ReLU stays a node; the other layers still fuse.
      const relus = fused.nodes.filter((n) => n.op.op === 'relu' && n.inputs[0] === producer.id);
      expect(relus).toHaveLength(2);
      expect(at(conv2!.id).op).toMatchObject({ epilogue: [{ kind: 'relu' }] });
    }
  });
});

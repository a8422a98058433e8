/** compiler/passes/output-head.ts on small hand-written models. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { setOutput } from '../compiler/passes/output-head.js';

const model = (body: string) =>
  checkSource({ name: 't.vgg', text: `model t {\n input 3x8x8\n ${body}\n}` });
const ops = (g: { nodes: readonly { op: { op: string } }[] }) => g.nodes.map((n) => n.op.op);

describe('output head', () => {
  it('drops a trailing soft-max for logits and adds one for posteriors', () => {
    const withSoftmax = model('FC-3\n soft-max');
    expect(ops(setOutput(withSoftmax, 'logits'))).toEqual(['input', 'fc']);
    expect(ops(setOutput(withSoftmax, 'probs'))).toEqual(['input', 'fc', 'softmax']);
    const without = model('FC-3');
    expect(ops(setOutput(without, 'probs'))).toEqual(['input', 'fc', 'softmax']);
    expect(setOutput(without, 'probs').nodes.at(-1)!.out).toEqual([3, 1, 1]);
  });
});

/** compiler/passes/set-dropout.ts: the training loop's dropout probability as a pass. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { setDropout } from '../compiler/passes/set-dropout.js';

const model = checkSource({
  name: 't.vgg',
  text: 'model t {\n input 3x8x8\n FC-6, dropout 0.5\n FC-5, dropout 0.2\n FC-2\n}',
});
const ops = (g: { nodes: readonly { op: { op: string } }[] }) => g.nodes.map((n) => n.op.op);
const rates = (g: typeof model) => g.nodes.flatMap((n) => (n.op.op === 'dropout' ? [n.op.p] : []));

describe('set-dropout', () => {
  it('leaves the model as written when no probability is given', () => {
    expect(setDropout(model, undefined)).toBe(model);
    expect(rates(model)).toEqual([0.5, 0.2]);
  });

  it('sets every dropout layer to p, keeping ids, inputs and shapes', () => {
    const g = setDropout(model, 0.3);
    expect(rates(g)).toEqual([0.3, 0.3]);
    expect(g.nodes.map((n) => [n.id, n.inputs, n.out])).toEqual(
      model.nodes.map((n) => [n.id, n.inputs, n.out]),
    );
    expect(rates(model)).toEqual([0.5, 0.2]); // the input graph is not mutated
  });

  it('removes every dropout layer at p = 0 and rewires its reader', () => {
    const g = setDropout(model, 0);
    expect(ops(g)).toEqual(['input', 'fc', 'relu', 'fc', 'relu', 'fc']);
    const ids = new Set(g.nodes.map((n) => n.id));
    for (const n of g.nodes.slice(1)) expect(ids.has(n.inputs[0]!)).toBe(true);
  });
});

/** compiler/passes/remove-dropout.ts on small hand-written models. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { removeDropout } from '../compiler/passes/remove-dropout.js';

const model = (body: string) =>
  checkSource({ name: 't.vgg', text: `model t {\n input 3x8x8\n ${body}\n}` });
const ops = (g: { nodes: readonly { op: { op: string } }[] }) => g.nodes.map((n) => n.op.op);

describe('remove-dropout', () => {
  it('removes every dropout and rewires its reader', () => {
    const g = removeDropout(model('FC-6, dropout 0.5\n FC-5, dropout 0.2\n FC-2'));
    expect(ops(g)).toEqual(['input', 'fc', 'relu', 'fc', 'relu', 'fc']);
    for (const n of g.nodes.slice(1)) expect(g.nodes.some((m) => m.id === n.inputs[0])).toBe(true);
  });
});

/** compiler/passes/index.ts: the pass pipeline and the user's fusion switches. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { optimizeForInference, parseFuseList } from '../compiler/passes/index.js';
import { VggcError } from '../dsl/diagnostics.js';

const model = (body: string) =>
  checkSource({ name: 't.vgg', text: `model t {\n input 3x8x8\n ${body}\n}` });
const ops = (g: { nodes: readonly { op: { op: string } }[] }) => g.nodes.map((n) => n.op.op);

describe('fusion switches', () => {
  const g = model('conv3-4, conv3-4, maxpool\n FC-3, dropout 0.5\n FC-2');

  it('--no-fuse keeps every ReLU as its own node; dropout goes either way', () => {
    const unfused = ops(optimizeForInference(g, false));
    expect(unfused.filter((o) => o === 'relu')).toHaveLength(3);
    expect(unfused).not.toContain('dropout');
    expect(ops(optimizeForInference(g, true)).filter((o) => o === 'relu')).toHaveLength(0);
    expect(ops(optimizeForInference(g, ['conv-relu'])).filter((o) => o === 'relu')).toHaveLength(0);
    expect(ops(optimizeForInference(g, [])).filter((o) => o === 'relu')).toHaveLength(3);
  });

  it('--fuse rejects unknown names', () => {
    expect(parseFuseList('conv-relu')).toEqual(['conv-relu']);
    expect(() => parseFuseList('conv-relu,bogus')).toThrow(VggcError);
    expect(() => parseFuseList('bogus')).toThrow(/unknown fusion 'bogus' \(known: conv-relu/);
  });
});

/** compiler/passes/fuse-pool.ts (conv + bias + ReLU + 2x2 max pool) on small hand-written models. */
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import type { Graph } from '../compiler/ir.js';
import { denseGraph, fcToConv, minDenseInput } from '../compiler/passes/fc-to-conv.js';
import { fusePool } from '../compiler/passes/fuse-pool.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { optimizeForInference, parseFuseList } from '../compiler/passes/index.js';
import { bypass } from '../compiler/passes/rewrite.js';
import { inferShapes, macCount } from '../compiler/shapes.js';
import { addReader } from './helpers.js';

const model = (body: string, input = '3x8x8') =>
  checkSource({ name: 't.vgg', text: `model t {\n input ${input}\n ${body}\n}` });
const ops = (g: Graph) => g.nodes.map((n) => n.op.op);
const epilogues = (g: Graph) =>
  g.nodes.map((n) => ('epilogue' in n.op ? n.op.epilogue.map((s) => s.kind).join('+') : null));
const byOp = (g: Graph, op: string) => g.nodes.filter((n) => n.op.op === op);

describe('fuse-pool (conv + bias + ReLU + 2x2 max pool)', () => {
  it('moves each pool that follows a conv into its epilogue, after the ReLU', () => {
    const g = fusePool(fuseRelu(model('conv3-4, conv3-4, maxpool, conv1-3, maxpool\n FC-5')));
    expect(ops(g)).toEqual(['input', 'conv', 'conv', 'conv', 'fc']);
    expect(epilogues(g)).toEqual([null, 'relu', 'relu+maxpool', 'relu+maxpool', '']);
    // The fused conv has the pool's output and is read where the pool was.
    const [, c1, c2, c3, fc] = g.nodes;
    expect([c1!.out, c2!.out, c3!.out]).toEqual([
      [4, 8, 8],
      [4, 4, 4],
      [3, 2, 2],
    ]);
    expect(c3!.inputs).toEqual([c2!.id]);
    expect(fc!.inputs).toEqual([c3!.id]);
  });

  it('also fuses a ReLU node between the conv and the pool when it runs alone', () => {
    const g = fusePool(model('conv3-4, maxpool, conv3-6, LRN\n FC-2'));
    expect(ops(g)).toEqual(['input', 'conv', 'conv', 'relu', 'lrn', 'fc']);
    expect(epilogues(g)).toEqual([null, 'relu+maxpool', '', null, null, '']);
  });

  it('fuses a pool into a conv without ReLU', () => {
    const withRelu = model('conv3-4, maxpool\n FC-2');
    const g = bypass(withRelu, byOp(withRelu, 'relu')[0]!.id);
    expect(epilogues(fusePool(g))).toEqual([null, 'maxpool', '']);
  });

  it('leaves pools that do not follow a conv', () => {
    const g = fusePool(fuseRelu(model('conv3-4, LRN, maxpool, maxpool\n FC-2', '3x16x16')));
    expect(ops(g)).toEqual(['input', 'conv', 'lrn', 'maxpool', 'maxpool', 'fc']);
  });

  it('refuses when the pre-pool tensor has another reader (a training graph keeps it)', () => {
    const fused = fuseRelu(model('conv3-4, maxpool, conv3-4, maxpool\n FC-2'));
    const [conv1, conv2] = byOp(fused, 'conv');
    // The first conv's output is also read by another node: only the second pool fuses.
    const g = fusePool(addReader(fused, conv1!.id));
    expect(byOp(g, 'maxpool')).toHaveLength(1);
    expect(ops(g)).toEqual(['input', 'conv', 'maxpool', 'conv', 'fc', 'relu']);
    expect(epilogues(g)).toEqual([null, 'relu', null, 'relu+maxpool', '', null]);
    expect(byOp(g, 'maxpool')[0]!.inputs).toEqual([conv1!.id]);
    expect(g.nodes.find((n) => n.id === conv2!.id)!.out).toEqual([4, 2, 2]);

    // Unfused ReLU: a second reader of the ReLU's output, or of the conv's, blocks the fusion.
    const plain = model('conv3-4, maxpool\n FC-2');
    const relu = byOp(plain, 'relu')[0]!;
    for (const id of [relu.id, relu.inputs[0]!]) {
      const h = fusePool(addReader(plain, id));
      expect(ops(h)).toEqual(['input', 'conv', 'relu', 'maxpool', 'fc', 'relu']);
      expect(epilogues(h)[1]).toBe('');
    }
  });

  it('keeps a pool that ends the graph at the end, and parameter names', () => {
    const before = model('conv3-4, maxpool, conv3-6, maxpool');
    const after = fusePool(fuseRelu(before));
    expect(ops(after)).toEqual(['input', 'conv', 'conv']);
    expect(after.nodes.at(-1)!.out).toEqual(before.nodes.at(-1)!.out);
    expect(after.nodes.map((n) => n.param).filter(Boolean)).toEqual(['features.0', 'features.3']);
  });

  it('shape inference and the MAC count know the fused pool', () => {
    const fused = fusePool(fuseRelu(model('conv3-4, maxpool, conv3-6, maxpool\n FC-3', '3x9x7')));
    const untyped = { ...fused, nodes: fused.nodes.map(({ out: _out, ...n }) => n) };
    const again = inferShapes(untyped).graph!;
    expect(again.nodes.map((n) => n.out)).toEqual(fused.nodes.map((n) => n.out));
    expect(again.nodes[1]!.out).toEqual([4, 4, 3]);
    // conv3-4 on 3x9x7: 4 x 9 x 7 outputs (before the pool) x 3 x 9 MACs
    expect(macCount(again.nodes[1]!, again.nodes[0]!.out)).toBe(4 * 9 * 7 * 3 * 9);
  });

  it('dense evaluation: the smallest input is the same fused or not', () => {
    const g = model('conv3-4, maxpool, conv3-4, maxpool\n FC-6\n FC-2', '3x12x12');
    const converted = fcToConv(g);
    expect(minDenseInput(converted)).toEqual([12, 12]);
    expect(minDenseInput(optimizeForInference(converted))).toEqual([12, 12]);
    // and the fused dense graph at a larger input has the unfused one's score map
    const big = denseGraph(g, [3, 20, 16]);
    const fusedBig = optimizeForInference(big);
    expect(fusedBig.nodes.at(-1)!.out).toEqual(big.nodes.at(-1)!.out);
    expect(byOp(fusedBig, 'maxpool')).toHaveLength(0);
  });
});

describe('fusion switches with conv-relu-pool', () => {
  const g = model('conv3-4, conv3-4, maxpool\n FC-3, dropout 0.5\n FC-2');

  it('--no-fuse keeps the pool, --fuse picks', () => {
    expect(ops(optimizeForInference(g, false))).toContain('maxpool');
    expect(ops(optimizeForInference(g, ['conv-relu']))).toContain('maxpool');
    expect(ops(optimizeForInference(g, ['conv-relu', 'conv-relu-pool']))).toEqual([
      'input',
      'conv',
      'conv',
      'fc',
      'fc',
    ]);
    expect(ops(optimizeForInference(g, true))).toEqual(
      ops(optimizeForInference(g, ['conv-relu', 'conv-relu-pool'])),
    );
    // conv-relu-pool alone fuses the ReLU of the pooled conv with it; the others stay nodes.
    const alone = optimizeForInference(g, ['conv-relu-pool']);
    expect(ops(alone)).toEqual(['input', 'conv', 'relu', 'conv', 'fc', 'relu', 'fc']);
    expect(epilogues(alone)[3]).toBe('relu+maxpool');
  });

  it('--fuse knows the name', () => {
    expect(parseFuseList('conv-relu,conv-relu-pool')).toEqual(['conv-relu', 'conv-relu-pool']);
  });
});

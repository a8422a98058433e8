/**
 * The paper's networks through parse -> lower -> shapes -> summary. Expected parameter counts and
 * MACs are the paper's (vgg-paper.md, from torchvision's models), not values read off this code.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { summarize } from '../compiler/summary.js';

const paper = {
  name: 'examples/vgg-paper.vgg',
  text: readFileSync('examples/vgg-paper.vgg', 'utf8'),
};

const EXPECTED: [model: string, params: number, gmacs: number, convs: number][] = [
  ['A', 132_863_336, 7.61, 8],
  ['A-LRN', 132_863_336, 7.61, 8],
  ['B', 133_047_848, 11.31, 10],
  ['C', 133_638_952, 11.77, 13],
  ['D', 138_357_544, 15.47, 13],
  ['E', 143_667_240, 19.63, 16],
];

describe('the paper configurations (Table 1)', () => {
  for (const [model, params, gmacs, convs] of EXPECTED) {
    it(`${model}: ${params.toLocaleString('en-US')} parameters, ${gmacs} GMACs at 224`, () => {
      const s = summarize(checkSource(paper, { model }));
      expect(s.params).toBe(params);
      expect(Math.round(s.macs / 1e7) / 100).toBe(gmacs);
      expect(s.layers.filter((l) => l.op.startsWith('conv'))).toHaveLength(convs);
      expect(s.layers.filter((l) => l.op === 'maxpool')).toHaveLength(5);
      expect(s.layers.at(-1)).toMatchObject({ op: 'soft-max', out: [1000, 1, 1] });
      // The last conv stack leaves 512 x 7 x 7 for FC-4096.
      const firstFc = s.layers.findIndex((l) => l.op.startsWith('FC'));
      expect(s.layers[firstFc - 1]!.out).toEqual([512, 7, 7]);
    });
  }

  it('A-LRN differs from A by exactly one LRN after the first conv', () => {
    const a = summarize(checkSource(paper, { model: 'A' })).layers.map((l) => l.op);
    const lrn = summarize(checkSource(paper, { model: 'A-LRN' })).layers.map((l) => l.op);
    expect(lrn).toEqual([...a.slice(0, 2), 'LRN', ...a.slice(2)]);
  });

  it('C has 1x1 convs in the last three stacks', () => {
    const ops = summarize(checkSource(paper, { model: 'C' })).layers.map((l) => l.op);
    expect(ops.filter((o) => o.startsWith('conv1-'))).toEqual([
      'conv1-256',
      'conv1-512',
      'conv1-512',
    ]);
  });

  it('adds a ReLU after every conv and every FC except the last', () => {
    const ops = summarize(checkSource(paper, { model: 'D' })).layers.map((l) => l.op);
    ops.forEach((op, i) => {
      if (op.startsWith('conv')) expect(ops[i + 1]).toBe('relu');
    });
    const fcs = ops.flatMap((op, i) => (op.startsWith('FC') ? [i] : []));
    expect(fcs.map((i) => ops[i + 1])).toEqual(['relu', 'relu', 'soft-max']);
  });

  it('shapes follow the declared or overridden input', () => {
    const s = summarize(checkSource(paper, { model: 'D', input: [3, 256, 320] }));
    const firstFc = s.layers.findIndex((l) => l.op.startsWith('FC'));
    expect(s.layers[firstFc - 1]!.out).toEqual([512, 8, 10]);
    // FC6's weight grows with the spatial size that reaches it: 512*8*10*4096 + 4096.
    expect(s.layers[firstFc]!.params).toBe(512 * 8 * 10 * 4096 + 4096);
  });

  it('reads the train and test settings', () => {
    const g = checkSource(paper, { model: 'D' });
    expect(g.train).toEqual({
      batch: 256,
      lr: 0.01,
      momentum: 0.9,
      weightDecay: 5e-4,
      dropout: 0.5,
      scale: { min: 256, max: 512 },
      epochs: 74,
    });
    expect(g.test).toEqual({ scales: [256, 384, 512], flip: true });
    expect(checkSource(paper, { model: 'A' }).train.scale).toEqual({ min: 256, max: 256 });
  });
});

describe('the MNIST example', () => {
  it('is a small VGG for 1x28x28 digits with 10 classes', () => {
    const text = readFileSync('examples/mnist.vgg', 'utf8');
    const s = summarize(checkSource({ name: 'examples/mnist.vgg', text }));
    expect(s.input).toEqual([1, 28, 28]);
    expect(s.layers.at(-1)!.out).toEqual([10, 1, 1]);
    // conv3-16 x2, maxpool, conv3-32 x2, maxpool, FC-256, FC-10, counted by hand:
    const convs = 16 * 1 * 9 + 16 + (16 * 16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 32 * 9 + 32);
    const fcs = 32 * 7 * 7 * 256 + 256 + (256 * 10 + 10);
    expect(s.params).toBe(convs + fcs);
  });
});

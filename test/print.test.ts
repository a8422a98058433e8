/** compiler/print.ts: every example model prints to text that parses back to the same graph. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import type { Graph } from '../compiler/ir.js';
import { modelName, printVgg } from '../compiler/print.js';
import { parse } from '../dsl/index.js';
import { root } from './onnx-helpers.js';

const strip = (g: Graph) => ({
  name: g.name,
  train: g.train,
  test: g.test,
  nodes: g.nodes.map(({ span: _span, ...rest }) => rest),
});

describe('printVgg', () => {
  const files = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.vgg'));
  for (const file of files) {
    const text = readFileSync(join(root, 'examples', file), 'utf8');
    for (const model of parse({ name: file, text }).ast.models) {
      it(`${file} model ${model.name} round-trips`, () => {
        const g = checkSource({ name: file, text }, { model: model.name });
        const printed = printVgg(g);
        const back = checkSource({ name: 'printed.vgg', text: printed });
        expect(strip(back)).toEqual(strip(g));
      });
    }
  }

  it('writes the paper notation: repeats, one stage per line, LRN arguments, settings', () => {
    const g = checkSource({
      name: 'a.vgg',
      text: `model A-LRN { input 3x64x64
        train { batch 32; lr 0.01; scale 64..96; weight-decay 5e-4 }
        test { scales 64, 80; flip }
        conv3-64, LRN(alpha=2e-4), maxpool, conv3-128 x2, conv1-128, maxpool
        FC-256, dropout 0.5, FC-10, softmax }`,
    });
    expect(printVgg(g, ['made by a test'])).toBe(
      [
        '# made by a test',
        'model A-LRN {',
        '  input 3x64x64',
        '  train { batch 32; lr 0.01; weight-decay 0.0005; scale 64..96 }',
        '  test { scales 64, 80; flip }',
        '  conv3-64, LRN(n=5, alpha=0.0002, beta=0.75, k=2), maxpool',
        '  conv3-128 x2, conv1-128, maxpool',
        '  FC-256, dropout 0.5',
        '  FC-10',
        '  soft-max',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('modelName makes identifiers the DSL accepts', () => {
    expect(modelName('vgg16-7')).toBe('vgg16-7');
    expect(modelName('torch_jit')).toBe('torch_jit');
    expect(modelName('7 my model!.v2')).toBe('my_model_v2');
    expect(modelName('a--b-')).toBe('a-b');
    expect(modelName('')).toBe('imported');
    for (const n of ['vgg16-7', 'a-b', 'my_model_v2']) {
      expect(() =>
        checkSource({ name: 'x', text: `model ${n} { input 1x2x2, FC-2 }` }),
      ).not.toThrow();
    }
  });
});

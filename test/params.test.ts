/**
 * compiler/params.ts, the one parameter layout: names from the module paths fixed at lowering,
 * kernel and file shapes, and "was an FC" from the node (the fc-to-conv pass's `fromFc`), on
 * every paper configuration, before and after fusion. runtime/weights.ts reads it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { paramLayout, paramList } from '../compiler/params.js';
import { fcToConv } from '../compiler/passes/fc-to-conv.js';
import { optimizeForInference } from '../compiler/passes/index.js';
import { parameterLayout } from '../runtime/weights.js';

const text = readFileSync('examples/vgg-paper.vgg', 'utf8');
const model = (name: string) => checkSource({ name: 'vgg-paper.vgg', text }, { model: name });

describe('the parameter layout', () => {
  for (const name of ['A', 'A-LRN', 'B', 'C', 'D', 'E']) {
    it(`keeps ${name}'s names and shapes through the inference passes; weight files read it`, () => {
      const g = model(name);
      const layout = paramLayout(g).map((p) => [p.name, p.shape]);
      // Fusion and dropout removal keep the names the weight file uses.
      expect(paramLayout(optimizeForInference(g, true)).map((p) => [p.name, p.shape])).toEqual(
        layout,
      );
      expect(parameterLayout(g).map((p) => [p.name, p.shape])).toEqual(layout);
      expect(paramList(g).map((p) => [p.name, p.shape])).toEqual(layout);
    });
  }

  it('names VGG-16 as torchvision does', () => {
    const weights = paramList(model('D'))
      .filter((p) => p.name.endsWith('.weight'))
      .map((p) => p.name);
    const convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28].map(
      (i) => `features.${i}.weight`,
    );
    expect(weights).toEqual([
      ...convs,
      'classifier.0.weight',
      'classifier.3.weight',
      'classifier.6.weight',
    ]);
  });

  it('gives a converted FC the conv shape for kernels and the FC shape for files', () => {
    const g = model('D');
    const dense = paramLayout(fcToConv(g));
    const fc6 = dense.find((p) => p.name === 'classifier.0.weight')!;
    expect(fc6).toMatchObject({ shape: [4096, 512, 7, 7], fileShape: [4096, 25088], fc: true });
    expect(dense.find((p) => p.name === 'features.0.weight')).toMatchObject({
      shape: [64, 3, 3, 3],
      fileShape: [64, 3, 3, 3],
      fc: false,
    });
    expect(dense.map((p) => [p.name, p.fileShape, p.fc, p.node])).toEqual(
      paramLayout(g).map((p) => [p.name, p.fileShape, p.fc, p.node]),
    );
  });

  it('reads "was an FC" from the node, not from the name', () => {
    const g = fcToConv(model('A'));
    // The same graph with the classifier's module paths renamed: still FCs.
    const renamed = {
      ...g,
      nodes: g.nodes.map((n) =>
        n.param ? { ...n, param: n.param.replace('classifier', 'head') } : n,
      ),
    };
    const fcs = paramLayout(renamed).filter((p) => p.fc && p.kind === 'weight');
    expect(fcs.map((p) => [p.name, p.fileShape])).toEqual([
      ['head.0.weight', [4096, 25088]],
      ['head.3.weight', [4096, 4096]],
      ['head.6.weight', [1000, 4096]],
    ]);
    // A conv without the mark is a conv, whatever its name.
    const unmarked = { ...g, nodes: g.nodes.map(({ fromFc: _f, ...n }) => n) };
    expect(paramLayout(unmarked).filter((p) => p.fc)).toEqual([]);
  });

  it('refuses a graph without shapes or names as an internal error', () => {
    const g = model('A');
    const untyped = { ...g, nodes: g.nodes.map(({ out: _o, ...n }) => n) };
    expect(() => paramLayout(untyped)).toThrow(/^internal: .*no shape/);
    const nameless = { ...g, nodes: g.nodes.map(({ param: _p, ...n }) => n) };
    expect(() => paramLayout(nameless)).toThrow(/^internal: node 1 has parameters but no name/);
  });
});

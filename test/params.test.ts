/**
 * compiler/params.ts names parameters from the module paths fixed at lowering; runtime/weights.ts
 * (what safetensors files are checked against) counts modules itself. The two must agree, or a
 * file that loads would not bind: checked on every paper configuration, before and after fusion.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import { optimizeForInference } from '../compiler/passes/index.js';
import { parameterLayout } from '../runtime/weights.js';

const text = readFileSync('examples/vgg-paper.vgg', 'utf8');

describe('parameter names', () => {
  for (const model of ['A', 'A-LRN', 'B', 'C', 'D', 'E']) {
    it(`compiler and weight files agree for ${model}`, () => {
      const g = checkSource({ name: 'vgg-paper.vgg', text }, { model });
      const fromFile = parameterLayout(g).map((p) => [p.name, p.shape]);
      expect(paramList(g).map((p) => [p.name, p.shape])).toEqual(fromFile);
      // Fusion and dropout removal keep the names the weight file uses.
      const optimised = paramList(optimizeForInference(g, true)).map((p) => [p.name, p.shape]);
      expect(optimised).toEqual(fromFile);
    });
  }

  it('names VGG-16 as torchvision does', () => {
    const g = checkSource({ name: 'vgg-paper.vgg', text }, { model: 'D' });
    const weights = paramList(g)
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
});

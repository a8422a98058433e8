/**
 * The training pipeline's fusion switches (compiler/passes/index.ts optimizeForTraining) on an
 * autodiff graph; each pass has its own test file.
 */
import { describe, expect, it } from 'vitest';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { FUSIONS, optimizeForTraining } from '../compiler/passes/index.js';
import { count, vgg } from './training-graph.js';

describe('training fusions', () => {
  it('conv+ReLU still fuses in a training graph; --fuse picks single passes', () => {
    const g = fuseRelu(vgg);
    expect(count(g, 'relu')).toBe(0);
    expect(count(optimizeForTraining(vgg, ['sgd-one-dispatch']), 'sgd')).toBe(1);
    expect(count(optimizeForTraining(vgg, ['sgd-one-dispatch']), 'relu')).toBe(4);
    expect(optimizeForTraining(vgg, false)).toBe(vgg);
    expect(Object.keys(FUSIONS)).toEqual(
      expect.arrayContaining(['conv-relu', 'softmax-xent', 'relu-grad-mask', 'sgd-one-dispatch']),
    );
  });
});

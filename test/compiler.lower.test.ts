/** Lowering and shape checking reject invalid models with positioned diagnostics. */
import { describe, expect, it } from 'vitest';
import { checkSource, parseShapeArg, selectModel } from '../compiler/frontend.js';
import { parse } from '../dsl/index.js';
import { diagnosticsOf, where } from './helpers.js';

const check = (text: string, options = {}) => checkSource({ name: 'm.vgg', text }, options);
const errorsOf = (text: string, options = {}) => where(diagnosticsOf(() => check(text, options)));

describe('lowering', () => {
  it('expands repeats and nested groups', () => {
    const g = check('model m {\n input 3x32x32\n (conv3-8 x2, maxpool) x2\n FC-10\n}');
    expect(g.nodes.map((n) => n.op.op)).toEqual([
      'input',
      'conv',
      'relu',
      'conv',
      'relu',
      'maxpool',
      'conv',
      'relu',
      'conv',
      'relu',
      'maxpool',
      'fc',
    ]);
    expect(g.nodes.at(-1)!.out).toEqual([10, 1, 1]);
  });

  it('fills LRN defaults (AlexNet: n=5, alpha=1e-4, beta=0.75, k=2) and takes overrides', () => {
    const g = check('model m {\n input 3x8x8\n conv3-4, LRN(alpha=2e-4, n=3)\n}');
    expect(g.nodes.find((n) => n.op.op === 'lrn')!.op).toEqual({
      op: 'lrn',
      n: 3,
      alpha: 2e-4,
      beta: 0.75,
      k: 2,
    });
  });

  it('gives ReLU to every conv of a fully convolutional net', () => {
    const g = check('model m {\n input 3x8x8\n conv3-4, conv1-2\n}');
    expect(g.nodes.map((n) => n.op.op)).toEqual(['input', 'conv', 'relu', 'conv', 'relu']);
  });

  it('keeps conv1 spatial size and computes maxpool floors like PyTorch', () => {
    const g = check('model m {\n input 3x7x9\n conv1-5, maxpool\n}');
    expect(g.nodes.map((n) => n.out)).toEqual([
      [3, 7, 9],
      [5, 7, 9],
      [5, 7, 9],
      [5, 3, 4],
    ]);
  });
});

describe('diagnostics', () => {
  it('reports a missing input at the model name', () => {
    expect(errorsOf('model net {\n conv3-64\n}')).toEqual([
      "1:7: model 'net' declares no input: add a line such as 'input 3x224x224'",
    ]);
  });

  it('rejects kernel sizes other than 1 and 3 at the kernel number', () => {
    const errs = errorsOf('model m {\n input 3x8x8\n conv5-64\n}');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^3:6: conv kernel must be 1 or 3/);
  });

  it('rejects zero and absurd sizes', () => {
    expect(errorsOf('model m {\n input 3x8x8\n conv3-0\n}')[0]).toMatch(
      /^3:8: conv output channels must be at least 1/,
    );
    expect(errorsOf('model m {\n input 0x8x8\n conv3-4\n}')[0]).toMatch(
      /^2:2: input channels must be at least 1/,
    );
    expect(errorsOf('model m {\n input 3x8x8\n conv3-4, FC-0\n}')[0]).toMatch(
      /^3:14: FC units must be at least 1/,
    );
    expect(errorsOf('model m {\n input 3x99999x8\n conv3-4\n}')[0]).toMatch(
      /input height 99999 is absurdly large/,
    );
  });

  it('rejects a pool that would shrink a side below 1', () => {
    const errs = errorsOf('model m {\n input 1x4x4\n maxpool\n maxpool\n maxpool\n}');
    expect(errs).toEqual([expect.stringMatching(/^5:2: maxpool would shrink 1x1x1 below 1 pixel/)]);
  });

  it('rejects a conv, pool or LRN after an FC', () => {
    expect(errorsOf('model m {\n input 1x8x8\n FC-10\n conv3-4\n}')[0]).toMatch(
      /^4:2: 'conv3-4' after an FC layer/,
    );
    expect(errorsOf('model m {\n input 1x8x8\n FC-10, maxpool\n}')[0]).toMatch(
      /^3:9: 'maxpool' after an FC/,
    );
  });

  it('rejects layers after soft-max', () => {
    expect(errorsOf('model m {\n input 1x8x8\n FC-10\n soft-max\n FC-3\n}')[0]).toMatch(
      /^5:2: 'FC-3' after soft-max/,
    );
  });

  it('rejects repeat counts below 1', () => {
    expect(errorsOf('model m {\n input 1x8x8\n conv3-4 x0\n}')[0]).toMatch(
      /^3:11: repeat count must be at least 1, not 0/,
    );
  });

  it('rejects dropout outside [0, 1)', () => {
    expect(errorsOf('model m {\n input 1x8x8\n FC-4, dropout 1.5\n}')[0]).toMatch(
      /^3:16: dropout probability must be in \[0, 1\), not 1.5/,
    );
  });

  it('rejects sizes whose tensors overflow', () => {
    const errs = errorsOf('model m {\n input 3x16384x16384\n conv3-65536\n}');
    expect(errs[0]).toMatch(
      /^3:2: 'conv3-65536' produces 65536x16384x16384 .* more than one tensor may hold/,
    );
  });

  it('checks LRN parameters', () => {
    const errs = errorsOf('model m {\n input 3x8x8\n conv3-4, LRN(size=5, n=2.5)\n}');
    expect(errs).toEqual([
      expect.stringMatching(/^3:15: unknown LRN parameter 'size'/),
      expect.stringMatching(/^3:25: LRN size n must be a whole number/),
    ]);
  });

  it('reports every lowering error of a model in one run', () => {
    const errs = errorsOf('model m {\n input 3x8x8\n conv5-4\n conv3-0\n FC-4, dropout 2\n}');
    expect(errs).toHaveLength(3);
  });

  it('checks settings: unknown keys, bad values, duplicates, empty ranges', () => {
    const errs = errorsOf(
      'model m {\n input 1x8x8\n train {\n  batch 0\n  lr 0.1\n  lr 0.2\n  speed 3\n  scale 512..256\n }\n test { flip 2 }\n FC-2\n}',
    );
    expect(errs).toEqual([
      expect.stringMatching(/^4:9: 'batch' must be an integer/),
      "6:3: train setting 'lr' is set twice",
      expect.stringMatching(/^7:3: unknown train setting 'speed' \(known: batch, lr/),
      expect.stringMatching(/^8:3: scale range 512..256 is empty/),
      expect.stringMatching(/^10:9: 'flip' must be no value/),
    ]);
  });
});

describe('model selection and --input', () => {
  const two = parse({
    name: 'two.vgg',
    text: 'model a {\n input 1x4x4\n FC-2\n}\nmodel B {\n input 1x4x4\n FC-3\n}',
  }).ast;

  it('needs --model when a file has several, and lists them', () => {
    expect(where(diagnosticsOf(() => selectModel(two)))).toEqual([
      'two.vgg: the file defines 2 models (a, B): choose one with --model NAME',
    ]);
    expect(selectModel(two, 'b').name).toBe('B');
    expect(where(diagnosticsOf(() => selectModel(two, 'c')))).toEqual([
      "two.vgg: no model named 'c' (models: a, B)",
    ]);
  });

  it('parses CxHxW and rejects nonsense', () => {
    expect(parseShapeArg('3x224x224')).toEqual([3, 224, 224]);
    expect(parseShapeArg('1X28x30')).toEqual([1, 28, 30]);
    expect(where(diagnosticsOf(() => parseShapeArg('224x224')))[0]).toMatch(/must look like CxHxW/);
    expect(where(diagnosticsOf(() => parseShapeArg('0x4x4')))[0]).toMatch(
      /channels must be from 1/,
    );
  });
});

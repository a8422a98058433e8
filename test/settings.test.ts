/**
 * The library's defaults and policy (runtime/train/config.ts `resolveTrainConfig`,
 * runtime/test-plan.ts `resolveTestPlan` and `defaultTestScales`): an override wins, else the
 * model's block, else the defaults; bad values are refused naming the setting; default test
 * scales are always valid for the model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { checkScales } from '../runtime/eval.js';
import { defaultTestScales, resolveTestPlan } from '../runtime/test-plan.js';
import { resolveTrainConfig } from '../runtime/train/config.js';
import { diagnosticsOf } from './helpers.js';

const model = (settings: string, input = '3x8x8', layers = 'conv3-4, maxpool, FC-5') =>
  checkSource({
    name: 'm.vgg',
    text: `model m {\n input ${input}\n ${settings}\n ${layers} }`,
  });
const message = (fn: () => unknown) =>
  diagnosticsOf(fn)
    .map((d) => d.message)
    .join('\n');

describe('resolveTrainConfig', () => {
  it('takes an override, else the train block, else the defaults', () => {
    const block = model(
      'train { batch 4; lr 0.5; momentum 0.8; weight-decay 0; epochs 3; dropout 0.25 }',
    );
    expect(resolveTrainConfig(block)).toMatchObject({
      epochs: 3,
      batch: 4,
      lr: 0.5,
      momentum: 0.8,
      weightDecay: 0,
      dropout: 0.25,
      augment: 'paper',
      flip: true,
      shuffle: true,
      seed: 0,
      schedule: 'paper',
      init: 'paper',
    });
    const r = resolveTrainConfig(block, { batch: 2, lr: 0.1, steps: 7, seed: 9, dropout: 0 });
    expect(r).toMatchObject({ steps: 7, batch: 2, lr: 0.1, momentum: 0.8, seed: 9, dropout: 0 });
    expect(r.epochs).toBeUndefined();
    expect(resolveTrainConfig(model(''))).toMatchObject({
      epochs: 1,
      batch: 32,
      lr: 0.01,
      momentum: 0.9,
      weightDecay: 5e-4,
    });
    expect(resolveTrainConfig(model('')).dropout).toBeUndefined();
  });

  it('decodes image folders at the largest training scale, or the input size without augmentation', () => {
    const g = model('train { scale 12..20 }', '3x8x10');
    expect(resolveTrainConfig(g).imageSize).toEqual([20, 20]);
    expect(resolveTrainConfig(g).scale).toEqual([12, 20]);
    expect(resolveTrainConfig(g, { augment: 'none' }).imageSize).toEqual([8, 10]);
    expect(resolveTrainConfig(model('', '3x8x10')).imageSize).toEqual([10, 10]);
  });

  it('refuses values that break a rule, naming the setting as the caller names it', () => {
    const g = model('');
    const flag = (s: string) => `--${s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    for (const [o, want] of [
      [{ lr: 0 }, "lr must be a positive number, not '0'"],
      [{ lr: NaN }, "lr must be a positive number, not 'NaN'"],
      [{ momentum: 1 }, "momentum must be in [0, 1), not '1'"],
      [{ weightDecay: -1e-9 }, "weightDecay must be a number >= 0, not '-1e-9'"],
      [{ batch: 2.5 }, "batch must be a positive integer, not '2.5'"],
      [{ seed: 2 ** 32 }, "seed must be an integer from 0 to 4294967295, not '4294967296'"],
      [{ epochs: 1, steps: 1 }, 'give epochs or steps, not both'],
      [{ augment: 'crop' }, "augment must be 'paper' or 'none', not 'crop'"],
      [{ schedule: 'fast' }, "schedule must be one of paper, step, cosine, constant, not 'fast'"],
    ] as const) {
      expect(message(() => resolveTrainConfig(g, o as never))).toBe(want);
    }
    expect(message(() => resolveTrainConfig(g, { weightDecay: -1 }, flag))).toBe(
      "--weight-decay must be a number >= 0, not '-1'",
    );
  });
});

describe('resolveTestPlan', () => {
  it('takes an override, else the test block, else the defaults', () => {
    const g = model('test { scales 9, 12; flip }');
    expect(resolveTestPlan(g)).toEqual({
      scales: { scales: [9, 12], from: 'test { scales }' },
      flip: true,
      dense: true,
      multiCrop: false,
      batch: 8,
    });
    expect(resolveTestPlan(g, { scales: [10], flip: false, multiCrop: true, batch: 1 })).toEqual({
      scales: { scales: [10], from: 'scales' },
      flip: false,
      dense: true,
      multiCrop: true,
      batch: 1,
    });
    expect(resolveTestPlan(model('')).flip).toBe(false);
  });

  it("refuses a plan that evaluates nothing and bad values, in the caller's names", () => {
    const g = model('');
    const cli = (s: string, negated?: boolean) => `--${negated ? 'no-' : ''}${s}`;
    expect(message(() => resolveTestPlan(g, { dense: false }, cli))).toBe(
      '--no-dense needs --multiCrop: nothing would be evaluated',
    );
    expect(message(() => resolveTestPlan(g, { dense: false }))).toBe(
      'dense: false needs multiCrop: nothing would be evaluated',
    );
    expect(message(() => resolveTestPlan(g, { scales: [8, 0] }))).toBe(
      "scales (each scale) must be a positive integer, not '0'",
    );
    expect(message(() => resolveTestPlan(g, { scales: [] }))).toMatch(/at least one/);
    expect(message(() => resolveTestPlan(g, { batch: 0 }))).toMatch(/^batch must be a positive/);
  });
});

describe('default test scales', () => {
  it('never fall below the input size: train { scale 16 } on 28x28 tests at 28 and 48', () => {
    const g = model('train { scale 16 }', '1x28x28', 'conv3-4, maxpool, FC-5');
    const d = defaultTestScales(g);
    expect(d.scales).toEqual([28, 48]);
    expect(d.from).toBe('train { scale 16 } (Q = S-32, S, S+32, at least the input size 28)');
    expect(defaultTestScales(model('train { scale 4..40 }', '3x8x12')).scales).toEqual([
      12, 22, 40,
    ]);
    expect(defaultTestScales(model('', '3x8x12')).scales).toEqual([12]);
  });

  it('property: for any input and training scale, every default is valid for dense and multi-crop', () => {
    const side = fc.integer({ min: 4, max: 64 });
    const scale = fc.oneof(
      fc.constant(''),
      fc.integer({ min: 1, max: 300 }).map((s) => `train { scale ${s} }`),
      fc
        .tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 300 }))
        .map(([a, b]) => `train { scale ${a}..${a + b} }`),
    );
    fc.assert(
      fc.property(side, side, scale, (h, w, settings) => {
        const g = model(settings, `3x${h}x${w}`, 'conv3-4, maxpool, FC-5');
        const { scales } = defaultTestScales(g);
        expect(scales.length).toBeGreaterThan(0);
        expect(new Set(scales).size).toBe(scales.length);
        for (const q of scales) expect(q).toBeGreaterThanOrEqual(Math.max(h, w));
        // Dense evaluation of a non-square input is issue 15 item 13 (another change).
        if (h !== w) return;
        // Valid for any image shape: square, and as tall or as wide as the input.
        for (const image of [undefined, [3, h, w], [3, 4 * h, w], [3, h, 4 * w]] as const) {
          expect(() =>
            checkScales(g, scales, { ...(image ? { image } : {}), dense: true, multiCrop: true }),
          ).not.toThrow();
        }
      }),
      { numRuns: 200 },
    );
  });
});

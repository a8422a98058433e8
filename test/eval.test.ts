/**
 * The paper's test-time evaluation (runtime/eval.ts) against the float64 reference of
 * test/reference/eval.ts: flips, several scales, mean subtraction, multi-crop and dense +
 * multi-crop; padding of short batches; the default scales and the too-small errors.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { VggcError } from '../dsl/diagnostics.js';
import { acquireGpu, releaseGpu } from '../runtime/device.js';
import { checkScales, createEvaluator, cropOffsets, evaluateSplit } from '../runtime/eval.js';
import { defaultTestScales } from '../runtime/test-plan.js';
import { memorySplit } from '../runtime/data/dataset.js';
import { parameterLayout } from '../runtime/weights.js';
import { evalRef, type Chw } from './reference/eval.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

// FC-12 reads 6x2x2 at the declared 8x8: dense evaluation makes it a 2x2 conv; min input 8x8.
const TEXT = `model t { input 3x8x8
  conv3-4, maxpool
  conv3-6, maxpool
  FC-12
  FC-7
  soft-max }`;
const graph = checkSource({ name: 't.vgg', text: TEXT });

const weights = new Map<string, Float32Array>();
parameterLayout(graph).forEach((p, i) => {
  const count = p.shape.reduce((a, b) => a * b, 1);
  // Biases non-zero too, and a scale that gives posteriors well away from uniform.
  weights.set(p.name, randomArray(count, 300 + i, Math.sqrt(6 / (count / p.shape[0]!))));
});

const SHAPE: Chw = [3, 9, 11];
const images = randomArray(2 * 3 * 9 * 11, 41, 1);
const image = (i: number) => images.subarray(i * 297, (i + 1) * 297);

function maxAbsDiff(gpu: Float32Array, ref: readonly number[][]): number {
  const flat = ref.flat();
  expect(gpu.length).toBe(flat.length);
  let d = 0;
  for (let i = 0; i < flat.length; i++) d = Math.max(d, Math.abs(gpu[i]! - flat[i]!));
  return Number.isNaN(d) ? Infinity : d;
}

describe('createEvaluator against the float64 reference', async () => {
  const gpu = await acquireGpu();

  it('dense, flips, two scales, mean subtracted; a short batch reuses the plans', async () => {
    const mean = [0.1, -0.2, 0.3];
    const scales = [8, 12]; // 8x10 (1x1 score map) and 12x15 (2x2)
    const ev = await createEvaluator(graph, weights, { scales, flip: true, mean, batch: 2, gpu });
    try {
      expect(ev.classes).toBe(7);
      const got = await ev.evaluate(images, 2, SHAPE);
      const refs = [0, 1].map((i) =>
        evalRef(graph, weights, image(i), SHAPE, { scales, flip: true, dense: true, mean }),
      );
      for (let s = 0; s < scales.length; s++) {
        expect(
          maxAbsDiff(
            got.perScale[s]!,
            refs.map((r) => r.perScale[s]!),
          ),
        ).toBeLessThan(2e-5);
      }
      expect(
        maxAbsDiff(
          got.combined,
          refs.map((r) => r.combined),
        ),
      ).toBeLessThan(2e-5);
      // The comparison can fail: without the flip, or at one scale, the answer differs.
      const noFlip = evalRef(graph, weights, image(0), SHAPE, {
        scales,
        flip: false,
        dense: true,
        mean,
      });
      expect(maxAbsDiff(got.combined.subarray(0, 7), [noFlip.combined])).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(got.combined.subarray(0, 7), [refs[0]!.perScale[1]!])).toBeGreaterThan(
        1e-3,
      );

      const plans = ev.cachedPlans();
      expect(plans).toEqual(['3x8x10/n4', '3x12x15/n4']);
      const one = await ev.evaluate(image(1), 1, SHAPE); // padded to the same slice
      expect(ev.cachedPlans()).toEqual(plans);
      expect(maxAbsDiff(one.combined, [refs[1]!.combined])).toBeLessThan(2e-5);
    } finally {
      ev.destroy();
    }
  });

  it('multi-crop alone, and dense + multi-crop, with flips', async () => {
    const scales = [12];
    // The image at Q=12 is 12x15; 8x8 crops: rows 0..4, columns round(i * 7 / 4).
    const crops = (): [number[], number[]] => [
      [0, 1, 2, 3, 4],
      [0, 2, 4, 5, 7],
    ];
    const x = image(0);
    const only = await createEvaluator(graph, weights, {
      scales,
      flip: true,
      dense: false,
      multiCrop: true,
      batch: 1,
      gpu,
    });
    const both = await createEvaluator(graph, weights, {
      scales,
      flip: true,
      multiCrop: true,
      batch: 1,
      gpu,
    });
    try {
      const ref = evalRef(graph, weights, x, SHAPE, { scales, flip: true, dense: false, crops });
      const got = await only.evaluate(x, 1, SHAPE);
      expect(maxAbsDiff(got.combined, [ref.combined])).toBeLessThan(2e-5);
      // 50 crops at 8x8, in slices of up to 16 (the default cap), the last one padded.
      expect(only.cachedPlans()).toEqual(['3x8x8/n16']);

      const refBoth = evalRef(graph, weights, x, SHAPE, { scales, flip: true, dense: true, crops });
      const gotBoth = await both.evaluate(x, 1, SHAPE);
      expect(maxAbsDiff(gotBoth.combined, [refBoth.combined])).toBeLessThan(2e-5);
      expect(maxAbsDiff(gotBoth.combined, [ref.combined])).toBeGreaterThan(1e-3);
    } finally {
      only.destroy();
      both.destroy();
    }
  });

  it('evaluateSplit counts misses per scale and combined', async () => {
    const scales = [8, 12];
    const ev = await createEvaluator(graph, weights, { scales, flip: false, batch: 2, gpu });
    try {
      // Three images; labels: the reference's best class, its 2nd, and its 7th (last).
      const x = randomArray(3 * 297, 77, 1);
      const refs = [0, 1, 2].map((i) =>
        evalRef(graph, weights, x.subarray(i * 297, (i + 1) * 297), SHAPE, {
          scales,
          flip: false,
          dense: true,
        }),
      );
      const ranked = (p: number[]) => p.map((v, c) => [v, c] as const).sort((a, b) => b[0] - a[0]);
      const labels = Int32Array.from([0, 1, 6], (r, i) => ranked(refs[i]!.combined)[r]![1]);
      // Per scale, the expected misses from the reference's own ranks (clear margins assumed).
      const misses = (s: number | 'all', k: number) =>
        refs.filter((r, i) => {
          const p = s === 'all' ? r.combined : r.perScale[s]!;
          return p.filter((v, c) => c !== labels[i] && v >= p[labels[i]!]!).length >= k;
        }).length;
      const result = await evaluateSplit(
        ev,
        memorySplit(SHAPE as [number, number, number], x, labels),
        {
          batch: 2,
        },
      );
      expect(result.images).toBe(3);
      expect(result.combined).toEqual({ images: 3, top1Misses: 2, top5Misses: 1 });
      expect(misses('all', 1)).toBe(2);
      for (let s = 0; s < 2; s++) {
        expect(result.perScale[s]).toEqual({
          images: 3,
          top1Misses: misses(s, 1),
          top5Misses: misses(s, 5),
        });
      }
      const limited = await evaluateSplit(ev, memorySplit([3, 9, 11], x, labels), {
        batch: 2,
        limit: 1,
      });
      expect(limited.combined).toEqual({ images: 1, top1Misses: 0, top5Misses: 0 });
    } finally {
      ev.destroy();
    }
  });
});

describe('test scales', () => {
  const model = (settings: string) =>
    checkSource({
      name: 'm.vgg',
      text: `model m {\n input 3x8x8\n ${settings}\n conv3-4, maxpool, FC-5 }`,
    });

  it('come from test { scales }, else from the training scale, else the input size', () => {
    expect(defaultTestScales(model('test { scales 9, 12 }\n train { scale 64 }')).scales).toEqual([
      9, 12,
    ]);
    expect(defaultTestScales(model('train { scale 256 }')).scales).toEqual([224, 256, 288]);
    expect(defaultTestScales(model('train { scale 256..512 }')).scales).toEqual([256, 384, 512]);
    expect(defaultTestScales(model('train { scale 28..31 }')).scales).toEqual([28, 30, 31]);
    expect(defaultTestScales(model('')).scales).toEqual([8]);
    const mnist = checkSource({
      name: 'mnist.vgg',
      text: readFileSync(new URL('../examples/mnist.vgg', import.meta.url), 'utf8'),
    });
    expect(defaultTestScales(mnist).scales).toEqual([28, 30, 32]);
    expect(() => checkScales(mnist, [28, 30, 32], { image: [1, 28, 28] })).not.toThrow();
  });

  it('a scale below the smallest dense input is a VggcError naming the minimum', () => {
    const at = (scales: number[], opts: Parameters<typeof checkScales>[2]) => {
      try {
        checkScales(graph, scales, opts);
      } catch (e) {
        expect(e).toBeInstanceOf(VggcError);
        return (e as VggcError).message;
      }
      return 'no error';
    };
    expect(at([8, 7], { image: [3, 9, 11], from: '--scales' })).toBe(
      'test scale Q=7 (from --scales) is too small for dense evaluation of t: an image of ' +
        '3x9x11 becomes 3x7x9; the smallest dense input is 3x8x8, so Q must be at least 8',
    );
    expect(at([8], { image: [3, 20, 9] })).toBe('no error'); // 18x8
    expect(at([16], { multiCrop: true, dense: false })).toBe('no error');
    expect(at([7], { multiCrop: true, dense: false })).toMatch(
      /Q=7 is too small for multi-crop evaluation of t; the crops are the model's input 3x8x8, so Q must be at least 8/,
    );
    expect(at([], {})).toMatch(/no test scales/);
    expect(at([0], {})).toMatch(/Q=0 .*positive integer/);
  });

  it('crop offsets: a regular 5-point grid, rounded; all 0 when the crop fills the side', () => {
    expect(cropOffsets(12, 8)).toEqual([0, 1, 2, 3, 4]);
    expect(cropOffsets(15, 8)).toEqual([0, 2, 4, 5, 7]);
    expect(cropOffsets(256, 224)).toEqual([0, 8, 16, 24, 32]);
    expect(cropOffsets(8, 8)).toEqual([0, 0, 0, 0, 0]);
  });
});

/**
 * The fused soft-max + cross-entropy kernel (compiler/wgsl/softmax-xent.ts) against the float64
 * reference, which is checked first by central finite differences of the mean loss.
 *
 * Random logits (never zeros), NaN-poisoned loss / dx / correct, max |gpu - ref| / max |ref| <
 * 1e-4 for loss and dx; `correct` must match exactly. Ties for the argmax are hand-made.
 *
 * Labels are i32 on the GPU, but the harness uploads Float32Array only: the tests build an
 * Int32Array and pass a Float32Array VIEW of its bytes (`new Float32Array(int32.buffer)`); the
 * harness copies bytes, so the kernel reads the exact integers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import {
  softmaxXentKernels,
  xentGradKernels,
  type SoftmaxXentSpec,
} from '../compiler/wgsl/softmax-xent.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { randomArray } from './reference/random.js';
import { meanXentLoss, softmaxXentRef } from './reference/softmax-xent.js';
import { softmaxRef } from './reference/softmax.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

let seed = 11000;

function randomLabels(n: number, classes: number, s: number): Int32Array {
  return Int32Array.from(randomArray(n, s, 1), (u) =>
    Math.min(classes - 1, Math.floor(((u + 1) / 2) * classes)),
  );
}

/** Runs the kernel; labels go up as a Float32Array view of the Int32Array's bytes. */
async function run(
  g: Gpu,
  spec: SoftmaxXentSpec,
  target: TargetInfo,
  x: Float32Array,
  labels: Int32Array,
) {
  const { n, classes } = spec;
  const out = await runKernels(
    g,
    softmaxXentKernels(spec, target),
    { x, labels: new Float32Array(labels.buffer), loss: n, dx: n * classes, correct: n },
    ['loss', 'dx', 'correct'],
  );
  return { loss: out['loss']!, dx: out['dx']!, correct: out['correct']! };
}

async function check(g: Gpu, spec: SoftmaxXentSpec, target: TargetInfo, scale = 3): Promise<void> {
  const x = randomArray(spec.n * spec.classes, seed++, scale);
  const labels = randomLabels(spec.n, spec.classes, seed++);
  const got = await run(g, spec, target, x, labels);
  const ref = softmaxXentRef(x, labels, spec.n, spec.classes);
  expect(compare(got.loss, ref.loss, 'loss')).toBeLessThan(1e-4);
  expect(compare(got.dx, ref.dx, 'dx')).toBeLessThan(1e-4);
  expect(Array.from(got.correct)).toEqual(Array.from(ref.correct));
}

describe('softmax-xent reference (float64 central differences of the mean loss)', () => {
  for (const [n, classes] of [
    [1, 3],
    [3, 5],
    [4, 2],
  ] as const) {
    it(`n${n} classes${classes}`, () => {
      const x = Float64Array.from(randomArray(n * classes, seed++, 2));
      const labels = randomLabels(n, classes, seed++);
      const { dx } = softmaxXentRef(x, labels, n, classes);
      const eps = 1e-6;
      for (let i = 0; i < x.length; i++) {
        const keep = x[i]!;
        x[i] = keep + eps;
        const up = meanXentLoss(x, labels, n, classes);
        x[i] = keep - eps;
        const down = meanXentLoss(x, labels, n, classes);
        x[i] = keep;
        expect(Math.abs((up - down) / (2 * eps) - dx[i]!)).toBeLessThan(1e-8);
      }
    });
  }
});

describe('softmax-xent kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment, flops and bytes', () => {
    const [k, ...rest] = softmaxXentKernels({ n: 8, classes: 1000 }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// softmax_xent_1000:')).toBe(true); // no batch
    expect(k!.name).toBe('softmax_xent_1000_n8');
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['x', 'labels', 'loss', 'dx', 'correct']);
    expect(k!.flops).toBe(11 * 8 * 1000);
    expect(k!.bytes).toBe(4 * (3 * 8 * 1000 + 3 * 8));
  });

  const SHAPES: SoftmaxXentSpec[] = [
    { n: 1, classes: 10 },
    { n: 4, classes: 1000 }, // ImageNet head, 64 lanes
    { n: 3, classes: 7 }, // fewer classes than lanes
    { n: 64, classes: 10 }, // a CIFAR/MNIST batch
    { n: 2, classes: 1 }, // one class: loss 0, dx 0 except... all dx are 0
    { n: 5, classes: 100 },
  ];
  for (const spec of SHAPES) {
    it(`n${spec.n} classes${spec.classes}`, async () => {
      if (spec.classes === 1) {
        // The reference is all zeros (loss 0, dx 0, always correct): compare exactly instead.
        const x = randomArray(spec.n, seed++, 3);
        const got = await run(g, spec, targetOf(g), x, new Int32Array(spec.n));
        expect(Array.from(got.loss)).toEqual(new Array(spec.n).fill(0));
        expect(Array.from(got.dx)).toEqual(new Array(spec.n).fill(0));
        expect(Array.from(got.correct)).toEqual(new Array(spec.n).fill(1));
        return;
      }
      await check(g, spec, targetOf(g));
    });
  }

  it('is stable for logits of +-200 (a plain exp overflows f32)', async () => {
    await check(g, { n: 4, classes: 50 }, targetOf(g), 200);
  });

  it('folds a large grid into 2-D (fake small maxComputeWorkgroupsPerDimension)', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 4 };
    const spec = { n: 13, classes: 20 };
    expect(softmaxXentKernels(spec, target)[0]!.dispatch[1]).toBeGreaterThan(1);
    await check(g, spec, target);
  });

  it('argmax ties: the first max wins, within one lane and across lanes', async () => {
    const classes = 200; // 64 lanes: class i is in lane i % 64
    // [index of max A, index of max B (equal value), label, expected correct]
    const cases: [number, number, number, number][] = [
      [3, 100, 3, 1], // different lanes (3 and 36): the smaller index wins
      [3, 100, 100, 0],
      [5, 69, 5, 1], // the same lane (5): the earlier step wins
      [5, 69, 69, 0],
      [150, 20, 20, 1], // the later lane holds the smaller index
      [150, 20, 150, 0],
    ];
    const n = cases.length;
    const x = randomArray(n * classes, seed++, 1);
    const labels = new Int32Array(n);
    cases.forEach(([a, b, label], s) => {
      x[s * classes + a] = 4;
      x[s * classes + b] = 4;
      labels[s] = label;
    });
    const got = await run(g, { n, classes }, targetOf(g), x, labels);
    expect(Array.from(got.correct)).toEqual(cases.map((c) => c[3]));
    const ref = softmaxXentRef(x, labels, n, classes);
    expect(Array.from(ref.correct)).toEqual(cases.map((c) => c[3]));
    expect(compare(got.loss, ref.loss, 'loss')).toBeLessThan(1e-4);
    expect(compare(got.dx, ref.dx, 'dx')).toBeLessThan(1e-4);
  });
});

describe('xent-grad (the unfused head: cross-entropy from soft-max posteriors)', () => {
  for (const [n, classes] of [
    [1, 10],
    [7, 3],
    [65, 10],
    [3, 1000],
  ] as const) {
    it(`n ${n}, ${classes} classes`, async () => {
      const g = await acquireGpu();
      const x = randomArray(n * classes, seed++, 3);
      const labels = randomLabels(n, classes, seed++);
      // The posteriors the soft-max kernel would write, in f32.
      const p = Float32Array.from(softmaxRef(x, { n, classes }));
      const out = await runKernels(
        g,
        xentGradKernels({ n, classes }, targetOf(g)),
        { p, labels: new Float32Array(labels.buffer), loss: n, dx: n * classes, correct: n },
        ['loss', 'dx', 'correct'],
      );
      const ref = softmaxXentRef(x, labels, n, classes);
      expect(compare(out['loss']!, ref.loss, 'loss')).toBeLessThan(1e-4);
      expect(compare(out['dx']!, ref.dx, 'dx')).toBeLessThan(1e-4);
      expect(Array.from(out['correct']!)).toEqual(Array.from(ref.correct));
    });
  }
});

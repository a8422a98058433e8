/**
 * Run-time sizes of the forward kernels (docs/kernels.md, "Run-time sizes"): every generator that
 * reads its batch, spatial size or weight chunk from the uniform struct `dims` must emit
 * byte-identical WGSL for any value of those (so one pipeline serves them all), must emit
 * different WGSL where a structural constant differs (channels, kernel size, vec4 switches), and
 * one pipeline run at two sizes must match the float64 references on fresh random inputs (the
 * harness poisons outputs with NaN before each run). The standalone max pool keeps its sizes as
 * constants (a uniform made it 2-5x slower: docs/kernels.md), the conv's fused pool does not.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { convKernels, type ConvSpec } from '../compiler/wgsl/conv.js';
import { convValidKernels, type ConvValidSpec } from '../compiler/wgsl/conv-valid.js';
import { fcKernels, type FcSpec } from '../compiler/wgsl/fc.js';
import type { Kernel, TargetInfo } from '../compiler/wgsl/kernel.js';
import { lrnKernels, type LrnSpec } from '../compiler/wgsl/lrn.js';
import { reluKernels } from '../compiler/wgsl/relu.js';
import { softmaxKernels } from '../compiler/wgsl/softmax.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { pipelineFor } from '../runtime/executor.js';
import { runKernels } from './gpu-harness.js';
import { relativeError, TEST_TARGET } from './helpers.js';
import { conv2dRef } from './reference/conv.js';
import { fcRef } from './reference/fc.js';
import { lrnRef } from './reference/lrn.js';
import { maxpoolRef } from './reference/maxpool.js';
import { randomArray } from './reference/random.js';
import { softmaxRef } from './reference/softmax.js';

afterAll(releaseGpu);

/** A target with subgroups (lavapipe-like) and the plain one of the helpers. */
const SG: TargetInfo = { ...TEST_TARGET, subgroups: true, subgroupMinSize: 8 };
const TARGETS = [
  ['subgroups', SG],
  ['no subgroups', TEST_TARGET],
] as const;

/**
 * A binding limit of `rows` weight rows of `rowFloats` floats, so that a larger weight is split
 * into chunks (whose row counts are multiples of 256 bytes / gcd(row bytes, 256)).
 */
const splitting = (t: TargetInfo, rows: number, rowFloats: number): TargetInfo => ({
  ...t,
  maxStorageBufferBindingSize: rows * rowFloats * 4,
});

/** The value of one of a kernel's run-time sizes. */
const uniform = (k: Kernel, field: string): number | undefined =>
  k.uniforms?.values[k.uniforms.fields.indexOf(field)];

const codes = (ks: readonly Kernel[]): string[] => ks.map((k) => k.code);
const distinct = (ks: readonly Kernel[]): number => new Set(codes(ks)).size;

const conv = (s: Partial<ConvSpec>): ConvSpec => ({
  n: 1,
  cin: 5,
  h: 8,
  w: 8,
  cout: 12,
  kernel: 3,
  pad: 1,
  relu: true,
  ...s,
});
const valid = (s: Partial<ConvValidSpec>): ConvValidSpec => ({
  n: 1,
  cin: 6,
  h: 8,
  w: 8,
  cout: 40,
  kernel: 3,
  relu: true,
  ...s,
});

describe.each(TARGETS)('generated code with %s', (_, target) => {
  it('conv: one code for every N, H, W; another for other channels, kernel, pool, W % 4', () => {
    for (const pool of [false, true]) {
      const a = convKernels(conv({ pool }), target)[0]!;
      const b = convKernels(conv({ pool, n: 3, h: 12, w: 20 }), target)[0]!;
      const c = convKernels(conv({ pool, n: 2, h: 224, w: 4 }), target)[0]!;
      expect(a.name).not.toBe(b.name);
      expect(b.code).toBe(a.code);
      expect(c.code).toBe(a.code);
      expect(a.uniforms!.values).not.toEqual(b.uniforms!.values);
      // The header prints no size.
      expect(a.code).not.toMatch(/\b8x8\b|\[1,/);
      for (const other of [
        conv({ pool, cin: 6 }),
        conv({ pool, cout: 16 }),
        conv({ pool, relu: false }),
        conv({ pool, kernel: 1, pad: 0 }),
        conv({ pool, w: 10 }), // W % 4 != 0: scalar input rows
      ]) {
        expect(convKernels(other, target)[0]!.code).not.toBe(a.code);
      }
      expect(convKernels(conv({ pool: !pool }), target)[0]!.code).not.toBe(a.code);
    }
  });

  it('conv-valid: one code for every N, H, W and every weight chunk; another for other K, CIN', () => {
    const a = convValidKernels(valid({}), target);
    const b = convValidKernels(valid({ n: 2, h: 12, w: 9 }), target);
    expect(b[0]!.code).toBe(a[0]!.code);
    // A weight of 70 rows of 1152 bytes over a limit of 32 rows (chunks of multiples of 2 rows):
    // 3 balanced chunks, the last one shorter, one code.
    const split = splitting(target, 32, 32 * 9);
    const chunks = convValidKernels(valid({ cin: 32, cout: 70, h: 10, w: 13 }), split);
    expect(chunks.map((k) => uniform(k, 'row0'))).toEqual([0, 24, 48]);
    expect(chunks.map((k) => uniform(k, 'rows'))).toEqual([24, 24, 22]);
    expect(chunks[0]!.bindings[1]!.offsetBytes).toBe(0);
    expect(chunks[2]!.bindings[1]!.offsetBytes).toBe(48 * 1152);
    expect(distinct(chunks)).toBe(1);
    expect(chunks[0]!.code).toBe(convValidKernels(valid({ cin: 32, cout: 70 }), target)[0]!.code);
    for (const other of [valid({ cin: 7 }), valid({ kernel: 2 }), valid({ cout: 41 })]) {
      expect(convValidKernels(other, target)[0]!.code).not.toBe(a[0]!.code);
    }
  });

  it('fc: one code for every batch of 8 or more and every weight chunk; another for batch < 8', () => {
    const spec = (n: number): FcSpec => ({ n, inFeatures: 256, outFeatures: 50, relu: true });
    const a = fcKernels(spec(8), target)[0]!;
    expect(fcKernels(spec(17), target)[0]!.code).toBe(a.code);
    expect(fcKernels(spec(64), target)[0]!.code).toBe(a.code);
    // Rows of 1024 bytes (any row count is aligned), at most 20 a chunk: 50 rows in 3 chunks.
    const split = fcKernels(spec(17), splitting(target, 20, 256));
    expect(split.map((k) => uniform(k, 'row0'))).toEqual([0, 17, 34]);
    expect(split.map((k) => uniform(k, 'rows'))).toEqual([17, 17, 16]);
    expect(distinct(split)).toBe(1);
    expect(split[0]!.code).toBe(a.code);
    // The batch tile (min(N, 8)) and the layer's sizes are structural.
    expect(fcKernels(spec(1), target)[0]!.code).not.toBe(a.code);
    const wider: FcSpec = { ...spec(8), inFeatures: 260 };
    expect(fcKernels(wider, target)[0]!.code).not.toBe(a.code);
    const dropout: FcSpec = { ...spec(8), dropout: { p: 0.5 } };
    expect(fcKernels(dropout, target)[0]!.code).not.toBe(a.code);
    expect(fcKernels({ ...dropout, n: 20 }, target)[0]!.code).toBe(
      fcKernels(dropout, target)[0]!.code,
    );
  });

  it('lrn, softmax, relu: one code for every size; another where the form differs', () => {
    const lrn = (s: Partial<LrnSpec>): string =>
      lrnKernels(
        { n: 1, c: 7, h: 4, w: 4, size: 5, alpha: 1e-3, beta: 0.75, k: 2, ...s },
        target,
      )[0]!.code;
    expect(lrn({ n: 3, h: 8, w: 6 })).toBe(lrn({}));
    expect(lrn({ h: 3, w: 3 })).toBe(lrn({ n: 2, h: 5, w: 5 })); // the scalar form
    expect(lrn({ h: 3, w: 3 })).not.toBe(lrn({}));
    expect(lrn({ c: 8 })).not.toBe(lrn({}));

    const softmax = (n: number, classes: number): string =>
      softmaxKernels({ n, classes }, target)[0]!.code;
    expect(softmax(17, 10)).toBe(softmax(64, 10));
    expect(softmax(64, 11)).not.toBe(softmax(64, 10));

    const relu = (count: number): string => reluKernels({ count }, target)[0]!.code;
    expect(relu(8)).toBe(relu(4000));
    expect(relu(7)).toBe(relu(4001));
    expect(relu(7)).not.toBe(relu(8));
  });
});

describe('one pipeline at two sizes, against the float64 references', async () => {
  const g = await acquireGpu();
  const target = targetOf(g);
  let seed = 9100;

  /** Runs both kernels lists, which must have one code per position, on one set of pipelines. */
  function samePipelines(a: readonly Kernel[], b: readonly Kernel[]): void {
    expect(codes(b)).toEqual(codes(a));
    for (const [i, k] of a.entries()) {
      expect(pipelineFor(g, b[i]!.code, b[i]!.entryPoint)).toBe(
        pipelineFor(g, k.code, k.entryPoint),
      );
    }
  }

  it('conv (with and without the fused pool)', async () => {
    for (const pool of [false, true]) {
      const specs = [conv({ pool, n: 1, h: 8, w: 12 }), conv({ pool, n: 2, h: 6, w: 4 })];
      const kernels = specs.map((s) => convKernels(s, target));
      samePipelines(kernels[0]!, kernels[1]!);
      for (const [i, s] of specs.entries()) {
        const x = randomArray(s.n * s.cin * s.h * s.w, seed++, 1);
        const w = randomArray(s.cout * s.cin * 9, seed++, 1 / Math.sqrt(s.cin * 9));
        const b = randomArray(s.cout, seed++, 0.5);
        const [oh, ow] = pool ? [s.h >> 1, s.w >> 1] : [s.h, s.w];
        const out = await runKernels(g, kernels[i]!, { x, w, b, y: s.n * s.cout * oh * ow }, ['y']);
        let ref = conv2dRef(Float64Array.from(x), Float64Array.from(w), Float64Array.from(b), s);
        if (pool) ref = maxpoolRef(ref, { n: s.n, c: s.cout, h: s.h, w: s.w });
        expect(relativeError(out['y']!, ref)).toBeLessThan(1e-5);
      }
    }
  });

  it('conv-valid: two map sizes, and the chunks of a split weight', async () => {
    const specs = [
      valid({ cin: 32, cout: 70, h: 8, w: 8 }),
      valid({ cin: 32, cout: 70, n: 2, h: 10, w: 7 }),
    ];
    // Split into 3 chunks so that each run also uses one pipeline for every chunk.
    const split = splitting(target, 32, 32 * 9);
    const kernels = specs.map((s) => convValidKernels(s, split));
    expect(kernels[0]!.length).toBe(3);
    samePipelines(kernels[0]!, kernels[1]!);
    expect(distinct(kernels[0]!)).toBe(1);
    for (const [i, s] of specs.entries()) {
      const x = randomArray(s.n * s.cin * s.h * s.w, seed++, 1);
      const w = randomArray(s.cout * s.cin * 9, seed++, 1 / Math.sqrt(s.cin * 9));
      const b = randomArray(s.cout, seed++, 0.5);
      const y = s.n * s.cout * (s.h - 2) * (s.w - 2);
      const out = await runKernels(g, kernels[i]!, { x, w, b, y }, ['y']);
      const ref = conv2dRef(Float64Array.from(x), Float64Array.from(w), Float64Array.from(b), {
        ...s,
        pad: 0,
      });
      expect(relativeError(out['y']!, ref)).toBeLessThan(1e-5);
    }
  });

  it('fc: batches 8 and 17, the weight split into chunks', async () => {
    const specs: FcSpec[] = [8, 17].map((n) => ({
      n,
      inFeatures: 256,
      outFeatures: 50,
      relu: true,
    }));
    const split = splitting(target, 20, 256);
    const kernels = specs.map((s) => fcKernels(s, split));
    expect(kernels[0]!.length).toBe(3);
    samePipelines(kernels[0]!, kernels[1]!);
    expect(distinct(kernels[0]!)).toBe(1);
    for (const [i, s] of specs.entries()) {
      const x = randomArray(s.n * s.inFeatures, seed++, 1);
      const w = randomArray(s.outFeatures * s.inFeatures, seed++, 1 / 16);
      const b = randomArray(s.outFeatures, seed++, 0.5);
      const out = await runKernels(g, kernels[i]!, { x, w, b, y: s.n * s.outFeatures }, ['y']);
      expect(relativeError(out['y']!, fcRef(x, w, b, s))).toBeLessThan(1e-5);
    }
  });

  it('lrn, softmax, relu', async () => {
    const lrns: LrnSpec[] = [
      { n: 1, c: 7, h: 4, w: 4, size: 5, alpha: 1e-2, beta: 0.75, k: 2 },
      { n: 2, c: 7, h: 6, w: 2, size: 5, alpha: 1e-2, beta: 0.75, k: 2 },
    ];
    const lrnKs = lrns.map((s) => lrnKernels(s, target));
    samePipelines(lrnKs[0]!, lrnKs[1]!);
    for (const [i, s] of lrns.entries()) {
      const x = randomArray(s.n * s.c * s.h * s.w, seed++, 2);
      const out = await runKernels(g, lrnKs[i]!, { x, y: x.length }, ['y']);
      expect(relativeError(out['y']!, lrnRef(x, s))).toBeLessThan(1e-5);
    }

    const softmaxes = [3, 5].map((n) => ({ n, classes: 10 }));
    const smKs = softmaxes.map((s) => softmaxKernels(s, target));
    samePipelines(smKs[0]!, smKs[1]!);
    for (const [i, s] of softmaxes.entries()) {
      const x = randomArray(s.n * s.classes, seed++, 3);
      const out = await runKernels(g, smKs[i]!, { x, y: x.length }, ['y']);
      expect(relativeError(out['y']!, softmaxRef(x, s))).toBeLessThan(1e-5);
    }

    for (const counts of [
      [12, 40],
      [13, 41],
    ]) {
      const ks = counts.map((count) => reluKernels({ count }, target));
      samePipelines(ks[0]!, ks[1]!);
      for (const [i, count] of counts.entries()) {
        const x = randomArray(count, seed++, 1);
        const out = await runKernels(g, ks[i]!, { x, y: count }, ['y']);
        const ref = Float64Array.from(x, (v) => Math.max(v, 0));
        expect(relativeError(out['y']!, ref)).toBe(0);
      }
    }
  });
});

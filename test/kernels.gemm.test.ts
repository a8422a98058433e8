/**
 * The matrix-product kernels (compiler/wgsl/gemm.ts) against the float64 references of the
 * layers they compute: 1x1 convolution (test/reference/conv.ts), FC forward with ReLU and the
 * fused dropout (test/reference/fc.ts, test/reference/dropout.ts), FC data and weight gradients
 * (test/reference/fc-backward.ts).
 *
 * Every run uploads fresh random inputs (never zeros) and NaN-poisoned outputs (the harness does),
 * so an element left unwritten fails. The assertion is max |gpu - ref| / max |ref| <= 1e-5 over
 * the whole output: sums run in f32 over at most a few hundred terms of inputs of scale ~1, so the
 * rounding error relative to the output's scale stays near 1e-6; per-element relative error is
 * meaningless for outputs near zero (ReLU, cancellation). Sizes are not multiples of the tiles
 * (rows, vec4 columns, samples), batches 8, 13 and 16, weights split into chunks by a tiny
 * binding limit, every tuning APPLICABLE offers (on one shape each), with subgroups and without.
 * Also: one module serves two batch sizes (the batch is a run-time size).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { FcSpec } from '../compiler/wgsl/fc.js';
import { fcChunks } from '../compiler/wgsl/fc.js';
import {
  applicableGemm,
  gemmConv1x1Kernels,
  gemmFcBackwardDataKernels,
  gemmFcBackwardWeightKernels,
  gemmFcKernels,
  type GemmTuning,
} from '../compiler/wgsl/gemm.js';
import type { ConvSpec } from '../compiler/wgsl/conv.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { APPLICABLE } from '../compiler/algorithms.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { relativeError } from './helpers.js';
import { conv2dRef } from './reference/conv.js';
import { dropoutMaskRef, dropoutRef } from './reference/dropout.js';
import { fcBackwardDataRef, fcBackwardWeightRef } from './reference/fc-backward.js';
import { fcRef } from './reference/fc.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const TOL = 1e-5;
let seed = 51000;
const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

/** The target's limits with a binding limit that splits a weight of `rowBytes` x rows. */
const tiny = (t: TargetInfo, bytes: number): TargetInfo => ({
  ...t,
  maxStorageBufferBindingSize: bytes,
});

/** The target, and the same without subgroups (every lane loads the shared operand). */
const variants = (t: TargetInfo): [string, TargetInfo][] =>
  t.subgroups
    ? [
        ['subgroups', t],
        ['no subgroups', { ...t, subgroups: false }],
      ]
    : [['no subgroups', t]];

async function conv1x1Error(g: Gpu, spec: ConvSpec, target: TargetInfo, tuning: GemmTuning) {
  const { n, cin, h, w, cout } = spec;
  const x = randomArray(n * cin * h * w, seed++, 1);
  const wt = randomArray(cout * cin, seed++, 1 / Math.sqrt(cin));
  const b = randomArray(cout, seed++, 0.5);
  const kernels = gemmConv1x1Kernels(spec, target, tuning);
  const out = await runKernels(g, kernels, { x, w: wt, b, y: n * cout * h * w }, ['y']);
  return relativeError(out['y']!, conv2dRef(f64(x), f64(wt), f64(b), spec));
}

/** Every tuning on the first shape of a list, the default (first) one on the others: each
 * distinct module costs a shader compile (seconds on lavapipe). */
const some = <T>(shape: number, tunings: readonly T[]): readonly T[] =>
  shape === 0 ? tunings : tunings.slice(0, 1);

const conv1 = (n: number, cin: number, h: number, w: number, cout: number, relu: boolean) =>
  ({ n, cin, h, w, cout, kernel: 1, pad: 0, relu }) as const satisfies ConvSpec;

const fc = (n: number, inFeatures: number, outFeatures: number, relu: boolean): FcSpec => ({
  n,
  inFeatures,
  outFeatures,
  relu,
});

describe('gemm kernels', async () => {
  const g = await acquireGpu();
  const target = targetOf(g);

  describe('1x1 convolution', () => {
    const shapes = [
      conv1(1, 5, 3, 5, 19, false), // HW = 15: scalar columns; 19 rows: a partial row block
      conv1(2, 16, 4, 4, 24, true), // vec4 columns
      conv1(3, 33, 7, 7, 17, true), // HW = 49, 33 input channels
      conv1(8, 12, 6, 6, 40, false), // batch 8, HW = 36 (9 vec4s, not a multiple of tj 2)
    ];
    for (const [label, t] of variants(target)) {
      for (const [i, s] of shapes.entries()) {
        const layer = { op: 'conv', ...s, kernel: 1, pad: 0 };
        for (const tuning of some(i, applicableGemm(layer, t))) {
          it(`n${s.n} ${s.cin}->${s.cout} ${s.h}x${s.w} ${JSON.stringify(tuning)} (${label})`, async () => {
            expect(await conv1x1Error(g, s, t, tuning)).toBeLessThanOrEqual(TOL);
          });
        }
      }
    }

    it('serves two batch sizes and two spatial sizes with one module', async () => {
      const a = gemmConv1x1Kernels(conv1(2, 8, 4, 4, 16, true), target)[0]!;
      const b = gemmConv1x1Kernels(conv1(5, 8, 4, 8, 16, true), target)[0]!;
      expect(a.code).toBe(b.code);
      expect(a.uniforms!.values).not.toEqual(b.uniforms!.values);
      expect(await conv1x1Error(g, conv1(5, 8, 4, 8, 16, true), target, {})).toBeLessThanOrEqual(
        TOL,
      );
    });

    it('refuses what it does not compute', () => {
      expect(() =>
        gemmConv1x1Kernels({ ...conv1(1, 4, 4, 4, 4, false), pool: true }, target),
      ).toThrow(/1x1/);
      expect(
        applicableGemm({ ...conv1(1, 4, 4, 4, 4, false), op: 'conv', kernel: 3, pad: 1 }, target),
      ).toEqual([]);
      expect(
        applicableGemm({ ...conv1(1, 4, 4, 4, 4, false), op: 'conv', pool: true }, target),
      ).toEqual([]);
    });
  });

  describe('FC forward', () => {
    async function fcError(spec: FcSpec, t: TargetInfo, tuning: GemmTuning) {
      const { n, inFeatures: IN, outFeatures: OUT } = spec;
      const x = randomArray(n * IN, seed++, 1);
      const w = randomArray(OUT * IN, seed++, 1 / Math.sqrt(IN));
      const b = randomArray(OUT, seed++, 0.5);
      const tensors: Record<string, Float32Array | number> = { x, w, b, y: n * OUT };
      let ref = fcRef(x, w, b, spec);
      if (spec.dropout) {
        const [s, step, stream] = [seed++, 3, 7];
        tensors.params = new Float32Array(new Uint32Array([s, step, stream, 0]).buffer);
        const mask = dropoutMaskRef(n * OUT, spec.dropout.p, s, step, stream);
        ref = dropoutRef(ref, mask, spec.dropout.p);
      }
      const kernels = gemmFcKernels(spec, t, tuning);
      const out = await runKernels(g, kernels, tensors, ['y']);
      return { err: relativeError(out['y']!, ref), kernels };
    }
    const shapes = [
      fc(8, 100, 33, true), // vec4 rows, 33 outputs (not a multiple of the row tile)
      fc(13, 25, 10, false), // scalar rows, a second batch tile of 5
      fc(16, 64, 7, true),
    ];
    for (const [label, t] of variants(target)) {
      for (const [i, s] of shapes.entries()) {
        const layer = {
          op: 'fc',
          n: s.n,
          cin: s.inFeatures,
          cout: s.outFeatures,
          h: 1,
          w: 1,
          kernel: 1,
          pad: 0,
        };
        for (const tuning of some(i, applicableGemm(layer, t))) {
          it(`n${s.n} ${s.inFeatures}->${s.outFeatures} ${JSON.stringify(tuning)} (${label})`, async () => {
            expect((await fcError(s, t, tuning)).err).toBeLessThanOrEqual(TOL);
          });
        }
      }
      it(`fused dropout, batch 13 (${label})`, async () => {
        const s = { ...fc(13, 40, 21, true), dropout: { p: 0.25 } };
        expect((await fcError(s, t, {})).err).toBeLessThanOrEqual(TOL);
      });
      it(`weights split into chunks (${label})`, async () => {
        // 64 inputs = 256 bytes a row; a 4 KiB binding limit holds 16 rows: 3 chunks for 40.
        const small = tiny(t, 4096);
        const s = fc(13, 64, 40, true);
        const { err, kernels } = await fcError(s, small, {});
        expect(kernels.length).toBe(fcChunks(s, small).length);
        expect(kernels.length).toBe(3);
        expect(err).toBeLessThanOrEqual(TOL);
        // The chunks differ only in their uniforms: one module.
        expect(new Set(kernels.map((k) => k.code)).size).toBe(1);
      });
    }

    it('serves batches 8 and 13 with one module', async () => {
      const a = gemmFcKernels(fc(8, 48, 20, true), target)[0]!;
      const b = gemmFcKernels(fc(13, 48, 20, true), target)[0]!;
      expect(a.code).toBe(b.code);
      expect((await fcError(fc(13, 48, 20, true), target, {})).err).toBeLessThanOrEqual(TOL);
    });

    it('applies at batch 8 and more only', () => {
      const layer = { op: 'fc', n: 7, cin: 64, cout: 10, h: 1, w: 1, kernel: 1, pad: 0 };
      expect(applicableGemm(layer, target)).toEqual([]);
      expect(applicableGemm({ ...layer, n: 8 }, target).length).toBeGreaterThan(0);
      expect(APPLICABLE.gemm({ ...layer, n: 8 }, target).length).toBeGreaterThan(0);
      for (const op of ['fc-grad-data', 'fc-grad-weight']) {
        expect(applicableGemm({ ...layer, op }, target)).toEqual([]);
        expect(applicableGemm({ ...layer, op, n: 8 }, target).length).toBeGreaterThan(0);
      }
    });
  });

  describe('FC gradients', () => {
    async function dataError(spec: FcSpec & { mask?: boolean }, t: TargetInfo, tuning: GemmTuning) {
      const { n, inFeatures: IN, outFeatures: OUT } = spec;
      const dy = randomArray(n * OUT, seed++, 1);
      const w = randomArray(OUT * IN, seed++, 1 / Math.sqrt(OUT));
      const tensors: Record<string, Float32Array | number> = { dy, w, dx: n * IN };
      let maskSrc: Float32Array | undefined;
      if (spec.mask) tensors.mask_src = maskSrc = randomArray(n * IN, seed++, 1);
      const kernels = gemmFcBackwardDataKernels(spec, t, tuning);
      const out = await runKernels(g, kernels, tensors, ['dx']);
      return { err: relativeError(out['dx']!, fcBackwardDataRef(dy, w, spec, maskSrc)), kernels };
    }
    async function weightErrors(spec: FcSpec, t: TargetInfo, tuning: GemmTuning) {
      const { n, inFeatures: IN, outFeatures: OUT } = spec;
      const x = randomArray(n * IN, seed++, 1);
      const dy = randomArray(n * OUT, seed++, 1);
      const kernels = gemmFcBackwardWeightKernels(spec, t, tuning);
      const out = await runKernels(g, kernels, { x, dy, dw: OUT * IN, db: OUT }, ['dw', 'db']);
      const ref = fcBackwardWeightRef(x, dy, spec);
      return {
        dw: relativeError(out['dw']!, ref.dw, 'dw'),
        db: relativeError(out['db']!, ref.db, 'db'),
        kernels,
      };
    }
    const shapes = [fc(8, 100, 33, false), fc(13, 25, 10, false), fc(16, 36, 19, false)];
    for (const [label, t] of variants(target)) {
      for (const [i, s] of shapes.entries()) {
        const base = {
          n: s.n,
          cin: s.inFeatures,
          cout: s.outFeatures,
          h: 1,
          w: 1,
          kernel: 1,
          pad: 0,
        };
        for (const tuning of some(i, applicableGemm({ ...base, op: 'fc-grad-data' }, t))) {
          for (const mask of [false, true]) {
            it(`data n${s.n} ${s.inFeatures}->${s.outFeatures}${mask ? ' mask' : ''} ${JSON.stringify(tuning)} (${label})`, async () => {
              expect((await dataError({ ...s, mask }, t, tuning)).err).toBeLessThanOrEqual(TOL);
            });
          }
        }
        for (const tuning of some(i, applicableGemm({ ...base, op: 'fc-grad-weight' }, t))) {
          it(`weight n${s.n} ${s.inFeatures}->${s.outFeatures} ${JSON.stringify(tuning)} (${label})`, async () => {
            const e = await weightErrors(s, t, tuning);
            expect(e.dw).toBeLessThanOrEqual(TOL);
            expect(e.db).toBeLessThanOrEqual(TOL);
          });
        }
      }
      it(`weights split into chunks (${label})`, async () => {
        const small = tiny(t, 4096);
        const s = fc(13, 64, 40, false);
        const d = await dataError({ ...s, mask: true }, small, {});
        expect(d.kernels.length).toBe(3);
        expect(d.err).toBeLessThanOrEqual(TOL);
        const w = await weightErrors(s, small, {});
        expect(w.kernels.length).toBe(3);
        expect(w.dw).toBeLessThanOrEqual(TOL);
        expect(w.db).toBeLessThanOrEqual(TOL);
      });
    }

    it('serve batches 8 and 13 with one module', () => {
      const a = gemmFcBackwardWeightKernels(fc(8, 48, 20, false), target)[0]!;
      const b = gemmFcBackwardWeightKernels(fc(13, 48, 20, false), target)[0]!;
      expect(a.code).toBe(b.code);
    });
  });
});

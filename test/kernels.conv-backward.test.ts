/**
 * The convolution backward kernels (compiler/wgsl/conv-backward.ts) against float64 references
 * (test/reference/conv-backward.ts), on whatever adapter this machine has (lavapipe on CI), both
 * with subgroupBroadcast and without.
 *
 * First the references themselves are proven: with y = conv(x, w) + b (float64 reference
 * forward) and L = sum(y * g) for a fixed random g, dL/dy = g, so the references' dx, dw and db
 * for dy = g must match central differences of L (eps 1e-6, float64); likewise the ReLU mask,
 * with L = sum(conv(relu(z), w) * g) and dL/dz = dx masked by relu(z) > 0.
 *
 * Then every GPU run uploads fresh random inputs (never zeros), poisons the outputs and the
 * scratch with NaN (the harness does), and compares: max |gpu - ref| / max |ref| < 1e-4 over
 * each output. NaN anywhere fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  convBackwardDataKernels,
  convBackwardScratch,
  convBackwardWeightKernels,
  type ConvBackwardTuning,
} from '../compiler/wgsl/conv-backward.js';
import type { ConvSpec } from '../compiler/wgsl/conv.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf as deviceTarget, type Gpu } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { conv2dRef } from './reference/conv.js';
import {
  convBackwardBiasRef,
  convBackwardDataRef,
  convBackwardWeightRef,
} from './reference/conv-backward.js';
import { randomArray } from './reference/random.js';
import { relativeError as relErr } from './helpers.js';

afterAll(releaseGpu);

const targetOf = (g: Gpu, subgroups: boolean): TargetInfo => ({
  ...deviceTarget(g),
  subgroups: subgroups && g.subgroups,
});

const conv = (
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  kernel: 1 | 3,
): ConvSpec => ({
  n,
  cin,
  h,
  w,
  cout,
  kernel,
  pad: kernel === 3 ? 1 : 0,
  relu: false,
});

const name = (s: ConvSpec): string =>
  `n${s.n} cin${s.cin} ${s.h}x${s.w} cout${s.cout} k${s.kernel}`;

/** Tiny shapes for the finite-difference checks (also run on the GPU below). */
const FD_SHAPES: ConvSpec[] = [
  conv(2, 2, 3, 4, 3, 3),
  conv(1, 3, 2, 5, 2, 1),
  conv(1, 1, 1, 3, 2, 3),
];

const SHAPES: ConvSpec[] = [
  ...FD_SHAPES,
  conv(1, 3, 8, 8, 8, 3), // a first layer, small: few invocations, split pixel rows
  conv(3, 5, 7, 9, 7, 3), // batch 3, odd channels and sizes
  conv(2, 7, 1, 6, 5, 3), // H = 1
  conv(1, 16, 13, 1, 12, 1), // W = 1, 1x1
  conv(3, 24, 6, 12, 20, 1), // 1x1, two input-channel blocks
  conv(2, 20, 9, 10, 36, 3), // full tiles; channels past one block, not multiples of it
];

// The mask only changes the store: shapes with small kernels (compile time).
const MASK_SHAPES: ConvSpec[] = [SHAPES[4]!, SHAPES[5]!, SHAPES[7]!];

let seed = 1000;
const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

/** A mask source with about half of its values <= 0 (a third of those exactly 0). */
function maskSource(count: number): Float32Array {
  const m = randomArray(count, seed++, 1);
  for (let i = 0; i < count; i++) if (m[i]! < 0 && i % 3 === 0) m[i] = 0;
  return m;
}

describe('conv backward references (finite differences)', () => {
  const EPS = 1e-6;
  /** Central difference of f at v[i]. */
  const central = (v: Float64Array, i: number, f: () => number): number => {
    const keep = v[i]!;
    v[i] = keep + EPS;
    const plus = f();
    v[i] = keep - EPS;
    const minus = f();
    v[i] = keep;
    return (plus - minus) / (2 * EPS);
  };
  const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

  for (const spec of FD_SHAPES) {
    it(`dx, dw, db of L = sum(conv(x, w) + b) * g), ${name(spec)}`, () => {
      const { n, cin, h, w, cout, kernel: k } = spec;
      const x = f64(randomArray(n * cin * h * w, seed++, 1));
      const wt = f64(randomArray(cout * cin * k * k, seed++, 0.5));
      const b = f64(randomArray(cout, seed++, 0.5));
      const g = f64(randomArray(n * cout * h * w, seed++, 1));
      const L = (): number => dot(conv2dRef(x, wt, b, spec), g);
      const grads: [string, Float64Array, Float64Array][] = [
        ['dx', x, convBackwardDataRef(g, wt, spec)],
        ['dw', wt, convBackwardWeightRef(x, g, spec)],
        ['db', b, convBackwardBiasRef(g, spec)],
      ];
      for (const [what, v, grad] of grads) {
        const fd = new Float64Array(v.length);
        for (let i = 0; i < v.length; i++) fd[i] = central(v, i, L);
        expect(relErr(grad, fd, what), what).toBeLessThan(1e-7);
      }
    });

    it(`dx masked by the previous ReLU: L = sum(conv(relu(z), w) * g), ${name(spec)}`, () => {
      const { n, cin, h, w, cout, kernel: k } = spec;
      // |z| >= 0.1: no difference step crosses the kink at 0.
      const z = f64(randomArray(n * cin * h * w, seed++, 1)).map((v) =>
        v < 0 ? v - 0.1 : v + 0.1,
      );
      const wt = f64(randomArray(cout * cin * k * k, seed++, 0.5));
      const b = new Float64Array(cout);
      const g = f64(randomArray(n * cout * h * w, seed++, 1));
      const relu = (): Float64Array => z.map((v) => Math.max(0, v));
      const L = (): number => dot(conv2dRef(relu(), wt, b, spec), g);
      const fd = new Float64Array(z.length);
      for (let i = 0; i < z.length; i++) fd[i] = central(z, i, L);
      const grad = convBackwardDataRef(g, wt, spec, relu());
      expect(relErr(grad, fd, 'dz')).toBeLessThan(1e-7);
      expect(grad.some((v) => v === 0) && grad.some((v) => v !== 0)).toBe(true);
    });
  }
});

describe('conv backward kernels', async () => {
  const g = await acquireGpu();

  /** Runs the data and weight gradients of one convolution; returns the relative errors. */
  async function errors(
    spec: ConvSpec,
    target: TargetInfo,
    reluMask: boolean,
    tuning: ConvBackwardTuning = {},
  ): Promise<{ dx: number; dw: number; db: number }> {
    const { n, cin, h, w, cout, kernel: k } = spec;
    const x = reluMask ? maskSource(n * cin * h * w) : randomArray(n * cin * h * w, seed++, 1);
    const wt = randomArray(cout * cin * k * k, seed++, 1 / Math.sqrt(cin * k * k));
    const dy = randomArray(n * cout * h * w, seed++, 1);
    const dataKernels = convBackwardDataKernels({ ...spec, mask: reluMask }, target, tuning);
    const weightKernels = convBackwardWeightKernels(spec, target, tuning);
    const tensors: Record<string, Float32Array | number> = {
      x,
      w: wt,
      dy,
      dx: n * cin * h * w,
      dw: cout * cin * k * k,
      db: cout,
    };
    if (reluMask) tensors['mask_src'] = x;
    for (const s of convBackwardScratch(spec, target, tuning)) tensors[s.tensor] = s.bytes / 4;
    const out = await runKernels(g, [...dataKernels, ...weightKernels], tensors, [
      'dx',
      'dw',
      'db',
    ]);
    const dxRef = convBackwardDataRef(f64(dy), f64(wt), spec, reluMask ? f64(x) : undefined);
    if (reluMask) {
      // The mask zeroed about half of dx, exactly.
      let masked = 0;
      for (let i = 0; i < x.length; i++) {
        if (x[i]! > 0) continue;
        masked++;
        expect(out['dx']![i]).toBe(0);
      }
      expect(masked).toBeGreaterThan(x.length / 4);
    }
    return {
      dx: relErr(out['dx']!, dxRef, 'dx'),
      dw: relErr(out['dw']!, convBackwardWeightRef(f64(x), f64(dy), spec), 'dw'),
      db: relErr(out['db']!, convBackwardBiasRef(f64(dy), spec), 'db'),
    };
  }

  const expectSmall = (e: { dx: number; dw: number; db: number }): void => {
    expect(e.dx, 'dx').toBeLessThan(1e-4);
    expect(e.dw, 'dw').toBeLessThan(1e-4);
    expect(e.db, 'db').toBeLessThan(1e-4);
  };

  it('has header comments, bindings, flops, bytes and scratch', () => {
    const spec = conv(8, 64, 56, 56, 64, 3);
    for (const sg of [true, false]) {
      const t = targetOf(g, sg);
      for (const reluMask of [false, true]) {
        const [k, ...rest] = convBackwardDataKernels({ ...spec, mask: reluMask }, t);
        expect(rest.length).toBe(0);
        expect(k!.name).toBe(`conv3x3_bwd_data_c64_k64_56x56_n8${reluMask ? '_relumask' : ''}`);
        expect(k!.code.startsWith(`// ${k!.name.replace('_n8', '')}:`)).toBe(true);
        expect(k!.bindings.map((b) => b.tensor)).toEqual([
          'dy',
          'w',
          'dx',
          ...(reluMask ? ['mask_src'] : []),
        ]);
        expect(k!.flops).toBe(2 * 8 * 56 * 56 * 64 * 64 * 9);
        expect(k!.code.includes('subgroupBroadcast')).toBe(sg && g.subgroups);
      }
      const ks = convBackwardWeightKernels(spec, t);
      const scratch = convBackwardScratch(spec, t);
      for (const k of ks) expect(k.code.startsWith(`// ${k.name.replace('_n8', '')}:`)).toBe(true);
      expect(ks[0]!.flops).toBe(2 * 8 * 56 * 56 * 64 * 64 * 9 + 8 * 56 * 56 * 64);
      if (ks.length === 1) {
        expect(scratch).toEqual([]);
        expect(ks[0]!.bindings.map((b) => b.tensor)).toEqual(['x', 'dy', 'dw', 'db']);
      } else {
        const S = Number(/_s(\d+)$/.exec(ks[0]!.name)![1]);
        expect(scratch).toEqual([{ tensor: 'dwb_partial', bytes: 4 * S * (64 * 64 * 9 + 64) }]);
        expect(ks[0]!.bindings.map((b) => b.tensor)).toEqual(['x', 'dy', 'dwb_partial']);
        expect(ks[1]!.bindings.map((b) => b.tensor)).toEqual(['dwb_partial', 'dw', 'db']);
      }
    }
    // Small channel counts split the pixel rows; a single chunk needs no scratch.
    const small = conv(4, 3, 32, 32, 16, 3);
    expect(convBackwardWeightKernels(small, targetOf(g, true)).length).toBe(2);
    expect(convBackwardWeightKernels(small, targetOf(g, true), { splits: 1 }).length).toBe(1);
    expect(convBackwardScratch(small, targetOf(g, true), { splits: 1 })).toEqual([]);
  });

  it('rejects specs it cannot run', () => {
    const t = targetOf(g, true);
    expect(() => convBackwardDataKernels({ ...conv(1, 3, 8, 8, 8, 3), pad: 0 }, t)).toThrow(
      /pad 1/,
    );
    expect(() => convBackwardWeightKernels(conv(1, 0, 8, 8, 8, 3), t)).toThrow(/cin/);
    const huge = { ...t, maxStorageBufferBindingSize: 1024 };
    expect(() => convBackwardDataKernels(conv(1, 3, 16, 16, 8, 3), huge)).toThrow(
      /maxStorageBuffer/,
    );
  });

  const variants: [string, boolean][] = [
    ['subgroups', true],
    ['plain', false],
  ];
  for (const [label, sg] of variants) {
    describe(label, () => {
      // Subgroup variants need the feature: reported as skipped on an adapter without it.
      const it = variantIt(g, { subgroups: sg });
      for (const spec of SHAPES) {
        it(`dx, dw, db: ${name(spec)}`, async () => {
          expectSmall(await errors(spec, targetOf(g, sg), false));
        });
      }
      for (const spec of MASK_SHAPES) {
        it(`dx with ReLU mask: ${name(spec)}`, async () => {
          expectSmall(await errors(spec, targetOf(g, sg), true));
        });
      }
    });
  }

  // With subgroups when the adapter has them, else plain.
  describe('tuning variants', () => {
    const cases: [ConvSpec, ConvBackwardTuning][] = [
      [SHAPES[4]!, { splits: 1 }], // one chunk: dw and db written directly
      [SHAPES[4]!, { splits: 4 }], // chunks of 6 pixel rows, crossing images
      [SHAPES[8]!, { ciTile: 4, rows: 3, coTile: 4, workgroupSize: 8 }],
    ];
    for (const [spec, tuning] of cases) {
      it(`${JSON.stringify(tuning)} ${name(spec)}`, async () => {
        expectSmall(await errors(spec, targetOf(g, true), false, tuning));
      });
    }
  });
});

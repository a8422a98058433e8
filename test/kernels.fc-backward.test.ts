/**
 * The FC backward kernels (compiler/wgsl/fc-backward.ts) against float64 references, with
 * subgroupBroadcast and without, including weights split into several bindings. The references
 * themselves are first checked by central finite differences on tiny shapes.
 *
 * Every run uploads fresh random inputs (never zeros) and NaN-poisoned outputs (the harness does),
 * and requires max |gpu - ref| / max |ref| < 1e-4 over the whole output. NaN anywhere fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { fcBackwardDataKernels, fcBackwardWeightKernels } from '../compiler/wgsl/fc-backward.js';
import type { FcSpec } from '../compiler/wgsl/fc.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { fcRef } from './reference/fc.js';
import { fcBackwardDataRef, fcBackwardWeightRef } from './reference/fc-backward.js';
import { randomArray } from './reference/random.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

const fc = (n: number, inFeatures: number, outFeatures: number): FcSpec => ({
  n,
  inFeatures,
  outFeatures,
  relu: false,
});

const SHAPES: FcSpec[] = [
  fc(1, 64, 16), // vec4 columns, rows a multiple of 4
  fc(2, 105, 7), // scalar columns (in % 4 != 0), a row tail of 3
  fc(3, 256, 33), // batch tile of 3, row tail of 1
  fc(8, 512, 40), // a full batch tile
  fc(9, 100, 13), // two batch tiles; weight kernel: batch main loop + tail of 1
  fc(5, 1026, 100), // in % 4 == 2: scalar path, several column groups
  fc(1, 4100, 130), // many column groups
  fc(2, 3, 5), // fewer columns than lanes
  fc(16, 20, 3), // weight kernel: 4 broadcast rounds, no tail
];

const name = (s: FcSpec): string => `n${s.n} in${s.inFeatures} out${s.outFeatures}`;

let seed = 7000;

/** Random values whose magnitude is at least 0.1 (finite differences stay off the ReLU kink). */
function awayFromZero(n: number, s: number): Float64Array {
  return Float64Array.from(randomArray(n, s, 1), (v) => (v < 0 ? v - 0.1 : v + 0.1));
}

async function dataError(g: Gpu, spec: FcSpec, target: TargetInfo, mask: boolean) {
  const { n, inFeatures: IN, outFeatures: OUT } = spec;
  const dy = randomArray(n * OUT, seed++, 1);
  const w = randomArray(OUT * IN, seed++, 1 / Math.sqrt(OUT));
  const maskSrc = randomArray(n * IN, seed++, 1); // about half the elements masked
  const tensors = { dy, w, dx: n * IN, ...(mask ? { mask_src: maskSrc } : {}) };
  const ks = fcBackwardDataKernels({ ...spec, mask }, target);
  const out = await runKernels(g, ks, tensors, ['dx']);
  return compare(out['dx']!, fcBackwardDataRef(dy, w, spec, mask ? maskSrc : undefined));
}

async function weightError(g: Gpu, spec: FcSpec, target: TargetInfo) {
  const { n, inFeatures: IN, outFeatures: OUT } = spec;
  const x = randomArray(n * IN, seed++, 1);
  const dy = randomArray(n * OUT, seed++, 1);
  const ks = fcBackwardWeightKernels(spec, target);
  const out = await runKernels(g, ks, { x, dy, dw: OUT * IN, db: OUT }, ['dw', 'db']);
  const ref = fcBackwardWeightRef(x, dy, spec);
  return Math.max(compare(out['dw']!, ref.dw), compare(out['db']!, ref.db));
}

describe('fc backward references (float64 central differences)', () => {
  const spec = fc(3, 5, 4);
  const eps = 1e-6;
  const x = awayFromZero(3 * 5, 11);
  const w = Float64Array.from(randomArray(4 * 5, 12, 1));
  const b = Float64Array.from(randomArray(4, 13, 1));
  const dy = Float64Array.from(randomArray(3 * 4, 14, 1));
  /** L = sum dy * fc(relu?(x), w, b): its gradients are the references' outputs. */
  const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array, relu: boolean): number => {
    const xin = relu ? xx.map((v) => Math.max(0, v)) : xx;
    return fcRef(xin, ww, bb, spec).reduce((s, y, i) => s + y * dy[i]!, 0);
  };
  const numeric = (arr: Float64Array, f: () => number): Float64Array =>
    arr.map((_, i) => {
      const keep = arr[i]!;
      arr[i] = keep + eps;
      const up = f();
      arr[i] = keep - eps;
      const down = f();
      arr[i] = keep;
      return (up - down) / (2 * eps);
    });
  const close = (a: Float64Array, b2: Float64Array): void => {
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b2[i]!)).toBeLessThan(1e-7);
  };

  it('dx', () =>
    close(
      fcBackwardDataRef(dy, w, spec),
      numeric(x, () => loss(x, w, b, false)),
    ));
  it('dx with the ReLU mask of the input (mask_src = pre-ReLU input)', () =>
    close(
      fcBackwardDataRef(dy, w, spec, x),
      numeric(x, () => loss(x, w, b, true)),
    ));
  it('dw and db', () => {
    const ref = fcBackwardWeightRef(x, dy, spec);
    close(
      ref.dw,
      numeric(w, () => loss(x, w, b, false)),
    );
    close(
      ref.db,
      numeric(b, () => loss(x, w, b, false)),
    );
  });
});

describe('fc backward kernels', async () => {
  const g = await acquireGpu();

  it('have header comments, flops and bytes', () => {
    const [d, ...r1] = fcBackwardDataKernels(fc(2, 4096, 1000), targetOf(g));
    const [wk, ...r2] = fcBackwardWeightKernels(fc(2, 4096, 1000), targetOf(g));
    expect(r1).toEqual([]);
    expect(r2).toEqual([]);
    // The header names the layer without the batch, which the code reads at run time.
    expect(d!.code.startsWith('// fc_bwd_data_4096x1000:')).toBe(true);
    expect(wk!.code.startsWith('// fc_bwd_weight_4096x1000:')).toBe(true);
    expect(d!.name).toBe('fc_bwd_data_4096x1000_n2');
    expect(d!.flops).toBe(2 * 2 * 4096 * 1000);
    expect(d!.bytes).toBe(4 * (4096 * 1000 + 2 * 1000 + 2 * 4096));
    expect(wk!.name).toBe('fc_bwd_weight_4096x1000_n2');
    expect(wk!.flops).toBe(2 * 2 * 4096 * 1000 + 2 * 1000);
    expect(wk!.bindings.map((x) => x.tensor)).toEqual(['x', 'dy', 'dw', 'db']);
    const masked = fcBackwardDataKernels({ ...fc(2, 4096, 1000), mask: true }, targetOf(g));
    expect(masked[0]!.bindings.map((x) => x.tensor)).toEqual(['dy', 'w', 'dx', 'mask_src']);
  });

  it("split VGG-16's FC6 like the forward: 4 aligned chunks under 128 MiB", () => {
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 128 * 1024 * 1024 };
    for (const [ks, t] of [
      [fcBackwardDataKernels({ ...fc(1, 25088, 4096), mask: true }, target), 'w'],
      [fcBackwardWeightKernels(fc(1, 25088, 4096), target), 'dw'],
    ] as const) {
      expect(ks.length).toBe(4);
      let next = 0;
      for (const k of ks) {
        const wb = k.bindings.find((b) => b.tensor === t)!;
        expect(wb.offsetBytes).toBe(next);
        expect(wb.offsetBytes! % 256).toBe(0);
        expect(wb.sizeBytes!).toBeLessThanOrEqual(128 * 1024 * 1024);
        next += wb.sizeBytes!;
      }
      expect(next).toBe(25088 * 4096 * 4);
    }
    // Only the last data chunk applies the mask.
    const data = fcBackwardDataKernels({ ...fc(1, 25088, 4096), mask: true }, target);
    expect(data.map((k) => k.bindings.some((b) => b.tensor === 'mask_src'))).toEqual([
      false,
      false,
      false,
      true,
    ]);
  });

  for (const sg of [true, false]) {
    describe(sg ? 'subgroups' : 'plain', () => {
      // Subgroup variants need the feature: reported as skipped on an adapter without it.
      const it = variantIt(g, { subgroups: sg });
      const target = (): TargetInfo => ({ ...targetOf(g), subgroups: sg });
      for (const spec of SHAPES) {
        it(`data ${name(spec)}`, async () => {
          expect(await dataError(g, spec, target(), false)).toBeLessThan(1e-4);
          expect(await dataError(g, spec, target(), true)).toBeLessThan(1e-4);
        });
        it(`weight ${name(spec)}`, async () => {
          expect(await weightError(g, spec, target())).toBeLessThan(1e-4);
        });
      }

      // One test per shape: each chunk is its own pipeline, and lavapipe compiles each at its
      // first dispatch, so these are the slowest tests here.
      for (const spec of [fc(2, 1000, 50), fc(3, 300, 120), fc(5, 996, 70)]) {
        it(`split weight: 64 KiB bindings (fake limit), several chunks, ${name(spec)}`, async () => {
          const small = { ...target(), maxStorageBufferBindingSize: 64 * 1024 };
          const dks = fcBackwardDataKernels({ ...spec, mask: true }, small);
          const wks = fcBackwardWeightKernels(spec, small);
          expect(dks.length).toBeGreaterThan(2);
          expect(wks.length).toBe(dks.length);
          for (const k of [...dks, ...wks]) {
            const wb = k.bindings.find((b) => b.tensor === 'w' || b.tensor === 'dw')!;
            expect(wb.offsetBytes! % 256).toBe(0);
            expect(wb.sizeBytes!).toBeLessThanOrEqual(64 * 1024);
          }
          expect(await dataError(g, spec, small, false)).toBeLessThan(1e-4);
          expect(await dataError(g, spec, small, true)).toBeLessThan(1e-4);
          expect(await weightError(g, spec, small)).toBeLessThan(1e-4);
        });
      }
    });
  }

  it('tuning variants (batch tile, rows per lane, workgroup size)', async () => {
    const target = targetOf(g);
    for (const spec of [SHAPES[2]!, SHAPES[4]!, SHAPES[5]!]) {
      for (const options of [{ batchTile: 1 }, { batchTile: 3, workgroupSize: 8 }]) {
        const { n, inFeatures: IN, outFeatures: OUT } = spec;
        const dy = randomArray(n * OUT, seed++, 1);
        const w = randomArray(OUT * IN, seed++, 0.1);
        const ks = fcBackwardDataKernels(spec, target, options);
        const out = await runKernels(g, ks, { dy, w, dx: n * IN }, ['dx']);
        expect(compare(out['dx']!, fcBackwardDataRef(dy, w, spec))).toBeLessThan(1e-4);
      }
      for (const options of [{ rowsPerLane: 1 }, { rowsPerLane: 3, workgroupSize: 32 }]) {
        const { n, inFeatures: IN, outFeatures: OUT } = spec;
        const x = randomArray(n * IN, seed++, 1);
        const dy = randomArray(n * OUT, seed++, 1);
        const ks = fcBackwardWeightKernels(spec, target, options);
        const out = await runKernels(g, ks, { x, dy, dw: OUT * IN, db: OUT }, ['dw', 'db']);
        const ref = fcBackwardWeightRef(x, dy, spec);
        expect(compare(out['dw']!, ref.dw)).toBeLessThan(1e-4);
        expect(compare(out['db']!, ref.db)).toBeLessThan(1e-4);
      }
    }
  });

  it('a weight over 128 MiB on the real adapter: 9000 x 4000 floats (144 MB), both kernels', async () => {
    const spec = fc(2, 9000, 4000);
    const target = targetOf(g);
    expect(spec.inFeatures * spec.outFeatures * 4).toBeGreaterThan(128 * 1024 * 1024);
    expect(await dataError(g, spec, target, true)).toBeLessThan(1e-4);
    expect(await weightError(g, spec, target)).toBeLessThan(1e-4);
  });
});

/**
 * The GPU conv variants (compiler/wgsl/conv-tiled.ts, conv-f16.ts) against the float64 reference,
 * on whatever adapter this machine has (lavapipe on CI: it has shader-f16).
 *
 * Every run uploads fresh random x, w and b, poisons y with NaN (f32 or f16 NaNs), and compares
 * max |gpu - ref| / max |ref| over the whole output. The f16 kernel is checked twice: against the
 * reference on the f16-rounded inputs (what it was given: only y's own rounding, < 2^-11 of the
 * output's scale, and f32 sums remain) and against the reference on the f32 inputs (the accuracy
 * a user sees; docs/gpu.md reports it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ConvSpec } from '../compiler/wgsl/conv.js';
import { convF16Kernels } from '../compiler/wgsl/conv-f16.js';
import { convTiledKernels, type ConvTiledTuning } from '../compiler/wgsl/conv-tiled.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { relativeError } from './helpers.js';
import { conv2dRef } from './reference/conv.js';
import { f16Bits, packF16, poisonF16, toF16, unpackF16 } from './reference/f16.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

type Dims = [n: number, cin: number, h: number, w: number, cout: number, relu: boolean];
const conv = ([n, cin, h, w, cout, relu]: Dims): ConvSpec => ({
  n,
  cin,
  h,
  w,
  cout,
  kernel: 3,
  pad: 1,
  relu,
});

const SHAPES: [ConvSpec, ConvTiledTuning][] = [
  [conv([1, 3, 8, 8, 8, true]), {}], // one tile, fewer channels than a workgroup's block
  [conv([2, 5, 7, 9, 7, false]), {}], // odd sides and channel counts, two images
  [conv([1, 20, 18, 17, 40, true]), {}], // 2x2 tiles, three input-channel copies, a partial block
  [conv([1, 12, 10, 12, 16, false]), { tileW: 8, tileH: 4, coWg: 8, coT: 4, px: 1, py: 1 }],
  [conv([2, 9, 9, 11, 24, true]), { coT: 8, coWg: 16, px: 4, py: 1, ciChunk: 3 }],
];

const name = (s: ConvSpec, t: ConvTiledTuning) =>
  `n${s.n} cin${s.cin} ${s.h}x${s.w} cout${s.cout}${s.relu ? ' relu' : ''} ${JSON.stringify(t)}`;

let seed = 101;

function inputs(spec: ConvSpec) {
  const { n, cin, h, w, cout } = spec;
  return {
    x: randomArray(n * cin * h * w, seed++, 1),
    w: randomArray(cout * cin * 9, seed++, 1 / Math.sqrt(cin * 9)),
    b: randomArray(cout, seed++, 0.5),
  };
}

const ref = (spec: ConvSpec, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>) =>
  conv2dRef(Float64Array.from(x), Float64Array.from(w), Float64Array.from(b), spec);

describe('tiled conv (workgroup memory, f32)', async () => {
  const g = await acquireGpu();
  const target: TargetInfo = targetOf(g);

  it('is one kernel with a header comment, flops, bytes and four bindings', () => {
    const [k, ...rest] = convTiledKernels(conv([2, 64, 56, 56, 128, true]), target);
    expect(rest).toHaveLength(0);
    expect(k!.name).toBe('conv3x3_tiled_c64_k128_56x56_n2_relu');
    expect(k!.code.startsWith(`// ${k!.name}:`)).toBe(true);
    expect(k!.code).toContain('var<workgroup>');
    expect(k!.flops).toBe(2 * 2 * 128 * 56 * 56 * 64 * 9);
    expect(k!.bytes).toBe(4 * (2 * 64 * 56 * 56 + 128 * 64 * 9 + 128 + 2 * 128 * 56 * 56));
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['x', 'w', 'b', 'y']);
    // 4 x 4 tiles of 16x16 pixels, 4 blocks of 32 channels, one z slice per image
    expect(k!.dispatch).toEqual([64, 1, 2]);
  });

  for (const [spec, tuning] of SHAPES) {
    it(`matches the float64 reference: ${name(spec, tuning)}`, async () => {
      const { x, w, b } = inputs(spec);
      const ks = convTiledKernels(spec, target, tuning);
      const y = spec.n * spec.cout * spec.h * spec.w;
      const out = await runKernels(g, ks, { x, w, b, y }, ['y']);
      expect(relativeError(out['y']!, ref(spec, x, w, b))).toBeLessThan(1e-5);
    });
  }

  it('fails its comparison when a weight is wrong (the test can fail)', async () => {
    const spec = conv([1, 4, 6, 6, 8, false]);
    const { x, w, b } = inputs(spec);
    const expected = ref(spec, x, w, b);
    const bad = w.slice();
    bad[5]! += 0.5;
    const out = await runKernels(g, convTiledKernels(spec, target), { x, w: bad, b, y: 288 }, [
      'y',
    ]);
    expect(relativeError(out['y']!, expected)).toBeGreaterThan(1e-3);
  });

  it('rejects what it does not compute, with a clear message', () => {
    const ok = conv([1, 8, 8, 8, 8, false]);
    expect(() => convTiledKernels({ ...ok, kernel: 1, pad: 0 }, target)).toThrow(/only 3x3/);
    expect(() => convTiledKernels({ ...ok, pool: true }, target)).toThrow(/no fused pool/);
    expect(() => convTiledKernels({ ...ok, cin: 0 }, target)).toThrow(/cin must be/);
    expect(() => convTiledKernels(ok, target, { coT: 6 })).toThrow(/multiple of 4/);
    expect(() => convTiledKernels(ok, target, { coT: 8, coWg: 12 })).toThrow(/multiple of coT/);
    expect(() => convTiledKernels(ok, target, { px: 3 })).toThrow(/must divide/);
    expect(() =>
      convTiledKernels({ ...ok, cout: 64 }, { ...target, maxComputeInvocationsPerWorkgroup: 128 }),
    ).toThrow(/invocations per workgroup/);
    expect(() => convTiledKernels(ok, { ...target, maxComputeWorkgroupStorageSize: 1000 })).toThrow(
      /does not fit/,
    );
    expect(() =>
      convTiledKernels(conv([1, 64, 64, 64, 64, false]), {
        ...target,
        maxStorageBufferBindingSize: 1 << 19,
      }),
    ).toThrow(/maxStorageBufferBindingSize/);
  });

  it('copies fewer input channels at a time when workgroup memory is short', () => {
    const spec = conv([1, 16, 16, 16, 32, false]);
    const full = convTiledKernels(spec, target)[0]!.code;
    const small = convTiledKernels(spec, { ...target, maxComputeWorkgroupStorageSize: 8192 })[0]!
      .code;
    expect(full).toMatch(/8 input channels per copy/);
    expect(small).toMatch(/3 input channels per copy/);
  });
});

describe('f16 helpers of the tests', () => {
  it('round to nearest even, with subnormals and overflow', () => {
    expect(f16Bits(1)).toBe(0x3c00);
    expect(f16Bits(-2)).toBe(0xc000);
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(65520)).toBe(0x7c00); // rounds up past the largest finite
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to even
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16Bits(2 ** -24)).toBe(0x0001);
    expect(toF16(0.1)).toBeCloseTo(0.0999755859375, 12);
  });
});

describe('f16-storage conv (f32 arithmetic)', async () => {
  const g = await acquireGpu();
  const hasF16 = g.features.has('shader-f16');
  const target = { ...targetOf(g), shaderF16: hasF16 };

  it('refuses a device without shader-f16', () => {
    expect(() =>
      convF16Kernels(conv([1, 4, 4, 4, 4, false]), { ...target, shaderF16: false }),
    ).toThrow(/no shader-f16/);
  });

  it.runIf(hasF16)('is the tiled kernel with f16 tensors and half the bytes', () => {
    const [k] = convF16Kernels(conv([1, 64, 56, 56, 128, true]), target);
    expect(k!.name).toBe('conv3x3_tiled_f16_c64_k128_56x56_n1_relu');
    expect(k!.code).toContain('enable f16;');
    expect(k!.code).toMatch(/array<f16>/);
    expect(k!.bytes).toBe(2 * (64 * 56 * 56 + 128 * 64 * 9 + 128 * 56 * 56) + 4 * 128);
  });

  for (const [spec, tuning] of SHAPES) {
    it.runIf(hasF16)(`matches the float64 reference: ${name(spec, tuning)}`, async () => {
      const { x, w, b } = inputs(spec);
      const count = spec.n * spec.cout * spec.h * spec.w;
      const out = await runKernels(
        g,
        convF16Kernels(spec, target, tuning),
        { x: packF16(x), w: packF16(w), b, y: poisonF16(count) },
        ['y'],
      );
      const y = unpackF16(out['y']!, count);
      // What the kernel was given: the f16-rounded inputs.
      const xr = Float64Array.from(x, toF16);
      const wr = Float64Array.from(w, toF16);
      expect(relativeError(y, ref(spec, xr, wr, b))).toBeLessThan(1e-3);
      // Against the f32 inputs: the accuracy of the f16 path (docs/gpu.md).
      const err = relativeError(y, ref(spec, x, w, b));
      expect(err).toBeLessThan(5e-3);
      console.info(
        `f16 conv ${name(spec, tuning)}: max error / max |ref| = ${err.toExponential(2)}`,
      );
    });
  }
});

/**
 * The Winograd kernels (compiler/wgsl/winograd.ts), F(2x2, 3x3) and F(4x4, 3x3), against the
 * float64 references: conv2dRef (+ maxpoolRef after it for the fused pool) for the forward
 * convolution, convBackwardDataRef (with and without the ReLU mask) for the data gradient.
 *
 * Every run uploads fresh random inputs (never zeros); the harness poisons every output and the
 * scratch tensor with NaN, so an unwritten element fails. Bound: max |gpu - ref| / max |ref| <=
 * 1e-5 for F(2,3), 1e-4 for F(4,3) (the targets). Shapes are small (lavapipe compiles a
 * pipeline at its first dispatch) but cover H and W not multiples of the tile, odd and even sides
 * under the pool, Cin 1 and 3, batch 2, Cout past one channel block, and the tile variants; and
 * one module run at two spatial sizes and batches (sizes are run-time uniforms: one pipeline).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applicableWinograd,
  winogradBackwardDataKernels,
  winogradKernels,
  winogradScratch,
  type WinogradM,
  type WinogradTuning,
} from '../compiler/wgsl/winograd.js';
import type { ConvSpec } from '../compiler/wgsl/conv.js';
import type { ConvBackwardSpec } from '../compiler/wgsl/conv-backward.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { pipelineFor } from '../runtime/executor.js';
import { runKernels } from './gpu-harness.js';
import { relativeError, TEST_TARGET } from './helpers.js';
import { conv2dRef } from './reference/conv.js';
import { convBackwardDataRef } from './reference/conv-backward.js';
import { maxpoolRef } from './reference/maxpool.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

let gpu: Gpu;
beforeAll(async () => {
  gpu = await acquireGpu();
});

const BOUND: Record<WinogradM, number> = { 2: 1e-5, 4: 1e-4 };
let seed = 500;
const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

const conv = (
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  relu = false,
  pool = false,
): ConvSpec => ({ n, cin, h, w, cout, kernel: 3, pad: 1, relu, pool });

const label = (s: ConvSpec): string =>
  `n${s.n} cin${s.cin} ${s.h}x${s.w} cout${s.cout}${s.relu ? ' relu' : ''}${s.pool ? ' pool' : ''}`;

/** Runs the forward kernels; returns the relative error against the reference and the kernels. */
async function forward(m: WinogradM, spec: ConvSpec, tuning: WinogradTuning = {}) {
  const target = targetOf(gpu);
  const kernels = winogradKernels({ ...spec, m }, target, tuning);
  const { n, cin, h, w, cout } = spec;
  const x = randomArray(n * cin * h * w, seed++);
  const wt = randomArray(cout * cin * 9, seed++, 0.5);
  const b = randomArray(cout, seed++, 0.5);
  const [oh, ow] = spec.pool ? [Math.floor(h / 2), Math.floor(w / 2)] : [h, w];
  const [u] = winogradScratch(spec, m, target, tuning);
  const out = await runKernels(
    gpu,
    kernels,
    { x, w: wt, b, y: n * cout * oh * ow, u: u!.bytes / 4 },
    ['y'],
  );
  let ref = conv2dRef(f64(x), f64(wt), f64(b), spec);
  if (spec.pool) ref = maxpoolRef(ref, { n, c: cout, h, w });
  return { err: relativeError(out.y!, ref), kernels };
}

async function backward(m: WinogradM, spec: ConvBackwardSpec, tuning: WinogradTuning = {}) {
  const target = targetOf(gpu);
  const kernels = winogradBackwardDataKernels({ ...spec, m }, target, tuning);
  const { n, cin, h, w, cout } = spec;
  const dy = randomArray(n * cout * h * w, seed++);
  const wt = randomArray(cout * cin * 9, seed++, 0.5);
  const maskSrc = randomArray(n * cin * h * w, seed++); // about half <= 0
  const [u] = winogradScratch(spec, m, target, tuning, true);
  const tensors: Record<string, Float32Array | number> = {
    dy,
    w: wt,
    dx: n * cin * h * w,
    u: u!.bytes / 4,
  };
  if (spec.mask) tensors.mask_src = maskSrc;
  const out = await runKernels(gpu, kernels, tensors, ['dx']);
  const ref = convBackwardDataRef(f64(dy), f64(wt), spec, spec.mask ? f64(maskSrc) : undefined);
  if (spec.mask) {
    // The mask must have zeroed exactly where mask_src <= 0.
    for (let i = 0; i < ref.length; i++) if (!(maskSrc[i]! > 0)) expect(out.dx![i]).toBe(0);
  }
  return relativeError(out.dx!, ref, 'dx');
}

// Distinct modules compile separately (seconds each on lavapipe), so cases share modules where
// they can: sizes and batch are uniforms, only channels, epilogue and tile change the code.
const FORWARD: [ConvSpec, WinogradTuning][] = [
  [conv(1, 1, 5, 7, 5), {}], // Cin 1, H and W not multiples of the tile, no ReLU
  [conv(1, 3, 8, 8, 6, true, true), {}], // conv-relu-pool, even sides
  [conv(2, 3, 7, 9, 6, true, true), {}], // the same module: odd sides, batch 2
  [conv(1, 5, 9, 11, 20, true), { coTile: 4, tilesX: 2 }], // other tile, 5 channel blocks
];

const BACKWARD: ConvBackwardSpec[] = [
  { ...conv(2, 3, 6, 7, 5), mask: false },
  { ...conv(1, 6, 9, 5, 4), mask: true },
];

/** GPU tests compile their modules at first use: slow on a loaded machine. */
const SLOW = 300_000;

for (const m of [2, 4] as const) {
  describe(`Winograd F(${m}x${m}, 3x3)`, () => {
    for (const [spec, tuning] of FORWARD) {
      it(
        `forward ${label(spec)} ${JSON.stringify(tuning)}`,
        async () => {
          const { err } = await forward(m, spec, tuning);
          expect(err).toBeLessThanOrEqual(BOUND[m]);
        },
        SLOW,
      );
    }
    for (const spec of BACKWARD) {
      it(
        `data gradient ${label(spec)}${spec.mask ? ' mask' : ''}`,
        async () => {
          expect(await backward(m, spec)).toBeLessThanOrEqual(BOUND[m]);
        },
        SLOW,
      );
    }
    it(
      'runs one module at two spatial sizes and batches, ReLU (sizes are uniforms)',
      async () => {
        const a = await forward(m, conv(2, 3, 6, 9, 6, true));
        const b = await forward(m, conv(1, 3, 11, 5, 6, true));
        expect(a.err).toBeLessThanOrEqual(BOUND[m]);
        expect(b.err).toBeLessThanOrEqual(BOUND[m]);
        expect(a.kernels.map((k) => k.code)).toEqual(b.kernels.map((k) => k.code));
        const [ka, kb] = [a.kernels[1]!, b.kernels[1]!];
        expect(pipelineFor(gpu, ka.code, 'main')).toBe(pipelineFor(gpu, kb.code, 'main'));
      },
      SLOW,
    );
  });
}

describe('Winograd generator checks', () => {
  const target = { ...TEST_TARGET, subgroups: true };
  it('refuses what it cannot compute', () => {
    expect(() =>
      winogradKernels({ ...conv(1, 3, 8, 8, 4), kernel: 1, pad: 0, m: 2 }, target),
    ).toThrow(/3x3/);
    expect(() => winogradKernels({ ...conv(1, 3, 8, 8, 4), m: 2 }, TEST_TARGET)).toThrow(
      /subgroups/,
    );
    expect(() => winogradKernels({ ...conv(1, 3, 8, 8, 4), m: 2 }, target, { coTile: 6 })).toThrow(
      /coTile/,
    );
    expect(() => winogradKernels({ ...conv(1, 3, 8, 8, 4), m: 3 as WinogradM }, target)).toThrow(
      /m must be/,
    );
  });
  it('applies to 3x3 pad 1 convs and data gradients only, with subgroups', () => {
    const layer = { op: 'conv', n: 1, cin: 64, cout: 64, h: 56, w: 56, kernel: 3, pad: 1 };
    for (const m of [2, 4] as const) {
      const app = applicableWinograd(m);
      expect(app(layer, target).length).toBeGreaterThan(0);
      expect(app({ ...layer, op: 'conv-grad-data' }, target).length).toBeGreaterThan(0);
      expect(app({ ...layer, op: 'conv-grad-weight' }, target)).toEqual([]);
      expect(app({ ...layer, kernel: 1, pad: 0 }, target)).toEqual([]);
      expect(app(layer, TEST_TARGET)).toEqual([]);
    }
  });
  it('keeps sizes out of the code: only the name and the uniforms change', () => {
    const a = winogradKernels({ ...conv(1, 3, 8, 8, 4), m: 4 }, target);
    const b = winogradKernels({ ...conv(3, 3, 30, 17, 4), m: 4 }, target);
    expect(a[1]!.code).toBe(b[1]!.code);
    expect(a[1]!.name).not.toBe(b[1]!.name);
    expect(a[1]!.uniforms!.values).not.toEqual(b[1]!.uniforms!.values);
  });
});

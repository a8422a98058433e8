/**
 * The valid convolution (compiler/wgsl/conv-valid.ts: any K, padding 0, stride 1) against the
 * float64 reference, with subgroupBroadcast and without, vec4 and scalar weight rows, tails,
 * several pixel tiles, the FC form for a 1x1 output, and weights split into several bindings.
 *
 * Fresh random x, w, b every run, y poisoned with NaN (the harness does); the error is
 * max |gpu - ref| / max |ref| over the whole output, < 1e-4.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import {
  convValidChunks,
  convValidKernels,
  type ConvValidSpec,
  type ConvValidTuning,
} from '../compiler/wgsl/conv-valid.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { conv2dRef } from './reference/conv.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const spec = (
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  kernel: number,
  relu: boolean,
): ConvValidSpec => ({ n, cin, h, w, cout, kernel, relu });

const SHAPES: ConvValidSpec[] = [
  spec(2, 8, 10, 11, 12, 7, true), // K = 7, vec4 rows (8 * 49 = 392), 4x5 output, batch 2
  spec(1, 5, 9, 8, 7, 3, false), // scalar rows (45 floats), a tail of 5, odd channels
  spec(1, 4, 10, 10, 33, 5, true), // 6x6 output: 2x2 tiles of 3x3; channels past one lane group
  spec(1, 3, 4, 6, 5, 4, false), // 1x3 output
  spec(1, 16, 3, 2, 10, 1, true), // K = 1
  { ...spec(1, 4, 7, 9, 6, 3, true), kernelW: 5 }, // a 3x5 kernel (FC-to-conv of a 3x5 map)
  { ...spec(2, 3, 6, 4, 5, 6, false), kernelW: 2 }, // 6x2 kernel, 1x3 output
];

const name = (s: ConvValidSpec): string =>
  `n${s.n} ${s.cin}x${s.h}x${s.w} -> ${s.cout}, ${s.kernel}x${s.kernelW ?? s.kernel}${s.relu ? ' relu' : ''}`;

let seed = 7000;

async function relativeError(
  g: Gpu,
  s: ConvValidSpec,
  target: TargetInfo,
  tuning: ConvValidTuning = {},
): Promise<number> {
  const { n, cin, h, w, cout, kernel: K } = s;
  const KW = s.kernelW ?? K;
  const HO = h - K + 1;
  const WO = w - KW + 1;
  const x = randomArray(n * cin * h * w, seed++, 1);
  const wt = randomArray(cout * cin * K * KW, seed++, 1 / Math.sqrt(cin * K * KW));
  const b = randomArray(cout, seed++, 0.5);
  const ks = convValidKernels(s, target, tuning);
  const out = await runKernels(g, ks, { x, w: wt, b, y: n * cout * HO * WO }, ['y']);
  const ref = conv2dRef(Float64Array.from(x), Float64Array.from(wt), Float64Array.from(b), {
    ...s,
    pad: 0,
  });
  const y = out['y']!;
  expect(y.length).toBe(ref.length);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(y[i]!)) throw new Error(`y[${i}] = ${y[i]} (expected ${ref[i]})`);
    maxErr = Math.max(maxErr, Math.abs(y[i]! - ref[i]!));
    maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  }
  expect(maxRef).toBeGreaterThan(0);
  return maxErr / maxRef;
}

describe('conv-valid kernels', async () => {
  const g = await acquireGpu();

  it('have a header comment, flops and bytes', () => {
    const [k, ...rest] = convValidKernels(spec(1, 8, 10, 11, 12, 7, true), targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.name).toBe('convvalid7x7_c8_k12_10x11_n1_relu');
    expect(k!.code.startsWith('// convvalid7x7_c8_k12_relu:')).toBe(true);
    const outs = 12 * 4 * 5;
    expect(k!.flops).toBe(2 * outs * 8 * 49 + 2 * outs);
    expect(k!.bytes).toBe(4 * (12 * 8 * 49 + 8 * 10 * 11 + 12 + outs));
  });

  it("split VGG-16's converted FC6 (7x7, 512 -> 4096) under lavapipe's 128 MiB", () => {
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 128 * 1024 * 1024 };
    const ks = convValidKernels(spec(1, 512, 8, 8, 4096, 7, true), target);
    expect(ks.length).toBe(4);
    let next = 0;
    for (const k of ks) {
      const wb = k.bindings.find((b) => b.tensor === 'w')!;
      expect(wb.offsetBytes).toBe(next);
      expect(wb.offsetBytes! % 256).toBe(0);
      expect(wb.sizeBytes!).toBeLessThanOrEqual(128 * 1024 * 1024);
      next += wb.sizeBytes!;
    }
    expect(next).toBe(4096 * 512 * 49 * 4);
    expect(ks.reduce((s, k) => s + k.flops, 0)).toBe(2 * 4 * 4096 * 25088 + 2 * 4 * 4096);
  });

  it('is an FC kernel for a 1x1 output of a K x K input', () => {
    const ks = convValidKernels(spec(1, 512, 7, 7, 4096, 7, true), targetOf(g));
    expect(ks.every((k) => k.name.startsWith('fc_25088x4096_n1_relu'))).toBe(true);
  });

  it('refuses an input smaller than the kernel', () => {
    expect(() => convValidKernels(spec(1, 4, 6, 9, 4, 7, false), targetOf(g))).toThrow(
      /at least 7x7/,
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
      const target = (): TargetInfo => ({ ...targetOf(g), subgroups: sg });
      for (const s of SHAPES) {
        it(name(s), async () => {
          expect(await relativeError(g, s, target())).toBeLessThan(1e-4);
        });
      }
    });
  }

  it('1x1 output: the FC form and the conv form agree with the reference', async () => {
    const s = spec(2, 6, 5, 5, 9, 5, true);
    expect(await relativeError(g, s, targetOf(g))).toBeLessThan(1e-4);
    expect(await relativeError(g, s, targetOf(g), { fcWhen1x1: false })).toBeLessThan(1e-4);
  });

  it('other tiles and rows per lane (1 row, 3x2 tiles, 4 lanes)', async () => {
    const s = spec(1, 8, 12, 10, 20, 7, false);
    const tuning: ConvValidTuning = { rowsPerLane: 1, tileH: 3, tileW: 2, lanes: 4 };
    expect(await relativeError(g, s, targetOf(g), tuning)).toBeLessThan(1e-4);
  });

  it('splits the weight over a small binding limit into aligned chunks, and stays exact', async () => {
    // Rows of 8 * 49 floats (1568 bytes): chunks are multiples of 8 rows for 256-byte offsets,
    // so 40 KiB holds 24 rows: chunks of 24 and 16.
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 40 * 1024 };
    const s = spec(1, 8, 9, 9, 40, 7, true);
    const chunks = convValidChunks(s, target);
    expect(chunks).toEqual([
      { row0: 0, rows: 24 },
      { row0: 24, rows: 16 },
    ]);
    for (const c of chunks) expect((c.row0 * 8 * 49 * 4) % 256).toBe(0);
    expect(await relativeError(g, s, target)).toBeLessThan(1e-4);
  });
});

/**
 * The convolution kernels (compiler/wgsl/conv.ts) against the float64 reference, on whatever
 * adapter this machine has (lavapipe on CI), both with subgroupBroadcast and without.
 *
 * Every run uploads fresh random x, w and b (never zeros), poisons y and the scratch with NaN
 * (the harness does), and compares: max |gpu - ref| / max |ref| < 1e-4 over the whole output,
 * i.e. the error relative to the output's scale (per-element relative error is meaningless for
 * outputs near zero, which ReLU and cancellation produce). NaN anywhere fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { convKernels, convScratch, type ConvSpec, type ConvTuning } from '../compiler/wgsl/conv.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, type Gpu, targetOf as adapterTarget } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { conv2dRef } from './reference/conv.js';
import { relativeError as compareToRef } from './helpers.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

/**
 * The adapter's target, with subgroups optionally turned off to test the plain variants. The
 * subgroup size is left out: tests that depend on it set it themselves.
 */
function targetOf(g: Gpu, subgroups: boolean): TargetInfo {
  const { subgroupMinSize: _unstated, ...limits } = adapterTarget(g);
  return { ...limits, subgroups: subgroups && g.subgroups };
}

const conv = (
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  kernel: 1 | 3,
  relu: boolean,
): ConvSpec => ({ n, cin, h, w, cout, kernel, pad: kernel === 3 ? 1 : 0, relu });

const SHAPES: ConvSpec[] = [
  conv(1, 3, 8, 8, 8, 3, true),
  conv(2, 5, 7, 9, 7, 3, false),
  conv(1, 16, 13, 5, 12, 1, true),
  conv(3, 1, 1, 1, 4, 3, false),
  conv(1, 64, 14, 14, 64, 3, true),
  conv(1, 64, 14, 14, 64, 3, false),
  conv(2, 8, 6, 12, 20, 1, false), // 1x1 reading x as vec4s only (W % 4 == 0)
  conv(1, 7, 3, 2, 3, 1, true),
  conv(2, 12, 5, 11, 36, 3, true), // cout past one 16-channel block, not a multiple of it
  conv(1, 5, 7, 28, 9, 3, false), // vec4 rows (W % 4 == 0), odd H: a half-empty last tile row
  conv(2, 3, 1, 4, 4, 3, true), // one row, one tile per image
];

const name = (s: ConvSpec): string =>
  `n${s.n} cin${s.cin} ${s.h}x${s.w} cout${s.cout} k${s.kernel}${s.relu ? ' relu' : ''}`;

let seed = 1;

/** Runs one convolution on the GPU and returns max |gpu - ref| / max |ref|. */
async function relativeError(g: Gpu, spec: ConvSpec, target: TargetInfo, tuning: ConvTuning = {}) {
  const { n, cin, h, w, cout, kernel: k } = spec;
  const x = randomArray(n * cin * h * w, seed++, 1);
  const wt = randomArray(cout * cin * k * k, seed++, 1 / Math.sqrt(cin * k * k));
  const b = randomArray(cout, seed++, 0.5);
  const kernels = convKernels(spec, target, tuning);
  const tensors: Record<string, Float32Array | number> = { x, w: wt, b, y: n * cout * h * w };
  for (const s of convScratch(spec, target, tuning)) tensors[s.tensor] = s.bytes / 4;
  const out = await runKernels(g, kernels, tensors, ['y']);
  const ref = conv2dRef(Float64Array.from(x), Float64Array.from(wt), Float64Array.from(b), spec);
  const y = out['y']!;
  return compareToRef(y, ref);
}

describe('conv kernels', async () => {
  const g = await acquireGpu();

  it('is one kernel with a header comment, flops and bytes', () => {
    const spec = conv(1, 64, 56, 56, 128, 3, true);
    for (const sg of [true, false]) {
      const ks = convKernels(spec, targetOf(g, sg));
      expect(ks.length).toBe(1);
      const k = ks[0]!;
      expect(k.name).toBe('conv3x3_c64_k128_56x56_n1_relu');
      expect(k.code.startsWith('// conv3x3_c64_k128_relu:')).toBe(true);
      expect(k.flops).toBe(2 * 128 * 56 * 56 * 64 * 9);
      expect(k.bytes).toBe(4 * (64 * 56 * 56 + 128 * 64 * 9 + 128 + 128 * 56 * 56));
      // x twice: as floats (halo columns) and as vec4s (the tile's own columns, W % 4 == 0)
      expect(k.bindings.map((b) => b.tensor)).toEqual(['x', 'w', 'b', 'y', 'x']);
      expect(k.code.includes('subgroupBroadcast')).toBe(sg && g.subgroups);
      expect(convScratch(spec, targetOf(g, sg))).toEqual([]);
    }
    // Lanes sharing weights: 8 on a software adapter, else 4, or what the target states.
    // (Generated, not run: a target with subgroups whatever this adapter has.)
    const lanes = (t: object): string | undefined =>
      /const LANES: u32 = (\d+)u/.exec(
        convKernels(spec, { ...targetOf(g, true), subgroups: true, ...t })[0]!.code,
      )?.[1];
    expect(lanes({ software: true })).toBe('8');
    expect(lanes({ software: false })).toBe('4');
    expect(lanes({ software: true, subgroupMinSize: 4 })).toBe('4');
    expect(lanes({ software: false, subgroupMinSize: 32 })).toBe('8');
  });

  it('rejects specs it cannot run', () => {
    const t = { ...targetOf(g, true), maxStorageBufferBindingSize: 128 * 2 ** 20 };
    expect(() => convKernels({ ...conv(1, 3, 8, 8, 8, 3, true), pad: 0 }, t)).toThrow(/pad 1/);
    expect(() => convKernels(conv(1, 0, 8, 8, 8, 3, true), t)).toThrow(/cin/);
    const big = conv(1, 512, 224, 224, 512, 3, true); // 98 MiB input and output: fits
    expect(convKernels(big, t).length).toBe(1);
    expect(() => convKernels({ ...big, n: 2 }, t)).toThrow(/maxStorageBufferBindingSize/);
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
        it(name(spec), async () => {
          expect(await relativeError(g, spec, targetOf(g, sg))).toBeLessThan(1e-4);
        });
      }
    });
  }

  describe('tuning variants', () => {
    const tunings: ConvTuning[] = [
      { lanes: 4 },
      { rows: 1, cols: 8 },
      { coTile: 4, rows: 3, workgroupSize: 8 },
      { vec4Input: false, order: 'pixels' },
    ];
    for (const tuning of tunings) {
      for (const spec of [SHAPES[8]!, SHAPES[9]!]) {
        for (const sg of [true, false]) {
          variantIt(g, { subgroups: sg })(
            `${JSON.stringify(tuning)}${sg ? '' : ' plain'} ${name(spec)}`,
            async () => {
              expect(await relativeError(g, spec, targetOf(g, sg), tuning)).toBeLessThan(1e-4);
            },
          );
        }
      }
    }
  });
});

/**
 * The LRN backward kernel (compiler/wgsl/lrn-backward.ts) against the float64 reference, which is
 * itself checked by central finite differences of the forward reference (test/reference/lrn.ts,
 * the VGG paper's formula) on tiny shapes.
 *
 * Random x and dy (never zeros), NaN-poisoned dx, max |gpu - ref| / max |ref| < 1e-4. Besides
 * AlexNet's constants (alpha = 1e-4, where the cross-channel term is tiny), a "strong" setting
 * (alpha = 0.5) makes the cross-channel term as large as the direct one, so it is really tested.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { lrnBackwardKernels, type LrnBackwardSpec } from '../compiler/wgsl/lrn-backward.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { runKernels } from './gpu-harness.js';
import { lrnRef } from './reference/lrn.js';
import { lrnBackwardRef } from './reference/lrn-backward.js';
import { randomArray } from './reference/random.js';
import { relativeError as compare } from './helpers.js';

afterAll(releaseGpu);

const ALEXNET = { size: 5, alpha: 1e-4, beta: 0.75, k: 2 };
const STRONG = { size: 5, alpha: 0.5, beta: 0.75, k: 1 };

const SHAPES: LrnBackwardSpec[] = [
  { n: 1, c: 7, h: 4, w: 4, ...STRONG }, // vec4 form
  { n: 2, c: 3, h: 5, w: 3, ...STRONG }, // scalar form, fewer channels than the window
  { n: 1, c: 1, h: 2, w: 2, ...STRONG }, // one channel
  { n: 3, c: 5, h: 3, w: 3, ...STRONG, size: 3 }, // scalar form, batch 3
  { n: 1, c: 6, h: 4, w: 4, ...STRONG, size: 4 }, // even size: the formula's size + 1 window
  { n: 2, c: 5, h: 2, w: 6, ...STRONG, size: 1 }, // the channel alone
  { n: 1, c: 11, h: 3, w: 4, ...STRONG, size: 9, beta: 0.5 },
  { n: 2, c: 12, h: 7, w: 7, ...STRONG, size: 5 }, // channels a multiple of the window + more
  { n: 1, c: 64, h: 14, w: 14, ...ALEXNET }, // the paper's constants
  { n: 2, c: 64, h: 28, w: 28, ...ALEXNET, alpha: 1e-2 },
];

const name = (s: LrnBackwardSpec): string =>
  `n${s.n} c${s.c} ${s.h}x${s.w} size${s.size} alpha${s.alpha} beta${s.beta} k${s.k}`;

let seed = 9800;

describe('lrn backward reference (float64 central differences of the forward)', () => {
  const cases: LrnBackwardSpec[] = [
    { n: 1, c: 6, h: 1, w: 2, ...STRONG },
    { n: 2, c: 4, h: 1, w: 1, ...STRONG, size: 3, beta: 0.6, k: 1.5 },
    { n: 1, c: 5, h: 1, w: 1, ...STRONG, size: 4 },
    { n: 1, c: 7, h: 1, w: 1, ...ALEXNET, alpha: 0.1 },
  ];
  for (const spec of cases) {
    it(name(spec), () => {
      const count = spec.n * spec.c * spec.h * spec.w;
      const x = Float64Array.from(randomArray(count, seed++, 1.5));
      const dy = Float64Array.from(randomArray(count, seed++, 1));
      const loss = (): number => lrnRef(x, spec).reduce((s, y, i) => s + y * dy[i]!, 0);
      const ref = lrnBackwardRef(x, dy, spec);
      const eps = 1e-6;
      for (let i = 0; i < count; i++) {
        const keep = x[i]!;
        x[i] = keep + eps;
        const up = loss();
        x[i] = keep - eps;
        const down = loss();
        x[i] = keep;
        expect(Math.abs((up - down) / (2 * eps) - ref[i]!)).toBeLessThan(1e-7);
      }
    });
  }
});

describe('lrn backward kernel', async () => {
  const g = await acquireGpu();

  it('has a header comment, flops and bytes', () => {
    const [k, ...rest] = lrnBackwardKernels({ n: 1, c: 64, h: 56, w: 56, ...ALEXNET }, targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// lrn5_bwd_c64_56x56:')).toBe(true); // no batch
    expect(k!.name).toBe('lrn5_bwd_c64_56x56_n1');
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['x', 'dy', 'dx']);
    expect(k!.flops).toBe(64 * 56 * 56 * (3 * 5 + 11));
    expect(k!.bytes).toBe(4 * 3 * 64 * 56 * 56);
  });

  for (const spec of SHAPES) {
    it(name(spec), async () => {
      const count = spec.n * spec.c * spec.h * spec.w;
      const x = randomArray(count, seed++, 1.5);
      const dy = randomArray(count, seed++, 1);
      const out = await runKernels(g, lrnBackwardKernels(spec, targetOf(g)), { x, dy, dx: count }, [
        'dx',
      ]);
      expect(compare(out['dx']!, lrnBackwardRef(x, dy, spec))).toBeLessThan(1e-4);
    });
  }

  it('folds a large grid into 2-D (fake small maxComputeWorkgroupsPerDimension)', async () => {
    const target = { ...targetOf(g), maxComputeWorkgroupsPerDimension: 2 };
    const spec: LrnBackwardSpec = { n: 2, c: 5, h: 16, w: 17, ...STRONG };
    const ks = lrnBackwardKernels(spec, target);
    expect(ks[0]!.dispatch[1]).toBeGreaterThan(1);
    const count = 2 * 5 * 16 * 17;
    const x = randomArray(count, seed++, 1.5);
    const dy = randomArray(count, seed++, 1);
    const out = await runKernels(g, ks, { x, dy, dx: count }, ['dx']);
    expect(compare(out['dx']!, lrnBackwardRef(x, dy, spec))).toBeLessThan(1e-4);
  });
});

/**
 * The fully connected kernels (compiler/wgsl/fc.ts) against the float64 reference, with
 * subgroupBroadcast and without, including weights split into several bindings.
 *
 * Every run uploads fresh random x, w and b (never zeros) and a NaN-poisoned y (the harness
 * does), and compares max |gpu - ref| / max |ref| < 1e-4 over the whole output, i.e. the error
 * relative to the output's scale (per-element relative error is meaningless for outputs near
 * zero, which ReLU and cancellation produce). NaN anywhere fails.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { fcChunks, fcKernels, type FcSpec, type FcTuning } from '../compiler/wgsl/fc.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { fcRef } from './reference/fc.js';
import { relativeError as compareToRef } from './helpers.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const fc = (n: number, inFeatures: number, outFeatures: number, relu: boolean): FcSpec => ({
  n,
  inFeatures,
  outFeatures,
  relu,
});

const SHAPES: FcSpec[] = [
  fc(1, 64, 16, false),
  fc(2, 105, 7, true), // a flattened 3 x 5 x 7 input: scalar loads (in % 4 != 0)
  fc(1, 25, 10, false), // scalar loads: 6 broadcast rounds and a tail of 1
  fc(3, 256, 33, true), // batch 3 in one tile, out not a multiple of the rows per lane
  fc(8, 512, 40, false), // a full batch tile of 8
  fc(9, 100, 13, true), // two batch tiles, the second with one sample
  fc(5, 1026, 100, true), // in % 4 == 2: scalar path with a tail
  fc(1, 4100, 130, true), // more lanes than one workgroup, a vec4 tail of 1
  fc(2, 3, 5, false), // fewer inputs than one broadcast round
];

const name = (s: FcSpec): string =>
  `n${s.n} in${s.inFeatures} out${s.outFeatures}${s.relu ? ' relu' : ''}`;

let seed = 3000;

/** Runs one FC layer on the GPU and returns max |gpu - ref| / max |ref|. */
async function relativeError(g: Gpu, spec: FcSpec, target: TargetInfo, tuning: FcTuning = {}) {
  const { n, inFeatures: IN, outFeatures: OUT } = spec;
  const x = randomArray(n * IN, seed++, 1);
  const w = randomArray(OUT * IN, seed++, 1 / Math.sqrt(IN));
  const b = randomArray(OUT, seed++, 0.5);
  const out = await runKernels(g, fcKernels(spec, target, tuning), { x, w, b, y: n * OUT }, ['y']);
  return compareToRef(out['y']!, fcRef(x, w, b, spec));
}

describe('fc kernels', async () => {
  const g = await acquireGpu();

  it('have a header comment, flops and bytes', () => {
    const [k, ...rest] = fcKernels(fc(1, 4096, 1000, false), targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.code.startsWith('// fc_4096x1000:')).toBe(true);
    expect(k!.name).toBe('fc_4096x1000_n1');
    expect(k!.flops).toBe(2 * 4096 * 1000 + 1000);
    expect(k!.bytes).toBe(4 * (4096 * 1000 + 4096 + 1000 + 1000));
  });

  it("split VGG-16's FC6 into aligned bindings under lavapipe's 128 MiB", () => {
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 128 * 1024 * 1024 };
    const ks = fcKernels(fc(1, 25088, 4096, true), target);
    expect(ks.length).toBe(4);
    let next = 0;
    for (const k of ks) {
      const wb = k.bindings.find((b) => b.tensor === 'w')!;
      expect(wb.offsetBytes).toBe(next);
      expect(wb.offsetBytes! % 256).toBe(0);
      expect(wb.sizeBytes!).toBeLessThanOrEqual(128 * 1024 * 1024);
      next += wb.sizeBytes!;
      expect(k.code.startsWith('// fc_25088x4096_relu:')).toBe(true);
    }
    expect(next).toBe(25088 * 4096 * 4);
    expect(ks.reduce((s, k) => s + k.flops, 0)).toBe(2 * 25088 * 4096 + 2 * 4096);
  });

  it('align chunk offsets when a row is not a multiple of 256 bytes, or refuse', () => {
    const target = { ...targetOf(g), maxStorageBufferBindingSize: 256 * 1024 };
    // 999 floats a row: rows come in multiples of 64 so that every offset is 256-aligned.
    const chunks = fcChunks(fc(1, 999, 300, false), target);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect((c.row0 * 999 * 4) % 256).toBe(0);
    expect(chunks.reduce((s, c) => s + c.rows, 0)).toBe(300);
    const small = { ...target, maxStorageBufferBindingSize: 64 * 1024 };
    expect(() => fcKernels(fc(1, 999, 300, false), small)).toThrow(/maxStorageBufferBindingSize/);
  });

  // The two designs; 'rows' with subgroupBroadcast and without.
  const variants: [string, boolean, FcTuning][] = [
    ['rows, subgroups', true, { design: 'rows' }],
    ['rows, plain', false, { design: 'rows' }],
    ['reduce', false, { design: 'reduce' }],
  ];
  for (const [label, sg, design] of variants) {
    describe(label, () => {
      // Subgroup variants need the feature: reported as skipped on an adapter without it.
      const it = variantIt(g, { subgroups: sg });
      const target = (): TargetInfo => ({ ...targetOf(g), subgroups: sg });
      for (const spec of SHAPES) {
        it(name(spec), async () => {
          expect(await relativeError(g, spec, target(), design)).toBeLessThan(1e-4);
        });
      }

      it('split weight: 64 KiB bindings (fake limit), several chunks', async () => {
        const small = { ...target(), maxStorageBufferBindingSize: 64 * 1024 };
        for (const spec of [fc(2, 1000, 50, true), fc(3, 300, 120, false), fc(1, 2048, 20, true)]) {
          const ks = fcKernels(spec, small, design);
          expect(ks.length).toBeGreaterThan(2);
          for (const k of ks) {
            const wb = k.bindings.find((b) => b.tensor === 'w')!;
            expect(wb.offsetBytes! % 256).toBe(0);
            expect(wb.sizeBytes!).toBeLessThanOrEqual(64 * 1024);
          }
          expect(await relativeError(g, spec, small, design)).toBeLessThan(1e-4);
        }
      });
    });
  }

  describe('tuning variants', () => {
    const tunings: FcTuning[] = [
      { design: 'rows', rowsPerLane: 1 },
      { design: 'rows', rowsPerLane: 4, batchTile: 2 },
      { design: 'rows', batchTile: 3, workgroupSize: 8 },
      { design: 'rows', rowsPerLane: 3, batchTile: 5, workgroupSize: 32 },
      { design: 'reduce', rowsPerLane: 1, batchTile: 1, workgroupSize: 256 },
      { design: 'reduce', rowsPerLane: 3, batchTile: 5, workgroupSize: 32 },
      { design: 'reduce', rowsPerLane: 4, batchTile: 8, workgroupSize: 1024 }, // shrinks to fit
    ];
    for (const tuning of tunings) {
      for (const sg of [true, false]) {
        variantIt(g, { subgroups: sg })(
          `${JSON.stringify(tuning)}${sg ? '' : ' plain'}`,
          async () => {
            const target = { ...targetOf(g), subgroups: sg };
            for (const spec of [SHAPES[3]!, SHAPES[5]!, SHAPES[6]!]) {
              expect(await relativeError(g, spec, target, tuning)).toBeLessThan(1e-4);
            }
          },
        );
      }
    }
  });

  it('a weight over 128 MiB on the real adapter: 9000 x 4000 floats (144 MB)', async () => {
    const spec = fc(2, 9000, 4000, true);
    const target = targetOf(g);
    const bytes = spec.inFeatures * spec.outFeatures * 4;
    expect(bytes).toBeGreaterThan(128 * 1024 * 1024);
    const ks = fcKernels(spec, target);
    if (bytes > target.maxStorageBufferBindingSize) expect(ks.length).toBeGreaterThan(1);
    const x = randomArray(spec.n * spec.inFeatures, seed++, 1);
    const w = randomArray(spec.outFeatures * spec.inFeatures, seed++, 1 / Math.sqrt(9000));
    const b = randomArray(spec.outFeatures, seed++, 0.5);
    const out = await runKernels(g, ks, { x, w, b, y: spec.n * spec.outFeatures }, ['y']);
    // Every row, so that rows from every chunk (the last included) are checked.
    expect(compareToRef(out['y']!, fcRef(x, w, b, spec))).toBeLessThan(1e-4);
  });
});

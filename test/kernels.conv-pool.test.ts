/**
 * The convolution kernel with its fused 2x2 max pool (compiler/wgsl/conv.ts, `pool: true`, the
 * conv-relu-pool fusion) against the float64 references: conv2dRef, then maxpoolRef (PyTorch
 * floor semantics: an odd side's last row or column is dropped).
 *
 * Fresh random x, w and b on every run, y poisoned with NaN by the harness (an unwritten output
 * fails), max |gpu - ref| / max |ref| < 1e-4. Shapes are small (lavapipe compiles each kernel at
 * its first dispatch) but cover odd and even sides, W % 4 == 0 (vec4 input) and not, Cin 1 and 3,
 * Cout past one 16-channel block, 1x1 and 3x3 filters, batch > 1 and the tile variants.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { convKernels, type ConvSpec, type ConvTuning } from '../compiler/wgsl/conv.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, type Gpu, targetOf as adapterTarget } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { relativeError as compareToRef } from './helpers.js';
import { conv2dRef } from './reference/conv.js';
import { maxpoolRef } from './reference/maxpool.js';
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

const pooled = (
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  kernel: 1 | 3,
  relu: boolean,
): ConvSpec => ({ n, cin, h, w, cout, kernel, pad: kernel === 3 ? 1 : 0, relu, pool: true });

const SHAPES: ConvSpec[] = [
  pooled(1, 3, 8, 8, 8, 3, true), // even sides, vec4 input rows
  pooled(2, 1, 7, 9, 7, 3, true), // Cin 1, both sides odd, W % 4 != 0
  pooled(1, 5, 9, 5, 20, 3, false), // odd sides, no ReLU, Cout past one 16-channel block
  pooled(2, 3, 5, 11, 4, 3, true), // Cin 3, odd sides, batch 2
  pooled(2, 3, 10, 6, 5, 3, true), // W even but not a multiple of 4: OW = 3
  pooled(1, 5, 7, 28, 9, 3, true), // vec4 rows, odd H
  pooled(1, 16, 6, 12, 12, 1, true), // 1x1, vec4 input only
  pooled(1, 8, 3, 3, 4, 3, false), // 3x3 -> 1x1
  pooled(3, 2, 2, 2, 4, 1, true), // the smallest pool
  pooled(1, 64, 14, 14, 64, 3, true), // VGG-like channels
];

const name = (s: ConvSpec): string =>
  `n${s.n} cin${s.cin} ${s.h}x${s.w} cout${s.cout} k${s.kernel}${s.relu ? ' relu' : ''}`;

let seed = 100;

/** Runs one fused conv + pool on the GPU and returns max |gpu - ref| / max |ref|. */
async function relativeError(g: Gpu, spec: ConvSpec, target: TargetInfo, tuning: ConvTuning = {}) {
  const { n, cin, h, w, cout, kernel: k } = spec;
  const x = randomArray(n * cin * h * w, seed++, 1);
  const wt = randomArray(cout * cin * k * k, seed++, 1 / Math.sqrt(cin * k * k));
  const b = randomArray(cout, seed++, 0.5);
  const [oh, ow] = [Math.floor(h / 2), Math.floor(w / 2)];
  const out = await runKernels(
    g,
    convKernels(spec, target, tuning),
    { x, w: wt, b, y: n * cout * oh * ow },
    ['y'],
  );
  const conv = conv2dRef(Float64Array.from(x), Float64Array.from(wt), Float64Array.from(b), {
    ...spec,
    pool: false,
  });
  return compareToRef(out['y']!, maxpoolRef(conv, { n, c: cout, h, w }));
}

describe('conv kernel with a fused 2x2 max pool', async () => {
  const g = await acquireGpu();

  it('names, counts and binds the pooled output', () => {
    const spec = pooled(1, 64, 56, 56, 128, 3, true);
    const [k] = convKernels(spec, targetOf(g, true));
    expect(k!.name).toBe('conv3x3_c64_k128_56x56_n1_relu_pool');
    // The header names what does not vary at run time (sizes are in 'dims').
    expect(k!.code.startsWith('// conv3x3_c64_k128_relu_pool:')).toBe(true);
    expect(k!.code).toMatch(/y: \[N, 128, H \/ 2, W \/ 2\]/);
    expect(k!.uniforms!.values.slice(0, 4)).toEqual([56, 56, 28, 28]); // h, w, oh, ow
    // the conv's multiply-adds plus 3 comparisons per pooled output
    expect(k!.flops).toBe(2 * 128 * 56 * 56 * 64 * 9 + 3 * 128 * 28 * 28);
    // y is the pooled tensor: no pre-pool tensor is written
    expect(k!.bytes).toBe(4 * (64 * 56 * 56 + 128 * 64 * 9 + 128 + 128 * 28 * 28));
    expect(k!.bindings.map((b) => b.tensor)).toEqual(['x', 'w', 'b', 'y', 'x']);
    // Without the pool the kernel is the plain one.
    const plain = convKernels({ ...spec, pool: false }, targetOf(g, true))[0]!;
    expect(plain.name).toBe('conv3x3_c64_k128_56x56_n1_relu');
    expect(plain.code).toBe(convKernels({ ...spec, pool: undefined }, targetOf(g, true))[0]!.code);
  });

  it('rejects tiles that split a window and inputs smaller than one window', () => {
    const t = targetOf(g, true);
    const spec = pooled(1, 3, 8, 8, 8, 3, true);
    expect(() => convKernels(spec, t, { rows: 1 })).toThrow(/rows must be 2 or 4/);
    expect(() => convKernels(spec, t, { rows: 3 })).toThrow(/rows must be 2 or 4/);
    expect(() => convKernels({ ...spec, h: 1 }, t)).toThrow(/2x2/);
    expect(() => convKernels({ ...spec, w: 1 }, t)).toThrow(/2x2/);
  });

  // Every shape with subgroups (lavapipe has them; the smoke test checks it), the odd and vec4
  // ones also without (every lane loads the weights; compiles slower, so fewer shapes).
  describe('subgroups', () => {
    const it = variantIt(g, { subgroups: true }); // reported as skipped without subgroups
    for (const spec of SHAPES) {
      it(name(spec), async () => {
        expect(await relativeError(g, spec, targetOf(g, true))).toBeLessThan(1e-4);
      });
    }
  });
  describe('plain', () => {
    for (const spec of [SHAPES[1]!, SHAPES[2]!, SHAPES[5]!]) {
      it(name(spec), async () => {
        expect(await relativeError(g, spec, targetOf(g, false))).toBeLessThan(1e-4);
      });
    }
  });

  describe('tuning variants', () => {
    const cases: [ConvTuning, ConvSpec, boolean][] = [
      [{ rows: 4 }, SHAPES[1]!, true], // 2 pooled rows per invocation, OH = 3: half a last tile
      [{ rows: 4, coTile: 4 }, SHAPES[2]!, false],
      [{ rows: 4, cols: 8, coTile: 4 }, SHAPES[5]!, true], // 4 pooled columns, 2 vec4 per row
      [{ cols: 8, lanes: 4 }, SHAPES[1]!, true],
      [{ vec4Input: false, order: 'pixels' }, SHAPES[5]!, true],
      [{ coTile: 4, workgroupSize: 8 }, SHAPES[3]!, true],
    ];
    for (const [tuning, spec, sg] of cases) {
      variantIt(g, { subgroups: sg })(
        `${JSON.stringify(tuning)}${sg ? '' : ' plain'} ${name(spec)}`,
        async () => {
          expect(await relativeError(g, spec, targetOf(g, sg), tuning)).toBeLessThan(1e-4);
        },
      );
    }
  });
});

/**
 * The FC forward kernel with a dropout epilogue (compiler/wgsl/fc.ts, `dropout`; the fc-dropout
 * training fusion) against the float64 reference: fcRef, then the TS re-implementation of the
 * mask (test/reference/dropout.ts, bit-exact) on element index n * OUT + o. Both designs, with
 * subgroups and without, scalar and vec4 loads, several batch tiles, and weights split into
 * several chunks. The output is NaN-poisoned before each run (the harness does), so an element
 * left unwritten fails. Also: the fused kernel writes bit for bit what the unfused FC kernel
 * followed by the standalone dropout kernel writes, and the two share one copy of the mask WGSL.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { dropoutForwardKernels, dropoutMaskWgsl } from '../compiler/wgsl/dropout.js';
import { fcKernels, type FcSpec, type FcTuning } from '../compiler/wgsl/fc.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { runKernels, variantIt } from './gpu-harness.js';
import { relativeError } from './helpers.js';
import { dropoutMaskRef, dropoutRef } from './reference/dropout.js';
import { fcRef } from './reference/fc.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const fc = (n: number, inF: number, outF: number, relu: boolean, p: number): FcSpec => ({
  n,
  inFeatures: inF,
  outFeatures: outF,
  relu,
  dropout: { p },
});

/** [seed, step, stream, 0] as the harness uploads it: the bytes of 4 u32 in a Float32Array. */
const params = (s: number, step: number, stream: number): Float32Array =>
  new Float32Array(new Uint32Array([s, step, stream, 0]).buffer);

let seed = 21000;

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
}

function inputs(spec: FcSpec): Inputs {
  const { n, inFeatures: IN, outFeatures: OUT } = spec;
  return {
    x: randomArray(n * IN, seed++, 1),
    w: randomArray(OUT * IN, seed++, 1 / Math.sqrt(IN)),
    b: randomArray(OUT, seed++, 0.5),
  };
}

/**
 * Runs the fused kernel(s) and checks them against the reference: relative error < 1e-4, every
 * dropped element exactly 0, every kept element whose pre-dropout value is not ~0 nonzero.
 */
async function check(g: Gpu, spec: FcSpec, target: TargetInfo, tuning: FcTuning = {}) {
  const { n, outFeatures: OUT } = spec;
  const p = spec.dropout!.p;
  const inp = inputs(spec);
  const s = seed++;
  const [step, stream] = [1 + (s % 7), 2 + (s % 11)];
  const ks = fcKernels(spec, target, tuning);
  const out = await runKernels(g, ks, { ...inp, params: params(s, step, stream), y: n * OUT }, [
    'y',
  ]);
  const y = out['y']!;
  const pre = fcRef(inp.x, inp.w, inp.b, spec);
  const mask = dropoutMaskRef(n * OUT, p, s, step, stream);
  const ref = dropoutRef(pre, mask, p);
  expect(relativeError(y, ref)).toBeLessThan(1e-4);
  const scale = Math.max(...pre.map(Math.abs));
  let kept = 0;
  for (let i = 0; i < n * OUT; i++) {
    if (!mask[i]) expect(y[i], `y[${i}] dropped`).toBe(0);
    else if (Math.abs(pre[i]!) > 1e-3 * scale) expect(y[i], `y[${i}] kept`).not.toBe(0);
    kept += mask[i]!;
  }
  // The test could fail: some elements are dropped, some kept.
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThan(n * OUT);
  return ks;
}

describe('fc kernel with a dropout epilogue', async () => {
  const g = await acquireGpu();

  it('binds params, names the epilogue and shares the dropout mask WGSL', () => {
    const [k, ...rest] = fcKernels(fc(2, 64, 16, true, 0.5), targetOf(g));
    expect(rest).toEqual([]);
    expect(k!.name).toBe('fc_64x16_n2_relu_drop0_5');
    expect(k!.code.startsWith('// fc_64x16_relu_drop0_5:')).toBe(true);
    expect(k!.bindings.map((b) => [b.binding, b.tensor, b.access])).toEqual([
      [0, 'x', 'read'],
      [1, 'w', 'read'],
      [2, 'b', 'read'],
      [3, 'y', 'read_write'],
      [4, 'params', 'read'],
    ]);
    expect(k!.code).toContain(dropoutMaskWgsl(0.5));
    const [sd] = dropoutForwardKernels({ count: 32, p: 0.5 }, targetOf(g));
    expect(sd!.code).toContain(dropoutMaskWgsl(0.5));
    const [plain] = fcKernels({ n: 2, inFeatures: 64, outFeatures: 16, relu: true }, targetOf(g));
    expect(k!.flops).toBe(plain!.flops + 2 * 16);
    expect(k!.bytes).toBe(plain!.bytes + 16);
    expect(plain!.bindings.length).toBe(4);
    expect(() => fcKernels(fc(1, 8, 4, false, 1), targetOf(g))).toThrow(/not in/);
  });

  // Few, small kernels: lavapipe compiles each one in seconds.
  const variants: [string, boolean, FcTuning, FcSpec[]][] = [
    [
      'rows, subgroups',
      true,
      { design: 'rows' },
      [
        fc(3, 256, 33, true, 0.5), // vec4, out not a multiple of the rows per lane
        fc(9, 105, 13, false, 0.25), // scalar loads, two batch tiles, no ReLU
      ],
    ],
    ['rows, plain', false, { design: 'rows' }, [fc(2, 64, 40, true, 0.7)]],
    ['reduce', false, { design: 'reduce', batchTile: 2 }, [fc(3, 100, 21, true, 0.5)]],
  ];
  for (const [label, sg, tuning, specs] of variants) {
    // Subgroup variants need the feature: reported as skipped on an adapter without it.
    variantIt(g, { subgroups: sg })(`${label}: matches fc + dropout in float64`, async () => {
      const target = { ...targetOf(g), subgroups: sg };
      for (const spec of specs) await check(g, spec, target, tuning);
    });
  }

  it('split weight: 64 KiB bindings (fake limit), several chunks, index across chunks', async () => {
    const small = { ...targetOf(g), maxStorageBufferBindingSize: 64 * 1024 };
    // 8000-byte rows: chunks of 8 rows (8, 8, 4), each binding params whole.
    const ks = await check(g, fc(3, 2000, 20, true, 0.5), small, { design: 'rows' });
    expect(ks.length).toBe(3);
    for (const k of ks) expect(k.bindings.find((b) => b.tensor === 'params')).toBeDefined();
  });

  it('writes bit for bit what the FC kernel followed by the standalone dropout kernel writes', async () => {
    const target = targetOf(g);
    const spec = fc(5, 128, 24, true, 0.5);
    const { dropout: _, ...plainSpec } = spec;
    const inp = inputs(spec);
    const prm = params(77, 3, 13);
    const fused = await runKernels(g, fcKernels(spec, target), { ...inp, params: prm, y: 120 }, [
      'y',
    ]);
    const pre = await runKernels(g, fcKernels(plainSpec, target), { ...inp, y: 120 }, ['y']);
    const drop = dropoutForwardKernels({ count: 120, p: 0.5 }, target);
    const unfused = await runKernels(g, drop, { x: pre['y']!, params: prm, y: 120 }, ['y']);
    expect(fused['y']!).toEqual(unfused['y']!);
    expect(fused['y']!.some((v) => v !== 0)).toBe(true);
  });
});

/**
 * The chooser of `--conv direct|winograd|auto` (compiler/chooser.ts), against a faked APPLICABLE
 * table (passed as a parameter), so that it is tested before the Winograd and GEMM kernels
 * exist: each mode, a table hit against the rule, a stale table entry, and never an algorithm
 * (or tuning) that APPLICABLE does not list for the layer. Also the real table on a real plan:
 * the direct conv's tunings and plan.json carrying the choice.
 */
import { describe, expect, it } from 'vitest';
import {
  APPLICABLE,
  layerKey,
  type Algorithm,
  type LayerShape,
  type Tuning,
} from '../compiler/algorithms.js';
import {
  RULE,
  candidates,
  chooserFor,
  forcingChooser,
  layerChoices,
  ruleChoice,
  type ApplicableTable,
  type TunedEntry,
} from '../compiler/chooser.js';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { planFiles } from '../compiler/plan-json.js';
import { TEST_TARGET } from './helpers.js';

const conv = (o: Partial<LayerShape> = {}): LayerShape => ({
  op: 'conv',
  n: 1,
  cin: 64,
  cout: 128,
  h: 56,
  w: 56,
  kernel: 3,
  pad: 1,
  ...o,
});
const fc = (n: number): LayerShape => ({
  op: 'fc',
  n,
  cin: 4096,
  cout: 1000,
  h: 1,
  w: 1,
  kernel: 1,
  pad: 0,
});

/** A fake APPLICABLE: Winograd for 3x3 pad-1 convs (F(4,3) only from 8x8), GEMM for FC. */
const DIRECT_TILES: readonly Tuning[] = [{}, { rows: 4 }];
const FAKE: ApplicableTable = {
  direct: (l) => (l.op === 'conv' && l.kernel === 3 ? DIRECT_TILES : [{}]),
  'winograd-f2': (l) => (l.kernel === 3 && l.pad === 1 ? [{}] : []),
  'winograd-f4': (l) =>
    l.kernel === 3 && l.pad === 1 && l.h >= 8 ? [{ tile: 4 }, { tile: 8 }] : [],
  gemm: (l) => (l.op.startsWith('fc') ? [{ tm: 4 }, { tm: 8 }] : []),
};
/** Only direct, as on main before the new kernels land. */
const DIRECT_ONLY: ApplicableTable = {
  direct: () => [{}],
  'winograd-f2': () => [],
  'winograd-f4': () => [],
  gemm: () => [],
};

const listed = (table: ApplicableTable, l: LayerShape, a: Algorithm, t: Tuning | undefined) =>
  table[a](l, TEST_TARGET).some((x) => JSON.stringify(x) === JSON.stringify(t ?? {}));

const LAYERS: LayerShape[] = [
  conv(),
  conv({ h: 4, w: 4 }),
  conv({ cin: 3, cout: 64, h: 224, w: 224 }),
  conv({ kernel: 1, pad: 0, cin: 256 }),
  conv({ pool: true }),
  conv({ op: 'conv-grad-data' }),
  conv({ op: 'conv-grad-weight' }),
  fc(1),
  fc(64),
];

describe('chooserFor', () => {
  it('direct: every layer on the direct kernel, whatever else applies', () => {
    const choose = chooserFor('direct', TEST_TARGET, undefined, FAKE);
    for (const l of LAYERS) {
      expect(choose(l)).toMatchObject({ algorithm: 'direct', reason: '--conv direct' });
      expect(choose(l).tuning).toBeUndefined(); // the default tiles
    }
  });

  it('winograd: F(4,3) where listed, else F(2,3), else direct, each with its reason', () => {
    const choose = chooserFor('winograd', TEST_TARGET, undefined, FAKE);
    expect(choose(conv())).toEqual({
      algorithm: 'winograd-f4',
      tuning: { tile: 4 },
      reason: '--conv winograd: Winograd F(4,3)',
    });
    expect(choose(conv({ h: 4, w: 4 }))).toEqual({
      algorithm: 'winograd-f2',
      reason: '--conv winograd: Winograd F(2,3)',
    });
    expect(choose(fc(64))).toEqual({
      algorithm: 'direct',
      reason: '--conv winograd: no Winograd kernel for this layer',
    });
    // With nothing but direct: direct everywhere.
    const only = chooserFor('winograd', TEST_TARGET, undefined, DIRECT_ONLY);
    for (const l of LAYERS) expect(only(l).algorithm).toBe('direct');
  });

  it('auto: the table winner when the table has the layer, with where and how much', () => {
    const table = new Map<string, TunedEntry>([
      [layerKey(conv()), { algorithm: 'winograd-f2', speedup: 1.9, on: 'llvmpipe' }],
      [
        layerKey(fc(64)),
        { algorithm: 'gemm', tuning: { tm: 8 }, speedup: 3.25, on: 'llvmpipe (shipped defaults)' },
      ],
    ]);
    const choose = chooserFor('auto', TEST_TARGET, table, FAKE);
    expect(choose(conv())).toEqual({
      algorithm: 'winograd-f2',
      reason: 'tuned on llvmpipe: 1.90x direct',
    });
    expect(choose(fc(64))).toEqual({
      algorithm: 'gemm',
      tuning: { tm: 8 },
      reason: 'tuned on llvmpipe (shipped defaults): 3.25x direct',
    });
    // A layer the table lacks: the rule.
    expect(choose(conv({ cin: 128, cout: 256, h: 28, w: 28 })).reason).toMatch(/^rule: /);
  });

  it('auto: a table entry APPLICABLE no longer lists (algorithm or tuning) falls to the rule', () => {
    const stale = new Map<string, TunedEntry>([
      [layerKey(conv()), { algorithm: 'gemm', speedup: 2, on: 'x' }],
      [layerKey(fc(64)), { algorithm: 'gemm', tuning: { tm: 16 }, speedup: 2, on: 'x' }],
    ]);
    const choose = chooserFor('auto', TEST_TARGET, stale, FAKE);
    expect(choose(conv())).toEqual(ruleChoice(conv(), TEST_TARGET, FAKE));
    expect(choose(fc(64))).toEqual(ruleChoice(fc(64), TEST_TARGET, FAKE));
    expect(choose(conv()).reason).toMatch(/^rule: /);
  });

  it('auto without a table: the rule (Winograd only off a software adapter)', () => {
    // On the software adapter Winograd measured slower than direct (docs/winograd.md).
    const soft = chooserFor('auto', TEST_TARGET, undefined, FAKE);
    expect(RULE.winogradOnSoftware).toBe(false);
    expect(soft(conv()).algorithm).toBe('direct');
    const choose = chooserFor('auto', { ...TEST_TARGET, software: false }, undefined, FAKE);
    // Large 3x3: Winograd F(4,3) (default tuning: the first listed).
    expect(choose(conv())).toMatchObject({ algorithm: 'winograd-f4', tuning: { tile: 4 } });
    // Big enough for Winograd, too small a side for F(4,3): F(2,3).
    const small = conv({ h: 7, w: 32 });
    expect(small.h * small.w).toBeGreaterThanOrEqual(RULE.winogradMinPixels);
    expect(choose(small).algorithm).toBe('winograd-f2');
    // Too few channels (the first layer) or pixels: direct.
    expect(choose(conv({ cin: 3 })).algorithm).toBe('direct');
    expect(choose(conv({ h: 4, w: 4 })).algorithm).toBe('direct');
    // FC: GEMM from batch RULE.gemmMinBatch on, direct below.
    expect(choose(fc(RULE.gemmMinBatch))).toMatchObject({ algorithm: 'gemm', tuning: { tm: 4 } });
    expect(choose(fc(RULE.gemmMinBatch - 1)).algorithm).toBe('direct');
    for (const l of LAYERS) expect(choose(l).reason).toMatch(/^rule: \S/);
  });

  it('never answers an algorithm or tuning APPLICABLE does not list, in any mode', () => {
    const wrong = new Map<string, TunedEntry>(
      LAYERS.map((l) => [layerKey(l), { algorithm: 'winograd-f4', speedup: 5, on: 'x' }]),
    );
    for (const table of [FAKE, DIRECT_ONLY]) {
      for (const mode of ['direct', 'winograd', 'auto'] as const) {
        const choose = chooserFor(mode, TEST_TARGET, wrong, table);
        for (const l of LAYERS) {
          const c = choose(l);
          expect(listed(table, l, c.algorithm, c.tuning), `${mode} ${layerKey(l)}`).toBe(true);
        }
      }
    }
  });

  it('forcingChooser forces the layers it names and leaves the others', () => {
    const forced = new Map([[layerKey(conv()), { algorithm: 'gemm' as const, reason: 'forced' }]]);
    const choose = forcingChooser(forced, chooserFor('direct', TEST_TARGET, undefined, FAKE));
    expect(choose(conv()).reason).toBe('forced');
    expect(choose(fc(1)).reason).toBe('--conv direct');
  });

  it('candidates: every algorithm x tuning APPLICABLE lists, nothing else', () => {
    expect(candidates(conv(), TEST_TARGET, FAKE).map((c) => c.algorithm)).toEqual([
      'direct',
      'direct',
      'winograd-f2',
      'winograd-f4',
      'winograd-f4',
    ]);
    expect(candidates(fc(1), TEST_TARGET, DIRECT_ONLY)).toEqual([
      { algorithm: 'direct', tuning: {} },
    ]);
  });
});

describe('the choice in a real plan', () => {
  const graph = checkSource(
    {
      name: 'm.vgg',
      text: 'model m { input 3x16x16\n conv3-8, conv3-8, maxpool\n FC-5 }',
    },
    {},
  );

  it("APPLICABLE.direct lists the direct conv's tile variants for a 3x3 conv, the default first", () => {
    const l = conv({ cin: 8, cout: 8, h: 16, w: 16 });
    expect(APPLICABLE.direct(l, TEST_TARGET)).toEqual([{}, { rows: 4 }]);
    expect(APPLICABLE.direct(fc(1), TEST_TARGET)).toEqual([{}]);
  });

  it('each conv step carries its choice; plan.json and the kernel headers too', () => {
    const forced = new Map([
      [
        layerKey(conv({ cin: 8, cout: 8, h: 16, w: 16, pool: true })),
        { algorithm: 'direct' as const, tuning: { rows: 4 }, reason: 'forced for the test' },
      ],
    ]);
    const choose = forcingChooser(forced, chooserFor('direct', TEST_TARGET));
    const plan = compileInference(graph, { target: TEST_TARGET, choose });
    const rows = layerChoices(plan);
    // The two convs, then the FC (which the GEMM branch also asks about).
    expect(rows.map((r) => [r.algorithm, r.reason])).toEqual([
      ['direct', '--conv direct'],
      ['direct rows=4', 'forced for the test'],
      ['direct', '--conv direct'],
    ]);
    expect(rows[1]!.layer).toMatch(/maxpool/);
    // The tuning reached the generator: the pooled conv's code differs from the default's.
    const plain = compileInference(graph, { target: TEST_TARGET });
    const pooled = (p: typeof plan) => p.steps.find((s) => s.label.includes('maxpool'))!;
    expect(pooled(plan).kernel.code).not.toBe(pooled(plain).kernel.code);
    expect(plan.steps[0]!.kernel.code).toBe(plain.steps[0]!.kernel.code);
    const { json, wgsl } = planFiles(plan);
    const steps = (json as { dispatches: { algorithm?: { reason: string } }[] }).dispatches;
    expect(steps.filter((s) => s.algorithm).map((s) => s.algorithm!.reason)).toEqual([
      '--conv direct',
      'forced for the test',
      '--conv direct',
    ]);
    expect(
      [...wgsl.values()].some((code) => code.split('\n')[0]!.includes('forced for the test')),
    ).toBe(true);
  });
});

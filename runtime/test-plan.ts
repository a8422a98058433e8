/**
 * How a model is tested (the paper's Section 3.2, run by runtime/eval.ts): which scales, flips
 * or not, dense and/or multi-crop, the batch, and the mean to subtract. One place decides the
 * defaults, for `vggc eval`, `vggc classify` and library users alike: an explicit override
 * wins, else the model's `test { ... }` block, else what follows from its training scale and
 * input size.
 *
 * Default scales: `test { scales ... }` when given; else from the training scale, a fixed S
 * giving {S - 32, S, S + 32} and a jittered [Smin, Smax] giving {Smin, (Smin + Smax) / 2, Smax}
 * (rounded); else the input size. Derived scales are never below the model's input size
 * (max(H, W)), so that every default is valid for both dense and multi-crop evaluation; scales
 * that become equal are kept once.
 */
import type { Graph } from '../compiler/ir.js';
import { fail } from '../dsl/diagnostics.js';
import type { Dataset } from './data/dataset.js';
import {
  FINITE,
  POSITIVE_INT,
  checkSetting,
  declaredInput,
  type NumberRule,
  type SettingNames,
} from './settings.js';

export interface TestScales {
  readonly scales: number[];
  /** Where they come from, for messages: `test { scales }`, `train scale 256 (S-32, S, S+32)`. */
  readonly from: string;
}

/** The rule each numeric test setting keeps (`scale`: each test scale Q; `mean`: each channel). */
export const TEST_RULES = {
  scale: POSITIVE_INT,
  batch: POSITIVE_INT,
  limit: POSITIVE_INT,
  mean: FINITE,
} as const satisfies Record<string, NumberRule>;

export const TEST_DEFAULTS = {
  /** Images per evaluation batch (`vggc eval`; `vggc classify` takes one image at a time). */
  batch: 8,
  dense: true,
  multiCrop: false,
  flip: false,
} as const;

export interface TestOverrides {
  readonly scales?: readonly number[];
  readonly flip?: boolean;
  readonly dense?: boolean;
  readonly multiCrop?: boolean;
  readonly batch?: number;
}

export interface TestPlan {
  readonly scales: TestScales;
  readonly flip: boolean;
  readonly dense: boolean;
  readonly multiCrop: boolean;
  readonly batch: number;
}

/** The model's test scales Q (see the module comment for the rule). */
export function defaultTestScales(graph: Graph): TestScales {
  const given = graph.test.scales;
  if (given && given.length > 0) return { scales: [...given], from: 'test { scales }' };
  const [, H, W] = declaredInput(graph);
  const least = Math.max(H, W);
  const atLeast = (qs: number[]) => [...new Set(qs.map((q) => Math.max(q, least)))];
  const floor = (qs: number[]) =>
    qs.some((q) => q < least) ? `, at least the input size ${least}` : '';
  const s = graph.train.scale;
  if (s && s.min === s.max) {
    const qs = [s.min - 32, s.min, s.min + 32];
    return {
      scales: atLeast(qs),
      from: `train { scale ${s.min} } (Q = S-32, S, S+32${floor(qs)})`,
    };
  }
  if (s) {
    const qs = [s.min, Math.round((s.min + s.max) / 2), s.max];
    return {
      scales: atLeast(qs),
      from: `train { scale ${s.min}..${s.max} } (Q = Smin, (Smin+Smax)/2, Smax${floor(qs)})`,
    };
  }
  return { scales: [least], from: `the input size (the model sets no test or train scale)` };
}

/**
 * Resolves how to test `graph`: `overrides`, else the model's `test { ... }`, else the defaults
 * above. Values that break a rule are VggcErrors naming the setting through `names` (the CLI
 * passes its flag names).
 */
export function resolveTestPlan(
  graph: Graph,
  overrides: TestOverrides = {},
  names: SettingNames = (s, negated) => (negated ? `${s}: false` : s),
): TestPlan {
  const o = overrides;
  let scales: TestScales;
  if (o.scales !== undefined) {
    if (o.scales.length === 0) fail(`${names('scales')}: give at least one test scale`);
    for (const q of o.scales) checkSetting(`${names('scales')} (each scale)`, q, TEST_RULES.scale);
    scales = { scales: [...o.scales], from: names('scales') };
  } else {
    scales = defaultTestScales(graph);
  }
  const dense = o.dense ?? TEST_DEFAULTS.dense;
  const multiCrop = o.multiCrop ?? TEST_DEFAULTS.multiCrop;
  if (!dense && !multiCrop) {
    fail(`${names('dense', true)} needs ${names('multiCrop')}: nothing would be evaluated`);
  }
  return {
    scales,
    flip: o.flip ?? graph.test.flip ?? TEST_DEFAULTS.flip,
    dense,
    multiCrop,
    batch: checkSetting(names('batch'), o.batch ?? TEST_DEFAULTS.batch, TEST_RULES.batch),
  };
}

/** `dense, horizontal flips` / `dense + multi-crop (50 crops per scale)`, for headers. */
export function describePlan(p: Omit<TestPlan, 'batch'>): string {
  const crops = 25 * (p.flip ? 2 : 1);
  const methods = [
    ...(p.dense ? ['dense'] : []),
    ...(p.multiCrop ? [`multi-crop (${crops} crops per scale)`] : []),
  ].join(' + ');
  return `${methods}${p.flip ? ', horizontal flips' : ''}`;
}

/**
 * The mean to subtract: `mean` when given, else the weight file's `mean` metadata, else (with a
 * dataset) its training-split channel mean as the data loaders compute it, else none. `from`
 * says which, for messages.
 */
export async function resolveMean(opts: {
  readonly mean?: ArrayLike<number>;
  /** Where the given `mean` came from (`--mean`). */
  readonly meanFrom?: string;
  readonly weights: string;
  readonly dataset?: Dataset;
}): Promise<{ mean?: Float32Array; from: string }> {
  if (opts.mean !== undefined) {
    const from = opts.meanFrom ?? 'mean';
    for (let i = 0; i < opts.mean.length; i++) checkSetting(from, opts.mean[i]!, TEST_RULES.mean);
    return { mean: Float32Array.from(opts.mean), from };
  }
  // Loaded on use, so that the settings above stay cheap to import (the CLI reads them at start).
  const { meanFromWeights } = await import('./eval.js');
  const recorded = await meanFromWeights(opts.weights);
  if (recorded) return { mean: recorded, from: `${opts.weights} metadata` };
  const d = opts.dataset;
  if (d && !d.preprocessed) {
    const { channelMean } = await import('./data/augment.js');
    return { mean: await channelMean(d.train), from: `${d.name} training split` };
  }
  return { from: d ? 'none (preprocessed .npy set)' : 'none' };
}

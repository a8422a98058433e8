/**
 * `vggc eval FILE [--model NAME] --weights W --data SPEC [--scales Q1,Q2,...] [--flip]
 *  [--multi-crop] [--no-dense] [--limit N] [--batch N] [--mean M1,M2,..] [--json] [--no-fuse]`
 *
 * Top-1 / top-5 error of a model on a dataset's test split, per test scale and for the scales
 * combined, by the paper's dense (and optionally multi-crop) evaluation: runtime/eval.ts.
 * A progress bar goes to stderr; the table (or, with --json, one JSON object) to stdout.
 */
import { SingleBar } from 'cli-progress';
import { formatShape, type Shape } from '../compiler/ir.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { fail } from '../dsl/diagnostics.js';
import { channelMean } from '../runtime/data/augment.js';
import { checkClasses, describeHeldOut, type Dataset } from '../runtime/data/dataset.js';
import { classifierClasses } from '../compiler/classifier.js';
import { openDataset } from '../runtime/data/open.js';
import {
  checkScales,
  createEvaluator,
  defaultTestScales,
  evaluateSplit,
  meanFromWeights,
  parseMean,
  type TestScales,
} from '../runtime/eval.js';
import { errorRates } from '../runtime/topk.js';
import { loadWeights } from '../runtime/weights.js';
import {
  fuseOption,
  loadModel,
  positiveInt,
  testFractionOption,
  type FuseFlags,
  type ModelFlags,
} from './common.js';
import { renderTable } from './table.js';

export interface TestFlags extends ModelFlags, FuseFlags {
  readonly weights: string;
  readonly scales?: string;
  /** `--flip` true, `--no-flip` false, neither: the model's `test { flip }`. */
  readonly flip?: boolean;
  readonly multiCrop?: boolean;
  /** `--no-dense` sets false (multi-crop alone). */
  readonly dense?: boolean;
  readonly mean?: string;
  readonly batch?: string;
}

export interface EvalFlags extends TestFlags {
  readonly data: string;
  readonly limit?: string;
  readonly json?: boolean;
  readonly testFraction?: string;
}

/** `28,30,32` -> [28, 30, 32]. */
export function parseScales(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p)) || values.some((v) => v < 1)) {
    fail(
      `--scales must be positive integers separated by commas (e.g. 256,384,512), not '${text}'`,
    );
  }
  return values;
}

/** The test settings shared by `eval` and `classify`: scales, flips, methods. */
export interface TestPlan {
  readonly scales: TestScales;
  readonly flip: boolean;
  readonly dense: boolean;
  readonly multiCrop: boolean;
}

export function testPlan(graph: TypedGraph, flags: TestFlags): TestPlan {
  const scales: TestScales =
    flags.scales !== undefined
      ? { scales: parseScales(flags.scales), from: '--scales' }
      : defaultTestScales(graph);
  const dense = flags.dense !== false;
  const multiCrop = flags.multiCrop === true;
  if (!dense && !multiCrop) fail('--no-dense needs --multi-crop: nothing would be evaluated');
  return { scales, flip: flags.flip ?? graph.test.flip ?? false, dense, multiCrop };
}

/** `dense, flips` / `dense + multi-crop (50 crops per scale)`, for headers. */
export function describePlan(p: TestPlan): string {
  const crops = 25 * (p.flip ? 2 : 1);
  const methods = [
    ...(p.dense ? ['dense'] : []),
    ...(p.multiCrop ? [`multi-crop (${crops} crops per scale)`] : []),
  ].join(' + ');
  return `${methods}${p.flip ? ', horizontal flips' : ''}`;
}

/**
 * The mean to subtract: --mean, else the weight file's `mean` metadata, else (eval) the
 * dataset's training-split channel mean as the data loaders compute it, else none.
 */
export async function chooseMean(
  flags: TestFlags,
  dataset?: Dataset,
): Promise<{ mean?: Float32Array; from: string }> {
  if (flags.mean !== undefined) return { mean: parseMean(flags.mean, '--mean'), from: '--mean' };
  const recorded = await meanFromWeights(flags.weights);
  if (recorded) return { mean: recorded, from: `${flags.weights} metadata` };
  if (dataset && !dataset.preprocessed) {
    return { mean: await channelMean(dataset.train), from: `${dataset.name} training split` };
  }
  return { from: dataset ? 'none (preprocessed .npy set)' : 'none' };
}

export const formatMean = (m: ArrayLike<number> | undefined): string =>
  m ? `[${Array.from(m, (v) => v.toFixed(4)).join(', ')}]` : '';

const percent = (v: number) => `${(100 * v).toFixed(2)}%`;

export async function runEval(
  file: string,
  flags: EvalFlags,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  const graph = loadModel(file, { ...(flags.model !== undefined ? { model: flags.model } : {}) });
  const plan = testPlan(graph, flags);
  const batch = flags.batch !== undefined ? positiveInt(flags.batch, '--batch') : 8;
  const limit = flags.limit !== undefined ? positiveInt(flags.limit, '--limit') : undefined;
  const declared = graph.nodes[0]!.out;
  const channels = declared[0];
  const dataset = await openDataset(flags.data, {
    ...(channels === 1 || channels === 3 ? { channels } : {}),
    ...testFractionOption(flags),
  });
  const split = dataset.test;
  const shape: Shape = split.shape;
  if (shape[0] !== channels) {
    fail(
      `${dataset.name}: images have ${shape[0]} channel(s), the model ${graph.name} takes ${channels}`,
    );
  }
  if (split.length === 0) {
    fail(
      dataset.heldOut !== undefined
        ? `${dataset.name}: no test split to evaluate (no test/ folder, and ${+(100 * dataset.heldOut).toPrecision(4)}% ` +
            `of each class holds no image): give --test-fraction 0.2 or a test/ folder`
        : `${dataset.name}: the test split is empty`,
    );
  }
  checkClasses(dataset, classifierClasses(graph), graph.name);
  checkScales(graph, plan.scales.scales, {
    image: shape,
    dense: plan.dense,
    multiCrop: plan.multiCrop,
    from: plan.scales.from,
  });
  const weights = await loadWeights(flags.weights, graph);
  const { mean, from: meanFrom } = await chooseMean(flags, dataset);
  const total = Math.min(split.length, limit ?? split.length);
  const started = performance.now();
  const evaluator = await createEvaluator(graph, weights, {
    scales: plan.scales.scales,
    flip: plan.flip,
    dense: plan.dense,
    multiCrop: plan.multiCrop,
    batch,
    fuse: fuseOption(flags),
    ...(mean ? { mean } : {}),
  });
  const bar = new SingleBar({
    format: `eval {bar} {percentage}% | {value}/{total} images | {duration_formatted} | ETA {eta_formatted}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
    hideCursor: true,
  });
  const heldOut = describeHeldOut(dataset);
  if (heldOut) err(heldOut); // after every check: a refusal stays one line
  let result;
  try {
    bar.start(total, 0);
    result = await evaluateSplit(evaluator, split, {
      batch,
      ...(limit !== undefined ? { limit } : {}),
      onProgress: (done) => bar.update(done),
    });
  } finally {
    bar.stop();
    evaluator.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  const combined = errorRates(result.combined);
  const perScale = plan.scales.scales.map((q, i) => ({ q, ...errorRates(result.perScale[i]!) }));

  if (flags.json) {
    out(
      JSON.stringify({
        images: result.images,
        top1_error: combined.top1,
        top5_error: combined.top5,
        per_scale: perScale.map((s) => ({
          scale: s.q,
          top1_error: s.top1,
          top5_error: s.top5,
        })),
      }),
    );
    return;
  }
  out(
    `${graph.name} on ${dataset.name}, test split: ${result.images} image` +
      `${result.images === 1 ? '' : 's'} of ${formatShape(shape)}, ${evaluator.classes} classes`,
  );
  out(`evaluation: ${describePlan(plan)}`);
  out(`test scales: ${plan.scales.scales.join(', ')} (from ${plan.scales.from})`);
  out(`mean subtracted: ${mean ? `${formatMean(mean)} (from ${meanFrom})` : meanFrom}`);
  out('');
  const rows = perScale.map((s) => [String(s.q), percent(s.top1), percent(s.top5)]);
  if (perScale.length > 1) {
    rows.push([plan.scales.scales.join(','), percent(combined.top1), percent(combined.top5)]);
  }
  out(
    renderTable(['test scale Q', 'top-1 error', 'top-5 error'], rows, ['left', 'right', 'right']),
  );
  err(`${result.images} images in ${seconds.toFixed(1)} s`);
}

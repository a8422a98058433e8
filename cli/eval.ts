/**
 * `vggc eval FILE [--model NAME] --weights W --data SPEC [--scales Q1,Q2,...] [--flip]
 *  [--multi-crop] [--no-dense] [--limit N] [--batch N] [--mean M1,M2,..] [--json] [--no-fuse]`
 *
 * Top-1 / top-5 error of a model on a dataset's test split, per test scale and for the scales
 * combined, by the paper's dense (and optionally multi-crop) evaluation: runtime/eval.ts.
 * A progress bar goes to stderr; the table (or, with --json, one JSON object) to stdout.
 */
import { SingleBar } from 'cli-progress';
import { formatShape, type Graph, type Shape } from '../compiler/ir.js';
import { fail } from '../dsl/diagnostics.js';
import { checkClasses, describeHeldOut, type Dataset } from '../runtime/data/dataset.js';
import { classifierClasses } from '../compiler/classifier.js';
import { openDataset } from '../runtime/data/open.js';
import { checkScales, createEvaluator, evaluateSplit } from '../runtime/eval.js';
import { describePlan, resolveMean, resolveTestPlan, type TestPlan } from '../runtime/test-plan.js';
import { errorRates } from '../runtime/topk.js';
import { loadWeights } from '../runtime/weights.js';
import { flagName } from './args.js';
import { compileProgress } from './progress.js';
import {
  convOptions,
  fuseOption,
  loadModel,
  type ConvFlags,
  type FuseFlags,
  type ModelFlags,
} from './common.js';
import { renderTable } from './table.js';

/** What commander hands over for `eval` and `classify` (numbers already parsed: cli/args.ts). */
export interface TestFlags extends ModelFlags, FuseFlags, ConvFlags {
  readonly weights: string;
  readonly scales?: number[];
  /** `--flip` true, `--no-flip` false, neither: the model's `test { flip }`. */
  readonly flip?: boolean;
  readonly multiCrop?: boolean;
  /** `--no-dense` sets false (multi-crop alone). */
  readonly dense?: boolean;
  readonly mean?: number[];
  readonly batch?: number;
}

export interface EvalFlags extends TestFlags {
  readonly data: string;
  readonly limit?: number;
  readonly json?: boolean;
  readonly testFraction?: number;
}

/** Flags -> runtime/test-plan.ts `resolveTestPlan`, which decides the rest. */
export const testPlan = (graph: Graph, flags: TestFlags, batch = flags.batch): TestPlan =>
  resolveTestPlan(
    graph,
    {
      scales: flags.scales,
      flip: flags.flip,
      dense: flags.dense,
      multiCrop: flags.multiCrop,
      batch,
    },
    flagName,
  );

/** The mean to subtract (runtime/test-plan.ts `resolveMean`): --mean, metadata, dataset. */
export const chooseMean = (flags: TestFlags, dataset?: Dataset) =>
  resolveMean({
    ...(flags.mean !== undefined ? { mean: flags.mean, meanFrom: '--mean' } : {}),
    weights: flags.weights,
    ...(dataset ? { dataset } : {}),
  });

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
  const { batch } = plan;
  const limit = flags.limit;
  const declared = graph.nodes[0]!.out;
  const channels = declared[0];
  const dataset = await openDataset(flags.data, {
    ...(channels === 1 || channels === 3 ? { channels } : {}),
    ...(flags.testFraction !== undefined ? { testFraction: flags.testFraction } : {}),
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
    conv: await convOptions(flags, err),
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
    // Every scale's plan compiles here, before the bar starts counting images.
    await evaluator.warmUp(shape, compileProgress(err));
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

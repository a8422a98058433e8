/**
 * `vggc classify FILE [--model NAME] --weights W [--labels labels.txt] [--scales Q1,..]
 *  [--flip] [--multi-crop] [--mean M1,..] IMAGE...`
 *
 * Decodes each JPEG/PNG (sharp: runtime/data/folder.ts `decodeImage`, values in [0, 1]),
 * evaluates it as `vggc eval` does (runtime/eval.ts: rescaled to each test scale, mean
 * subtracted, dense and/or multi-crop, flips, posteriors averaged) and prints its five most
 * probable classes.
 */
import { formatShape } from '../compiler/ir.js';
import { VggcError, fail } from '../dsl/diagnostics.js';
import { decodeImage } from '../runtime/data/folder.js';
import { checkScales, classesFromWeights, createEvaluator } from '../runtime/eval.js';
import { readRegularFile } from '../runtime/fsutil.js';
import { topClasses } from '../runtime/topk.js';
import { loadWeights } from '../runtime/weights.js';
import { describePlan } from '../runtime/test-plan.js';
import { chooseMean, formatMean, testPlan, type TestFlags } from './eval.js';
import { compileProgress } from './progress.js';
import { convOptions, fuseOption, loadModel } from './common.js';

export interface ClassifyFlags extends TestFlags {
  readonly labels?: string;
}

/** One class name per non-empty line; there must be one per class of the model. */
async function readLabels(path: string, classes: number): Promise<string[]> {
  const text = (await readRegularFile(path)).toString('utf8');
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== classes) {
    fail(`${path}: ${names.length} class names (one per line), the model has ${classes} classes`);
  }
  return names;
}

export async function runClassify(
  file: string,
  images: readonly string[],
  flags: ClassifyFlags,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  const graph = loadModel(file, { ...(flags.model !== undefined ? { model: flags.model } : {}) });
  const plan = testPlan(graph, flags, 1);
  const channels = graph.nodes[0]!.out[0];
  if (channels !== 1 && channels !== 3) {
    fail(`classify decodes images as 1 or 3 channels; the model ${graph.name} takes ${channels}`);
  }
  // Every problem with the scales shows before the weights load: as if for a square image.
  checkScales(graph, plan.scales.scales, {
    dense: plan.dense,
    multiCrop: plan.multiCrop,
    from: plan.scales.from,
  });
  const weights = await loadWeights(flags.weights, graph);
  const { mean, from } = await chooseMean(flags);
  if (!mean) {
    err(
      `note: no mean subtracted (${flags.weights} records none in its metadata 'mean'; give --mean M1,M2,...)`,
    );
  }
  const evaluator = await createEvaluator(graph, weights, {
    scales: plan.scales.scales,
    flip: plan.flip,
    dense: plan.dense,
    multiCrop: plan.multiCrop,
    batch: plan.batch,
    fuse: fuseOption(flags),
    conv: await convOptions(flags, err),
    ...(mean ? { mean } : {}),
  });
  try {
    const names = flags.labels
      ? await readLabels(flags.labels, evaluator.classes)
      : await classesFromWeights(flags.weights, evaluator.classes);
    out(
      `${graph.name}: ${describePlan(plan)}; scales ${plan.scales.scales.join(', ')} ` +
        `(from ${plan.scales.from})${mean ? `; mean ${formatMean(mean)} (from ${from})` : ''}`,
    );
    for (const path of images) {
      const img = await decodeImage(path, channels);
      try {
        checkScales(graph, plan.scales.scales, {
          image: img.shape,
          dense: plan.dense,
          multiCrop: plan.multiCrop,
          from: plan.scales.from,
        });
      } catch (e) {
        if (e instanceof VggcError) fail(`${path}: ${e.message}`);
        throw e;
      }
      await evaluator.warmUp(img.shape, compileProgress(err));
      const post = await evaluator.evaluate(img.data, 1, img.shape);
      out(`${path} (${formatShape(img.shape)}):`);
      for (const [c, p] of topClasses(post.combined, 0, evaluator.classes, 5)) {
        out(`  ${p.toFixed(4)}  ${names ? names[c] : `class ${c}`}`);
      }
    }
  } finally {
    evaluator.destroy();
  }
}

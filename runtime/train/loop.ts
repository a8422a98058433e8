/**
 * The training loop behind `vggc train`: data -> GPU training steps -> per-epoch validation,
 * checkpoint, metrics. Everything the command does lives here; the CLI only parses flags and
 * draws the progress bar from the events this loop emits.
 *
 * Each epoch visits the training split once (shuffled per epoch from the seed, unless
 * `shuffle` is off), in batches of exactly `batch` images: the plan is compiled for one batch
 * size, so an incomplete last batch is left out (PyTorch's drop_last). The loader prepares
 * (decodes, augments) the next batch while the GPU runs the current one. After each epoch the
 * test split is classified at the model's input size, the learning-rate schedule hears the
 * accuracy, and the weights and the checkpoint are written atomically.
 */
import { classifierClasses } from '../../compiler/classifier.js';
import {
  compileInference,
  compileTraining,
  setDropout,
  type FuseOption,
} from '../../compiler/compile.js';
import type { TypedGraph } from '../../compiler/shapes.js';
import { fail } from '../../dsl/diagnostics.js';
import { augmentFor, type AugmentOptions } from '../data/augment.js';
import { checkClasses, type Dataset, type Split } from '../data/dataset.js';
import { createLoader } from '../data/loader.js';
import { targetOf, type Gpu } from '../device.js';
import { PlanCache } from '../plan-cache.js';
import { createTrainer, type Trainer } from '../trainer.js';
import { warmUp } from '../warmup.js';
import { saveWeights } from '../weights.js';
import { checkpointPath, saveCheckpoint, type Checkpoint, type RunState } from './checkpoint.js';
import { LrSchedule, type ScheduleName } from './lr-schedule.js';
import { MetricsLog, type EpochRecord } from './metrics.js';
import { convChooser, type ConvOptions } from '../tuning.js';
import type { Chooser } from '../../compiler/algorithms.js';

export interface TrainConfig {
  readonly graph: TypedGraph;
  readonly dataset: Dataset;
  /** Initial weights (ignored when resuming). */
  readonly weights: ReadonlyMap<string, Float32Array>;
  /** Continue this run (its weights, momenta, epoch, step and schedule). */
  readonly resume?: Checkpoint;
  /** Epochs to run in total (counting those a resumed run already did)... */
  readonly epochs?: number;
  /** ...or global steps in total. */
  readonly steps?: number;
  readonly batch: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Probability of every dropout layer (0 removes them). */
  readonly dropout?: number;
  readonly augment: 'paper' | 'none';
  /** Random horizontal flips under paper augmentation (default true). */
  readonly flip?: boolean;
  /** Training scale S (paper augmentation): fixed or jittered [Smin, Smax]. */
  readonly scale?: readonly [number, number];
  readonly shuffle: boolean;
  readonly seed: number;
  readonly schedule: ScheduleName;
  /** Epochs between drops of the step schedule. */
  readonly stepEpochs?: number;
  readonly fuse?: FuseOption;
  /** The algorithm of each layer (runtime/tuning.ts): `--conv` and the tuning table. */
  readonly conv?: ConvOptions;
  /** The weights file; the checkpoint goes next to it (checkpoint.ts). */
  readonly save: string;
  /** Metrics log (JSON lines); a chart `<log>.svg` is drawn next to it. */
  readonly log?: string;
  /** Stops the run after the current step (Ctrl-C): the last checkpoint stays as it is. */
  readonly signal?: AbortSignal;
}

export interface StepEvent {
  readonly epoch: number;
  readonly batch: number;
  readonly batches: number;
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
  /** Over the epoch so far. */
  readonly imagesPerSecond: number;
  readonly lr: number;
}

export interface TrainEvents {
  /** Once the plan is compiled: what will run. */
  start?(info: {
    epochs: number;
    batchesPerEpoch: number;
    firstEpoch: number;
    dispatches: number;
  }): void;
  /**
   * After `start`, before the first step: `done` of `total` pipelines of the training step and
   * the test pass compiled and warmed (runtime/warmup.ts); not called when all were warm.
   */
  compile?(done: number, total: number): void;
  step?(e: StepEvent): void;
  epoch?(r: EpochRecord): void;
}

export interface TrainResult {
  readonly epochs: readonly EpochRecord[];
  /** NaN when the dataset has no test split. */
  readonly testAccuracy: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

export async function train(
  gpu: Gpu,
  config: TrainConfig,
  events: TrainEvents = {},
): Promise<TrainResult> {
  const started = performance.now();
  const { dataset, batch } = config;
  const model = setDropout(config.graph, config.dropout);
  checkClasses(dataset, classifierClasses(model), model.name);
  const input = model.nodes[0]!.out;
  const train = dataset.train;
  const batchesPerEpoch = Math.floor(train.length / batch);
  if (batchesPerEpoch < 1) {
    fail(
      `${dataset.name}: ${train.length} training images make no full batch of ${batch}: use a smaller --batch`,
    );
  }
  const resumed = config.resume?.state;
  const totalSteps = config.steps ?? (config.epochs ?? 1) * batchesPerEpoch;
  const epochs = Math.ceil(totalSteps / batchesPerEpoch);
  if (resumed && (resumed.batch !== batch || resumed.seed !== config.seed)) {
    fail(
      `the checkpoint was trained with batch ${resumed.batch} and seed ${resumed.seed}: resume with the same --batch and --seed`,
    );
  }
  if (resumed && resumed.step >= totalSteps) {
    fail(
      `the checkpoint has already run ${resumed.step} steps (${resumed.epoch} epochs): ask for more --epochs or --steps`,
    );
  }
  const target = targetOf(gpu);
  const choose = convChooser(gpu, config.conv);
  const plan = compileTraining(model, { target, batch, fuse: config.fuse ?? true, choose });
  const trainer = await createTrainer(
    gpu,
    plan,
    config.resume?.weights ?? config.weights,
    config.resume?.momenta,
  );
  // Validation binds the trainer's parameters where they are and keeps its plan across epochs.
  const tests = new PlanCache(gpu, { params: trainer.executor.locate });
  const schedule = new LrSchedule(
    {
      name: config.schedule,
      lr: config.lr,
      totalSteps,
      stepEpochs: config.stepEpochs ?? Math.max(1, Math.round(epochs / 3)),
    },
    resumed?.schedule,
  );
  const [smin, smax] = config.scale ?? [Math.max(input[1], input[2]), Math.max(input[1], input[2])];
  const trainAugment = await augmentFor(dataset, {
    mode: config.augment,
    input: [input[0], input[1], input[2]],
    ...(config.augment === 'paper' ? { scale: [smin, smax] as [number, number] } : {}),
    flip: config.flip ?? true,
  });
  const testAugment: AugmentOptions = { ...trainAugment, mode: 'none' };
  const log = config.log ? await MetricsLog.open(config.log, resumed?.step) : undefined;
  const records: EpochRecord[] = [];
  let step = resumed?.step ?? 0;
  // A run stopped by --steps may end mid-epoch: resume inside that epoch, skipping the batches
  // it already trained on (the same seed and epoch give the same order).
  const firstEpoch = Math.floor(step / batchesPerEpoch) + 1;
  const skip = step % batchesPerEpoch;
  events.start?.({ epochs, batchesPerEpoch, firstEpoch, dispatches: plan.steps.length });
  // Every pipeline of the run (the training step; the test pass, one padded plan) is compiled
  // here, before the first step, so that epoch 1's images/s measure training, not compiles.
  const testPlans =
    dataset.test.length > 0
      ? tests.plansFor(TEST_KEY, testCompile(gpu, model, config.fuse, choose), batch, {
          slice: batch,
          pad: true,
        })
      : [];
  await warmUp(gpu, [plan, ...testPlans], events.compile ? { onProgress: events.compile } : {});
  let trained = 0;
  let trainSeconds = 0;
  let testAccuracy = NaN;

  try {
    for (let epoch = firstEpoch; epoch <= epochs && step < totalSteps; epoch++) {
      const loader = createLoader(train, {
        batch,
        shuffle: config.shuffle,
        seed: config.seed,
        epoch: epoch - 1,
        augment: trainAugment,
      });
      const t0 = performance.now();
      let lossSum = 0;
      let hits = 0;
      let seen = 0;
      let lr = schedule.rate(step);
      for await (const b of loader) {
        if (epoch === firstEpoch && b.index < skip) continue;
        if (b.n < batch || step >= totalSteps) break;
        lr = schedule.rate(step);
        const r = await trainer.step(b.x, b.labels, {
          lr,
          momentum: config.momentum,
          weightDecay: config.weightDecay,
          seed: config.seed,
          step,
        });
        if (config.signal?.aborted) {
          const ck = checkpointPath(config.save);
          fail(
            `interrupted at step ${step + 1} (epoch ${epoch}); ` +
              (epoch > 1 || resumed
                ? `${ck} holds epoch ${epoch - 1}: continue with --resume`
                : 'no epoch was complete, nothing was saved'),
          );
        }
        if (!Number.isFinite(r.loss)) {
          // Nothing of this epoch is saved: the weights and checkpoint on disk stay the last good ones.
          const ck = checkpointPath(config.save);
          fail(
            `the loss became ${r.loss} at step ${step + 1} (epoch ${epoch}): stopped; ` +
              (epoch > 1 || resumed
                ? `${ck} keeps epoch ${epoch - 1}, the last good one`
                : 'no epoch was complete, nothing was saved') +
              '. Try a smaller --lr, or check the data for NaN or Inf values',
          );
        }
        step++;
        lossSum += r.loss * batch;
        hits += r.correct;
        seen += batch;
        const seconds = (performance.now() - t0) / 1000;
        const e: StepEvent = {
          epoch,
          batch: b.index + 1,
          batches: batchesPerEpoch,
          step,
          loss: r.loss,
          accuracy: r.correct / batch,
          imagesPerSecond: seen / seconds,
          lr,
        };
        await log?.step(e);
        events.step?.(e);
      }
      const seconds = (performance.now() - t0) / 1000;
      trained += seen;
      trainSeconds += seconds;
      const weights = await trainer.readWeights();
      // No test split (a folder without test/, --test-fraction 0): nothing to evaluate; the
      // test figures are NaN and the paper schedule watches the training accuracy instead.
      const test =
        dataset.test.length > 0
          ? await evaluate(gpu, model, tests, dataset.test, testAugment, batch, config.fuse, choose)
          : { loss: NaN, accuracy: NaN };
      testAccuracy = test.accuracy;
      // Only a whole epoch moves the schedule (a --steps run may stop inside one): a resumed run
      // then follows the same rates as an unbroken one.
      const watched = dataset.test.length > 0 ? test.accuracy : hits / Math.max(1, seen);
      if (step % batchesPerEpoch === 0) schedule.endEpoch(epoch, watched);
      const record: EpochRecord = {
        epoch,
        step,
        lr,
        train_loss: lossSum / Math.max(1, seen),
        train_accuracy: hits / Math.max(1, seen),
        test_loss: test.loss,
        test_accuracy: test.accuracy,
        images_per_second: seen / seconds,
        seconds,
      };
      const state: RunState = {
        model: model.name,
        epoch,
        step,
        seed: config.seed,
        batch,
        schedule: schedule.snapshot(),
      };
      // Checkpoint first: if the run dies between the two writes, --resume has the newer one.
      await saveCheckpoint(
        checkpointPath(config.save),
        model,
        weights,
        await trainer.readMomenta(),
        state,
      );
      await saveWeights(config.save, model, weights, {
        epoch: String(epoch),
        step: String(step),
        // What evaluation must subtract (runtime/eval.ts reads it back).
        ...(trainAugment.mean ? { mean: JSON.stringify(Array.from(trainAugment.mean)) } : {}),
        // The dataset's class names, for `vggc classify` (which takes them without --labels).
        classes: JSON.stringify(dataset.classes),
      });
      records.push(record);
      await log?.epoch(record);
      events.epoch?.(record);
    }
  } finally {
    tests.destroy();
    trainer.destroy();
    await log?.close();
  }
  return {
    epochs: records,
    testAccuracy,
    seconds: (performance.now() - started) / 1000,
    imagesPerSecond: trained / Math.max(1e-9, trainSeconds),
  };
}

/**
 * Loss and top-1 accuracy on `split` at the model's input size (no augmentation but the mean).
 * `weights` may be a PlanCache (the training loop's, bound to the trainer's parameters) that
 * keeps the plan for the next call.
 */
export async function evaluate(
  gpu: Gpu,
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array> | PlanCache,
  split: Split,
  augment: AugmentOptions,
  batch: number,
  fuse: FuseOption = true,
  choose?: Chooser,
): Promise<{ loss: number; accuracy: number }> {
  const plans = weights instanceof PlanCache ? weights : new PlanCache(gpu, { weights });
  const compile = testCompile(gpu, graph, fuse, choose);
  let loss = 0;
  let hits = 0;
  try {
    for await (const b of createLoader(split, { batch, augment })) {
      const logits = await plans.run(TEST_KEY, compile, b.n, b.x, { slice: batch, pad: true });
      const classes = logits.length / b.n;
      for (let i = 0; i < b.n; i++) {
        const row = logits.subarray(i * classes, (i + 1) * classes);
        let arg = 0;
        let max = -Infinity;
        for (let k = 0; k < classes; k++) if (row[k]! > max) [max, arg] = [row[k]!, k];
        let sum = 0;
        for (let k = 0; k < classes; k++) sum += Math.exp(row[k]! - max);
        const label = b.labels[i]!;
        loss += Math.log(sum) + max - row[label]!;
        if (arg === label) hits++;
      }
    }
  } finally {
    if (plans !== weights) plans.destroy();
  }
  return { loss: loss / split.length, accuracy: hits / split.length };
}

/** The test pass's plans in a PlanCache: `compile(n)` at batch n, under `TEST_KEY`. */
const TEST_KEY = 'test';
const testCompile =
  (gpu: Gpu, graph: TypedGraph, fuse: FuseOption = true, choose?: Chooser) =>
  (n: number) =>
    compileInference(graph, {
      target: targetOf(gpu),
      batch: n,
      fuse,
      output: 'logits',
      ...(choose ? { choose } : {}),
    });

export type { Trainer };

/**
 * `vggc train FILE [--model NAME] --data SPEC [--weights INIT | --init-from W] [--epochs N |
 * --steps N] [--batch B] [--lr X] [--momentum X] [--weight-decay X] [--dropout P]
 * [--augment paper|none] [--no-flip] [--no-shuffle] [--seed S] [--lr-schedule NAME]
 * --save OUT.safetensors [--log metrics.jsonl] [--resume] [--no-fuse | --fuse a,b]`
 *
 * Flags only: the run itself is runtime/train/loop.ts, its settings and their defaults
 * runtime/train/config.ts (`resolveTrainConfig`). Progress goes to stderr (a bar on a terminal, a line every few seconds otherwise), the
 * result to stdout.
 */
import { SingleBar } from 'cli-progress';
import { classifierClasses } from '../compiler/classifier.js';
import { fail } from '../dsl/diagnostics.js';
import { checkClasses, describeHeldOut } from '../runtime/data/dataset.js';
import { datasetFolder, openDataset } from '../runtime/data/open.js';
import { acquireGpu } from '../runtime/device.js';
import { initFromShallower, initWeights } from '../runtime/init.js';
import { checkOutputs } from '../runtime/outputs.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { checkpointPath, loadCheckpoint } from '../runtime/train/checkpoint.js';
import { resolveTrainConfig, type TrainOverrides } from '../runtime/train/config.js';
import { train, type TrainConfig } from '../runtime/train/loop.js';
import type { ScheduleName } from '../runtime/train/lr-schedule.js';
import { chartPath } from '../runtime/train/metrics.js';
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

/**
 * What commander hands over: numbers and choices already parsed and checked (cli/args.ts); the
 * settings under the library's names, but for the two that carry an `lr` prefix as flags.
 */
export interface TrainFlags
  extends ModelFlags, FuseFlags, ConvFlags, Omit<TrainOverrides, 'schedule' | 'stepEpochs'> {
  readonly data: string;
  readonly save: string;
  readonly weights?: string;
  readonly initFrom?: string;
  readonly lrSchedule?: ScheduleName;
  readonly lrStep?: number;
  readonly log?: string;
  readonly resume?: boolean;
  readonly testFraction?: number;
}

/** The flags that name library settings differently. */
const FLAG_OF: Record<string, string> = { schedule: 'lrSchedule', stepEpochs: 'lrStep' };
const names = (setting: string, negated?: boolean) =>
  flagName(FLAG_OF[setting] ?? setting, negated);

/** Flags -> the library's overrides (runtime/train/config.ts resolves the rest). */
const overrides = (flags: TrainFlags): TrainOverrides => ({
  ...flags,
  schedule: flags.lrSchedule,
  stepEpochs: flags.lrStep,
});

/** Every file the run reads, and every file it writes: no output may be an input. */
function checkFiles(file: string, flags: TrainFlags): void {
  const folder = datasetFolder(flags.data);
  checkOutputs(
    [
      { path: flags.save, what: '--save' },
      { path: checkpointPath(flags.save), what: 'the checkpoint' },
      ...(flags.log !== undefined
        ? [
            { path: flags.log, what: '--log' },
            { path: chartPath(flags.log), what: 'the chart' },
          ]
        : []),
    ],
    [
      { path: file, what: 'the model file' },
      ...(folder !== undefined ? [{ path: folder, what: '--data', folder: true }] : []),
      ...(flags.weights !== undefined ? [{ path: flags.weights, what: '--weights' }] : []),
      ...(flags.initFrom !== undefined ? [{ path: flags.initFrom, what: '--init-from' }] : []),
    ],
  );
}

export async function runTrain(
  file: string,
  flags: TrainFlags,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  checkFiles(file, flags);
  const graph = loadModel(file, flags);
  classifierClasses(graph); // before the data is read: a model without an FC layer is refused
  if (flags.weights && flags.initFrom) fail('give --weights or --init-from, not both');
  const settings = resolveTrainConfig(graph, overrides(flags), names);

  const [C, H, W] = graph.nodes[0]!.out;
  const dataset = await openDataset(flags.data, {
    size: settings.imageSize,
    ...(C === 1 || C === 3 ? { channels: C } : {}),
    ...(flags.testFraction !== undefined ? { testFraction: flags.testFraction } : {}),
  });
  checkClasses(dataset, classifierClasses(graph), graph.name); // before any GPU work
  if (dataset.shape[0] !== C) {
    fail(
      `${dataset.name}: images have ${dataset.shape[0]} channel(s), ${graph.name} takes ${C}x${H}x${W}`,
    );
  }
  const resume = flags.resume ? await loadCheckpoint(checkpointPath(flags.save), graph) : undefined;
  let weights: ReadonlyMap<string, Float32Array>;
  if (flags.weights) weights = await loadWeights(flags.weights, graph);
  else {
    weights = initWeights(graph, { scheme: settings.init, seed: settings.seed });
    if (flags.initFrom) {
      const { tensors } = await readSafetensors(flags.initFrom);
      const r = initFromShallower(graph, weights, tensors, flags.initFrom);
      weights = r.weights;
      err(`initialised from ${flags.initFrom}: ${r.copied.join(', ')}`);
    }
  }

  // Ctrl-C: finish the step, keep the last checkpoint, say how to resume (a second one kills).
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  const config: TrainConfig = {
    ...settings,
    graph,
    dataset,
    weights,
    ...(resume ? { resume } : {}),
    fuse: fuseOption(flags),
    conv: await convOptions(flags, err),
    save: flags.save,
    ...(flags.log !== undefined ? { log: flags.log } : {}),
    signal: interrupt.signal,
  };

  const gpu = await acquireGpu();
  const tty = process.stderr.isTTY === true;
  const bar = new SingleBar({
    format:
      'epoch {epoch} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | lr {lr} | ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
  });
  let lastLine = 0;
  const result = await train(gpu, config, {
    start(info) {
      // Where the test split comes from, first, when it was held out of the training data.
      const heldOut = describeHeldOut(dataset);
      if (heldOut) err(heldOut);
      err(
        `${graph.name}: training on ${dataset.name} (${dataset.train.length} images, ` +
          `${info.batchesPerEpoch} batches of ${config.batch} per epoch), ${info.dispatches} ` +
          `dispatches per step${resume ? `, resuming after epoch ${resume.state.epoch}` : ''}`,
      );
    },
    compile: compileProgress(err),
    step(e) {
      const payload = {
        epoch: `${e.epoch}`,
        loss: e.loss.toFixed(4),
        acc: (100 * e.accuracy).toFixed(1) + '%',
        ips: e.imagesPerSecond.toFixed(0),
        lr: e.lr.toPrecision(3),
      };
      if (tty) {
        if (e.batch === 1) bar.start(e.batches, 1, payload);
        else bar.update(e.batch, payload);
      } else if (performance.now() - lastLine > 10_000) {
        lastLine = performance.now();
        err(
          `  epoch ${e.epoch} batch ${e.batch}/${e.batches}: loss ${payload.loss}, ${payload.ips} img/s`,
        );
      }
    },
    epoch(r) {
      if (tty) bar.stop();
      err(
        `epoch ${r.epoch}: train loss ${r.train_loss.toFixed(4)}, train acc ${pct(r.train_accuracy)}, ` +
          `${testAcc(r.test_accuracy)}, ${r.images_per_second.toFixed(0)} img/s, ` +
          `${r.seconds.toFixed(1)} s -> ${flags.save}`,
      );
    },
  }).finally(() => {
    if (tty) bar.stop();
  });
  const last = result.epochs.at(-1);
  const tested =
    dataset.test.length > 0
      ? `test accuracy ${pct(result.testAccuracy)} on ${dataset.test.length} ${dataset.name} test images`
      : `no test split in ${dataset.name}, nothing evaluated`;
  out(
    `${graph.name}: ${tested} after ${last?.epoch ?? 0} epochs (${last?.step ?? 0} steps), ` +
      `${result.seconds.toFixed(1)} s, ${result.imagesPerSecond.toFixed(0)} training images/s`,
  );
  out(`weights: ${flags.save}   checkpoint: ${checkpointPath(flags.save)}`);
  if (flags.log) out(`metrics: ${flags.log}   chart: ${chartPath(flags.log)}`);
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const testAcc = (v: number) => (Number.isNaN(v) ? 'no test split' : `test acc ${pct(v)}`);

/**
 * `vggc train FILE [--model NAME] --data SPEC [--weights INIT | --init-from W] [--epochs N |
 * --steps N] [--batch B] [--lr X] [--momentum X] [--weight-decay X] [--dropout P]
 * [--augment paper|none] [--no-flip] [--no-shuffle] [--seed S] [--lr-schedule NAME]
 * --save OUT.safetensors [--log metrics.jsonl] [--resume] [--no-fuse | --fuse a,b]`
 *
 * Flags only: the run itself is runtime/train/loop.ts. Defaults come from the model's `train`
 * block. Progress goes to stderr (a bar on a terminal, a line every few seconds otherwise), the
 * result to stdout.
 */
import { SingleBar } from 'cli-progress';
import { classifierClasses } from '../compiler/classifier.js';
import { VggcError, error, fail } from '../dsl/diagnostics.js';
import { checkClasses, describeHeldOut } from '../runtime/data/dataset.js';
import { openDataset } from '../runtime/data/open.js';
import { acquireGpu } from '../runtime/device.js';
import { INIT_SCHEMES, initFromShallower, initWeights, type InitScheme } from '../runtime/init.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { checkpointPath, loadCheckpoint } from '../runtime/train/checkpoint.js';
import { train, type TrainConfig } from '../runtime/train/loop.js';
import { SCHEDULES, type ScheduleName } from '../runtime/train/lr-schedule.js';
import { chartPath } from '../runtime/train/metrics.js';
import { loadWeights } from '../runtime/weights.js';
import {
  fuseOption,
  loadModel,
  positiveInt,
  testFractionOption,
  type FuseFlags,
  type ModelFlags,
} from './common.js';

export interface TrainFlags extends ModelFlags, FuseFlags {
  readonly data: string;
  readonly save: string;
  readonly weights?: string;
  readonly initFrom?: string;
  readonly init?: string;
  readonly epochs?: string;
  readonly steps?: string;
  readonly batch?: string;
  readonly lr?: string;
  readonly momentum?: string;
  readonly weightDecay?: string;
  readonly dropout?: string;
  readonly augment?: string;
  readonly flip?: boolean;
  readonly shuffle?: boolean;
  readonly seed?: string;
  readonly lrSchedule?: string;
  readonly lrStep?: string;
  readonly log?: string;
  readonly resume?: boolean;
  readonly testFraction?: string;
}

export async function runTrain(
  file: string,
  flags: TrainFlags,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  const graph = loadModel(file, flags);
  classifierClasses(graph); // before the data is read: a model without an FC layer is refused
  const t = graph.train;
  if (flags.epochs !== undefined && flags.steps !== undefined) {
    fail('give --epochs or --steps, not both');
  }
  if (flags.weights && flags.initFrom) fail('give --weights or --init-from, not both');
  const augment = flags.augment ?? 'paper';
  if (augment !== 'paper' && augment !== 'none') {
    fail(`--augment must be 'paper' or 'none', not '${augment}'`);
  }
  const schedule = (flags.lrSchedule ?? 'paper') as ScheduleName;
  if (!SCHEDULES.includes(schedule)) {
    fail(`--lr-schedule must be one of ${SCHEDULES.join(', ')}, not '${flags.lrSchedule}'`);
  }
  const scheme = (flags.init ?? 'paper') as InitScheme;
  if (!INIT_SCHEMES.includes(scheme)) {
    fail(`--init must be one of ${INIT_SCHEMES.join(', ')}, not '${flags.init}'`);
  }
  const seed = flags.seed === undefined ? 0 : nonNegativeInt(flags.seed, '--seed');
  const dropout = flags.dropout !== undefined ? probability(flags.dropout, '--dropout') : t.dropout;

  const [C, H, W] = graph.nodes[0]!.out;
  // Image trees are decoded once, at the largest training scale (the crops come from there).
  const side = Math.max(H, W, t.scale?.max ?? 0);
  const dataset = await openDataset(flags.data, {
    size: augment === 'paper' ? [side, side] : [H, W],
    ...(C === 1 || C === 3 ? { channels: C } : {}),
    ...testFractionOption(flags),
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
    weights = initWeights(graph, { scheme, seed });
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
    graph,
    dataset,
    weights,
    ...(resume ? { resume } : {}),
    ...(flags.steps !== undefined
      ? { steps: positiveInt(flags.steps, '--steps') }
      : {
          epochs:
            flags.epochs !== undefined ? positiveInt(flags.epochs, '--epochs') : (t.epochs ?? 1),
        }),
    batch: flags.batch !== undefined ? positiveInt(flags.batch, '--batch') : (t.batch ?? 32),
    lr: flags.lr !== undefined ? positiveNumber(flags.lr, '--lr') : (t.lr ?? 0.01),
    momentum:
      flags.momentum !== undefined
        ? probability(flags.momentum, '--momentum')
        : (t.momentum ?? 0.9),
    weightDecay:
      flags.weightDecay !== undefined
        ? nonNegative(flags.weightDecay, '--weight-decay')
        : (t.weightDecay ?? 5e-4),
    ...(dropout !== undefined ? { dropout } : {}),
    augment,
    flip: flags.flip !== false,
    ...(t.scale ? { scale: [t.scale.min, t.scale.max] as const } : {}),
    shuffle: flags.shuffle !== false,
    seed,
    schedule,
    ...(flags.lrStep !== undefined ? { stepEpochs: positiveInt(flags.lrStep, '--lr-step') } : {}),
    fuse: fuseOption(flags),
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

function number(text: string, flag: string, ok: (v: number) => boolean, want: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) {
    throw new VggcError(error(`${flag} must be ${want}, not '${text}'`));
  }
  return v;
}
const positiveNumber = (t: string, f: string) => number(t, f, (v) => v > 0, 'a positive number');
const nonNegative = (t: string, f: string) => number(t, f, (v) => v >= 0, 'a number >= 0');
const probability = (t: string, f: string) => number(t, f, (v) => v >= 0 && v < 1, 'in [0, 1)');
const nonNegativeInt = (t: string, f: string) =>
  number(
    t,
    f,
    (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff,
    'an integer from 0 to 4294967295',
  );

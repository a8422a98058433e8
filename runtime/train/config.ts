/**
 * The training settings of a run and their defaults, in one place for the CLI and library users:
 * an explicit override wins, else the model's `train { ... }` block, else `TRAIN_DEFAULTS`.
 * `resolveTrainConfig` checks every value against `TRAIN_RULES` (which the CLI's flag parsers
 * share: cli/args.ts) and returns what runtime/train/loop.ts `train` takes besides the graph,
 * data, weights and files.
 */
import type { Graph } from '../../compiler/ir.js';
import { fail } from '../../dsl/diagnostics.js';
import { INIT_SCHEMES, type InitScheme } from '../init.js';
import {
  FRACTION,
  NON_NEGATIVE,
  POSITIVE,
  POSITIVE_INT,
  SEED,
  checkChoice,
  checkSetting,
  declaredInput,
  type NumberRule,
  type SettingNames,
} from '../settings.js';
import type { TrainConfig } from './loop.js';
import { SCHEDULES, type ScheduleName } from './lr-schedule.js';

export type AugmentMode = TrainConfig['augment'];
export const AUGMENT_MODES: readonly AugmentMode[] = ['paper', 'none'];

/** What a caller may set; every field is optional. */
export interface TrainOverrides {
  /** Epochs in total; exclusive with `steps`. */
  readonly epochs?: number;
  /** SGD steps in total; exclusive with `epochs`. */
  readonly steps?: number;
  readonly batch?: number;
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
  /** Probability of every dropout layer (0 removes them). */
  readonly dropout?: number;
  readonly augment?: AugmentMode;
  readonly flip?: boolean;
  readonly shuffle?: boolean;
  readonly seed?: number;
  readonly schedule?: ScheduleName;
  /** Epochs between the drops of the `step` schedule. */
  readonly stepEpochs?: number;
  /** Initialisation of fresh weights. */
  readonly init?: InitScheme;
}

/** The rule each numeric setting keeps. */
export const TRAIN_RULES = {
  epochs: POSITIVE_INT,
  steps: POSITIVE_INT,
  batch: POSITIVE_INT,
  lr: POSITIVE,
  momentum: FRACTION,
  weightDecay: NON_NEGATIVE,
  dropout: FRACTION,
  seed: SEED,
  stepEpochs: POSITIVE_INT,
} as const satisfies Record<string, NumberRule>;

/** Used where neither an override nor the model's `train` block sets a value. */
export const TRAIN_DEFAULTS = {
  epochs: 1,
  batch: 32,
  lr: 0.01,
  momentum: 0.9,
  weightDecay: 5e-4,
  augment: 'paper' as AugmentMode,
  flip: true,
  shuffle: true,
  seed: 0,
  schedule: 'paper' as ScheduleName,
  init: 'paper' as InitScheme,
} as const;

/** The settings of runtime/train/loop.ts `TrainConfig`, resolved, plus what the caller needs. */
export type ResolvedTrainConfig = Pick<
  TrainConfig,
  | 'epochs'
  | 'steps'
  | 'batch'
  | 'lr'
  | 'momentum'
  | 'weightDecay'
  | 'dropout'
  | 'augment'
  | 'scale'
  | 'shuffle'
  | 'seed'
  | 'schedule'
  | 'stepEpochs'
> & {
  /** Random horizontal flips (paper augmentation). Of `epochs` and `steps`, exactly one is set. */
  readonly flip: boolean;
  /** Initialisation of fresh weights. */
  readonly init: InitScheme;
  /**
   * The size image folders are decoded at: the model's input without augmentation, else a
   * square of the largest training scale (the random crops come from there).
   */
  readonly imageSize: readonly [number, number];
};

/**
 * Resolves a run's settings: `overrides`, else the model's `train { ... }`, else
 * `TRAIN_DEFAULTS`. Values that break a rule are VggcErrors naming the setting through `names`
 * (the CLI passes its flag names).
 */
export function resolveTrainConfig(
  graph: Graph,
  overrides: TrainOverrides = {},
  names: SettingNames = (s) => s,
): ResolvedTrainConfig {
  const o = overrides;
  const t = graph.train;
  const num = (key: keyof typeof TRAIN_RULES, v: number | undefined): number | undefined =>
    v === undefined ? undefined : checkSetting(names(key), v, TRAIN_RULES[key]);
  if (o.epochs !== undefined && o.steps !== undefined) {
    fail(`give ${names('epochs')} or ${names('steps')}, not both`);
  }
  const augment = checkChoice(names('augment'), o.augment ?? TRAIN_DEFAULTS.augment, AUGMENT_MODES);
  const schedule = checkChoice(names('schedule'), o.schedule ?? TRAIN_DEFAULTS.schedule, SCHEDULES);
  const init = checkChoice(names('init'), o.init ?? TRAIN_DEFAULTS.init, INIT_SCHEMES);
  const dropout = num('dropout', o.dropout ?? t.dropout);
  const stepEpochs = num('stepEpochs', o.stepEpochs);
  const [, H, W] = declaredInput(graph);
  const side = Math.max(H, W, t.scale?.max ?? 0);
  return {
    ...(o.steps !== undefined
      ? { steps: num('steps', o.steps)! }
      : { epochs: num('epochs', o.epochs ?? t.epochs ?? TRAIN_DEFAULTS.epochs)! }),
    batch: num('batch', o.batch ?? t.batch ?? TRAIN_DEFAULTS.batch)!,
    lr: num('lr', o.lr ?? t.lr ?? TRAIN_DEFAULTS.lr)!,
    momentum: num('momentum', o.momentum ?? t.momentum ?? TRAIN_DEFAULTS.momentum)!,
    weightDecay: num('weightDecay', o.weightDecay ?? t.weightDecay ?? TRAIN_DEFAULTS.weightDecay)!,
    ...(dropout !== undefined ? { dropout } : {}),
    augment,
    flip: o.flip ?? TRAIN_DEFAULTS.flip,
    ...(t.scale ? { scale: [t.scale.min, t.scale.max] as const } : {}),
    shuffle: o.shuffle ?? TRAIN_DEFAULTS.shuffle,
    seed: num('seed', o.seed ?? TRAIN_DEFAULTS.seed)!,
    schedule,
    ...(stepEpochs !== undefined ? { stepEpochs } : {}),
    init,
    imageSize: augment === 'paper' ? [side, side] : [H, W],
  };
}

/**
 * Learning-rate schedules. Each is a small state machine the training loop asks for the rate
 * of every step and tells the end of every epoch; its state goes into checkpoints, so a resumed
 * run continues the schedule where it stopped.
 *
 * - `paper` (the VGG paper, Sec. 3.1): the rate is divided by 10 when the validation accuracy
 *   stops improving (an epoch that does not beat the best so far), at most `maxDrops` times (the
 *   paper's run dropped it three times);
 * - `step`: divided by 10 every `stepEpochs` epochs;
 * - `cosine`: lr0 * (1 + cos(pi * t / T)) / 2 over the run's T steps, per step;
 * - `constant`.
 */
export type ScheduleName = 'paper' | 'step' | 'cosine' | 'constant';
export const SCHEDULES: readonly ScheduleName[] = ['paper', 'step', 'cosine', 'constant'];

export interface ScheduleState {
  readonly name: ScheduleName;
  /** The rate the paper and step schedules are at (lr0 divided by 10 per drop). */
  readonly lr: number;
  readonly drops: number;
  /** Best validation accuracy so far (paper schedule), -1 before the first epoch. */
  readonly best: number;
}

export interface ScheduleOptions {
  readonly name: ScheduleName;
  readonly lr: number;
  /** Total steps of the run (cosine). */
  readonly totalSteps: number;
  /** Epochs between drops (step; default 1). */
  readonly stepEpochs?: number;
  /** Most drops of the paper schedule (default 3). */
  readonly maxDrops?: number;
}

export class LrSchedule {
  private state: ScheduleState;

  constructor(
    private readonly options: ScheduleOptions,
    resumed?: ScheduleState,
  ) {
    this.state = resumed ?? { name: options.name, lr: options.lr, drops: 0, best: -1 };
  }

  /** The rate for global step `step` (from 0). */
  rate(step: number): number {
    const { name, lr, totalSteps } = this.options;
    if (name === 'cosine') {
      const t = Math.min(step, totalSteps) / Math.max(1, totalSteps);
      return (lr * (1 + Math.cos(Math.PI * t))) / 2;
    }
    return this.state.lr;
  }

  /** After epoch `epoch` (from 1) with validation accuracy `accuracy` (a fraction). */
  endEpoch(epoch: number, accuracy: number): void {
    const s = this.state;
    if (s.name === 'paper') {
      const improved = accuracy > s.best;
      const drop = !improved && s.drops < (this.options.maxDrops ?? 3);
      this.state = {
        ...s,
        best: Math.max(s.best, accuracy),
        lr: drop ? s.lr / 10 : s.lr,
        drops: s.drops + (drop ? 1 : 0),
      };
    } else if (s.name === 'step' && epoch % (this.options.stepEpochs ?? 1) === 0) {
      this.state = { ...s, lr: s.lr / 10, drops: s.drops + 1 };
    }
  }

  snapshot(): ScheduleState {
    return this.state;
  }
}

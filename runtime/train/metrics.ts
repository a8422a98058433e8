/**
 * The metrics of a training run: a JSON-lines log (one `{"type": "step", ...}` line per step,
 * one `{"type": "epoch", ...}` line per epoch) and a chart of it, `<log>.svg` (training loss
 * per step; training and test accuracy per epoch), redrawn after every epoch. A resumed run
 * first drops the lines past its checkpoint (the lost part of the interrupted epoch), so the log
 * reads as one run.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { rethrowFsError, writeFileAtomic } from '../fsutil.js';
import { lineChart } from './chart.js';

export interface EpochRecord {
  readonly epoch: number;
  readonly step: number;
  readonly lr: number;
  readonly train_loss: number;
  readonly train_accuracy: number;
  readonly test_loss: number;
  readonly test_accuracy: number;
  readonly images_per_second: number;
  readonly seconds: number;
}

interface StepLine {
  readonly type: 'step';
  readonly epoch: number;
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly lr: number;
}
type Line = StepLine | ({ readonly type: 'epoch' } & EpochRecord);

export class MetricsLog {
  private pending: string[] = [];

  private constructor(
    readonly path: string,
    private lines: Line[],
  ) {}

  /** Opens the log: a new one, or (resuming after `step`) the existing one cut at `step`. */
  static async open(path: string, resumeAfterStep?: number): Promise<MetricsLog> {
    let lines: Line[] = [];
    if (resumeAfterStep !== undefined) {
      const text = await readFile(path, 'utf8').catch(() => '');
      lines = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line)
        .filter((l) => l.step <= resumeAfterStep);
    }
    await writeFileAtomic(path, Buffer.from(lines.map((l) => JSON.stringify(l) + '\n').join('')));
    return new MetricsLog(path, lines);
  }

  async step(e: Omit<StepLine, 'type'>): Promise<void> {
    const line: StepLine = {
      type: 'step',
      epoch: e.epoch,
      step: e.step,
      loss: e.loss,
      accuracy: e.accuracy,
      lr: e.lr,
    };
    this.lines.push(line);
    this.pending.push(JSON.stringify(line) + '\n');
    if (this.pending.length >= 50) await this.flush();
  }

  async epoch(r: EpochRecord): Promise<void> {
    const line: Line = { type: 'epoch', ...r };
    this.lines.push(line);
    this.pending.push(JSON.stringify(line) + '\n');
    await this.flush();
    await writeFileAtomic(chartPath(this.path), Buffer.from(this.chart()));
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.pending.length) return;
    const text = this.pending.join('');
    this.pending = [];
    await appendFile(this.path, text).catch((e) => rethrowFsError(this.path, 'write', e));
  }

  private chart(): string {
    const steps = this.lines.filter((l): l is StepLine => l.type === 'step');
    const epochs = this.lines.filter((l) => l.type === 'epoch') as EpochRecord[];
    const perEpoch = steps.length / Math.max(1, epochs.at(-1)?.epoch ?? 1);
    return lineChart(`training: ${this.path}`, [
      {
        title: 'training loss (per step)',
        x: 'epoch',
        series: [{ name: 'loss', points: steps.map((s) => [s.step / perEpoch, s.loss]) }],
      },
      {
        title: 'accuracy (per epoch)',
        x: 'epoch',
        series: [
          { name: 'train', points: epochs.map((e) => [e.epoch, e.train_accuracy]) },
          {
            name: 'test',
            // No test split: NaN in memory, null once logged as JSON; neither is a point.
            points: epochs
              .filter((e) => typeof e.test_accuracy === 'number')
              .map((e) => [e.epoch, e.test_accuracy]),
          },
        ],
      },
    ]);
  }
}

/** `metrics.jsonl` -> `metrics.svg`. */
export const chartPath = (log: string): string => log.replace(/(\.jsonl?)?$/, '.svg');

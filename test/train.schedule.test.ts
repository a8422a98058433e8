/** Learning-rate schedules on hand-made accuracy sequences. */
import { describe, expect, it } from 'vitest';
import { LrSchedule } from '../runtime/train/lr-schedule.js';

describe('learning-rate schedules', () => {
  it('paper: divides by 10 when validation accuracy stops improving, at most 3 times', () => {
    const s = new LrSchedule({ name: 'paper', lr: 0.01, totalSteps: 100 });
    const seen: number[] = [];
    for (const [e, acc] of [0.5, 0.6, 0.6, 0.7, 0.65, 0.69, 0.71, 0.7, 0.7].entries()) {
      s.endEpoch(e + 1, acc);
      seen.push(s.rate(0));
    }
    expect(seen).toEqual(
      [0.01, 0.01, 0.001, 0.001, 1e-4, 1e-5, 1e-5, 1e-5, 1e-5].map((v) => expect.closeTo(v, 12)),
    );
    expect(s.snapshot().drops).toBe(3);
  });

  it('step: divides by 10 every k epochs', () => {
    const s = new LrSchedule({ name: 'step', lr: 1, totalSteps: 10, stepEpochs: 2 });
    const seen = [1, 2, 3, 4, 5].map((e) => (s.endEpoch(e, 0), s.rate(0)));
    expect(seen).toEqual([1, 0.1, 0.1, 0.01, 0.01].map((v) => expect.closeTo(v, 12)));
  });

  it('cosine: lr0 at the start, half way at the middle, 0 at the end', () => {
    const s = new LrSchedule({ name: 'cosine', lr: 0.2, totalSteps: 100 });
    expect(s.rate(0)).toBeCloseTo(0.2, 12);
    expect(s.rate(50)).toBeCloseTo(0.1, 12);
    expect(s.rate(25)).toBeCloseTo(0.1 * (1 + Math.SQRT1_2), 12);
    expect(s.rate(100)).toBeCloseTo(0, 12);
  });

  it('a resumed schedule continues from its snapshot', () => {
    const a = new LrSchedule({ name: 'paper', lr: 0.01, totalSteps: 1 });
    a.endEpoch(1, 0.5);
    a.endEpoch(2, 0.4);
    const b = new LrSchedule({ name: 'paper', lr: 0.01, totalSteps: 1 }, a.snapshot());
    expect(b.rate(0)).toBeCloseTo(0.001, 12);
    b.endEpoch(3, 0.45);
    expect(b.rate(0)).toBeCloseTo(1e-4, 12);
  });
});

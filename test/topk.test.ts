/**
 * Top-k error (runtime/topk.ts) on hand-made score rows, ties included. The rule under test:
 * the true class is in the top k only if fewer than k other classes score at least as high
 * (ties count against it); a NaN true score is a miss, a NaN other score counts as higher.
 */
import { describe, expect, it } from 'vitest';
import {
  NO_COUNTS,
  addCounts,
  errorRates,
  inTopK,
  topClasses,
  topKCounts,
} from '../runtime/topk.js';

const hit = (scores: number[], label: number, k: number) =>
  inTopK(scores, 0, scores.length, label, k);

describe('inTopK', () => {
  it('without ties: rank against k', () => {
    const s = [0.1, 0.5, 0.4, 0.0, 0.3, 0.2, 0.05];
    expect(hit(s, 1, 1)).toBe(true);
    expect(hit(s, 2, 1)).toBe(false);
    expect(hit(s, 2, 2)).toBe(true);
    // class 5 is 4th (0.5, 0.4, 0.3 above it), class 0 is 5th, class 6 is 6th, class 3 7th
    expect(hit(s, 5, 5)).toBe(true);
    expect(hit(s, 0, 5)).toBe(true);
    expect(hit(s, 6, 5)).toBe(false);
    expect(hit(s, 3, 5)).toBe(false);
  });

  it('a tie for first place is a top-1 miss for both tied classes', () => {
    const s = [0.5, 0.5, 0];
    expect(hit(s, 0, 1)).toBe(false);
    expect(hit(s, 1, 1)).toBe(false);
    expect(hit(s, 0, 2)).toBe(true);
    expect(hit(s, 2, 2)).toBe(false); // both others are higher
    expect(hit(s, 2, 3)).toBe(true);
  });

  it('all scores equal: every image a miss once there are k other classes', () => {
    const six = [1, 1, 1, 1, 1, 1];
    for (let c = 0; c < 6; c++) {
      expect(hit(six, c, 1)).toBe(false);
      expect(hit(six, c, 5)).toBe(false); // 5 others tie
    }
    const five = [2, 2, 2, 2, 2];
    for (let c = 0; c < 5; c++) {
      expect(hit(five, c, 1)).toBe(false);
      expect(hit(five, c, 5)).toBe(true); // only 4 others
    }
  });

  it('ties at the k-th place: 4 ties are in the top 5, 5 ties are not', () => {
    const fourTies = [3, 3, 3, 3, 3, 1, 0]; // class 0 ties with 4 others
    expect(hit(fourTies, 0, 5)).toBe(true);
    expect(hit(fourTies, 5, 5)).toBe(false);
    const fiveTies = [3, 3, 3, 3, 3, 3, 0];
    expect(hit(fiveTies, 2, 5)).toBe(false);
    // one strictly higher plus three ties: 4 others at least as high
    const mixed = [9, 3, 3, 3, 3, 0, 0];
    expect(hit(mixed, 4, 5)).toBe(true);
    expect(hit(mixed, 4, 4)).toBe(false);
  });

  it('NaN: a NaN true score misses, a NaN other score counts as higher', () => {
    expect(hit([NaN, 0.9, 0.1], 0, 1)).toBe(false);
    expect(hit([NaN, 0.9, 0.1], 0, 5)).toBe(false);
    expect(hit([NaN, 0.9, 0.1], 1, 1)).toBe(false);
    expect(hit([NaN, 0.9, 0.1], 1, 2)).toBe(true);
    expect(hit([0.2, 0.9, -Infinity, Infinity], 3, 1)).toBe(true);
  });

  it('reads the row at an offset and checks its arguments', () => {
    const rows = [0, 1, 2, 5, 4, 3];
    expect(inTopK(rows, 3, 3, 0, 1)).toBe(true); // row 1: [5, 4, 3]
    expect(inTopK(rows, 0, 3, 0, 1)).toBe(false); // row 0: [0, 1, 2]
    expect(() => inTopK(rows, 0, 3, 3, 1)).toThrow(RangeError);
    expect(() => inTopK(rows, 0, 3, -1, 1)).toThrow(RangeError);
    expect(() => inTopK(rows, 0, 3, 0, 0)).toThrow(RangeError);
  });
});

describe('topKCounts / errorRates', () => {
  it('counts misses over rows, ties against', () => {
    // 4 images, 6 classes
    const scores = [
      [0.9, 0.1, 0, 0, 0, 0], // label 0: hit, hit
      [0.3, 0.3, 0.1, 0.1, 0.1, 0.1], // label 1: tie for first -> top-1 miss; top-5 hit
      [1, 1, 1, 1, 1, 1], // label 4: all equal -> miss, miss
      [0.5, 0.4, 0.3, 0.2, 0.1, 0.0], // label 5: 6th -> miss, miss
    ].flat();
    const c = topKCounts(scores, [0, 1, 4, 5], 4, 6);
    expect(c).toEqual({ images: 4, top1Misses: 3, top5Misses: 2 });
    expect(errorRates(c)).toEqual({ top1: 0.75, top5: 0.5 });
    const both = addCounts(c, topKCounts([0, 1, 0, 0, 0, 0], [1], 1, 6));
    expect(both).toEqual({ images: 5, top1Misses: 3, top5Misses: 2 });
    expect(errorRates(NO_COUNTS)).toEqual({ top1: 0, top5: 0 });
    expect(() => topKCounts(scores, [0, 1, 4, 5], 4, 5)).toThrow(/24 values, not 4 x 5/);
  });
});

describe('topClasses', () => {
  it('best first; equal scores in class order; NaN last', () => {
    expect(topClasses([0.1, 0.3, 0.3, NaN, 0.2, 0.3], 0, 6, 5)).toEqual([
      [1, 0.3],
      [2, 0.3],
      [5, 0.3],
      [4, 0.2],
      [0, 0.1],
    ]);
    expect(topClasses([NaN, 1, 2], 0, 3, 3).map(([c]) => c)).toEqual([2, 1, 0]);
    expect(topClasses([9, 9, 1, 2], 2, 2, 5)).toEqual([
      [1, 2],
      [0, 1],
    ]);
  });
});

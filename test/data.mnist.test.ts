import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMnist } from '../runtime/data/mnist.js';

const PIXELS = 28 * 28;

/** The package's own per-digit arrays, for cross-checks. */
function rawDigit(d: number): number[] {
  const pkg = createRequire(import.meta.url).resolve('mnist/package.json');
  const file = join(dirname(pkg), 'src', 'digits', `${d}.json`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
}

describe('loadMnist', () => {
  const ds = loadMnist();

  it('holds 8,000 training and 2,000 test digits of 1x28x28 in ten classes', () => {
    expect(ds.name).toBe('mnist');
    expect(ds.shape).toEqual([1, 28, 28]);
    expect(ds.train.shape).toEqual([1, 28, 28]);
    expect(ds.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(ds.train.length).toBe(8000);
    expect(ds.test.length).toBe(2000);
    expect(ds.preprocessed).toBe(false);
  });

  it('is cached: a second call returns the same dataset', () => {
    expect(loadMnist()).toBe(ds);
  });

  it('gives float32 images of 784 values in [0, 1], synchronously', () => {
    for (const split of [ds.train, ds.test]) {
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < split.length; i++) {
        const img = split.image(i);
        expect(img).toBeInstanceOf(Float32Array);
        const a = img as Float32Array;
        expect(a.length).toBe(PIXELS);
        for (const v of a) {
          if (v < min) min = v;
          if (v > max) max = v;
        }
      }
      expect(min).toBe(0);
      expect(max).toBe(1);
    }
  });

  it('has labels 0-9 in both splits, each class with 8-12% of a split', () => {
    for (const split of [ds.train, ds.test]) {
      const counts = new Array<number>(10).fill(0);
      for (let i = 0; i < split.length; i++) {
        const l = split.label(i);
        expect(Number.isInteger(l) && l >= 0 && l <= 9).toBe(true);
        counts[l]!++;
      }
      for (const c of counts) {
        expect(c / split.length).toBeGreaterThan(0.08);
        expect(c / split.length).toBeLessThan(0.12);
      }
    }
  });

  it('splits each digit 4:1 in the package order: first images train, last test', () => {
    const trainCounts = new Array<number>(10).fill(0);
    const testCounts = new Array<number>(10).fill(0);
    for (let i = 0; i < ds.train.length; i++) trainCounts[ds.train.label(i)]!++;
    for (let i = 0; i < ds.test.length; i++) testCounts[ds.test.label(i)]!++;
    for (let d = 0; d < 10; d++) {
      const n = rawDigit(d).length / PIXELS;
      expect(testCounts[d]).toBe(Math.round(n / 5));
      expect(trainCounts[d]! + testCounts[d]!).toBe(n);
    }
    // The first training '3' is the package's first '3'; the first test '3' is its image
    // number n - round(n / 5).
    const raw3 = rawDigit(3);
    const n3 = raw3.length / PIXELS;
    const first = (split: typeof ds.train): Float32Array => {
      for (let i = 0; i < split.length; i++) {
        if (split.label(i) === 3) return split.image(i) as Float32Array;
      }
      throw new Error('no 3');
    };
    const expectImage = (img: Float32Array, index: number): void => {
      const want = Float32Array.from(raw3.slice(index * PIXELS, (index + 1) * PIXELS));
      expect(Array.from(img)).toEqual(Array.from(want));
    };
    expectImage(first(ds.train), 0);
    expectImage(first(ds.test), n3 - Math.round(n3 / 5));
  });

  it('interleaves the classes: the first 20 training images hold at least 8 digits', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) seen.add(ds.train.label(i));
    expect(seen.size).toBeGreaterThanOrEqual(8);
  });

  it('keeps train and test disjoint (no test image equals a training image of its class)', () => {
    const key = (img: Float32Array): string =>
      Buffer.from(img.buffer, img.byteOffset, img.byteLength).toString('base64');
    const train = new Set<string>();
    for (let i = 0; i < ds.train.length; i++) {
      train.add(`${ds.train.label(i)}:${key(ds.train.image(i) as Float32Array)}`);
    }
    let shared = 0;
    for (let i = 0; i < ds.test.length; i++) {
      if (train.has(`${ds.test.label(i)}:${key(ds.test.image(i) as Float32Array)}`)) shared++;
    }
    expect(shared).toBe(0);
  });

  it('is deterministic: labels and images are the same on every load', () => {
    // Sum of labels and a checksum of pixels at fixed indices: a fixed split has fixed values.
    let labelSum = 0;
    for (let i = 0; i < ds.train.length; i++) labelSum += ds.train.label(i) * (i % 7);
    const again = loadMnist();
    let labelSum2 = 0;
    for (let i = 0; i < again.train.length; i++) labelSum2 += again.train.label(i) * (i % 7);
    expect(labelSum2).toBe(labelSum);
  });

  it('throws a RangeError for an index outside the split', () => {
    expect(() => ds.test.image(2000)).toThrow(RangeError);
    expect(() => ds.test.label(-1)).toThrow(RangeError);
  });
});

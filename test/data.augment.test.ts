import { describe, expect, it } from 'vitest';
import { VggcError } from '../dsl/diagnostics.js';
import {
  ALEXNET_PCA,
  augmentFor,
  augmentImage,
  augmentParams,
  augmentSample,
  bilinearResize,
  channelMean,
  pcaShift,
  resizeCrop,
  sampleRng,
  scaleToSmallestSide,
  type AugmentOptions,
} from '../runtime/data/augment.js';
import {
  memorySplit,
  seededRng,
  stratifiedSplit,
  type Dataset,
  type Shape,
} from '../runtime/data/dataset.js';

const arange = (n: number, scale = 1): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => i * scale);

function expectClose(actual: Float32Array, expected: number[], digits = 6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(expected[i]!, digits));
}

function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VggcError);
    return (e as Error).message;
  }
  throw new Error('nothing thrown');
}

async function rejected(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VggcError);
    return (e as Error).message;
  }
  throw new Error('nothing thrown');
}

/** Pixel (c, y, x) of a CHW array. */
const at = (a: Float32Array, [, h, w]: Shape, c: number, y: number, x: number): number =>
  a[c * h * w + y * w + x]!;

describe('bilinearResize', () => {
  it('upsamples 2x2 to 4x4 as computed by hand (half-pixel centres, clamped edges)', () => {
    // Source [[0, 1], [2, 3]]. Output pixel o reads source coordinate (o + 0.5) / 2 - 0.5:
    // -0.25 -> 0 (clamped), 0.25, 0.75, 1.25 -> 1 (clamped); value = x + 2y.
    const out = bilinearResize(Float32Array.from([0, 1, 2, 3]), [1, 2, 2], 4, 4);
    // prettier-ignore
    const want = [
      0,   0.25, 0.75, 1,
      0.5, 0.75, 1.25, 1.5,
      1.5, 1.75, 2.25, 2.5,
      2,   2.25, 2.75, 3,
    ];
    expectClose(out, want);
  });

  it('downsamples 4x4 to 2x2 to the means of the 2x2 blocks', () => {
    // Output pixel o reads (o + 0.5) * 2 - 0.5 = 0.5, 2.5: halfway between two source pixels.
    const out = bilinearResize(arange(16), [1, 4, 4], 2, 2);
    expectClose(out, [2.5, 4.5, 10.5, 12.5]);
  });

  it('resizes each channel on its own and to non-square sizes', () => {
    const src = Float32Array.from([0, 1, 2, 3, 10, 10, 10, 10]); // 2 channels of 2x2
    const out = bilinearResize(src, [2, 2, 2], 1, 4);
    // One row: source row 0.5 (halfway), columns 0, 0.25, 0.75, 1.
    expectClose(out, [1, 1.25, 1.75, 2, 10, 10, 10, 10]);
  });

  it('is the identity at the same size', () => {
    const src = arange(2 * 3 * 5, 0.1);
    expect(Array.from(bilinearResize(src, [2, 3, 5], 3, 5))).toEqual(Array.from(src));
  });
});

describe('resizeCrop', () => {
  const shape: Shape = [2, 4, 5];
  const src = arange(40);

  it('crops exactly without a rescale', () => {
    const out = resizeCrop(src, shape, 4, 5, 1, 2, 2, 3);
    for (let c = 0; c < 2; c++)
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 3; x++)
          expect(at(out, [2, 2, 3], c, y, x)).toBe(at(src, shape, c, 1 + y, 2 + x));
  });

  it('flips exactly: column x of the window becomes column W-1-x', () => {
    const plain = resizeCrop(src, shape, 4, 5, 0, 1, 3, 4);
    const flipped = resizeCrop(src, shape, 4, 5, 0, 1, 3, 4, true);
    for (let c = 0; c < 2; c++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 4; x++)
          expect(at(flipped, [2, 3, 4], c, y, x)).toBe(at(plain, [2, 3, 4], c, y, 3 - x));
  });

  it('equals the full bilinear resize cut to the window', () => {
    const full = bilinearResize(src, shape, 7, 9);
    const window = resizeCrop(src, shape, 7, 9, 2, 3, 4, 5);
    for (let c = 0; c < 2; c++)
      for (let y = 0; y < 4; y++)
        for (let x = 0; x < 5; x++)
          expect(at(window, [2, 4, 5], c, y, x)).toBeCloseTo(
            at(full, [2, 7, 9], c, 2 + y, 3 + x),
            5,
          );
  });

  it('writes into a given output array', () => {
    const out = new Float32Array(2 * 2 * 2);
    expect(resizeCrop(src, shape, 4, 5, 0, 0, 2, 2, false, out)).toBe(out);
    expect(out[1]).toBe(1);
  });

  it('refuses a window outside the image', () => {
    expect(() => resizeCrop(src, shape, 4, 5, 3, 0, 2, 2)).toThrow(RangeError);
    expect(() => resizeCrop(src, shape, 4, 5, 0, -1, 2, 2)).toThrow(RangeError);
  });
});

describe('scaleToSmallestSide', () => {
  it('keeps the aspect ratio and makes the smallest side S', () => {
    expect(scaleToSmallestSide(300, 400, 256)).toEqual([256, 341]);
    expect(scaleToSmallestSide(400, 300, 256)).toEqual([341, 256]);
    expect(scaleToSmallestSide(28, 28, 32)).toEqual([32, 32]);
  });
});

describe('augmentation, paper mode', () => {
  const rgb: Shape = [3, 10, 12];
  const img = arange(3 * 10 * 12, 1 / 360);
  const opts: AugmentOptions = { mode: 'paper', input: [3, 8, 8], scale: [8, 20] };

  it('is deterministic in (seed, epoch, index) and varies with each of them', () => {
    const a = augmentSample(img, rgb, opts, 7, 2, 5);
    expect(Array.from(augmentSample(img, rgb, opts, 7, 2, 5))).toEqual(Array.from(a));
    for (const [seed, epoch, index] of [
      [8, 2, 5],
      [7, 3, 5],
      [7, 2, 6],
    ] as const) {
      expect(Array.from(augmentSample(img, rgb, opts, seed, epoch, index))).not.toEqual(
        Array.from(a),
      );
    }
  });

  it('draws S uniformly from [Smin, Smax]: every value, none outside', () => {
    const seen = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      const p = augmentParams(rgb, opts, sampleRng(1, 0, i));
      seen.set(p.s, (seen.get(p.s) ?? 0) + 1);
      expect(Math.min(...p.scaled)).toBe(p.s);
      expect(p.top).toBeGreaterThanOrEqual(0);
      expect(p.left).toBeGreaterThanOrEqual(0);
      expect(p.top + 8).toBeLessThanOrEqual(p.scaled[0]);
      expect(p.left + 8).toBeLessThanOrEqual(p.scaled[1]);
    }
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 13 }, (_, i) => 8 + i),
    );
    for (const n of seen.values()) expect(n).toBeGreaterThan(2000 / 13 / 2);
  });

  it('uses a fixed S when given one number', () => {
    for (let i = 0; i < 50; i++) {
      expect(augmentParams(rgb, { ...opts, scale: 16 }, sampleRng(0, 0, i)).s).toBe(16);
    }
  });

  it('really rescales: a horizontal ramp comes out with slope w / scaled width', () => {
    // Source: 1 channel 10x10, value = column. With S = 20 the slope is 10 / 20 per pixel.
    const ramp = Float32Array.from({ length: 100 }, (_, i) => i % 10);
    const o: AugmentOptions = { mode: 'paper', input: [1, 8, 8], scale: 20, flip: false };
    const out = augmentSample(ramp, [1, 10, 10], o, 3, 0, 0);
    const p = augmentParams([1, 10, 10], o, sampleRng(3, 0, 0));
    for (let x = 0; x + 1 < 8; x++) {
      const X = p.left + x;
      if (X >= 1 && X + 1 < 19) expect(out[x + 1]! - out[x]!).toBeCloseTo(0.5, 5);
    }
  });

  it('is resizeCrop with the drawn parameters, plus the colour shift', () => {
    for (let i = 0; i < 20; i++) {
      const p = augmentParams(rgb, opts, sampleRng(4, 1, i));
      const base = resizeCrop(img, rgb, p.scaled[0], p.scaled[1], p.top, p.left, 8, 8, p.flip);
      const out = augmentSample(img, rgb, opts, 4, 1, i);
      for (let c = 0; c < 3; c++)
        for (let k = 0; k < 64; k++)
          expect(out[c * 64 + k]).toBeCloseTo(base[c * 64 + k]! + p.shift[c]!, 5);
    }
  });

  it('flips about half of the images', () => {
    let flips = 0;
    for (let i = 0; i < 1000; i++) if (augmentParams(rgb, opts, sampleRng(0, 0, i)).flip) flips++;
    expect(flips).toBeGreaterThan(430);
    expect(flips).toBeLessThan(570);
    for (let i = 0; i < 100; i++) {
      expect(augmentParams(rgb, { ...opts, flip: false }, sampleRng(0, 0, i)).flip).toBe(false);
    }
  });

  it('turning flip off leaves the other draws unchanged', () => {
    const a = augmentParams(rgb, opts, sampleRng(0, 0, 9));
    const b = augmentParams(rgb, { ...opts, flip: false }, sampleRng(0, 0, 9));
    expect([b.s, b.top, b.left, ...b.shift]).toEqual([a.s, a.top, a.left, ...a.shift]);
  });

  it('shifts every pixel of an image by the same RGB vector, different per image', () => {
    const flat = new Float32Array(3 * 10 * 10).fill(0.5);
    const o: AugmentOptions = { mode: 'paper', input: [3, 8, 8], scale: 10 };
    const shifts: number[][] = [];
    for (let i = 0; i < 5; i++) {
      const out = augmentSample(flat, [3, 10, 10], o, 0, 0, i);
      const shift = [0, 1, 2].map((c) => out[c * 64]! - 0.5);
      for (let c = 0; c < 3; c++)
        for (let k = 0; k < 64; k++) expect(out[c * 64 + k]! - 0.5).toBeCloseTo(shift[c]!, 6);
      expect(shift.some((v) => v !== 0)).toBe(true);
      expect(Math.max(...shift.map(Math.abs))).toBeLessThan(0.25);
      shifts.push(shift);
    }
    expect(new Set(shifts.map((s) => s.join())).size).toBe(5);
  });

  it("computes the shift as eigvec * (alpha .* eigval) with AlexNet's values", () => {
    const rng = seededRng(42);
    const alpha = [rng.normal(), rng.normal(), rng.normal()].map((a) => a * 0.1);
    const want = ALEXNET_PCA.eigvec.map((row) =>
      row.reduce((s, v, j) => s + v * alpha[j]! * ALEXNET_PCA.eigval[j]!, 0),
    );
    const got = pcaShift(seededRng(42), 0.1);
    got.forEach((v, c) => expect(v).toBeCloseTo(want[c]!, 12));
    // The standard deviation of alpha is 0.1: over many draws the shift along the first
    // eigenvector has standard deviation 0.1 * 0.2175.
    const r = seededRng(5);
    let sq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const s = pcaShift(r, 0.1);
      const proj = s[0] * -0.5675 + s[1] * -0.5808 + s[2] * -0.5836;
      sq += proj * proj;
    }
    expect(Math.sqrt(sq / n)).toBeCloseTo(0.02175, 3);
  });

  it('skips the colour shift for 1-channel images and when pcaStd is 0', () => {
    const flat = new Float32Array(100).fill(0.5);
    const o: AugmentOptions = { mode: 'paper', input: [1, 8, 8], scale: 10 };
    for (let i = 0; i < 5; i++)
      expect(new Set(augmentSample(flat, [1, 10, 10], o, 0, 0, i))).toEqual(new Set([0.5]));
    const flat3 = new Float32Array(300).fill(0.5);
    const o3: AugmentOptions = { mode: 'paper', input: [3, 8, 8], scale: 10, pcaStd: 0 };
    expect(new Set(augmentSample(flat3, [3, 10, 10], o3, 0, 0, 1))).toEqual(new Set([0.5]));
  });

  it('refuses a scale smaller than the crop, and a channel mismatch', () => {
    expect(thrown(() => augmentSample(img, rgb, { ...opts, scale: 6 }, 0, 0, 0))).toBe(
      'augmentation: scale S=6 is smaller than the 8x8 input crop',
    );
    expect(thrown(() => augmentSample(img, rgb, { ...opts, scale: [12, 9] }, 0, 0, 0))).toMatch(
      /bad scale/,
    );
    expect(thrown(() => augmentSample(img, rgb, { ...opts, input: [1, 8, 8] }, 0, 0, 0))).toBe(
      "augmentation: images have 3 channel(s), the model's input has 1",
    );
  });
});

describe('augmentation, mode none, and the mean', () => {
  it('copies an image of the input size and subtracts the per-channel mean', () => {
    const src = arange(2 * 2 * 3, 0.1);
    const out = augmentImage(
      src,
      [2, 2, 3],
      { mode: 'none', input: [2, 2, 3], mean: [0.1, 1] },
      seededRng(0),
    );
    expectClose(
      out,
      Array.from(src, (v, i) => v - (i < 6 ? 0.1 : 1)),
      6,
    );
    expect(src[0]).toBe(0); // the source is untouched
  });

  it('is random-free: any seed gives the same result', () => {
    const src = arange(48);
    const o: AugmentOptions = { mode: 'none', input: [1, 4, 4] };
    expect(Array.from(augmentSample(src, [1, 6, 8], o, 1, 2, 3))).toEqual(
      Array.from(augmentSample(src, [1, 6, 8], o, 9, 9, 9)),
    );
  });

  it('resizes to the input: isotropic rescale to cover it, then a centre crop', () => {
    const src = arange(4 * 8); // 1 x 4 x 8 -> input 2 x 2: rescale by 1/2 to 2 x 4, crop columns 1-2
    const out = augmentImage(src, [1, 4, 8], { mode: 'none', input: [1, 2, 2] }, seededRng(0));
    expectClose(out, Array.from(resizeCrop(src, [1, 4, 8], 2, 4, 0, 1, 2, 2)));
    // Same aspect ratio: a plain resize.
    const sq = arange(16);
    expectClose(
      augmentImage(sq, [1, 4, 4], { mode: 'none', input: [1, 2, 2] }, seededRng(0)),
      Array.from(bilinearResize(sq, [1, 4, 4], 2, 2)),
    );
  });

  it('refuses a mean of the wrong length', () => {
    expect(
      thrown(() =>
        augmentImage(
          arange(4),
          [1, 2, 2],
          { mode: 'none', input: [1, 2, 2], mean: [0, 0, 0] },
          seededRng(0),
        ),
      ),
    ).toBe('augmentation: the mean has 3 channel(s), the images 1');
  });
});

describe('channelMean and augmentFor', () => {
  // 4 images of 2 x 1 x 2: image k holds channel 0 = [k, k], channel 1 = [10k, 10k + 2].
  const images = Float32Array.from({ length: 16 }, (_, i) => {
    const k = Math.floor(i / 4);
    const j = i % 4;
    return j < 2 ? k : 10 * k + (j === 3 ? 2 : 0);
  });
  const split = memorySplit([2, 1, 2], images, Int32Array.from([0, 1, 0, 1]));

  it('averages each channel over all images of a small split', async () => {
    expectClose(await channelMean(split), [1.5, 16], 6);
  });

  it('averages over evenly spaced images when sampling', async () => {
    // sample 2 of 4: images 0 and 2.
    expectClose(await channelMean(split, 2), [1, 11], 6);
  });

  const ds = (preprocessed: boolean): Dataset => ({
    name: 'toy',
    shape: [2, 1, 2],
    classes: ['a', 'b'],
    train: split,
    test: split,
    preprocessed,
  });

  it('adds the training mean for ordinary sets', async () => {
    const o = await augmentFor(ds(false), { mode: 'none', input: [2, 1, 2] });
    expectClose(Float32Array.from(o.mean!), [1.5, 16], 6);
    expect(o.mode).toBe('none');
  });

  it('adds neither mean nor colour shift for preprocessed sets, and never resizes them', async () => {
    const o = await augmentFor(ds(true), { mode: 'paper', input: [2, 1, 2], scale: 2 });
    expect(o.mean).toBeUndefined();
    expect(o.pcaStd).toBe(0);
    const none = await augmentFor(ds(true), { mode: 'none', input: [2, 1, 2] });
    expect(none.mean).toBeUndefined();
    expect(await rejected(augmentFor(ds(true), { mode: 'none', input: [2, 2, 2] }))).toBe(
      "toy: preprocessed images are 2x1x2, the model's input is 2x2x2 (.npy sets are not resized)",
    );
  });

  it('reports a channel mismatch and a bad scale before any work', async () => {
    expect(await rejected(augmentFor(ds(false), { mode: 'none', input: [3, 1, 2] }))).toBe(
      "toy: images have 2 channel(s), the model's input has 3",
    );
    expect(
      await rejected(augmentFor(ds(false), { mode: 'paper', input: [2, 4, 4], scale: 3 })),
    ).toBe('augmentation: scale S=3 is smaller than the 4x4 input crop');
  });
});

describe('seeded random numbers and the stratified split', () => {
  it('gives the same stream for the same keys and different ones otherwise', () => {
    const take = (...keys: number[]): number[] => {
      const r = seededRng(...keys);
      return Array.from({ length: 5 }, () => r.next());
    };
    expect(take(1, 2, 3)).toEqual(take(1, 2, 3));
    expect(take(1, 2, 3)).not.toEqual(take(1, 2, 4));
    expect(take(1, 2)).not.toEqual(take(2, 1));
    expect(take(2 ** 40)).not.toEqual(take(0));
    for (const v of take(9)) expect(v >= 0 && v < 1).toBe(true);
  });

  it('draws uniform numbers and standard normals', () => {
    const r = seededRng(11);
    let s = 0;
    let sq = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      sq += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.sqrt(sq / n)).toBeCloseTo(1, 1);
  });

  it('splits each class deterministically, in file order, disjoint and complete', () => {
    const labels = Int32Array.from({ length: 50 }, (_, i) => (i < 30 ? 0 : 1));
    const a = stratifiedSplit(labels, 2, 0.2, 0);
    expect(stratifiedSplit(labels, 2, 0.2, 0)).toEqual(a);
    expect(a.test.length).toBe(10);
    expect(Array.from(a.test).filter((i) => labels[i] === 0).length).toBe(6);
    expect([...a.train, ...a.test].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(Array.from(a.train)).toEqual([...a.train].sort((x, y) => x - y));
    expect(stratifiedSplit(labels, 2, 0.2, 1).test).not.toEqual(a.test);
  });
});

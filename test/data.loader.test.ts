import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { augmentFor, augmentSample, type AugmentOptions } from '../runtime/data/augment.js';
import { memorySplit, type Shape, type Split } from '../runtime/data/dataset.js';
import { createLoader, type Batch, type Loader } from '../runtime/data/loader.js';
import { loadMnist } from '../runtime/data/mnist.js';

/** `n` images of 1 x 1 x 2: image i holds [i, i + 0.5]; label i % 3. */
function toySplit(n: number): Split {
  const images = Float32Array.from({ length: 2 * n }, (_, k) => Math.floor(k / 2) + (k % 2) * 0.5);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return memorySplit([1, 1, 2], images, labels);
}

/** Like `toySplit`, but file-like: every image arrives after a random delay, and calls are logged. */
function slowSplit(n: number, calls: number[] = []): Split {
  const base = toySplit(n);
  return {
    length: n,
    shape: base.shape,
    label: (i) => base.label(i),
    image: async (i) => {
      calls.push(i);
      await sleep(Math.floor(Math.random() * 4));
      return Float32Array.from(base.image(i) as Float32Array);
    },
  };
}

async function collect(loader: Loader, between?: () => Promise<void>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) {
    out.push(b);
    if (between) await between();
  }
  return out;
}

const firstValues = (batches: Batch[]): number[] =>
  batches.flatMap((b) => Array.from({ length: b.n }, (_, j) => b.x[j * 2]!));

describe('createLoader', () => {
  it('without shuffle, gives the images in split order, keeping the last short batch', async () => {
    const loader = createLoader(toySplit(10), { batch: 4 });
    expect(loader.batchesPerEpoch).toBe(3);
    expect(loader.length).toBe(10);
    expect(loader.shape).toEqual([1, 1, 2]);
    const batches = await collect(loader);
    expect(batches.map((b) => b.n)).toEqual([4, 4, 2]);
    expect(batches.map((b) => b.index)).toEqual([0, 1, 2]);
    expect(Array.from(batches[0]!.x)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
    expect(Array.from(batches[2]!.x)).toEqual([8, 8.5, 9, 9.5]);
    expect(batches[2]!.x.length).toBe(4);
    expect(batches.map((b) => Array.from(b.labels))).toEqual([
      [0, 1, 2, 0],
      [1, 2, 0, 1],
      [2, 0],
    ]);
    expect(batches.map((b) => Array.from(b.indices))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
  });

  it('gives one batch when the batch is larger than the split, none for an empty split', async () => {
    expect((await collect(createLoader(toySplit(3), { batch: 256 }))).map((b) => b.n)).toEqual([3]);
    const empty = createLoader(toySplit(0), { batch: 4 });
    expect(empty.batchesPerEpoch).toBe(0);
    expect(await collect(empty)).toEqual([]);
  });

  it('shuffles into a permutation, the same for the same seed and epoch', async () => {
    const split = toySplit(50);
    const a = firstValues(
      await collect(createLoader(split, { batch: 8, shuffle: true, seed: 3, epoch: 1 })),
    );
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(
      firstValues(
        await collect(createLoader(split, { batch: 8, shuffle: true, seed: 3, epoch: 1 })),
      ),
    ).toEqual(a);
    expect(
      firstValues(
        await collect(createLoader(split, { batch: 8, shuffle: true, seed: 3, epoch: 2 })),
      ),
    ).not.toEqual(a);
    expect(
      firstValues(
        await collect(createLoader(split, { batch: 8, shuffle: true, seed: 4, epoch: 1 })),
      ),
    ).not.toEqual(a);
    // The permutation does not depend on the batch size, and `order` tells it.
    const l = createLoader(split, { batch: 5, shuffle: true, seed: 3, epoch: 1 });
    expect(Array.from(l.order)).toEqual(a);
    expect(firstValues(await collect(l))).toEqual(a);
  });

  it('keeps each label with its image when shuffled', async () => {
    for (const b of await collect(
      createLoader(toySplit(30), { batch: 7, shuffle: true, seed: 1 }),
    )) {
      for (let j = 0; j < b.n; j++) expect(b.labels[j]).toBe(b.x[j * 2]! % 3);
    }
  });

  it('replays the same epoch when iterated again', async () => {
    const loader = createLoader(toySplit(20), { batch: 6, shuffle: true, seed: 9 });
    expect(firstValues(await collect(loader))).toEqual(firstValues(await collect(loader)));
  });

  it('augments each image by (seed, epoch, index), whatever the batch size and order', async () => {
    const n = 12;
    const shape: Shape = [3, 6, 6];
    const images = Float32Array.from({ length: n * 108 }, (_, k) => (k % 97) / 97);
    const split = memorySplit(
      shape,
      images,
      Int32Array.from({ length: n }, (_, i) => i % 2),
    );
    const augment: AugmentOptions = {
      mode: 'paper',
      input: [3, 4, 4],
      scale: [4, 8],
      mean: [0.1, 0.2, 0.3],
    };
    const byIndex = (batches: Batch[]): Map<number, number[]> => {
      const m = new Map<number, number[]>();
      for (const b of batches)
        b.indices.forEach((i, j) => m.set(i, Array.from(b.x.subarray(j * 48, (j + 1) * 48))));
      return m;
    };
    const a = byIndex(await collect(createLoader(split, { batch: 5, seed: 2, epoch: 3, augment })));
    const b = byIndex(
      await collect(createLoader(split, { batch: 3, shuffle: true, seed: 2, epoch: 3, augment })),
    );
    expect(a.size).toBe(n);
    for (let i = 0; i < n; i++) {
      expect(b.get(i)).toEqual(a.get(i));
      const want = augmentSample(images.subarray(i * 108, (i + 1) * 108), shape, augment, 2, 3, i);
      expect(a.get(i)).toEqual(Array.from(want));
    }
    const loader = createLoader(split, { batch: 5, augment });
    expect(loader.shape).toEqual([3, 4, 4]);
    const other = byIndex(
      await collect(createLoader(split, { batch: 5, seed: 2, epoch: 4, augment })),
    );
    expect(other.get(0)).not.toEqual(a.get(0));
  });

  it('prefetches: batch k+1 is being read while the consumer works on batch k', async () => {
    const calls: number[] = [];
    const loader = createLoader(slowSplit(12, calls), { batch: 4 });
    const it = loader[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    await sleep(30); // the consumer's "GPU step"
    expect(calls).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await it.next();
    await sleep(30);
    expect(calls.length).toBe(12);
    await it.return?.();
  });

  it('does not reorder batches, whatever the timing of images and consumer', async () => {
    const want = firstValues(
      await collect(createLoader(toySplit(40), { batch: 6, shuffle: true, seed: 5 })),
    );
    for (let run = 0; run < 3; run++) {
      const loader = createLoader(slowSplit(40), { batch: 6, shuffle: true, seed: 5 });
      const got = await collect(loader, () => sleep(Math.floor(Math.random() * 5)));
      expect(got.map((b) => b.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      expect(firstValues(got)).toEqual(want);
    }
  });

  it('reports a failing image when its batch is asked for, and stops', async () => {
    const base = slowSplit(10);
    const split: Split = {
      ...base,
      image: (i) =>
        i === 5 || i === 6 ? Promise.reject(new Error(`image ${i} is broken`)) : base.image(i),
    };
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const b of createLoader(split, { batch: 4 })) seen.push(b.index);
      })(),
    ).rejects.toThrow('image 5 is broken');
    expect(seen).toEqual([0]);
  });

  it('lets the consumer stop early', async () => {
    const seen: number[] = [];
    for await (const b of createLoader(slowSplit(20), { batch: 4 })) {
      seen.push(b.index);
      if (b.index === 1) break;
    }
    expect(seen).toEqual([0, 1]);
  });

  it('refuses a batch size that is not a positive integer', () => {
    expect(() => createLoader(toySplit(4), { batch: 0 })).toThrow(RangeError);
    expect(() => createLoader(toySplit(4), { batch: 2.5 })).toThrow(RangeError);
  });

  it('loads MNIST with the paper augmentation into 1 x 28 x 28 batches', async () => {
    const ds = loadMnist();
    const augment = await augmentFor(ds, {
      mode: 'paper',
      input: [1, 28, 28],
      scale: [28, 36],
      sample: 500,
    });
    expect(augment.mean![0]).toBeGreaterThan(0.05);
    expect(augment.mean![0]).toBeLessThan(0.25);
    const loader = createLoader(ds.train, { batch: 256, shuffle: true, seed: 1, augment });
    expect(loader.batchesPerEpoch).toBe(32);
    const it = loader[Symbol.asyncIterator]();
    const b = (await it.next()).value as Batch;
    expect(b.n).toBe(256);
    expect(b.x.length).toBe(256 * 784);
    expect(b.x.every(Number.isFinite)).toBe(true);
    await it.return?.();
    const test = createLoader(ds.test, { batch: 256 });
    const batches = await collect(test);
    expect(batches.length).toBe(8);
    expect(batches[7]!.n).toBe(2000 - 7 * 256);
  });
});

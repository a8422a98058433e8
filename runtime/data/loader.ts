/**
 * Batches for training and evaluation: one pass (epoch) over a split, as an async iterator.
 *
 *     const loader = createLoader(ds.train, { batch: 256, shuffle: true, seed, epoch, augment });
 *     for await (const { x, labels, n } of loader) await step(x, labels, n);
 *
 * Order: with `shuffle` off, images come in split order (file order); with it on, in a
 * permutation drawn from `seededRng(seed, epoch, tag)`: the same seed and epoch always give the
 * same batches, other epochs other permutations. The last batch is kept even when it is short
 * (`n < batch`; its arrays are sized to `n`), so every image is seen once per epoch and
 * `batchesPerEpoch = ceil(length / batch)`.
 *
 * Augmentation: each image goes through `augmentSample(image, shape, augment, seed, epoch,
 * index)` with its index in the split, so its random crop, flip, scale and colour depend only on
 * (seed, epoch, index), not on the batch size, the shuffle or timing. Without `augment` the
 * images are copied as they are (they must then all have the split's shape, which they do).
 *
 * Prefetch (double buffering): as soon as batch k is handed out, batch k+1 starts being
 * prepared, and the consumer awaits it only when it asks for it. For file-backed splits the
 * images of a batch are requested together, so sharp decodes them on libuv's thread pool in
 * parallel with everything else. The augmentation itself is plain TS on the main thread: it
 * overlaps the consumer's work only while the consumer is waiting asynchronously, which is what
 * a training step does: the runtime submits GPU work and awaits `mapAsync` for the loss, and
 * the event loop runs our preparation in the meantime. Preparation yields to the event loop
 * every few milliseconds, so a resolved `mapAsync` is not held up for a whole batch. Batches are
 * always delivered in order; a failure while preparing batch k+1 is reported when it is asked
 * for.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { augmentSample, type AugmentOptions } from './augment.js';
import { seededRng, shuffleInPlace, type Shape, type Split } from './dataset.js';

export interface LoaderOptions {
  /** Images per batch (the last batch may hold fewer). */
  readonly batch: number;
  /** Visit the split in a seeded random order. Default false. */
  readonly shuffle?: boolean;
  /** Seed of the shuffle and of the augmentation. Default 0. */
  readonly seed?: number;
  /** Augmentation (augment.ts; see `augmentFor`); absent: images as stored. */
  readonly augment?: AugmentOptions;
  /** Epoch number: selects the permutation and the augmentation draws. Default 0. */
  readonly epoch?: number;
}

export interface Batch {
  /** N x C x H x W, float32, `n` images. */
  readonly x: Float32Array;
  /** N labels. */
  readonly labels: Int32Array;
  /** Images in this batch: `batch`, or fewer for the last one. */
  readonly n: number;
  /** Index of the batch within the epoch, from 0. */
  readonly index: number;
  /** Split index of each image of the batch. */
  readonly indices: Int32Array;
}

export interface Loader extends AsyncIterable<Batch> {
  /** `[C, H, W]` of one image of a batch: the augmentation's input size, or the split's. */
  readonly shape: Shape;
  /** Images per epoch (the split's length). */
  readonly length: number;
  readonly batchesPerEpoch: number;
  /** The split indices in the order this epoch visits them. */
  readonly order: Int32Array;
}

const TAG_SHUFFLE = 0x53485546; // "SHUF"
/** How long preparation runs before it lets the event loop in. */
const SLICE_MS = 4;

/** One epoch's batches of `split`; iterating again replays the same epoch. */
export function createLoader(split: Split, opts: LoaderOptions): Loader {
  const { batch, shuffle = false, seed = 0, augment, epoch = 0 } = opts;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${batch}`);
  }
  const length = split.length;
  const order = Int32Array.from({ length }, (_, i) => i);
  if (shuffle) shuffleInPlace(order, seededRng(seed, epoch, TAG_SHUFFLE));
  const batchesPerEpoch = Math.ceil(length / batch);
  const inShape = split.shape;
  const shape: Shape = augment
    ? [inShape[0], augment.input[1], augment.input[2]]
    : [inShape[0], inShape[1], inShape[2]];
  const size = shape[0] * shape[1] * shape[2];

  async function prepare(k: number): Promise<Batch> {
    // Start on a later turn of the event loop: the batch before this one reaches its consumer
    // first, and this preparation then runs while the consumer awaits its GPU work.
    await nextTurn();
    const indices = order.slice(k * batch, Math.min(length, (k + 1) * batch));
    const n = indices.length;
    const x = new Float32Array(n * size);
    const labels = new Int32Array(n);
    // Ask for every image first: file-backed splits decode them concurrently.
    const pending = Array.from(indices, (i) => split.image(i));
    // If one fails, the others' failures must not surface as unhandled rejections.
    for (const p of pending) if (p instanceof Promise) p.catch(() => undefined);
    let slice = performance.now();
    for (let j = 0; j < n; j++) {
      const i = indices[j]!;
      const img = await pending[j]!;
      const out = x.subarray(j * size, (j + 1) * size);
      if (augment) augmentSample(img, inShape, augment, seed, epoch, i, out);
      else if (img.length !== size) {
        throw new RangeError(`image ${i} holds ${img.length} values, expected ${size}`);
      } else out.set(img);
      labels[j] = split.label(i);
      if (performance.now() - slice > SLICE_MS) {
        await nextTurn();
        slice = performance.now();
      }
    }
    return { x, labels, n, index: k, indices };
  }

  async function* batches(): AsyncGenerator<Batch> {
    let next: Promise<Batch> | undefined = batchesPerEpoch > 0 ? prepare(0) : undefined;
    for (let k = 0; next; k++) {
      const current = await next;
      // Start batch k+1 now; it runs while the consumer works on batch k.
      next = k + 1 < batchesPerEpoch ? prepare(k + 1) : undefined;
      // A failure of the prefetch is reported when that batch is asked for, not as unhandled.
      next?.catch(() => undefined);
      yield current;
    }
  }

  return {
    shape,
    length,
    batchesPerEpoch,
    order,
    [Symbol.asyncIterator]: () => batches(),
  };
}

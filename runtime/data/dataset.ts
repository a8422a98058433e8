/**
 * Datasets: what the data loader reads from, plus the seeded random numbers that every
 * stochastic step of the data layer (splits, shuffles, augmentation) draws from.
 *
 * A `Dataset` holds two `Split`s of labelled images. Every image of a dataset has the same
 * shape, `[C, H, W]`, and is float32 in CHW order (channel planes, rows, columns). An image is
 * fetched by index: in-memory sets (MNIST, .npy folders) answer synchronously, file-backed sets
 * (image trees) with a promise, so that a loader can ask for the images of the next batch before
 * it needs them and let the decoding run in the background (see loader.ts).
 */
import { fail } from '../../dsl/diagnostics.js';

/** `[channels, height, width]`. */
export type Shape = [number, number, number];

export interface Split {
  /** Number of images. */
  readonly length: number;
  /** The shape of every image; the same as the dataset's. */
  readonly shape: Shape;
  /** The class index of image `i`, in `[0, classes.length)`. */
  label(i: number): number;
  /**
   * Image `i` as float32 CHW, `C*H*W` values. In-memory splits return the array itself (a
   * read-only view into their storage: do not write to it); file-backed ones a promise of a
   * fresh array. Callers `await` either.
   */
  image(i: number): Float32Array | Promise<Float32Array>;
}

export interface Dataset {
  /** A name for messages: `mnist`, or the folder it was read from. */
  readonly name: string;
  /**
   * `[C, H, W]` of every stored image: the native size (MNIST 1x28x28), the size images were
   * decoded to (image trees), or the declared size (.npy).
   */
  readonly shape: Shape;
  /** Class names; labels index into this list. */
  readonly classes: string[];
  readonly train: Split;
  readonly test: Split;
  /**
   * True when the images are already preprocessed (.npy folders): the loader then neither
   * resizes them nor subtracts a mean; values may be in any range.
   */
  readonly preprocessed: boolean;
  /**
   * Set when the test split was held out of the training data (a folder without `test/`): the
   * share of each class that went to test (0: none, the test split is empty). Commands say so.
   */
  readonly heldOut?: number;
}

/**
 * One line on where the test split of `dataset` comes from, when it was held out of the training
 * data (undefined otherwise): `data: no test/ folder: 20% of each class held out for testing
 * (80 training, 20 test images); --test-fraction F to change it, 0 to train on all`.
 */
export function describeHeldOut(dataset: Dataset): string | undefined {
  const f = dataset.heldOut;
  if (f === undefined) return undefined;
  const counts = `${dataset.train.length} training, ${dataset.test.length} test images`;
  if (f === 0)
    return `${dataset.name}: no test/ folder and --test-fraction 0: training on all (${counts})`;
  return (
    `${dataset.name}: no test/ folder: ${+(100 * f).toPrecision(4)}% of each class held out for ` +
    `testing (${counts}); --test-fraction F to change it, 0 to train on all`
  );
}

/** A split over images held in one Float32Array of `labels.length` images of `shape`. */
export function memorySplit(
  shape: Shape,
  images: Float32Array,
  labels: Int32Array,
  indices?: Int32Array,
): Split {
  const size = shape[0] * shape[1] * shape[2];
  const order = indices ?? Int32Array.from({ length: labels.length }, (_, i) => i);
  const at = (i: number): number => {
    const j = order[i];
    if (j === undefined || !Number.isInteger(i)) {
      throw new RangeError(`image index ${i} is outside the split (0..${order.length - 1})`);
    }
    return j;
  };
  return {
    length: order.length,
    shape,
    label: (i) => labels[at(i)]!,
    image: (i) => {
      const j = at(i);
      return images.subarray(j * size, (j + 1) * size);
    },
  };
}

/**
 * Refuses a dataset with more classes than the model `model` has outputs (`classes`, from
 * compiler/classifier.ts): its labels (in `[0, dataset.classes.length)`) would index scores the
 * model does not have. Training (runtime/train/loop.ts) and evaluation (cli/eval.ts) both check
 * here before any work.
 */
export function checkClasses(dataset: Dataset, classes: number, model: string): void {
  const k = dataset.classes.length;
  if (k > classes) {
    fail(
      `${dataset.name} has ${k} classes (labels 0 to ${k - 1}), the model ${model} ` +
        `${classes} (its last layer is FC-${classes}): give the model FC-${k} or relabel the data`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Seeded random numbers

/** A stream of pseudo-random numbers; the same keys always give the same stream. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
}

/** One round of MurmurHash3's 32-bit mixing of `k` into `h`. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A random stream determined by `keys` (integers, e.g. seed, epoch, image index, a purpose tag):
 * the keys are hashed (MurmurHash3 mixing) into the 128-bit state of sfc32. Streams for
 * different keys are independent for all practical purposes, so a stream per (seed, epoch,
 * index) makes each image's augmentation independent of batch size, order and prefetching.
 */
export function seededRng(...keys: number[]): Rng {
  const state = [0, 0, 0, 0];
  for (let s = 0; s < 4; s++) {
    let h = 0x9e3779b9 ^ Math.imul(s + 1, 0x85ebca6b);
    for (const key of keys) {
      const k = Math.trunc(key);
      h = mix(h, k | 0);
      h = mix(h, Math.floor(k / 0x100000000) | 0); // the high bits of keys past 2^32
    }
    state[s] = avalanche(mix(h, keys.length));
  }
  let [a, b, c, d] = state as [number, number, number, number];
  const next32 = (): number => {
    // sfc32 (Chris Doty-Humphrey's Small Fast Counting generator)
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next32(); // warm-up, as sfc32's author recommends
  const next = (): number => next32() / 0x100000000;
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      const u = 1 - next(); // (0, 1]: log is finite
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
  };
}

/** Shuffles `a` in place (Fisher-Yates) with `rng`; returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(
  a: T,
  rng: Rng,
): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

/**
 * A deterministic, stratified train/test split of `labels` (values in `[0, numClasses)`):
 * within each class, the images are shuffled with `seededRng(seed, class)` and the first
 * `round(n * testFraction)` of them go to test, the rest to train. Both lists come back in
 * ascending (file) order.
 */
export function stratifiedSplit(
  labels: ArrayLike<number>,
  numClasses: number,
  testFraction: number,
  seed: number,
): { train: Int32Array; test: Int32Array } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const isTest = new Uint8Array(labels.length);
  byClass.forEach((members, c) => {
    shuffleInPlace(members, seededRng(seed, c, 0x5f5f5354)); // tag: "SPLIT"
    const nTest = Math.round(members.length * testFraction);
    for (let k = 0; k < nTest; k++) isTest[members[k]!] = 1;
  });
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < labels.length; i++) (isTest[i] ? test : train).push(i);
  return { train: Int32Array.from(train), test: Int32Array.from(test) };
}

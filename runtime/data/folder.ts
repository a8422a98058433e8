/**
 * `--data DIR`: datasets read from a folder. Two kinds, told apart by what DIR holds:
 *
 * .npy arrays (when `DIR/images.npy` or `DIR/train/images.npy` exists), pixels taken as they are:
 *   `images.npy` float32 (any numeric dtype is converted) N x C x H x W, `labels.npy` N
 *   integers. Either `DIR/train/{images,labels}.npy` (+ optional `DIR/test/{images,labels}.npy`)
 *   or one pair `DIR/{images,labels}.npy`. Already preprocessed: no resize, no mean subtraction
 *   (`preprocessed: true`). Class names come from `DIR/classes.txt` (one per line) when present,
 *   else they are '0' .. 'max label'. Arrays are loaded into memory.
 *
 * Image trees of JPEG/PNG files (`.jpg`, `.jpeg`, `.png`, any case; other files are ignored),
 *   one folder per class: `DIR/train/<class>/*` (+ optional `DIR/test/<class>/*`), or
 *   `DIR/<class>/*`. Classes are the folder names of the training tree, sorted by code point;
 *   labels index that list. Files within a class are sorted by name. Images are decoded by sharp
 *   (libvips) on demand, on its thread pool, when the loader asks for them (see loader.ts), and
 *   come back as C x H x W float32 in [0, 1]: EXIF orientation applied, alpha dropped (not
 *   composited), converted to sRGB (C = 3, greyscale images are replicated) or to luminance
 *   (C = 1: libvips' relative luminance, weighed in linear light) per the `channels` option,
 *   and brought to the dataset's H x W (the `size` option, by default the size of the first
 *   training image) with sharp's `cover` fit: an isotropic Lanczos rescale so that the image
 *   covers H x W, then a centre crop. Images already of that size are not resampled (PNG values
 *   come back exactly). Decoded images are not cached: each epoch decodes again.
 *
 * Splits without a test folder: when there is no `DIR/test` (either kind), the training data
 * is split deterministically and stratified by class: of each class, `round(n * testFraction)`
 * images (default 0.2) chosen by a shuffle seeded with (`splitSeed`, class) go to test, the
 * rest to train; both keep file order. The same folder and options always give the same split.
 * `testFraction` 0 puts every image in train (an empty test split). The dataset's `heldOut` then
 * records the fraction, for the commands to say so (`describeHeldOut` in dataset.ts).
 *
 * Every failure is a one-line VggcError naming the file or folder.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { OutputInfo, Sharp, SharpOptions } from 'sharp';
import { VggcError, fail } from '../../dsl/diagnostics.js';
import { isFsError, readRegularFile, rethrowFsError } from '../fsutil.js';
import { readNpy, readNpyInts } from '../npy.js';
import { memorySplit, stratifiedSplit, type Dataset, type Shape, type Split } from './dataset.js';

export interface FolderOptions {
  /** Image trees: 3 (RGB, default) or 1 (luminance). Ignored for .npy sets. */
  readonly channels?: 1 | 3;
  /** Image trees: `[H, W]` every image is brought to; default: the first training image's size. */
  readonly size?: readonly [number, number];
  /** Share of each class that goes to test when there is no test folder. Default 0.2. */
  readonly testFraction?: number;
  /** Seed of that split. Default 0. */
  readonly splitSeed?: number;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

type Kind = 'file' | 'dir' | 'other' | 'missing';

async function kindOf(path: string): Promise<Kind> {
  try {
    const st = await stat(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
  } catch (e) {
    if (isFsError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return 'missing';
    rethrowFsError(path, 'read', e);
  }
}

async function list(dir: string): Promise<{ name: string; dir: boolean }[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => !e.name.startsWith('.'))
      .map((e) => ({ name: e.name, dir: e.isDirectory() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    rethrowFsError(dir, 'read', e);
  }
}

/** Loads the dataset in `dir` (see the module comment for the layouts). */
export async function loadFolder(dir: string, opts: FolderOptions = {}): Promise<Dataset> {
  const testFraction = opts.testFraction ?? 0.2;
  if (!(testFraction >= 0 && testFraction < 1)) {
    fail(`${dir}: testFraction must be in [0, 1), got ${testFraction}`);
  }
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    fail(`${dir}: channels must be 1 or 3, got ${String(opts.channels)}`);
  }
  if (opts.size && !opts.size.every((d) => Number.isInteger(d) && d > 0)) {
    fail(`${dir}: size must be two positive integers, got ${opts.size.join('x')}`);
  }
  const kind = await kindOf(dir);
  if (kind === 'missing') fail(`${dir}: no such folder`);
  if (kind !== 'dir') fail(`${dir}: not a folder`);
  const [train, test] = await Promise.all([kindOf(join(dir, 'train')), kindOf(join(dir, 'test'))]);
  const hasTrain = train === 'dir';
  const hasTest = hasTrain && test === 'dir';
  const npyAt = hasTrain ? join(dir, 'train') : dir;
  if ((await kindOf(join(npyAt, 'images.npy'))) === 'file') {
    return loadNpyFolder(dir, hasTrain, hasTest, testFraction, opts.splitSeed ?? 0);
  }
  return loadImageTree(dir, hasTrain, hasTest, testFraction, opts);
}

// ---------------------------------------------------------------------------------------------
// .npy folders

interface NpyPair {
  readonly file: string;
  readonly shape: Shape;
  readonly images: Float32Array;
  readonly labels: Int32Array;
}

async function readPair(folder: string): Promise<NpyPair> {
  const file = join(folder, 'images.npy');
  const labelFile = join(folder, 'labels.npy');
  const [images, labels] = await Promise.all([readNpy(file), readNpyInts(labelFile)]);
  if (images.shape.length !== 4) {
    fail(`${file}: expected images of shape N x C x H x W, got ${images.shape.join('x')}`);
  }
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (n === 0 || c === 0 || h === 0 || w === 0) {
    fail(`${file}: no images (shape ${images.shape.join('x')})`);
  }
  if (labels.shape.length !== 1) {
    fail(`${labelFile}: expected a 1-D array of N labels, got shape ${labels.shape.join('x')}`);
  }
  if (labels.shape[0] !== n) {
    fail(`${labelFile}: ${labels.shape[0]} labels for ${n} images in ${file}`);
  }
  return { file, shape: [c, h, w], images: images.data, labels: labels.data };
}

async function readClassNames(dir: string): Promise<string[] | undefined> {
  const file = join(dir, 'classes.txt');
  if ((await kindOf(file)) === 'missing') return undefined;
  const text = (await readRegularFile(file)).toString('utf8');
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) fail(`${file}: no class names`);
  return names;
}

function checkLabels(pair: NpyPair, numClasses: number, labelFile: string, why: string): void {
  for (let i = 0; i < pair.labels.length; i++) {
    const v = pair.labels[i]!;
    if (v < 0 || v >= numClasses) {
      fail(`${labelFile}: label ${v} at index ${i} is out of range [0, ${numClasses - 1}] ${why}`);
    }
  }
}

async function loadNpyFolder(
  dir: string,
  hasTrain: boolean,
  hasTest: boolean,
  testFraction: number,
  splitSeed: number,
): Promise<Dataset> {
  const trainPair = await readPair(hasTrain ? join(dir, 'train') : dir);
  const testPair = hasTest ? await readPair(join(dir, 'test')) : undefined;
  if (testPair && testPair.shape.join() !== trainPair.shape.join()) {
    fail(
      `${testPair.file}: images are ${testPair.shape.join('x')}, the training images ${trainPair.shape.join('x')}`,
    );
  }
  const names = await readClassNames(dir);
  const pairs = testPair ? [trainPair, testPair] : [trainPair];
  let numClasses: number;
  if (names) {
    numClasses = names.length;
  } else {
    let max = -1;
    for (const p of pairs) for (const v of p.labels) max = Math.max(max, v);
    numClasses = max + 1;
  }
  const why = names ? `(${join(dir, 'classes.txt')} names ${numClasses})` : '(labels start at 0)';
  for (const p of pairs)
    checkLabels(p, numClasses, p.file.replace(/images\.npy$/, 'labels.npy'), why);

  const shape = trainPair.shape;
  let train: Split;
  let test: Split;
  if (testPair) {
    train = memorySplit(shape, trainPair.images, trainPair.labels);
    test = memorySplit(shape, testPair.images, testPair.labels);
  } else {
    const s = stratifiedSplit(trainPair.labels, numClasses, testFraction, splitSeed);
    train = memorySplit(shape, trainPair.images, trainPair.labels, s.train);
    test = memorySplit(shape, trainPair.images, trainPair.labels, s.test);
  }
  return {
    name: dir,
    shape,
    classes: names ?? Array.from({ length: numClasses }, (_, i) => String(i)),
    train,
    test,
    preprocessed: true,
    ...(testPair ? {} : { heldOut: testFraction }),
  };
}

// ---------------------------------------------------------------------------------------------
// Image trees

interface Listing {
  readonly files: string[];
  readonly labels: number[];
}

/** The images of a class-per-folder tree; `classes` given: folders must be among them. */
async function listTree(root: string, classes?: string[]): Promise<[string[], Listing]> {
  const folders = (await list(root)).filter((e) => e.dir).map((e) => e.name);
  if (folders.length === 0) {
    fail(
      `${root}: no class folders (expected ${join(root, '<class>')}/*.png or *.jpg, or images.npy and labels.npy)`,
    );
  }
  const names = classes ?? folders;
  const files: string[] = [];
  const labels: number[] = [];
  for (const folder of folders) {
    const label = names.indexOf(folder);
    if (label < 0) {
      fail(`${join(root, folder)}: class '${folder}' has no folder among the training classes`);
    }
    const images = (await list(join(root, folder)))
      .filter((e) => !e.dir && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .map((e) => join(root, folder, e.name));
    if (images.length === 0) fail(`${join(root, folder)}: no JPEG or PNG images`);
    files.push(...images);
    labels.push(...images.map(() => label));
  }
  return [names, { files, labels }];
}

let sharpModule: Promise<(input: Buffer, options: SharpOptions) => Sharp> | undefined;

/**
 * sharp, loaded on first use: its native library is only needed for image trees, so MNIST and
 * .npy runs neither pay for loading it nor fail if its binary is missing.
 */
function loadSharp(): Promise<(input: Buffer, options: SharpOptions) => Sharp> {
  sharpModule ??= import('sharp').then(
    (m) => m.default,
    (e: unknown) => {
      sharpModule = undefined;
      fail(`sharp: cannot load the image library (npm install sharp): ${firstLine(e)}`);
    },
  );
  return sharpModule;
}

/** The first line of a sharp/libvips message, without trailing punctuation. */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return (text.split('\n')[0] ?? '').trim().replace(/[:.]+$/, '') || 'unknown error';
}

/**
 * Decodes one image file to C x H x W float32 in [0, 1]; with `size`, brought to H x W (cover
 * fit: isotropic rescale, centre crop).
 */
export async function decodeImage(
  file: string,
  channels: 1 | 3,
  size?: readonly [number, number],
): Promise<{ shape: Shape; data: Float32Array }> {
  const bytes = await readRegularFile(file);
  const sharp = await loadSharp();
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let img = sharp(bytes, { failOn: 'error' })
      .autoOrient()
      .removeAlpha()
      .toColourspace(channels === 3 ? 'srgb' : 'b-w');
    if (size) img = img.resize(size[1], size[0], { fit: 'cover' });
    raw = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    if (e instanceof VggcError) throw e;
    fail(`${file}: cannot decode image: ${firstLine(e)}`);
  }
  const { width: w, height: h, channels: c } = raw.info;
  if (c !== channels || (size && (h !== size[0] || w !== size[1]))) {
    fail(`${file}: decoded to ${c}x${h}x${w}, expected ${channels}x${size?.join('x') ?? ''}`);
  }
  const plane = h * w;
  const out = new Float32Array(c * plane);
  const src = raw.data;
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < c; k++) out[k * plane + p] = src[p * c + k]! / 255;
  }
  return { shape: [c, h, w], data: out };
}

function fileSplit(
  shape: Shape,
  listing: Listing,
  indices: ArrayLike<number> | undefined,
  channels: 1 | 3,
): Split {
  const order = indices ? Array.from(indices) : listing.files.map((_, i) => i);
  const size: [number, number] = [shape[1], shape[2]];
  const at = (i: number): number => {
    const j = order[i];
    if (j === undefined) throw new RangeError(`image index ${i} is outside the split`);
    return j;
  };
  return {
    length: order.length,
    shape,
    label: (i) => listing.labels[at(i)]!,
    image: async (i) => (await decodeImage(listing.files[at(i)]!, channels, size)).data,
  };
}

async function loadImageTree(
  dir: string,
  hasTrain: boolean,
  hasTest: boolean,
  testFraction: number,
  opts: FolderOptions,
): Promise<Dataset> {
  const channels = opts.channels ?? 3;
  const [classes, trainList] = await listTree(hasTrain ? join(dir, 'train') : dir);
  const testList = hasTest ? (await listTree(join(dir, 'test'), classes))[1] : undefined;
  const size = opts.size ?? (await decodeImage(trainList.files[0]!, channels)).shape.slice(1);
  const shape: Shape = [channels, size[0]!, size[1]!];
  let train: Split;
  let test: Split;
  if (testList) {
    train = fileSplit(shape, trainList, undefined, channels);
    test = fileSplit(shape, testList, undefined, channels);
  } else {
    const s = stratifiedSplit(trainList.labels, classes.length, testFraction, opts.splitSeed ?? 0);
    train = fileSplit(shape, trainList, s.train, channels);
    test = fileSplit(shape, trainList, s.test, channels);
  }
  return {
    name: dir,
    shape,
    classes,
    train,
    test,
    preprocessed: false,
    ...(testList ? {} : { heldOut: testFraction }),
  };
}

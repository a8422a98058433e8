/**
 * Training-time augmentation after the VGG paper (Section 3.1), for one image at a time:
 *
 *  1. isotropic rescale so that the smallest side is S: S fixed, or drawn per image uniformly
 *     from the integers in [Smin, Smax] ("scale jittering");
 *  2. a random crop of the model's input size H x W;
 *  3. a random horizontal flip (probability 1/2);
 *  4. AlexNet's PCA colour shift: `eigvec * (alpha .* eigval)` added to every pixel, with
 *     alpha ~ N(0, 0.1) drawn per image (3-channel images only);
 *  5. subtraction of the per-channel mean of the training set (`channelMean`).
 *
 * Mode `none` (`--augment none`, evaluation) keeps only the resize to the input size (when the
 * stored size differs: an isotropic rescale so that the image covers H x W, then a centre crop;
 * for an image of the input's aspect ratio that is a plain resize) and the mean subtraction.
 * Preprocessed (.npy) sets get neither a resize nor a mean nor a colour shift (`augmentFor`).
 *
 * Every random choice comes from `seededRng(seed, epoch, index, tag)`: the same (seed, epoch,
 * index) always gives the same image, whatever the batch size, order or prefetching.
 *
 * Why our own bilinear rescale rather than sharp's: the images reach us already decoded as
 * float32 CHW (MNIST and .npy sets never were encoded images; image trees are decoded and
 * brought to the dataset's size once by sharp in folder.ts). A jittered S changes per image and
 * epoch, so sharp would need an encode/decode round trip per sample and would quantise to 8 bits.
 * Resampling the float array directly costs one pass, and only over the crop window: the
 * rescaled image is never materialised, each output pixel is sampled from the source.
 * Bilinear with half-pixel centres (OpenCV's and PyTorch's `align_corners=False`), no
 * antialiasing filter: fine for the up-scaling and mild down-scaling of scale jittering; store
 * images near Smax (folder.ts `size`) rather than far above it.
 */
import { fail } from '../../dsl/diagnostics.js';
import { seededRng, type Dataset, type Rng, type Shape, type Split } from './dataset.js';

export type AugmentMode = 'none' | 'paper';

export interface AugmentOptions {
  readonly mode: AugmentMode;
  /** The model's input `[C, H, W]`; images are brought to this size. */
  readonly input: Shape;
  /**
   * Paper mode: the training scale S, fixed (`256`) or jittered (`[256, 512]`), the smallest
   * side after the rescale; at least max(H, W). Default: max(H, W) (no zoom; crops only along
   * the longer side).
   */
  readonly scale?: number | readonly [number, number];
  /** Paper mode: random horizontal flips. Default true. */
  readonly flip?: boolean;
  /** Paper mode: standard deviation of the PCA colour shift's alpha; 0 turns it off. Default 0.1. */
  readonly pcaStd?: number;
  /** Per-channel mean to subtract (length C); absent: nothing is subtracted. */
  readonly mean?: ArrayLike<number>;
}

/**
 * The RGB principal components of ImageNet's pixels (values in [0, 1]) used for AlexNet's
 * colour augmentation. The AlexNet paper does not print them; these are the values every
 * reimplementation uses (fb.resnet.torch, torchvision references, Caffe ports).
 * `eigvec[c][j]` is channel c of eigenvector j.
 */
export const ALEXNET_PCA = {
  eigval: [0.2175, 0.0188, 0.0045] as const,
  eigvec: [
    [-0.5675, 0.7192, 0.4009],
    [-0.5808, -0.0045, -0.814],
    [-0.5836, -0.6948, 0.4203],
  ] as const,
};

// Tags that separate the random streams of one image.
const TAG_AUGMENT = 0x41554731; // "AUG1"

/** The size of an h x w image rescaled isotropically so that its smallest side is `s`. */
export function scaleToSmallestSide(h: number, w: number, s: number): [number, number] {
  if (h <= w) return [s, Math.max(s, Math.round((w * s) / h))];
  return [Math.max(s, Math.round((h * s) / w)), s];
}

/** The S values of `scale` as [Smin, Smax], checked against the input size. */
function scaleRange(opts: AugmentOptions): [number, number] {
  const [, H, W] = opts.input;
  const min = Math.max(H, W);
  const s = opts.scale ?? min;
  const [lo, hi] = typeof s === 'number' ? [s, s] : [s[0], s[1]];
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo > hi) {
    fail(`augmentation: bad scale ${JSON.stringify(s)}: expected an integer S or [Smin, Smax]`);
  }
  if (lo < min) {
    fail(`augmentation: scale S=${lo} is smaller than the ${H}x${W} input crop`);
  }
  return [lo, hi];
}

/**
 * Samples the `outH x outW` window at (`top`, `left`) of the image `src` (`shape`) bilinearly
 * rescaled to `scaledH x scaledW`, mirrored left-right within the window when `flip`, into
 * `out` (a new array if absent). The window must lie inside the rescaled image. Sampling uses
 * half-pixel centres: scaled pixel y reads source row `(y + 0.5) * h / scaledH - 0.5`, clamped
 * to the image; so an unscaled window is an exact copy.
 */
export function resizeCrop(
  src: Float32Array,
  shape: Shape,
  scaledH: number,
  scaledW: number,
  top: number,
  left: number,
  outH: number,
  outW: number,
  flip = false,
  out?: Float32Array,
): Float32Array {
  const [C, h, w] = shape;
  if (src.length !== C * h * w) {
    throw new RangeError(`image holds ${src.length} values, shape ${shape.join('x')} needs more`);
  }
  if (top < 0 || left < 0 || top + outH > scaledH || left + outW > scaledW) {
    throw new RangeError(
      `crop ${outH}x${outW} at (${top}, ${left}) is outside the ${scaledH}x${scaledW} image`,
    );
  }
  const dst = out ?? new Float32Array(C * outH * outW);
  // Per output row and column: the two source lines and the weight of the second.
  const axis = (n: number, scaled: number, start: number, size: number, mirror: boolean) => {
    const i0 = new Int32Array(size);
    const i1 = new Int32Array(size);
    const f = new Float32Array(size);
    const ratio = n / scaled;
    for (let o = 0; o < size; o++) {
      const p = start + (mirror ? size - 1 - o : o);
      const s = Math.min(Math.max((p + 0.5) * ratio - 0.5, 0), n - 1);
      const a = Math.floor(s);
      i0[o] = a;
      i1[o] = Math.min(a + 1, n - 1);
      f[o] = s - a;
    }
    return { i0, i1, f };
  };
  const rows = axis(h, scaledH, top, outH, false);
  const cols = axis(w, scaledW, left, outW, flip);
  for (let c = 0; c < C; c++) {
    const plane = c * h * w;
    const base = c * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = plane + rows.i0[y]! * w;
      const r1 = plane + rows.i1[y]! * w;
      const fy = rows.f[y]!;
      const o = base + y * outW;
      for (let x = 0; x < outW; x++) {
        const x0 = cols.i0[x]!;
        const x1 = cols.i1[x]!;
        const fx = cols.f[x]!;
        const top_ = src[r0 + x0]! + (src[r0 + x1]! - src[r0 + x0]!) * fx;
        const bot = src[r1 + x0]! + (src[r1 + x1]! - src[r1 + x0]!) * fx;
        dst[o + x] = top_ + (bot - top_) * fy;
      }
    }
  }
  return dst;
}

/** Bilinear resize (half-pixel centres) of a CHW image to `outH x outW`. */
export function bilinearResize(
  src: Float32Array,
  shape: Shape,
  outH: number,
  outW: number,
): Float32Array {
  return resizeCrop(src, shape, outH, outW, 0, 0, outH, outW);
}

/** The PCA colour shift for one image: `eigvec * (alpha .* eigval)`, alpha ~ N(0, std). */
export function pcaShift(rng: Rng, std: number): [number, number, number] {
  const { eigval, eigvec } = ALEXNET_PCA;
  const a = eigval.map((v) => v * std * rng.normal());
  const rgb = eigvec.map((row) => row[0] * a[0]! + row[1] * a[1]! + row[2] * a[2]!);
  return rgb as [number, number, number];
}

/** The random choices for one image in paper mode (see `augmentParams`). */
export interface AugmentParams {
  /** The drawn S: the smallest side after the rescale. */
  readonly s: number;
  /** The rescaled image's size. */
  readonly scaled: [number, number];
  /** The crop's top-left corner in the rescaled image. */
  readonly top: number;
  readonly left: number;
  readonly flip: boolean;
  /** The RGB shift added to every pixel (zeros when off or for other than 3 channels). */
  readonly shift: [number, number, number];
}

/**
 * Draws the paper-mode choices for an image of `shape` from `rng`, in a fixed order (S, crop
 * top, crop left, flip, colour) whatever the options, so that turning one step off does not
 * change the others.
 */
export function augmentParams(shape: Shape, opts: AugmentOptions, rng: Rng): AugmentParams {
  const [C, h, w] = shape;
  const [, H, W] = opts.input;
  const [lo, hi] = scaleRange(opts);
  const s = lo + rng.int(hi - lo + 1);
  const scaled = scaleToSmallestSide(h, w, s);
  const top = rng.int(scaled[0] - H + 1);
  const left = rng.int(scaled[1] - W + 1);
  const flip = rng.next() < 0.5 && opts.flip !== false;
  const std = opts.pcaStd ?? 0.1;
  const drawn = pcaShift(rng, std);
  const shift: [number, number, number] = C === 3 && std > 0 ? drawn : [0, 0, 0];
  return { s, scaled, top, left, flip, shift };
}

/**
 * Augments one image `src` of `shape` with the random choices of `rng`; returns the
 * `opts.input`-sized result, written into `out` when given.
 */
export function augmentImage(
  src: Float32Array,
  shape: Shape,
  opts: AugmentOptions,
  rng: Rng,
  out?: Float32Array,
): Float32Array {
  const [C, h, w] = shape;
  const [Ci, H, W] = opts.input;
  if (C !== Ci) {
    fail(`augmentation: images have ${C} channel(s), the model's input has ${Ci}`);
  }
  let dst: Float32Array;
  if (opts.mode === 'paper') {
    const p = augmentParams(shape, opts, rng);
    dst = resizeCrop(src, shape, p.scaled[0], p.scaled[1], p.top, p.left, H, W, p.flip, out);
    if (C === 3) addPerChannel(dst, p.shift, H * W, 1);
  } else if (h === H && w === W) {
    dst = out ?? new Float32Array(src.length);
    dst.set(src);
  } else {
    const k = Math.max(H / h, W / w);
    const sh = Math.max(H, Math.round(h * k));
    const sw = Math.max(W, Math.round(w * k));
    const top = Math.floor((sh - H) / 2);
    const left = Math.floor((sw - W) / 2);
    dst = resizeCrop(src, shape, sh, sw, top, left, H, W, false, out);
  }
  if (opts.mean) {
    if (opts.mean.length !== C) {
      fail(`augmentation: the mean has ${opts.mean.length} channel(s), the images ${C}`);
    }
    addPerChannel(dst, opts.mean, H * W, -1);
  }
  return dst;
}

function addPerChannel(img: Float32Array, v: ArrayLike<number>, plane: number, sign: 1 | -1): void {
  for (let c = 0; c < v.length; c++) {
    const d = sign * v[c]!;
    const end = (c + 1) * plane;
    for (let i = c * plane; i < end; i++) img[i]! += d;
  }
}

/** The random stream of image `index` in `epoch` under `seed`. */
export function sampleRng(seed: number, epoch: number, index: number): Rng {
  return seededRng(seed, epoch, index, TAG_AUGMENT);
}

/** `augmentImage` with the random stream of image `index` in `epoch` under `seed`. */
export function augmentSample(
  src: Float32Array,
  shape: Shape,
  opts: AugmentOptions,
  seed: number,
  epoch: number,
  index: number,
  out?: Float32Array,
): Float32Array {
  return augmentImage(src, shape, opts, sampleRng(seed, epoch, index), out);
}

/**
 * The per-channel mean of a split's images, over `sample` of them (default 1,000; all if the
 * split is smaller) taken at evenly spaced indices (deterministic). Float64 accumulation.
 */
export async function channelMean(split: Split, sample = 1000): Promise<Float32Array> {
  const [C, H, W] = split.shape;
  const n = Math.min(split.length, Math.max(1, Math.floor(sample)));
  const sums = new Float64Array(C);
  const plane = H * W;
  for (let k = 0; k < n && split.length > 0; k++) {
    const img = await split.image(Math.floor((k * split.length) / n));
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = c * plane; i < (c + 1) * plane; i++) s += img[i]!;
      sums[c]! += s;
    }
  }
  const count = split.length > 0 ? n * plane : 1;
  return Float32Array.from(sums, (s) => s / count);
}

/**
 * The augmentation options for training or evaluating on `dataset` with a model of input
 * `input`: adds the training split's `channelMean` (over `sample` images) unless the set is
 * preprocessed. Preprocessed sets are taken as they are: `none` requires them to be of the input
 * size already, and `paper` keeps only the geometric steps (rescale, crop, flip; no colour shift,
 * as their values need not be RGB in [0, 1]).
 */
export async function augmentFor(
  dataset: Dataset,
  opts: Omit<AugmentOptions, 'mean'> & { sample?: number },
): Promise<AugmentOptions> {
  const { sample, ...rest } = opts;
  const [C, h, w] = dataset.shape;
  const [Ci, H, W] = opts.input;
  if (C !== Ci) {
    fail(`${dataset.name}: images have ${C} channel(s), the model's input has ${Ci}`);
  }
  if (opts.mode === 'paper') scaleRange(opts); // reports a bad scale before any work
  if (dataset.preprocessed) {
    if (opts.mode === 'none' && (h !== H || w !== W)) {
      fail(
        `${dataset.name}: preprocessed images are ${C}x${h}x${w}, the model's input is ${Ci}x${H}x${W} (.npy sets are not resized)`,
      );
    }
    return { ...rest, pcaStd: 0 };
  }
  return { ...rest, mean: await channelMean(dataset.train, sample) };
}

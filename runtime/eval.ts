/**
 * The VGG paper's test-time evaluation (Section 3.2) over the dense network of runtime/dense.ts:
 *
 * - **Scales.** Each image is rescaled isotropically so that its smallest side is Q (bilinear,
 *   half-pixel centres: runtime/data/augment.ts `resizeCrop`), then the per-channel mean is
 *   subtracted, as the data loaders do for training. Posteriors are averaged over the test
 *   scales (their defaults: runtime/test-plan.ts).
 * - **Dense.** The fully convolutional net runs on the whole rescaled image; its class score map
 *   is averaged over space and turned into soft-max posteriors (`classScores`).
 * - **Flips.** With `flip`, the image and its horizontal mirror are both evaluated and their
 *   posteriors averaged.
 * - **Multi-crop.** A 5 x 5 regular grid of crops of the model's input size H x W over the
 *   rescaled image (crop corners at `round(i * (side - H) / 4)`, i = 0..4, on each axis; crops
 *   coincide where the image is no larger than the crop), each mirrored too when `flip` is on
 *   (the paper's 50 crops per scale), each through the network as declared; their soft-max
 *   posteriors are averaged.
 * - **Dense + multi-crop.** With both on, a scale's posterior is the average of the dense
 *   posterior and the multi-crop posterior (the paper's best setting).
 *
 * A scale's posterior is thus the average over its methods (dense, multi-crop) of the average
 * over its views (flips, crops); the combined posterior is the average over scales.
 *
 * Every distinct input size compiles its own plan (lavapipe compiles new kernels for seconds),
 * so images are evaluated in batches of one size, and a batch smaller than the evaluator's
 * `batch` is padded with zero images to the size the others ran at, rather than compiling a
 * plan for the remainder.
 */
import { classifierClasses } from '../compiler/classifier.js';
import { compileDense, type FuseOption } from '../compiler/compile.js';
import { formatShape, type Shape } from '../compiler/ir.js';
import type { KernelPlan } from '../compiler/plan.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { fail } from '../dsl/diagnostics.js';
import { resizeCrop, scaleToSmallestSide } from './data/augment.js';
import type { Split } from './data/dataset.js';
import { classScores, createDenseInference, type DenseInference } from './dense.js';
import type { Gpu } from './device.js';
import { SafetensorsFile } from './safetensors.js';
import { warmUp, type WarmupProgress } from './warmup.js';
import { NO_COUNTS, addCounts, topKCounts, type TopKCounts } from './topk.js';
import type { ConvOptions } from './tuning.js';

/** Crops per side of the multi-crop grid (the paper's 5 x 5). */
export const CROP_GRID = 5;

/** The 5 corners along one axis: `round(i * (side - crop) / 4)`, or 0 when the crop fills it. */
export function cropOffsets(side: number, crop: number, grid = CROP_GRID): number[] {
  const span = Math.max(0, side - crop);
  return Array.from({ length: grid }, (_, i) => Math.round((i * span) / (grid - 1)));
}

/**
 * Checks that every scale works for an image of `image` = [C, h, w] (a square image when
 * absent): the image rescaled to smallest side Q must be at least the smallest dense input, and
 * with multi-crop at least the model's input size. A VggcError names the minimum and where the
 * scale came from (`from`).
 */
export function checkScales(
  graph: TypedGraph,
  scales: readonly number[],
  opts: { image?: Shape; multiCrop?: boolean; dense?: boolean; from?: string } = {},
): void {
  if (scales.length === 0) fail('no test scales: give at least one Q');
  const [, minH, minW] = compileDense(graph).minInput;
  const declared = graph.nodes[0]!.out;
  const [C, H, W] = declared;
  const from = opts.from ? ` (from ${opts.from})` : '';
  for (const q of scales) {
    if (!Number.isInteger(q) || q < 1) {
      fail(`test scale Q=${q}${from} must be a positive integer (the smallest side in pixels)`);
    }
    const [sh, sw] = opts.image ? scaleToSmallestSide(opts.image[1], opts.image[2], q) : [q, q];
    const what = opts.image
      ? `an image of ${formatShape(opts.image)} becomes ${C}x${sh}x${sw}`
      : '';
    if (opts.dense !== false && (sh < minH || sw < minW)) {
      fail(
        `test scale Q=${q}${from} is too small for dense evaluation of ${graph.name}` +
          `${what ? `: ${what}` : ''}; the smallest dense input is ${C}x${minH}x${minW}, so Q must ` +
          `be at least ${Math.max(minH, minW)}`,
      );
    }
    if (opts.multiCrop && (sh < H || sw < W)) {
      fail(
        `test scale Q=${q}${from} is too small for multi-crop evaluation of ${graph.name}` +
          `${what ? `: ${what}` : ''}; the crops are the model's input ${C}x${H}x${W}, so Q must ` +
          `be at least ${Math.max(H, W)}`,
      );
    }
  }
}

export interface EvalOptions {
  /** The test scales Q (smallest side after the rescale). */
  readonly scales: readonly number[];
  /** Average each view with its horizontal mirror. Default false. */
  readonly flip?: boolean;
  /** Dense evaluation. Default true. */
  readonly dense?: boolean;
  /** 5 x 5 crops (x 2 with `flip`) of the input size per scale. Default false. */
  readonly multiCrop?: boolean;
  /** Per-channel mean subtracted after the rescale; absent: none. */
  readonly mean?: ArrayLike<number>;
  /** The most images one `evaluate` call takes (the padding target). Default 8. */
  readonly batch?: number;
  /** Largest batch compiled at once (runtime/dense.ts). Default 16. */
  readonly maxBatch?: number;
  readonly fuse?: FuseOption;
  readonly gpu?: Gpu;
  /** The algorithm of each layer (runtime/tuning.ts): `--conv` and the tuning table. */
  readonly conv?: ConvOptions;
}

export interface Posteriors {
  /** Per test scale, the posteriors `[n, classes]` (methods and views averaged). */
  readonly perScale: Float32Array[];
  /** Averaged over the scales, `[n, classes]`. */
  readonly combined: Float32Array;
}

export interface Evaluator {
  readonly classes: number;
  readonly scales: readonly number[];
  /** The smallest input of the dense network, `[C, H, W]`. */
  readonly minInput: Shape;
  /**
   * Evaluates `n` images (at most `batch`) of one shape `[C, h, w]`, float32 CHW, values as the
   * dataset holds them (the mean is subtracted here).
   */
  evaluate(images: Float32Array, n: number, shape: Shape): Promise<Posteriors>;
  /**
   * Compiles and warms every pipeline that evaluating images of `shape` needs: each test scale's
   * dense plan and the multi-crop plan, whatever the batch (a smaller one is padded to it), with
   * progress (runtime/warmup.ts); returns how many it compiled.
   */
  warmUp(shape: Shape, onProgress?: WarmupProgress): Promise<number>;
  /** Plans compiled so far (runtime/dense.ts `cachedPlans`). */
  cachedPlans(): string[];
  destroy(): void;
}

export async function createEvaluator(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  options: EvalOptions,
): Promise<Evaluator> {
  const dense = options.dense ?? true;
  const multiCrop = options.multiCrop ?? false;
  if (!dense && !multiCrop) fail('evaluation needs dense or multi-crop evaluation (or both)');
  const batch = options.batch ?? 8;
  if (!Number.isInteger(batch) || batch < 1) fail(`batch must be a positive integer, not ${batch}`);
  const scales = [...options.scales];
  if (scales.length === 0) fail('no test scales: give at least one Q');
  for (const q of scales) {
    if (!Number.isInteger(q) || q < 1) fail(`test scale Q=${q} must be a positive integer`);
  }
  const declared = graph.nodes[0]!.out;
  const [C, H, W] = declared;
  const mean = options.mean ? Float64Array.from(options.mean) : undefined;
  if (mean && mean.length !== C) {
    fail(`the mean has ${mean.length} channel(s), the model ${graph.name} takes ${C}`);
  }
  const views = options.flip ? 2 : 1;
  // A positioned error for a model that is not a classifier; else its class count.
  const classes = classifierClasses(graph);
  const net = await createDenseInference(graph, weights, {
    maxBatch: options.maxBatch ?? 16,
    ...(options.fuse !== undefined ? { fuse: options.fuse } : {}),
    ...(options.gpu ? { gpu: options.gpu } : {}),
    ...options.conv,
  });

  const subtractMean = (img: Float32Array, plane: number) => {
    if (!mean) return;
    for (let c = 0; c < C; c++) {
      const m = mean[c]!;
      for (let i = c * plane; i < (c + 1) * plane; i++) img[i]! -= m;
    }
  };

  const evaluate = async (images: Float32Array, n: number, shape: Shape): Promise<Posteriors> => {
    const [c, h, w] = shape;
    if (c !== C) fail(`images have ${c} channel(s), the model ${graph.name} takes ${C}`);
    if (!Number.isInteger(n) || n < 1 || n > batch) {
      throw new RangeError(`evaluate takes 1 to ${batch} images, not ${n}`);
    }
    const per = c * h * w;
    if (images.length !== n * per) {
      throw new RangeError(`images hold ${images.length} values, not ${n} x ${formatShape(shape)}`);
    }
    checkScales(graph, scales, { image: shape, dense, multiCrop });
    const image = (i: number) => images.subarray(i * per, (i + 1) * per);
    const src: [number, number, number] = [c, h, w];
    const perScale: Float32Array[] = [];
    for (const q of scales) {
      const [sh, sw] = scaleToSmallestSide(h, w, q);
      const methods: Float32Array[] = [];
      if (dense) {
        const size: Shape = [C, sh, sw];
        const post = await runPadded(net, size, n * views, batch * views, (j, out) => {
          resizeCrop(image(Math.floor(j / views)), src, sh, sw, 0, 0, sh, sw, j % views === 1, out);
          subtractMean(out, sh * sw);
        });
        methods.push(meanOfGroups(post, n, views, classes));
      }
      if (multiCrop) {
        const tops = cropOffsets(sh, H);
        const lefts = cropOffsets(sw, W);
        const crops = CROP_GRID * CROP_GRID * views;
        const post = await runPadded(net, declared, n * crops, batch * crops, (j, out) => {
          const k = j % crops;
          const cell = Math.floor(k / views);
          const top = tops[Math.floor(cell / CROP_GRID)]!;
          const left = lefts[cell % CROP_GRID]!;
          resizeCrop(
            image(Math.floor(j / crops)),
            src,
            sh,
            sw,
            top,
            left,
            H,
            W,
            k % views === 1,
            out,
          );
          subtractMean(out, H * W);
        });
        methods.push(meanOfGroups(post, n, crops, classes));
      }
      perScale.push(averageOf(methods));
    }
    return { perScale, combined: averageOf(perScale) };
  };

  /** The plans `evaluate` runs on images of `shape`, in the order it runs them. */
  const plansFor = (shape: Shape): KernelPlan[] => {
    checkScales(graph, scales, { image: shape, dense, multiCrop });
    const crops = CROP_GRID * CROP_GRID * views;
    return scales.flatMap((q) => {
      const [sh, sw] = scaleToSmallestSide(shape[1], shape[2], q);
      const size: Shape = [C, sh, sw];
      const pad = { maxSlice: batch * views, pad: true };
      const crop = { maxSlice: batch * crops, pad: true };
      return [
        ...(dense ? net.plansFor(batch * views, size, pad) : []),
        ...(multiCrop ? net.plansFor(batch * crops, declared, crop) : []),
      ];
    });
  };

  return {
    classes,
    scales,
    minInput: net.minInput,
    evaluate,
    warmUp: (shape, onProgress) =>
      warmUp(net.gpu, plansFor(shape), onProgress ? { onProgress } : {}),
    cachedPlans: () => net.cachedPlans(),
    destroy: () => net.destroy(),
  };
}

/**
 * The posteriors `[count, classes]` of `count` inputs of `input` (`fill(j, out)` writes input j)
 * through the dense network, in slices of the size it takes for `input` (at most `cap`), the
 * last one padded with zero images so that it reuses that plan.
 */
async function runPadded(
  net: DenseInference,
  input: Shape,
  count: number,
  cap: number,
  fill: (j: number, out: Float32Array) => void,
): Promise<Float32Array> {
  const { scores, shape } = await net.run(fill, count, input, { maxSlice: cap, pad: true });
  return classScores(scores, count, shape[1], shape[2], shape[3]);
}

/** Rows `[n * group, classes]` averaged over each group of `group` consecutive rows. */
function meanOfGroups(rows: Float32Array, n: number, group: number, classes: number): Float32Array {
  const out = new Float32Array(n * classes);
  const acc = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let g = 0; g < group; g++) {
      const base = (i * group + g) * classes;
      for (let c = 0; c < classes; c++) acc[c]! += rows[base + c]!;
    }
    for (let c = 0; c < classes; c++) out[i * classes + c] = acc[c]! / group;
  }
  return out;
}

/** The elementwise mean of equally long arrays. */
function averageOf(arrays: readonly Float32Array[]): Float32Array {
  const first = arrays[0]!;
  if (arrays.length === 1) return first;
  const out = new Float32Array(first.length);
  for (let i = 0; i < first.length; i++) {
    let s = 0;
    for (const a of arrays) s += a[i]!;
    out[i] = s / arrays.length;
  }
  return out;
}

export interface SplitResult {
  readonly images: number;
  /** Per test scale, in the evaluator's order. */
  readonly perScale: readonly TopKCounts[];
  /** The posteriors averaged over the scales. */
  readonly combined: TopKCounts;
}

/**
 * Evaluates the first `limit` images (default: all) of `split` in batches of `batch` (the
 * evaluator's) and counts top-1 / top-5 misses per scale and combined. `onProgress(done)`
 * is called after each batch.
 */
export async function evaluateSplit(
  evaluator: Evaluator,
  split: Split,
  opts: { batch: number; limit?: number; onProgress?: (done: number) => void },
): Promise<SplitResult> {
  const total = Math.min(split.length, opts.limit ?? split.length);
  const shape = split.shape;
  const per = shape[0] * shape[1] * shape[2];
  const k = evaluator.classes;
  let perScale: TopKCounts[] = evaluator.scales.map(() => NO_COUNTS);
  let combined = NO_COUNTS;
  for (let start = 0; start < total; start += opts.batch) {
    const n = Math.min(opts.batch, total - start);
    const x = new Float32Array(n * per);
    const labels = new Int32Array(n);
    const pending = Array.from({ length: n }, (_, j) => split.image(start + j));
    for (const p of pending) if (p instanceof Promise) p.catch(() => undefined);
    for (let j = 0; j < n; j++) {
      const img = await pending[j]!;
      if (img.length !== per) {
        throw new RangeError(`image ${start + j} holds ${img.length} values, not ${per}`);
      }
      x.set(img, j * per);
      const label = split.label(start + j);
      if (label >= k) {
        fail(`image ${start + j} has label ${label}, but the model has ${k} classes (0..${k - 1})`);
      }
      labels[j] = label;
    }
    const post = await evaluator.evaluate(x, n, shape);
    perScale = perScale.map((c, s) => addCounts(c, topKCounts(post.perScale[s]!, labels, n, k)));
    combined = addCounts(combined, topKCounts(post.combined, labels, n, k));
    opts.onProgress?.(start + n);
  }
  return { images: total, perScale, combined };
}

/**
 * The per-channel mean recorded in a weight file's metadata under `mean` (a JSON array of
 * numbers, e.g. `"[0.1307]"`), or undefined when the file has none. Training writes the mean
 * it subtracted there, so evaluation and classification subtract the same.
 */
export async function meanFromWeights(path: string): Promise<Float32Array | undefined> {
  const file = await SafetensorsFile.open(path);
  try {
    const text = file.metadata.mean;
    if (text === undefined) return undefined;
    return parseMean(text, `${path}: metadata 'mean'`);
  } finally {
    await file.close();
  }
}

/**
 * The class names recorded in a weight file's metadata under `classes` (a JSON array of strings;
 * `vggc train` writes the dataset's), or undefined when it has none or they do not number
 * `count`.
 */
export async function classesFromWeights(
  path: string,
  count: number,
): Promise<string[] | undefined> {
  const file = await SafetensorsFile.open(path);
  try {
    const text = file.metadata.classes;
    if (text === undefined) return undefined;
    let names: unknown;
    try {
      names = JSON.parse(text);
    } catch {
      return undefined;
    }
    const ok =
      Array.isArray(names) && names.length === count && names.every((n) => typeof n === 'string');
    return ok ? (names as string[]) : undefined;
  } finally {
    await file.close();
  }
}

/** `[0.48, 0.45, 0.40]` (JSON) or `0.48,0.45,0.40` as a mean; `what` names it in errors. */
export function parseMean(text: string, what: string): Float32Array {
  let values: unknown;
  const t = text.trim();
  try {
    values = t.startsWith('[') ? JSON.parse(t) : t.split(',').map((s) => Number(s.trim()));
  } catch {
    values = undefined;
  }
  if (
    !Array.isArray(values) ||
    values.length === 0 ||
    !values.every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    fail(
      `${what} must be a list of numbers, one per channel (e.g. 0.485,0.456,0.406), not '${text}'`,
    );
  }
  return Float32Array.from(values as number[]);
}

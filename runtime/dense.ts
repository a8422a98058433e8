/**
 * Dense evaluation (the VGG paper's Section 3.2): the network with its FC layers turned into
 * convolutions (compiler/compile.ts `compileDense`) runs on whole images of any size large enough and
 * returns the class score map `[N, classes, h, w]`; `classScores` averages the map over space
 * and applies soft-max, giving the posteriors `[N, classes]`.
 *
 * A plan is compiled per distinct input size and batch slice, and kept: evaluating at the paper's
 * three test scales (or an image and its flip) compiles three plans (lavapipe compiles the
 * kernels of each new size once, at its first run, or at `warmUp` before it).
 */
import { compileDense, type FuseOption } from '../compiler/compile.js';
import { formatShape, numel, type Shape } from '../compiler/ir.js';
import type { KernelPlan } from '../compiler/plan.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { VggcError, error } from '../dsl/diagnostics.js';
import { acquireGpu, targetOf, type Gpu } from './device.js';
import { fittingBatch } from './infer.js';
import { PlanCache, type Fill } from './plan-cache.js';
import type { WarmupProgress } from './warmup.js';
import { convChooser, type ConvOptions } from './tuning.js';

export interface DenseOptions extends ConvOptions {
  readonly fuse?: FuseOption;
  /** Largest batch compiled at once (default 8); smaller when an activation would not fit. */
  readonly maxBatch?: number;
  readonly gpu?: Gpu;
}

export interface DenseResult {
  /** The class score maps, `[N, classes, h, w]` flattened (NCHW). */
  readonly scores: Float32Array;
  readonly shape: readonly [n: number, classes: number, h: number, w: number];
}

export interface DenseInference {
  /** The smallest input `[C, H, W]`: it gives a 1x1 score map. */
  readonly minInput: Shape;
  /** The GPU it runs on. */
  readonly gpu: Gpu;
  /**
   * Runs `n` images of `input` = [C, H, W]: `x` holds n x C x H x W floats, or a `Fill` writes
   * each. With `pad`, slices are at most `maxSlice` and the last one is padded to the others.
   */
  run(
    x: Float32Array | Fill,
    n: number,
    input: Shape,
    slicing?: { maxSlice?: number; pad?: boolean },
  ): Promise<DenseResult>;
  /**
   * Compiles and warms every pipeline `run` with the same arguments needs (runtime/warmup.ts),
   * with progress; returns how many it compiled.
   */
  warmUp(
    n: number,
    input: Shape,
    slicing?: { maxSlice?: number; pad?: boolean },
    onProgress?: WarmupProgress,
  ): Promise<number>;
  /** The plans `run` with the same arguments runs (compiled, not yet on the GPU). */
  plansFor(n: number, input: Shape, slicing?: { maxSlice?: number; pad?: boolean }): KernelPlan[];
  /**
   * The batch slice `run` uses for `input`: the largest batch (up to `maxBatch`) whose
   * activations fit one storage binding. A run of fewer images compiles a plan of its own unless
   * it is padded (runtime/eval.ts).
   */
  batchFor(input: Shape): number;
  /** Keys of the plans compiled so far, `CxHxW/nB` (input size, batch slice). */
  cachedPlans(): string[];
  destroy(): void;
}

/**
 * Prepares dense evaluation of `graph` (the model as written, typed at its declared input, or
 * already rewritten by `fcToConv`). `weights` are the FC model's tensors by torchvision name, as
 * `loadWeights` returns them: the converted convs bind the same bytes.
 */
export async function createDenseInference(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  options: DenseOptions = {},
): Promise<DenseInference> {
  const dense = compileDense(graph);
  const gpu = options.gpu ?? (await acquireGpu());
  const target = targetOf(gpu);
  const plans = new PlanCache(gpu, { weights });
  const choose = convChooser(gpu, options);
  const batchFor = (g: TypedGraph): number =>
    fittingBatch(g, target.maxStorageBufferBindingSize, options.maxBatch ?? 8);

  /** What `run(x, n, input, slicing)` passes to the plan cache. */
  const setup = (n: number, input: Shape, slicing: { maxSlice?: number; pad?: boolean }) => {
    if (!Number.isInteger(n) || n < 1) throw new VggcError(error(`batch must be >= 1, not ${n}`));
    const g = dense.graphAt(input);
    const compile = (batch: number) =>
      dense.plan(input, { target, batch, fuse: options.fuse ?? true, choose });
    const slice = Math.max(1, Math.min(batchFor(g), slicing.maxSlice ?? Infinity));
    return { key: formatShape(input), g, compile, slice, pad: slicing.pad ?? false };
  };

  return {
    minInput: dense.minInput,
    gpu,
    cachedPlans: () => plans.keys(),
    batchFor: (input) => batchFor(dense.graphAt(input)),
    plansFor(n, input, slicing = {}) {
      const { key, compile, slice, pad } = setup(n, input, slicing);
      return plans.plansFor(key, compile, n, { slice, pad });
    },
    warmUp(n, input, slicing = {}, onProgress) {
      const { key, compile, slice, pad } = setup(n, input, slicing);
      return plans.warmUp(key, compile, n, { slice, pad }, onProgress);
    },
    async run(x, n, input, slicing = {}) {
      const { key, g, compile, slice, pad } = setup(n, input, slicing);
      if (typeof x !== 'function' && x.length !== n * numel(input)) {
        throw new Error(
          `internal: x holds ${x.length} floats, ${n} x ${key} needs ${n * numel(input)}`,
        );
      }
      const scores = await plans.run(key, compile, n, x, { slice, pad });
      const out = g.nodes.at(-1)!.out;
      return { scores, shape: [n, out[0], out[1], out[2]] };
    },
    destroy: () => plans.destroy(),
  };
}

/**
 * The paper's dense score: each class map averaged over its h x w positions (sum-pooled and
 * divided by h * w), then soft-max over the classes. `scoreMap` is `[n, classes, h, w]`; the
 * result is the posteriors `[n, classes]`. Computed in float64, stable for large scores.
 */
export function classScores(
  scoreMap: Float32Array,
  n: number,
  classes: number,
  h: number,
  w: number,
): Float32Array {
  const hw = h * w;
  if (scoreMap.length !== n * classes * hw) {
    throw new Error(
      `classScores: the map holds ${scoreMap.length} values, not ${n} x ${classes} x ${h} x ${w}`,
    );
  }
  const out = new Float32Array(n * classes);
  const mean = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) {
      const base = (i * classes + c) * hw;
      let s = 0;
      for (let p = 0; p < hw; p++) s += scoreMap[base + p]!;
      mean[c] = s / hw;
      max = Math.max(max, mean[c]!);
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(mean[c]! - max);
    for (let c = 0; c < classes; c++) out[i * classes + c] = Math.exp(mean[c]! - max) / sum;
  }
  return out;
}

/**
 * Forward inference over a batch of any size: the plan is compiled for a batch that fits the
 * adapter's binding limit, and the images go through it in slices of that size.
 */
import { compileInference, type FuseOption, type OutputKind } from '../compiler/compile.js';
import { numel } from '../compiler/ir.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { acquireGpu, targetOf, type Gpu } from './device.js';
import { PlanCache } from './plan-cache.js';
import type { WarmupProgress } from './warmup.js';
import { convChooser, type ConvOptions } from './tuning.js';

export interface InferOptions extends ConvOptions {
  readonly fuse?: FuseOption;
  readonly output?: OutputKind;
  /** Largest batch compiled at once (default 32). */
  readonly maxBatch?: number;
  readonly gpu?: Gpu;
}

/** The largest batch whose every activation fits one storage binding of this adapter. */
export function fittingBatch(graph: TypedGraph, maxBinding: number, cap: number): number {
  const largest = Math.max(...graph.nodes.map((n) => numel(n.out) * 4));
  return Math.max(1, Math.min(cap, Math.floor(maxBinding / largest)));
}

export interface Inference {
  /** Output per image, `[C, H, W]` (`[classes, 1, 1]` for a classifier). */
  readonly outShape: readonly number[];
  readonly batch: number;
  /**
   * Compiles and warms every pipeline a `run` of `count` images needs (runtime/warmup.ts), with
   * progress; returns how many it compiled.
   */
  warmUp(count: number, onProgress?: WarmupProgress): Promise<number>;
  /** Runs `count` images (`x` holds count x C x H x W floats) and returns count x outputs. */
  run(x: Float32Array, count: number, onProgress?: (done: number) => void): Promise<Float32Array>;
  destroy(): void;
}

export async function createInference(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  options: InferOptions = {},
): Promise<Inference> {
  const gpu = options.gpu ?? (await acquireGpu());
  const target = targetOf(gpu);
  const batch = fittingBatch(graph, target.maxStorageBufferBindingSize, options.maxBatch ?? 32);
  const plans = new PlanCache(gpu, { weights });
  const choose = convChooser(gpu, options);
  const compile = (n: number) =>
    compileInference(graph, {
      target,
      batch: n,
      fuse: options.fuse ?? true,
      output: options.output ?? 'logits',
      choose,
    });
  // The plan at `batch` is compiled (no GPU work) for its output shape; executors are made as
  // `run` needs them, so a run of fewer images than `batch` builds one set of pipelines, not two.
  const outputShape = plans.plan('main', batch, compile).outputShape;
  const slicing = (count: number) => ({ slice: Math.max(1, Math.min(batch, count)) });
  return {
    outShape: [...outputShape],
    batch,
    warmUp: (count, onProgress) => plans.warmUp('main', compile, count, slicing(count), onProgress),
    run: (x, count, onProgress) =>
      plans.run('main', compile, count, x, {
        ...slicing(count),
        ...(onProgress ? { onProgress } : {}),
      }),
    destroy: () => plans.destroy(),
  };
}

/**
 * The compiler's top level: a checked Graph -> passes -> KernelPlan for one target and batch.
 * runtime/ reaches the passes only through these entries (it imports nothing from passes/).
 */
import type { Shape } from './ir.js';
import { autodiff } from './passes/autodiff.js';
import { denseGraph, fcToConv, minDenseInput } from './passes/fc-to-conv.js';
import type { FuseOption } from './passes/index.js';
import { optimizeForInference, optimizeForTraining } from './passes/index.js';
import { setOutput, type OutputKind } from './passes/output-head.js';
import type { KernelPlan } from './plan.js';
import { schedule } from './schedule.js';
import type { TypedGraph } from './shapes.js';
import type { TargetInfo } from './wgsl/kernel.js';

export type { FuseOption, OutputKind };
export { setDropout } from './passes/set-dropout.js';

export interface CompileOptions {
  readonly target: TargetInfo;
  /** Batch size N the kernels are specialised on (default 1). */
  readonly batch?: number;
  /** Fusion switches: true (default) all, false none, or a list of fusion names. */
  readonly fuse?: FuseOption;
  /** 'logits' (default): drop a trailing soft-max; 'probs': end in soft-max. */
  readonly output?: OutputKind;
}

/**
 * The graph an inference plan is scheduled from: the output head set, dropout removed (it is the
 * identity at test time), the selected fusions applied. Shapes are those of `graph`.
 */
export function forInference(
  graph: TypedGraph,
  options: Pick<CompileOptions, 'fuse' | 'output'> = {},
): TypedGraph {
  return optimizeForInference(setOutput(graph, options.output ?? 'logits'), options.fuse ?? true);
}

export function compileInference(graph: TypedGraph, options: CompileOptions): KernelPlan {
  return schedule(forInference(graph, options), {
    batch: options.batch ?? 1,
    target: options.target,
  });
}

export interface TrainCompileOptions {
  readonly target: TargetInfo;
  readonly batch: number;
  readonly fuse?: FuseOption;
}

/**
 * The training step as one plan: autodiff appends the backward graph and the optimiser to the
 * model, the fusions rewrite forward and backward alike, and the scheduler emits every kernel.
 * Set the dropout probability first with `setDropout`.
 */
export function compileTraining(graph: TypedGraph, options: TrainCompileOptions): KernelPlan {
  const g = optimizeForTraining(autodiff(graph), options.fuse ?? true);
  return schedule(g, { batch: options.batch, target: options.target });
}

/** What dense evaluation (runtime/dense.ts, runtime/eval.ts) needs of the compiler. */
export interface DenseCompilation {
  /** The smallest input `[C, H, W]`: it gives a 1x1 class score map. */
  readonly minInput: Shape;
  /** Channels of the score map (the number of classes). */
  readonly classes: number;
  /**
   * The fully convolutional graph typed for `input` ([C, H, W]), ending at the score map
   * `[classes, h, w]`. A wrong channel count or an input smaller than `minInput` is a VggcError.
   * Kept per input size.
   */
  graphAt(input: Shape): TypedGraph;
  /** The plan of `graphAt(input)` (output: logits, the score map). */
  plan(input: Shape, options: Omit<CompileOptions, 'output'>): KernelPlan;
}

/**
 * Dense evaluation (the VGG paper's Section 3.2, compiler/passes/fc-to-conv.ts): `graph` is the
 * model typed at its declared input, FCs converted or not. A first FC reading a non-square map
 * is refused here, with a VggcError, not at the first run.
 */
export function compileDense(graph: TypedGraph): DenseCompilation {
  const converted = setOutput(fcToConv(graph), 'logits');
  const [minH, minW] = minDenseInput(converted);
  const graphs = new Map<string, TypedGraph>();
  const graphAt = (input: Shape): TypedGraph => {
    const key = input.join('x');
    let g = graphs.get(key);
    if (!g) {
      g = denseGraph(converted, input);
      graphs.set(key, g);
    }
    return g;
  };
  return {
    minInput: [converted.nodes[0]!.out[0], minH, minW],
    classes: converted.nodes.at(-1)!.out[0],
    graphAt,
    plan: (input, options) => compileInference(graphAt(input), { ...options, output: 'logits' }),
  };
}

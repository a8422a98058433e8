/**
 * The compiler's top level: a checked Graph -> passes -> KernelPlan for one target and batch.
 */
import type { FuseOption } from './passes/index.js';
import { autodiff } from './passes/autodiff.js';
import { optimizeForInference, optimizeForTraining } from './passes/index.js';
import { setOutput, type OutputKind } from './passes/output-head.js';
import type { KernelPlan } from './plan.js';
import { schedule } from './schedule.js';
import type { TypedGraph } from './shapes.js';
import type { TargetInfo } from './wgsl/kernel.js';

export interface CompileOptions {
  readonly target: TargetInfo;
  /** Batch size N the kernels are specialised on (default 1). */
  readonly batch?: number;
  /** Fusion switches: true (default) all, false none, or a list of fusion names. */
  readonly fuse?: FuseOption;
  /** 'logits' (default): drop a trailing soft-max; 'probs': end in soft-max. */
  readonly output?: OutputKind;
}

export function compileInference(graph: TypedGraph, options: CompileOptions): KernelPlan {
  let g = setOutput(graph, options.output ?? 'logits');
  g = optimizeForInference(g, options.fuse ?? true);
  return schedule(g, { batch: options.batch ?? 1, target: options.target });
}

export interface TrainCompileOptions {
  readonly target: TargetInfo;
  readonly batch: number;
  readonly fuse?: FuseOption;
}

/**
 * The training step as one plan: autodiff appends the backward graph and the optimiser to the
 * model, the fusions rewrite forward and backward alike, and the scheduler emits every kernel.
 */
export function compileTraining(graph: TypedGraph, options: TrainCompileOptions): KernelPlan {
  const g = optimizeForTraining(autodiff(graph), options.fuse ?? true);
  return schedule(g, { batch: options.batch, target: options.target });
}

/**
 * The compiler's top level: a checked Graph -> passes -> KernelPlan for one target and batch.
 */
import type { FuseOption } from './passes/index.js';
import { optimizeForInference } from './passes/index.js';
import { setOutput, type OutputKind } from './passes/output-head.js';
import { schedule, type KernelPlan } from './schedule.js';
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

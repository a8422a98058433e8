/**
 * The KernelPlan: what scheduling (compiler/schedule.ts) produces and the runtime executes.
 *
 * A plan is the list of dispatches (steps) the runtime encodes into one command buffer, the
 * tensors they bind, and the memory plan for the activations. Kernel tensor roles ('x', 'y',
 * 'w', 'b', scratch) are mapped to plan tensors: activations `act<id>`, the batch `input`,
 * parameters by their torchvision names (`features.0.weight`), and in training the flat
 * buffers, gradients, momenta and the small host tensors named below.
 */
import type { AlgorithmChoice } from './algorithms.js';
import type { Shape } from './ir.js';
import type { MemoryPlan } from './memory.js';
import type { Kernel } from './wgsl/kernel.js';

/**
 * 'input': the batch; 'activation' and 'scratch': share buffers by the memory plan; 'param':
 * weights; in training also 'grad' and 'state' (momentum), which with the params are views into
 * the 'flat' buffers, and 'host': small tensors the host writes or reads every step.
 */
export type TensorKind =
  'input' | 'activation' | 'param' | 'scratch' | 'grad' | 'state' | 'flat' | 'host';

export interface PlanTensor {
  readonly name: string;
  readonly kind: TensorKind;
  /** `[N, C, H, W]` for activations, the torch shape for parameters, `[floats]` for scratch. */
  readonly shape: readonly number[];
  readonly bytes: number;
  /** A tensor that lives inside another one (training layout: a parameter in 'params'). */
  readonly view?: { readonly of: string; readonly offsetBytes: number };
}

export interface PlanStep {
  readonly kernel: Kernel;
  /** Graph nodes this dispatch computes (one, or several once fused). */
  readonly node: number;
  /** The layer in the paper's notation plus its epilogue: `conv3-64+relu`. */
  readonly label: string;
  /** Kernel tensor role -> plan tensor name. */
  readonly bind: Readonly<Record<string, string>>;
  /** The algorithm chosen for the layer and why (compiler/algorithms.ts), where there was a choice. */
  readonly algorithm?: AlgorithmChoice;
}

export interface KernelPlan {
  readonly model: string;
  readonly batch: number;
  readonly input: Shape;
  readonly tensors: readonly PlanTensor[];
  readonly steps: readonly PlanStep[];
  /** Plan tensor holding the network's output, `[N, C, H, W]`. */
  readonly output: string;
  readonly outputShape: Shape;
  readonly memory: MemoryPlan;
  readonly paramBytes: number;
  /** Present for a training plan: the flat parameter layout and the dropout seed blocks. */
  readonly training?: TrainingLayout;
}

/** A parameter's place in the flat training buffers. */
export interface FlatEntry {
  /** Torchvision name, `features.0.weight`. */
  readonly name: string;
  readonly offsetBytes: number;
  readonly bytes: number;
}

export interface TrainingLayout {
  readonly entries: readonly FlatEntry[];
  /** Size of each of the three flat buffers (params, grads, momenta). */
  readonly flatBytes: number;
  /** Dropout layers: the seed-block tensor and the stream (forward node id) it carries. */
  readonly dropout: readonly { readonly tensor: string; readonly stream: number }[];
}

export const gradName = (param: string) => `grad.${param}`;
export const momentumName = (param: string) => `momentum.${param}`;
export const dropoutParams = (stream: number) => `dropout${stream}.params`;

/** The host tensors of a training plan. */
export const TRAIN_HOST = {
  labels: 'labels',
  loss: 'loss',
  correct: 'correct',
  hyper: 'hyper',
} as const;

/** Count of dispatches, and what they compute, for reports. */
/** What names a pipeline: its entry point and WGSL code (kernels share one when both match). */
export const pipelineKey = (k: { readonly code: string; readonly entryPoint: string }): string =>
  `${k.entryPoint}\n${k.code}`;

/** How many distinct pipelines the plans run together (what a warm-up compiles). */
export const distinctPipelines = (plans: readonly KernelPlan[]): number =>
  new Set(plans.flatMap((p) => p.steps.map((s) => pipelineKey(s.kernel)))).size;

export function planStats(plan: KernelPlan): {
  dispatches: number;
  kernels: number;
  flops: number;
  bytes: number;
} {
  const kernels = new Set(plan.steps.map((s) => s.kernel.code)).size;
  return {
    dispatches: plan.steps.length,
    kernels,
    flops: plan.steps.reduce((s, st) => s + st.kernel.flops, 0),
    bytes: plan.steps.reduce((s, st) => s + st.kernel.bytes, 0),
  };
}

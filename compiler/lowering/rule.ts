/**
 * A lowering rule turns one graph node into the kernels its WGSL generators return for the
 * node's constant shapes, and the plan tensors they bind (compiler/plan.ts). The scheduler
 * (compiler/schedule.ts) runs one loop over the graph and calls the rule of each node's op;
 * the rules are the tables in forward.ts and training.ts. A rule declares the tensors it needs
 * through its context, in the order it needs them, and returns each dispatch's kernels with the
 * map from kernel tensor role ('x', 'y', 'w', scratch) to plan tensor.
 */
import type { AlgorithmChoice, LayerShape } from '../algorithms.js';
import type { Op, OpKind, TypedNode } from '../ir.js';
import type { NodeParams } from '../params.js';
import type { FlatEntry, PlanTensor } from '../plan.js';
import type { Kernel, TargetInfo } from '../wgsl/kernel.js';

export interface LowerContext<O extends Op = Op> {
  /** Batch size the kernels are specialised on. */
  readonly n: number;
  readonly target: TargetInfo;
  /** The graph holds training ops (a training step plan). */
  readonly training: boolean;
  readonly node: TypedNode & { readonly op: O };
  /** The node's input `i`. */
  input(i: number): TypedNode;
  /** Plan tensor of node `id`'s output (an activation or an activation gradient). */
  act(id: number): string;
  /** Declares this node's output `[N, ...out]` and returns its name. */
  out(): string;
  /** Declares a plan tensor (bytes: 4 per value unless given) and returns its name. */
  tensor(name: string, kind: PlanTensor['kind'], shape: number[], bytes?: number): string;
  /** Declares this node's scratch tensors; returns the role -> tensor bindings. */
  scratch(list: readonly { tensor: string; bytes: number }[]): Record<string, string>;
  /** The parameters of the layer `param` (module path; default: this node's). */
  params(param?: string): NodeParams;
  /** Declares this layer's weight and bias; returns their bindings `{ w, b }`. */
  weights(): { w: string; b: string };
  /** Declares the gradients of this layer's weight and bias; returns `{ dw, db }`. */
  grads(): { dw: string; db: string };
  /** Declares the seed block of dropout stream `stream` (a forward dropout node's id). */
  seed(stream: number): string;
  /** Training: the module path of every layer with parameters, in graph order. */
  readonly allParams: readonly string[];
  /** Training: every parameter's place in the flat buffers (compiler/schedule.ts). */
  readonly flat: readonly FlatEntry[];
  /** The algorithm for this layer (compiler/algorithms.ts); return it in `Lowered.algorithm`. */
  choose(layer: LayerShape): AlgorithmChoice;
}

/** One node's kernels and their bindings (all kernels of a node share one binding map). */
export interface Lowered {
  readonly kernels: readonly Kernel[];
  readonly bind: Readonly<Record<string, string>>;
  /** The algorithm these kernels implement, when the rule had a choice (plan.json reports it). */
  readonly algorithm?: AlgorithmChoice;
}

export type Rule<O extends Op> = (ctx: LowerContext<O>) => Lowered | readonly Lowered[];

/** One rule per op of `K`. */
export type Rules<K extends OpKind> = { readonly [P in K]: Rule<Extract<Op, { op: P }>> };

export const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** The layer shape (compiler/algorithms.ts) of an FC layer or one of its gradients. */
export const fcLayer = (op: string, n: number, cin: number, cout: number): LayerShape => ({
  op,
  n,
  cin,
  cout,
  h: 1,
  w: 1,
  kernel: 1,
  pad: 0,
});

/**
 * The Graph IR: the one representation that every compiler pass reads and writes.
 *
 * A Graph is a list of nodes in topological order. Each node is one op with its attributes,
 * the ids of the nodes it reads, and (after shape inference) its output shape. Tensors are
 * NCHW; `out` is per sample, `[C, H, W]`, and the batch size N is a property of the Graph.
 * Fused kernels are ordinary nodes whose `epilogue` lists what was folded into them.
 */
import type { Span } from '../dsl/diagnostics.js';

/** Per-sample shape, `[C, H, W]`. An FC output is `[units, 1, 1]`. */
export type Shape = readonly [c: number, h: number, w: number];

/** An elementwise or windowed step that a producing kernel applies before it stores. */
export type EpilogueStep =
  | { readonly kind: 'relu' }
  | { readonly kind: 'maxpool' }
  | { readonly kind: 'dropout'; readonly p: number };

export type Op =
  | { readonly op: 'input'; readonly shape: Shape }
  /** K x K convolution, stride 1, zero padding `pad`, with bias. */
  | {
      readonly op: 'conv';
      readonly kernel: number;
      readonly pad: number;
      readonly cout: number;
      readonly epilogue: readonly EpilogueStep[];
    }
  /** Fully connected with bias; flattens its input in C x H x W order. */
  | { readonly op: 'fc'; readonly units: number; readonly epilogue: readonly EpilogueStep[] }
  | { readonly op: 'relu' }
  /** 2x2 window, stride 2, sides floor as PyTorch. */
  | { readonly op: 'maxpool' }
  /** AlexNet's local response normalisation across channels. */
  | {
      readonly op: 'lrn';
      readonly n: number;
      readonly alpha: number;
      readonly beta: number;
      readonly k: number;
    }
  | { readonly op: 'dropout'; readonly p: number }
  | { readonly op: 'softmax' };

export type OpKind = Op['op'];

export interface Node {
  readonly id: number;
  readonly op: Op;
  readonly inputs: readonly number[];
  /** Output shape per sample; set by shape inference (compiler/shapes.ts). */
  readonly out?: Shape;
  /** Where the layer was written, for diagnostics. Implicit nodes (ReLU) point at their layer. */
  readonly span?: Span;
  /**
   * The module path of the node's parameters in torchvision's VGG layout (`features.0`,
   * `classifier.3`), fixed at lowering so passes that remove or fuse nodes keep the names.
   */
  readonly param?: string;
}

export interface TrainSettings {
  readonly batch?: number;
  readonly lr?: number;
  readonly momentum?: number;
  readonly weightDecay?: number;
  readonly dropout?: number;
  readonly epochs?: number;
  /** Training scale S: fixed, or jittered uniformly in [min, max]. */
  readonly scale?: { readonly min: number; readonly max: number };
}

export interface TestSettings {
  readonly scales?: readonly number[];
  readonly flip?: boolean;
}

export interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly train: TrainSettings;
  readonly test: TestSettings;
  readonly span?: Span;
}

/** A node whose shape inference has run. */
export type TypedNode = Node & { readonly out: Shape };

export function nodeById(g: Graph, id: number): Node {
  const n = g.nodes.find((x) => x.id === id);
  if (!n) throw new Error(`internal: graph ${g.name} has no node ${id}`);
  return n;
}

export const numel = (s: Shape): number => s[0] * s[1] * s[2];
export const formatShape = (s: Shape): string => `${s[0]}x${s[1]}x${s[2]}`;

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
  /**
   * Inverted dropout (training graphs only; the fc-dropout fusion): the mask of the forward
   * dropout node `stream` (its id, as `dropout-grad` names it), regenerated from its seed block.
   */
  | { readonly kind: 'dropout'; readonly p: number; readonly stream: number };

export type Op =
  | { readonly op: 'input'; readonly shape: Shape }
  /** K x K convolution, stride 1, zero padding `pad`, with bias. */
  | {
      readonly op: 'conv';
      readonly kernel: number;
      /**
       * The kernel's width when it differs from its height `kernel`: only the FC-to-conv rewrite
       * makes such a conv (an FC reading a non-square map), always with padding 0.
       */
      readonly kernelW?: number;
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
  | { readonly op: 'softmax' }
  | TrainingOp;

/**
 * Ops that only training graphs hold: the autodiff pass (compiler/passes/autodiff.ts) appends
 * them after the forward nodes, and the training fusions rewrite them. A gradient op reads
 * forward tensors and other gradients by node id like any other op; its own output is the
 * gradient with respect to one forward tensor (same shape), except for the parameter-gradient
 * and optimiser nodes, which write the parameter-sized tensors named after their `param`
 * (`grad.features.0.weight`) and have `out` = [0, 0, 0].
 */
export type TrainingOp =
  /** inputs [probs]: dlogits = (p - onehot(label)) / N; also writes per-sample loss and hits. */
  | { readonly op: 'xent-grad' }
  /** inputs [logits]: soft-max + cross-entropy forward and backward in one (a fusion). */
  | { readonly op: 'softmax-xent' }
  /** inputs [mask source, dy]: dx = dy where the mask source (the ReLU's output) is > 0. */
  | { readonly op: 'relu-grad' }
  /** inputs [x, dy]: routes each window's gradient to its argmax in x (PyTorch ties). */
  | { readonly op: 'maxpool-grad' }
  /** inputs [x, dy]. */
  | {
      readonly op: 'lrn-grad';
      readonly n: number;
      readonly alpha: number;
      readonly beta: number;
      readonly k: number;
    }
  /** inputs [dy]: the mask of the forward dropout node `stream` regenerated from its seed. */
  | { readonly op: 'dropout-grad'; readonly p: number; readonly stream: number }
  /**
   * inputs [dy] or, with `mask`, [dy, mask source]: dx = conv_transpose(dy, w), zeroed where the
   * mask source is <= 0 (a ReLU backward fused in). Weights from the node's `param`.
   */
  | {
      readonly op: 'conv-grad-data';
      readonly kernel: number;
      readonly pad: number;
      readonly mask: boolean;
    }
  /** inputs [x, dy]: the weight and bias gradients of the conv `param`. */
  | { readonly op: 'conv-grad-weight'; readonly kernel: number; readonly pad: number }
  /** inputs [dy] or [dy, mask source], as conv-grad-data. */
  | { readonly op: 'fc-grad-data'; readonly mask: boolean }
  /** inputs [x, dy]: the weight and bias gradients of the FC `param`. */
  | { readonly op: 'fc-grad-weight' }
  /**
   * inputs: the parameter-gradient nodes of `params` (module paths): SGD with momentum and
   * weight decay on those parameters; one node for all of them once fused.
   */
  | { readonly op: 'sgd'; readonly params: readonly string[] };

export type OpKind = Op['op'];

/** Ops of the model itself (inference and the forward half of a training step). */
export type ForwardOp = Exclude<Op, TrainingOp>;

/** Whether a node belongs to the backward pass or the optimiser. */
export const isTrainingOp = (op: Op): op is TrainingOp =>
  TRAINING_OPS.has(op.op as TrainingOp['op']);

const TRAINING_OPS = new Set<TrainingOp['op']>([
  'xent-grad',
  'softmax-xent',
  'relu-grad',
  'maxpool-grad',
  'lrn-grad',
  'dropout-grad',
  'conv-grad-data',
  'conv-grad-weight',
  'fc-grad-data',
  'fc-grad-weight',
  'sgd',
]);

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
  /**
   * Set by the FC-to-conv pass on the convs it made from FC layers: their weight files keep the
   * FC's shape (compiler/params.ts).
   */
  readonly fromFc?: true;
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

/** `out` of nodes that write parameter-sized tensors rather than an activation. */
export const NO_ACTIVATION: Shape = [0, 0, 0];

export const numel = (s: Shape): number => s[0] * s[1] * s[2];
export const formatShape = (s: Shape): string => `${s[0]}x${s[1]}x${s[2]}`;

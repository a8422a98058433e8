/**
 * Parameter tensors of a typed graph, named as torchvision names VGG's (`features.0.weight`).
 * Conv weights are `[Cout, Cin, K, K]`, FC weights `[out, in]` with `in` in C x H x W order.
 *
 * An FC turned into a conv by the FC-to-conv pass (dense evaluation) keeps its name
 * (`classifier.0`), and its conv weight `[out, C, k, k]` has the same bytes as the FC weight
 * `[out, C * k * k]`: the weight file is the FC model's, the buffer is bound as the conv's.
 */
import type { Node } from './ir.js';
import type { TypedGraph } from './shapes.js';

export interface ParamTensor {
  readonly name: string;
  /** The shape the kernels see (the conv shape for an FC converted to a conv). */
  readonly shape: readonly number[];
  /**
   * The shape in the weight file when it differs from `shape` (same values, same order): an FC
   * converted to a conv is `[out, C * k * k]` there.
   */
  readonly fileShape?: readonly number[];
}

/**
 * Whether `node` is a conv that the FC-to-conv pass made from an FC. Lowering names parameters
 * after torchvision's two stacks and allows no conv after the first FC, so a conv whose
 * parameters live in the `classifier` stack can only be a converted FC.
 */
export function isConvertedFc(node: Node): boolean {
  return node.op.op === 'conv' && (node.param?.startsWith('classifier.') ?? false);
}

export interface NodeParams {
  readonly weight: ParamTensor;
  readonly bias: ParamTensor;
}

/** Parameters of every conv and FC node, by node id, in graph order. */
export function paramNames(graph: TypedGraph): Map<number, NodeParams> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const out = new Map<number, NodeParams>();
  for (const node of graph.nodes) {
    const op = node.op;
    if (op.op !== 'conv' && op.op !== 'fc') continue;
    if (!node.param) throw new Error(`internal: node ${node.id} has parameters but no name`);
    const input = byId.get(node.inputs[0] ?? -1)?.out;
    if (!input) throw new Error(`internal: node ${node.id} has no typed input`);
    const [c, h, w] = input;
    const weight =
      op.op === 'conv' ? [op.cout, c, op.kernel, op.kernelW ?? op.kernel] : [op.units, c * h * w];
    const units = op.op === 'conv' ? op.cout : op.units;
    const fileShape = isConvertedFc(node)
      ? { fileShape: [units, c * weight[2]! * weight[3]!] }
      : {};
    out.set(node.id, {
      weight: { name: `${node.param}.weight`, shape: weight, ...fileShape },
      bias: { name: `${node.param}.bias`, shape: [units] },
    });
  }
  return out;
}

/** All parameter tensors in graph order (weight, then bias, per layer). */
export function paramList(graph: TypedGraph): ParamTensor[] {
  return [...paramNames(graph).values()].flatMap((p) => [p.weight, p.bias]);
}

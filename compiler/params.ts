/**
 * Parameter tensors of a typed graph, named as torchvision names VGG's (`features.0.weight`).
 * Conv weights are `[Cout, Cin, K, K]`, FC weights `[out, in]` with `in` in C x H x W order.
 */
import type { TypedGraph } from './shapes.js';

export interface ParamTensor {
  readonly name: string;
  readonly shape: readonly number[];
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
    const weight = op.op === 'conv' ? [op.cout, c, op.kernel, op.kernel] : [op.units, c * h * w];
    const units = op.op === 'conv' ? op.cout : op.units;
    out.set(node.id, {
      weight: { name: `${node.param}.weight`, shape: weight },
      bias: { name: `${node.param}.bias`, shape: [units] },
    });
  }
  return out;
}

/** All parameter tensors in graph order (weight, then bias, per layer). */
export function paramList(graph: TypedGraph): ParamTensor[] {
  return [...paramNames(graph).values()].flatMap((p) => [p.weight, p.bias]);
}

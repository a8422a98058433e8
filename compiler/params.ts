/**
 * The parameter layout: every parameter tensor of a typed graph, named as torchvision names
 * VGG's (`features.0.weight`), computed here once and read by the scheduler, the weight files
 * (runtime/weights.ts), initialisation (runtime/init.ts), checkpoints and exporters.
 *
 * The module path (`features.0`) is fixed at lowering (compiler/lower.ts, `node.param`), so
 * passes that fuse or remove nodes keep the names. Conv weights are `[Cout, Cin, K, K]`, FC
 * weights `[out, in]` with `in` in C x H x W order, biases `[out]`.
 *
 * An FC turned into a conv by the FC-to-conv pass (dense evaluation; the node is marked
 * `fromFc`) keeps its name (`classifier.0`), and its conv weight `[out, C, k, k]` has the same
 * bytes as the FC weight `[out, C * k * k]`: the weight file holds the FC's shape (`fileShape`),
 * the kernels bind the buffer as the conv's (`shape`).
 */
import { numel, type Graph, type Node, type Shape } from './ir.js';

export interface ParamEntry {
  /** The conv or FC node that owns the parameter. */
  readonly node: number;
  /** torchvision's name, `features.0.weight`. */
  readonly name: string;
  readonly kind: 'weight' | 'bias';
  /** The shape the kernels see (the conv shape for an FC converted to a conv). */
  readonly shape: readonly number[];
  /** The shape in weight files: `shape`, except `[out, C * k * k]` for a converted FC. */
  readonly fileShape: readonly number[];
  /** The layer is an FC, or a conv the FC-to-conv pass made from one. */
  readonly fc: boolean;
}

/** Every parameter of `graph` in node order (weight, then bias, per layer). */
export function paramLayout(graph: Graph): ParamEntry[] {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const shapeOf = (n: Node | undefined, of: Node): Shape => {
    if (!n?.out) {
      throw new Error(
        `internal: the parameter layout needs a typed graph, but node ${n?.id ?? of.inputs[0]} ` +
          `of ${graph.name} has no shape; run shape inference first`,
      );
    }
    return n.out;
  };
  return graph.nodes.flatMap((node): ParamEntry[] => {
    const op = node.op;
    if (op.op !== 'conv' && op.op !== 'fc') return [];
    if (!node.param) throw new Error(`internal: node ${node.id} has parameters but no name`);
    shapeOf(node, node);
    const input = shapeOf(byId.get(node.inputs[0] ?? -1), node);
    const fc = op.op === 'fc' || node.fromFc === true;
    const out = op.op === 'conv' ? op.cout : op.units;
    const kw = op.op === 'conv' ? (op.kernelW ?? op.kernel) : 0;
    const shape = op.op === 'conv' ? [out, input[0], op.kernel, kw] : [out, numel(input)];
    const fileShape = op.op === 'conv' && fc ? [out, input[0] * op.kernel * kw] : shape;
    const entry = { node: node.id, fc };
    return [
      { ...entry, name: `${node.param}.weight`, kind: 'weight', shape, fileShape },
      { ...entry, name: `${node.param}.bias`, kind: 'bias', shape: [out], fileShape: [out] },
    ];
  });
}

export interface ParamTensor {
  readonly name: string;
  /** The shape the kernels see (the conv shape for an FC converted to a conv). */
  readonly shape: readonly number[];
  /** The shape in the weight file when it differs from `shape` (a converted FC). */
  readonly fileShape?: readonly number[];
}

export interface NodeParams {
  readonly weight: ParamTensor;
  readonly bias: ParamTensor;
}

/** The layout by node id: each conv and FC node's weight and bias, in graph order. */
export function paramNames(graph: Graph): Map<number, NodeParams> {
  const tensor = (e: ParamEntry): ParamTensor => ({
    name: e.name,
    shape: e.shape,
    ...(e.fileShape === e.shape ? {} : { fileShape: e.fileShape }),
  });
  const out = new Map<number, NodeParams>();
  const layout = paramLayout(graph);
  for (let i = 0; i < layout.length; i += 2) {
    out.set(layout[i]!.node, { weight: tensor(layout[i]!), bias: tensor(layout[i + 1]!) });
  }
  return out;
}

/** All parameter tensors in graph order (weight, then bias, per layer). */
export function paramList(graph: Graph): ParamTensor[] {
  return [...paramNames(graph).values()].flatMap((p) => [p.weight, p.bias]);
}

/**
 * The per-layer report of `vggc check`: output shape, parameters and multiply-accumulates.
 */
import { describe } from './lower.js';
import type { Shape } from './ir.js';
import { macCount, paramCount, type TypedGraph } from './shapes.js';

export interface LayerSummary {
  /** The layer in the paper's notation: `conv3-64`, `relu`, `maxpool`, `FC-4096`. */
  readonly op: string;
  readonly out: Shape;
  readonly params: number;
  readonly macs: number;
}

export interface ModelSummary {
  readonly model: string;
  readonly input: Shape;
  readonly layers: readonly LayerSummary[];
  readonly params: number;
  readonly macs: number;
}

export function summarize(graph: TypedGraph): ModelSummary {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const first = graph.nodes[0];
  if (!first || first.op.op !== 'input')
    throw new Error('internal: graph does not start with input');
  const layers: LayerSummary[] = graph.nodes.slice(1).map((node) => {
    const input = byId.get(node.inputs[0] ?? -1)?.out;
    return {
      op: describe(node.op),
      out: node.out,
      params: paramCount(node, input),
      macs: macCount(node, input),
    };
  });
  return {
    model: graph.name,
    input: first.out,
    layers,
    params: layers.reduce((s, l) => s + l.params, 0),
    macs: layers.reduce((s, l) => s + l.macs, 0),
  };
}

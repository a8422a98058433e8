/**
 * What the network hands back: raw class scores (logits) or soft-max posteriors. The paper's
 * models end in soft-max; `vggc run` returns logits unless `--probs`, so this pass removes a
 * trailing soft-max for logits, and appends one for posteriors when the model has none.
 */
import type { Graph } from '../ir.js';
import { bypass } from './rewrite.js';

export type OutputKind = 'logits' | 'probs';

export function setOutput<G extends Graph>(g: G, kind: OutputKind): G {
  const last = g.nodes.at(-1);
  if (!last) return g;
  const endsInSoftmax = last.op.op === 'softmax';
  if (kind === 'logits' && endsInSoftmax) return bypass(g, last.id);
  if (kind === 'probs' && !endsInSoftmax) {
    const id = Math.max(...g.nodes.map((n) => n.id)) + 1;
    const node = {
      id,
      op: { op: 'softmax' as const },
      inputs: [last.id],
      ...('out' in last ? { out: last.out } : {}),
    };
    return { ...g, nodes: [...g.nodes, node] } as G;
  }
  return g;
}

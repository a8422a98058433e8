/**
 * Training: every dropout layer at probability `p` (`vggc train --dropout P`, the model's
 * `train { dropout P }`). `p = 0` removes the dropout nodes (remove-dropout.ts), any other `p`
 * replaces each node's probability; `undefined` leaves the graph as written. The graph keeps its
 * shapes: dropout does not change them.
 */
import type { Graph } from '../ir.js';
import { removeDropout } from './remove-dropout.js';

export function setDropout<G extends Graph>(g: G, p: number | undefined): G {
  if (p === undefined) return g;
  if (p === 0) return removeDropout(g);
  const nodes = g.nodes.map((n) =>
    n.op.op === 'dropout' ? { ...n, op: { op: 'dropout', p } } : n,
  );
  return { ...g, nodes } as G;
}

/**
 * Training fusion: the optimiser update of all parameters in one dispatch. The autodiff pass
 * emits one SGD node per layer (each a dispatch over its weight and bias); when the runtime keeps
 * parameters, gradients and momenta in flat buffers (compiler/schedule.ts, training layout), one
 * elementwise pass over the whole flat range does the same arithmetic with one dispatch (or a
 * few, when the range exceeds one binding's size limit).
 *
 * The merged nodes disappear, so none may have a reader (an update writes parameters, not a
 * tensor a node reads; should one be read, the updates stay apart).
 */
import type { Graph, Node } from '../ir.js';
import { consumers } from './rewrite.js';

export const FUSE_SGD = 'sgd-one-dispatch';

export function fuseSgd<G extends Graph>(g: G): G {
  const updates = g.nodes.filter((n) => n.op.op === 'sgd');
  if (updates.length < 2) return g;
  if (updates.some((u) => consumers(g, u.id).length > 0)) return g;
  const params = updates.flatMap((n) => (n.op.op === 'sgd' ? n.op.params : []));
  const last = updates.at(-1)!;
  const fused: Node = {
    id: last.id,
    op: { op: 'sgd', params },
    inputs: updates.flatMap((n) => n.inputs),
    ...(last.out ? { out: last.out } : {}),
  };
  const nodes = g.nodes
    .filter((n) => n.op.op !== 'sgd' || n.id === last.id)
    .map((n) => (n.id === last.id ? fused : n));
  return { ...g, nodes } as G;
}

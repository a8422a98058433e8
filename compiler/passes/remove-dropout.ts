/**
 * Inference: dropout is the identity (PyTorch's inverted dropout scales during training), so its
 * nodes are removed before scheduling.
 */
import type { Graph } from '../ir.js';
import { bypass } from './rewrite.js';

export function removeDropout<G extends Graph>(g: G): G {
  let out = g;
  for (const n of g.nodes) if (n.op.op === 'dropout') out = bypass(out, n.id);
  return out;
}

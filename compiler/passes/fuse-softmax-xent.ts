/**
 * Training fusion: soft-max + cross-entropy. The autodiff pass ends a training graph with the
 * model's soft-max (posteriors written to memory) and `xent-grad` (reads them back for the loss
 * and dlogits). When the posteriors have no other reader, one `softmax-xent` kernel computes the
 * loss and dlogits straight from the logits: one pass less over the logits, and the loss comes
 * from log-sum-exp instead of log(p), which stays finite when p underflows.
 */
import type { Graph } from '../ir.js';
import { consumers, replaceNode } from './rewrite.js';

export const FUSE_SOFTMAX_XENT = 'softmax-xent';

export function fuseSoftmaxXent<G extends Graph>(g: G): G {
  let out = g;
  for (const head of g.nodes) {
    if (head.op.op !== 'xent-grad') continue;
    const softmax = out.nodes.find((n) => n.id === head.inputs[0]);
    if (!softmax || softmax.op.op !== 'softmax') continue;
    if (consumers(out, softmax.id).length !== 1) continue;
    const logits = softmax.inputs[0]!;
    out = replaceNode(out, head.id, (n) => ({
      ...n,
      op: { op: 'softmax-xent' as const },
      inputs: [logits],
    }));
    out = { ...out, nodes: out.nodes.filter((n) => n.id !== softmax.id) };
  }
  return out;
}

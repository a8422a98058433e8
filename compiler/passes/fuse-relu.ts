/**
 * Fusion: conv + bias + ReLU, FC + bias + ReLU. A ReLU node whose input is a conv or FC that
 * nobody else reads moves into that producer's epilogue, so one kernel writes the activated
 * result and the separate elementwise pass (a full read and write of the tensor) disappears.
 */
import type { Graph } from '../ir.js';
import { bypass, consumers, replaceNode } from './rewrite.js';

export const FUSE_RELU = 'conv-relu';

export function fuseRelu<G extends Graph>(g: G): G {
  let out = g;
  for (const relu of g.nodes) {
    if (relu.op.op !== 'relu') continue;
    const producerId = relu.inputs[0];
    const producer = out.nodes.find((n) => n.id === producerId);
    if (!producer || (producer.op.op !== 'conv' && producer.op.op !== 'fc')) continue;
    if (consumers(out, producer.id).length !== 1) continue;
    if (producer.op.epilogue.length > 0) continue; // ReLU goes first; later steps keep their order
    out = replaceNode(out, producer.id, (n) => ({
      ...n,
      op: { ...(n.op as typeof producer.op), epilogue: [{ kind: 'relu' as const }] },
    }));
    out = bypass(out, relu.id);
  }
  return out;
}

/**
 * Training fusion: the ReLU backward into the backward convolution (or FC) before it. A ReLU
 * backward `dx = dy * (m > 0)` whose dy comes straight from the data gradient of a layer that
 * reads m (the ReLU's output) becomes that kernel's `mask`: the kernel zeroes dx where its mask
 * source is <= 0 as it stores, and one full read and write of the activation gradient goes away.
 *
 * Two patterns, the second being VGG's conv + ReLU + maxpool:
 * 1. relu-grad(m, grad-data(dy)), the layer reading m itself: the mask source is m;
 * 2. relu-grad(m, maxpool-grad(m, grad-data(dy))), the layer reading pool(m): the mask source is
 *    pool(m). maxpool-grad sends each window's gradient to the window's first maximum, whose
 *    value is pool(m) of that window; so masking by pool(m) > 0 before the routing zeroes exactly
 *    what masking by m > 0 after it does (every other element of the window is 0 either way).
 */
import type { Graph, Node } from '../ir.js';
import { bypass, consumers, replaceNode } from './rewrite.js';

export const FUSE_RELU_GRAD = 'relu-grad-mask';

export function fuseReluGrad<G extends Graph>(g: G): G {
  let out = g;
  const find = (id: number | undefined): Node | undefined => out.nodes.find((n) => n.id === id);
  /** The forward layer whose data gradient `grad` computes (same parameters, not a gradient). */
  const forwardOf = (grad: Node): Node | undefined =>
    out.nodes.find(
      (n) =>
        (n.op.op === 'conv' || n.op.op === 'fc') && n.param !== undefined && n.param === grad.param,
    );
  const isDataGrad = (n: Node | undefined): n is Node =>
    !!n && (n.op.op === 'conv-grad-data' || n.op.op === 'fc-grad-data') && !n.op.mask;
  const soleReader = (id: number, reader: number) => {
    const r = consumers(out, id);
    return r.length === 1 && r[0]!.id === reader;
  };

  for (const relu of g.nodes) {
    if (relu.op.op !== 'relu-grad') continue;
    const [m, dy] = relu.inputs as [number, number];
    const producer = find(dy);
    let grad: Node | undefined;
    let maskSource: number | undefined;
    if (isDataGrad(producer) && soleReader(producer.id, relu.id)) {
      // Pattern 1: the layer differentiated reads m.
      if (forwardOf(producer)?.inputs[0] === m) {
        grad = producer;
        maskSource = m;
      }
    } else if (producer?.op.op === 'maxpool-grad' && producer.inputs[0] === m) {
      // Pattern 2: the layer differentiated reads pool(m).
      if (!soleReader(producer.id, relu.id)) continue;
      const inner = find(producer.inputs[1]);
      const pool = out.nodes.find((n) => n.op.op === 'maxpool' && n.inputs[0] === m);
      if (isDataGrad(inner) && pool && soleReader(inner.id, producer.id)) {
        if (forwardOf(inner)?.inputs[0] === pool.id) {
          grad = inner;
          maskSource = pool.id;
        }
      }
    }
    if (!grad || maskSource === undefined) continue;
    const source = maskSource;
    out = replaceNode(out, grad.id, (n) => ({
      ...n,
      op: { ...(n.op as { op: 'conv-grad-data' | 'fc-grad-data' } & typeof n.op), mask: true },
      inputs: [n.inputs[0]!, source],
    }));
    // relu-grad reads [m, dy]: drop m, then it is a one-input node that bypass removes.
    out = replaceNode(out, relu.id, (n) => ({ ...n, inputs: [dy] }));
    out = bypass(out, relu.id);
  }
  return out;
}

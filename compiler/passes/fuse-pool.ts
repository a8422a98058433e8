/**
 * Fusion: conv + bias + ReLU + 2x2 max pool. A maxpool whose input is a conv (with or without a
 * fused ReLU), or a ReLU node reading a conv, moves into that conv's epilogue
 * (`[relu, maxpool]`, or `[maxpool]` for a conv without ReLU). The conv kernel then pools its
 * register tile before it stores (compiler/wgsl/conv.ts, `pool`), so the pre-pool tensor is
 * never written and the separate pooling pass (a read of 4 values per output) disappears. The
 * fused node keeps the conv's id and parameter name, takes the pool's place in the node list (so
 * a pool that ended the graph still does) and the pool's output shape.
 *
 * The rule that keeps this safe: the pre-pool tensor (and, with a ReLU node in between, the
 * conv's own output) must have no reader besides the next step of the chain. A training graph's
 * backward nodes read them (the maxpool gradient reads the pool's input, the ReLU gradient its
 * output): there nothing fuses, and the tensors the backward pass needs stay in memory.
 */
import type { EpilogueStep, Graph, Node } from '../ir.js';
import { consumers } from './rewrite.js';

export const FUSE_POOL = 'conv-relu-pool';

export function fusePool<G extends Graph>(g: G): G {
  let out = g;
  for (const pool of g.nodes) {
    if (pool.op.op !== 'maxpool') continue;
    const find = (id: number | undefined): Node | undefined => out.nodes.find((n) => n.id === id);
    const pre = find(pool.inputs[0]); // the pre-pool tensor's producer
    if (!pre) continue;
    const relu = pre.op.op === 'relu' ? pre : undefined;
    const conv = relu ? find(relu.inputs[0]) : pre;
    if (!conv || conv.op.op !== 'conv') continue;
    if (consumers(out, pre.id).length !== 1) continue; // the pool must be the only reader
    if (relu && consumers(out, conv.id).length !== 1) continue; // and the ReLU the conv's only one
    const steps = conv.op.epilogue.map((s) => s.kind).join(',');
    // Pooling comes last: a conv whose epilogue holds anything but a ReLU keeps its own order.
    if (!(steps === '' || (steps === 'relu' && !relu))) continue;
    const epilogue: EpilogueStep[] = [
      ...conv.op.epilogue,
      ...(relu ? [{ kind: 'relu' as const }] : []),
      { kind: 'maxpool' },
    ];
    const fused: Node = {
      ...conv,
      op: { ...conv.op, epilogue },
      ...(pool.out ? { out: pool.out } : {}),
    };
    // Every input of the conv precedes it, so putting it where the pool was keeps the order
    // topological; the pool's readers now read the conv.
    const gone = new Set([conv.id, pool.id, ...(relu ? [relu.id] : [])]);
    const nodes = out.nodes.flatMap((n): Node[] => {
      if (n.id === pool.id) return [fused];
      if (gone.has(n.id)) return [];
      if (!n.inputs.includes(pool.id)) return [n];
      return [{ ...n, inputs: n.inputs.map((i) => (i === pool.id ? conv.id : i)) }];
    });
    out = { ...out, nodes } as G;
  }
  return out;
}

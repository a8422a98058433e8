/**
 * Training fusion: dropout into the FC epilogue. A `dropout` node whose input is an FC (epilogue
 * `[]` or `[relu]`, so it runs after conv-relu) becomes the last step of that FC's epilogue,
 * `{kind: 'dropout', p, stream}` with `stream` = the dropout node's id, the stream its
 * `dropout-grad` already regenerates the mask from. The FC kernel then scales its output by
 * keep(i) / (1 - p) as it stores (compiler/wgsl/fc.ts): the same index, hash and seed block as
 * the standalone dropout kernel, so the numbers do not change, and one full read and write of the
 * activation goes away. The FC keeps its id and place; the dropout node's readers read the FC.
 *
 * The pre-dropout tensor is no longer written, so the FC's output must have no other reader,
 * with one exception, VGG's classifier: the ReLU backward behind the dropout backward,
 * relu-grad(m, dy = dropout-grad(d)), reads the FC+ReLU output m as its mask source. It may read
 * the dropout output d instead: d > 0 exactly where m > 0 and the element is kept, and dy is
 * already 0 wherever it was dropped, so dx is the same. Such readers (mask source only, dy the
 * dropout-grad of this very dropout) are redirected; any other reader keeps the dropout a node.
 *
 * Only training graphs hold dropout at fusion time (the inference pipeline removes it first);
 * a graph without training ops is returned as it is (only a training plan has seed blocks).
 */
import { isTrainingOp, type Graph, type Node } from '../ir.js';
import { bypass, consumers, replaceNode } from './rewrite.js';

export const FUSE_DROPOUT = 'fc-dropout';

export function fuseDropout<G extends Graph>(g: G): G {
  if (!g.nodes.some((n) => isTrainingOp(n.op))) return g;
  let out = g;
  const find = (id: number | undefined): Node | undefined => out.nodes.find((n) => n.id === id);
  for (const drop of g.nodes) {
    if (drop.op.op !== 'dropout') continue;
    const { p } = drop.op;
    const fc = find(drop.inputs[0]);
    if (!fc || fc.op.op !== 'fc') continue;
    const steps = fc.op.epilogue.map((s) => s.kind).join(',');
    if (steps !== '' && steps !== 'relu') continue;
    /** relu-grad(fc, dropout-grad of this dropout): its mask may come from the dropout output. */
    const maskReader = (n: Node): boolean => {
      if (n.op.op !== 'relu-grad' || n.inputs[0] !== fc.id) return false;
      const dy = find(n.inputs[1]);
      return dy?.op.op === 'dropout-grad' && dy.op.stream === drop.id && dy.op.p === p;
    };
    const others = consumers(out, fc.id).filter((n) => n.id !== drop.id);
    if (!others.every(maskReader)) continue;
    // The mask readers keep reading fc.id, which from now on is the dropout output.
    const epilogue = [...fc.op.epilogue, { kind: 'dropout' as const, p, stream: drop.id }];
    out = replaceNode(out, fc.id, (n) => ({ ...n, op: { ...(n.op as typeof fc.op), epilogue } }));
    out = bypass(out, drop.id);
  }
  return out;
}

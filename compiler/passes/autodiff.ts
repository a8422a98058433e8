/**
 * Reverse-mode automatic differentiation on the Graph IR: turns a typed forward graph (as lowered,
 * before any fusion) into a training graph by appending, in reverse order of the forward nodes,
 * the nodes that compute the gradient of the mean cross-entropy loss with respect to every
 * activation and parameter, then one SGD node per parameterised layer.
 *
 * The result is an ordinary Graph: the fusion passes (conv+ReLU forward, soft-max+cross-entropy,
 * the ReLU mask into the backward convolution, one optimiser dispatch) rewrite it, and the same
 * scheduler turns it into kernels. Fusions stay correct because each fuses only what nobody else
 * reads: the backward nodes read the ReLU *outputs* (never a conv's pre-activation), so
 * conv+bias+ReLU still fuses, and a conv output that maxpool-grad reads no longer fuses its pool.
 *
 * Rules, as PyTorch computes them:
 * - loss: the network ends in soft-max (added when the model has none); the loss is the mean
 *   over the batch of -log p[label]; `xent-grad` gives dlogits = (p - onehot) / N;
 * - ReLU: dx = dy where the ReLU's output is > 0 (the same as where its input is > 0);
 * - maxpool: each window's gradient to its first maximum; LRN: the analytic derivative;
 * - dropout: the forward's mask, regenerated from the same seed (stream = the forward node's id);
 * - conv / FC: data gradient (skipped for the layer that reads the input image) and the weight
 *   and bias gradients.
 *
 * The forward graph must be a chain (each activation read by one layer), as every VGG is.
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import { NO_ACTIVATION, type Node, type Op, type Shape, type TypedNode } from '../ir.js';
import type { TypedGraph } from '../shapes.js';

export { NO_ACTIVATION };

export function autodiff(graph: TypedGraph): TypedGraph {
  const forward = [...graph.nodes];
  for (const node of forward) {
    const op = node.op;
    if ('epilogue' in op && op.epilogue.length > 0) {
      throw new Error('internal: autodiff runs before fusion (found a fused epilogue)');
    }
    const readers = forward.filter((n) => n.inputs.includes(node.id)).length;
    if (readers > 1) {
      throw new VggcError(
        error('training needs a chain of layers (an activation here has two readers)', node.span),
      );
    }
  }
  let nextId = Math.max(...forward.map((n) => n.id)) + 1;
  const nodes: TypedNode[] = [...forward];
  const add = (op: Op, inputs: number[], out: Shape, from: Node): number => {
    const id = nextId++;
    nodes.push({
      id,
      op,
      inputs,
      out,
      ...(from.span ? { span: from.span } : {}),
      ...(from.param ? { param: from.param } : {}),
    });
    return id;
  };

  // The head: soft-max (the model's own, or a new one) and the cross-entropy gradient.
  let last = forward.at(-1)!;
  if (last.op.op !== 'softmax') {
    const id = nextId++;
    const softmax: TypedNode = { id, op: { op: 'softmax' }, inputs: [last.id], out: last.out };
    nodes.push(softmax);
    last = softmax;
  }
  if (forward.length < 2 || !forward.some((n) => n.op.op === 'conv' || n.op.op === 'fc')) {
    throw new VggcError(error('the model has no layer with parameters to train', graph.span));
  }
  const logits = last.inputs[0]!;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  /** Gradient node of each forward node's output. */
  const grad = new Map<number, number>();
  grad.set(logits, add({ op: 'xent-grad' }, [last.id], byId.get(logits)!.out, last));

  const weightGrads: { node: number; param: string }[] = [];
  for (const node of [...forward].reverse()) {
    const dy = grad.get(node.id);
    if (dy === undefined) continue; // the soft-max head and the input
    const op = node.op;
    if (op.op === 'input') continue;
    const xId = node.inputs[0]!;
    const x = byId.get(xId)!;
    const needDx = x.op.op !== 'input';
    let dx: number | undefined;
    switch (op.op) {
      case 'conv': {
        const { kernel, pad } = op;
        const wg = add({ op: 'conv-grad-weight', kernel, pad }, [xId, dy], NO_ACTIVATION, node);
        weightGrads.push({ node: wg, param: node.param! });
        if (needDx) dx = add({ op: 'conv-grad-data', kernel, pad, mask: false }, [dy], x.out, node);
        break;
      }
      case 'fc': {
        const wg = add({ op: 'fc-grad-weight' }, [xId, dy], NO_ACTIVATION, node);
        weightGrads.push({ node: wg, param: node.param! });
        if (needDx) dx = add({ op: 'fc-grad-data', mask: false }, [dy], x.out, node);
        break;
      }
      case 'relu':
        if (needDx) dx = add({ op: 'relu-grad' }, [node.id, dy], x.out, node);
        break;
      case 'maxpool':
        if (needDx) dx = add({ op: 'maxpool-grad' }, [xId, dy], x.out, node);
        break;
      case 'lrn': {
        const { n, alpha, beta, k } = op;
        if (needDx) dx = add({ op: 'lrn-grad', n, alpha, beta, k }, [xId, dy], x.out, node);
        break;
      }
      case 'dropout':
        if (needDx) dx = add({ op: 'dropout-grad', p: op.p, stream: node.id }, [dy], x.out, node);
        break;
      case 'softmax':
        throw new VggcError(error('soft-max must be the last layer to train', node.span));
      default:
        throw new Error(`internal: autodiff met '${op.op}' in a forward graph`);
    }
    if (dx !== undefined) grad.set(xId, dx);
  }

  // The optimiser: one update per layer, in forward order (the fusion makes it one dispatch).
  for (const { node, param } of weightGrads.reverse()) {
    const id = nextId++;
    nodes.push({ id, op: { op: 'sgd', params: [param] }, inputs: [node], out: NO_ACTIVATION });
  }
  return { ...graph, nodes };
}

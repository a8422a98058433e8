/**
 * FC-to-conv (the VGG paper's Section 3.2, dense evaluation): the fully connected layers become
 * convolutions, so the network runs on a whole image of any size large enough and returns a
 * class score map instead of one score vector.
 *
 * - The first FC reads a C x k x k map at the model's declared input: it becomes a k x k conv
 *   with padding 0 and `units` output channels (VGG-16: 512 x 7 x 7 -> conv7-4096).
 * - Every later FC reads a units x 1 x 1 vector: it becomes a 1x1 conv.
 *
 * Nothing else changes: the epilogue (a fused ReLU) and the parameter name (`node.param`,
 * `classifier.0`) stay, and so do the bytes of the weight: the FC weight `[out, C*k*k]`, its
 * input flattened in C x H x W order, is the conv weight `[out, C, k, k]` in memory. So the FC
 * model's weight file loads as it is: the conv is marked `fromFc` (compiler/params.ts).
 *
 * A model whose first FC reads a non-square map (a declared input such as 3x36x20) gets a
 * kh x kw conv (`kernel` kh, `kernelW` kw in the IR); the paper's models are square.
 *
 * `denseGraph` re-types the rewritten graph for another input size, and names the smallest input
 * that still gives a 1x1 score map when the image is too small.
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import { formatShape, type Graph, type Node, type Shape } from '../ir.js';
import { inferShapes, type TypedGraph } from '../shapes.js';
import { setOutput } from './output-head.js';

/** Rewrites every FC of a typed graph as a conv (see above). Shapes stay those of `g`'s input. */
export function fcToConv<G extends TypedGraph>(g: G): G {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const nodes = g.nodes.map((node) => {
    const op = node.op;
    if (op.op !== 'fc') return node;
    const input = byId.get(node.inputs[0] ?? -1)?.out;
    if (!input) throw new Error(`internal: FC node ${node.id} has no typed input`);
    const [, h, w] = input;
    return {
      ...node,
      op: {
        op: 'conv' as const,
        kernel: h,
        ...(w !== h ? { kernelW: w } : {}),
        pad: 0,
        cout: op.units,
        epilogue: op.epilogue,
      },
      fromFc: true as const,
    };
  });
  return { ...g, nodes } as G;
}

/**
 * The smallest input height and width for which every layer of `g` (after `fcToConv`) has an
 * output of at least 1x1: walks back from the last node. A 2x2 max pool needs twice its output
 * (also when fused into a conv's epilogue); a K x K conv with padding P needs its output
 * + K - 1 - 2P. VGG-16 at 224: 7x7 before FC6 -> 224 after five pools.
 */
export function minDenseInput(g: Graph): [h: number, w: number] {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  let h = 1;
  let w = 1;
  for (let node: Node | undefined = g.nodes.at(-1); node; node = byId.get(node.inputs[0] ?? -1)) {
    const op = node.op;
    if (op.op === 'maxpool') {
      h *= 2;
      w *= 2;
    } else if (op.op === 'conv') {
      if (op.epilogue.some((s) => s.kind === 'maxpool')) {
        // A fused pool (conv-relu-pool) comes after the conv: undo it first.
        h *= 2;
        w *= 2;
      }
      h = Math.max(1, h + op.kernel - 1 - 2 * op.pad);
      w = Math.max(1, w + (op.kernelW ?? op.kernel) - 1 - 2 * op.pad);
    } else if (op.op === 'fc') {
      throw new Error('internal: minDenseInput needs the graph after fcToConv');
    }
  }
  return [h, w];
}

/**
 * The fully convolutional graph of `graph` (a typed graph at its declared input, FCs converted
 * or not) re-typed for `input` ([C, H, W]). It ends at the class score map
 * `[classes, h, w]`: a trailing soft-max is removed (dense evaluation averages the map first, then
 * applies soft-max: runtime/dense.ts `classScores`). A wrong channel count or an image smaller
 * than `minDenseInput` is a VggcError naming what the model takes.
 */
export function denseGraph(graph: TypedGraph, input: Shape): TypedGraph {
  const converted = setOutput(fcToConv(graph), 'logits');
  const declared = converted.nodes[0]!.out;
  const [c, h, w] = input;
  if (c !== declared[0]) {
    throw new VggcError(
      error(
        `the model ${graph.name} takes ${declared[0]}-channel images, not ${c} channels ` +
          `(input ${formatShape(input)})`,
      ),
    );
  }
  const [minH, minW] = minDenseInput(converted);
  if (h < minH || w < minW) {
    throw new VggcError(
      error(
        `input ${formatShape(input)} is too small for dense evaluation of ${graph.name}: the ` +
          `smallest image is ${c}x${minH}x${minW} (height >= ${minH}, width >= ${minW}), which ` +
          `gives a 1x1 class score map`,
      ),
    );
  }
  const untyped: Graph = {
    ...converted,
    nodes: converted.nodes.map(({ out: _out, ...node }) =>
      node.op.op === 'input' ? { ...node, op: { op: 'input' as const, shape: input } } : node,
    ),
  };
  const shaped = inferShapes(untyped);
  if (!shaped.graph) throw new VggcError(shaped.diagnostics);
  return shaped.graph;
}

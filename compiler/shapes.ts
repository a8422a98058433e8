/**
 * Shape inference: sets `out` ([C, H, W] per sample) on every node, and reports every shape
 * that cannot be: a pool that would shrink a side below 1, a tensor too large to index.
 */
import { error, type Diagnostic } from '../dsl/diagnostics.js';
import { describe } from './lower.js';
import { formatShape, type Graph, type Node, type Shape, type TypedNode } from './ir.js';
import { MAX_ELEMENTS } from './limits.js';

export interface TypedGraph extends Graph {
  readonly nodes: readonly TypedNode[];
}

export interface ShapeResult {
  /** Absent when a shape could not be inferred; `diagnostics` then says why. */
  readonly graph?: TypedGraph;
  readonly diagnostics: Diagnostic[];
}

export function inferShapes(graph: Graph): ShapeResult {
  const diagnostics: Diagnostic[] = [];
  const shapes = new Map<number, Shape>();
  const nodes: TypedNode[] = [];
  for (const node of graph.nodes) {
    const ins = node.inputs.map((id) => shapes.get(id));
    if (ins.some((s) => s === undefined)) return { diagnostics };
    const out = outputShape(node, ins as Shape[], diagnostics);
    if (!out) return { diagnostics };
    const elements = out[0] * out[1] * out[2];
    if (elements > MAX_ELEMENTS) {
      diagnostics.push(
        error(
          `'${describe(node.op)}' produces ${formatShape(out)} = ${elements} values per image, ` +
            `more than one tensor may hold (${MAX_ELEMENTS})`,
          node.span,
        ),
      );
      return { diagnostics };
    }
    shapes.set(node.id, out);
    nodes.push({ ...node, out });
  }
  return { graph: { ...graph, nodes }, diagnostics };
}

/**
 * The output shape of a forward node from its inputs' shapes; undefined (with a diagnostic) when
 * there is none. Training ops have none here (compiler/verify.ts re-infers theirs).
 */
export function outputShape(
  node: Node,
  ins: readonly Shape[],
  diags: Diagnostic[],
): Shape | undefined {
  const op = node.op;
  if (op.op === 'input') return op.shape;
  const x = ins[0];
  if (!x) {
    diags.push(error(`internal: '${op.op}' has no input`, node.span));
    return undefined;
  }
  const [c, h, w] = x;
  switch (op.op) {
    case 'conv': {
      const kw = op.kernelW ?? op.kernel;
      const oh = h + 2 * op.pad - op.kernel + 1;
      const ow = w + 2 * op.pad - kw + 1;
      if (oh < 1 || ow < 1) {
        // Only the FC-to-conv rewrite (dense evaluation) makes convs that can shrink their input.
        const need = `${op.kernel - 2 * op.pad}x${kw - 2 * op.pad}`;
        diags.push(
          error(
            `'${describe(op)}' (kernel ${op.kernel}x${kw}, padding ${op.pad}) needs at least ` +
              `${need} input, but gets ${formatShape(x)}: use a larger input`,
            node.span,
          ),
        );
        return undefined;
      }
      // A pool fused into the epilogue (compiler/passes/fuse-pool.ts) halves the output, as the
      // maxpool node it replaced did (shape inference rejected a side below 2 there).
      if (op.epilogue.some((s) => s.kind === 'maxpool')) {
        return [op.cout, Math.floor(oh / 2), Math.floor(ow / 2)];
      }
      return [op.cout, oh, ow];
    }
    case 'maxpool': {
      if (h < 2 || w < 2) {
        diags.push(
          error(
            `maxpool would shrink ${formatShape(x)} below 1 pixel (it needs at least 2x2 input); ` +
              'use a larger input or fewer pooling layers',
            node.span,
          ),
        );
        return undefined;
      }
      return [c, Math.floor(h / 2), Math.floor(w / 2)];
    }
    case 'fc': {
      const fanIn = c * h * w;
      if (fanIn * op.units > MAX_ELEMENTS * 4) {
        diags.push(
          error(
            `'${describe(op)}' on ${formatShape(x)} needs a ${fanIn} x ${op.units} weight, too large`,
            node.span,
          ),
        );
        return undefined;
      }
      return [op.units, 1, 1];
    }
    case 'relu':
    case 'lrn':
    case 'dropout':
    case 'softmax':
      return x;
  }
}

/** Learnable parameters (weights and biases) of one node. */
export function paramCount(node: TypedNode, input: Shape | undefined): number {
  const op = node.op;
  if (!input) return 0;
  if (op.op === 'conv') return op.cout * input[0] * op.kernel * (op.kernelW ?? op.kernel) + op.cout;
  if (op.op === 'fc') return op.units * input[0] * input[1] * input[2] + op.units;
  return 0;
}

/** Multiply-accumulates of one node for one image. */
export function macCount(node: TypedNode, input: Shape | undefined): number {
  const op = node.op;
  if (!input) return 0;
  if (op.op === 'conv') {
    // From the input, not node.out: a fused pool makes node.out the pooled shape.
    const kw = op.kernelW ?? op.kernel;
    const oh = input[1] + 2 * op.pad - op.kernel + 1;
    const ow = input[2] + 2 * op.pad - kw + 1;
    return op.cout * oh * ow * input[0] * op.kernel * kw;
  }
  if (op.op === 'fc') return op.units * input[0] * input[1] * input[2];
  return 0;
}

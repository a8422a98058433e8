/**
 * Float64 CPU reference of a whole network: walks the lowered Graph (as written, before any pass,
 * or after the FC-to-conv rewrite: convs of any K and padding; a conv's fused ReLU and pool
 * epilogue steps are applied too) and applies each op's reference.
 * Dropout is the identity (inference).
 */
import type { TypedGraph } from '../../compiler/shapes.js';
import { paramNames } from '../../compiler/params.js';
import { conv2dRef } from './conv.js';
import { fcRef } from './fc.js';
import { lrnRef } from './lrn.js';
import { maxpoolRef } from './maxpool.js';
import { softmaxRef } from './softmax.js';

export function networkRef(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  x: Float32Array,
  n: number,
): Float64Array {
  const names = paramNames(graph);
  const values = new Map<number, Float64Array>();
  const f64 = (a: Float32Array) => Float64Array.from(a);
  for (const node of graph.nodes) {
    const op = node.op;
    if (op.op === 'input') {
      values.set(node.id, f64(x));
      continue;
    }
    const src = graph.nodes.find((m) => m.id === node.inputs[0])!;
    const a = values.get(src.id)!;
    const [c, h, w] = src.out;
    let y: Float64Array;
    switch (op.op) {
      case 'conv': {
        const p = names.get(node.id)!;
        y = conv2dRef(a, f64(weights.get(p.weight.name)!), f64(weights.get(p.bias.name)!), {
          n,
          cin: c,
          h,
          w,
          cout: op.cout,
          kernel: op.kernel,
          ...(op.kernelW !== undefined ? { kernelW: op.kernelW } : {}),
          pad: op.pad,
          relu: op.epilogue.some((s) => s.kind === 'relu'), // fused ReLU, if any
        });
        if (op.epilogue.some((s) => s.kind === 'maxpool')) {
          // fused pool (conv-relu-pool), after the ReLU
          const kw = op.kernelW ?? op.kernel;
          const [ho, wo] = [h + 2 * op.pad - op.kernel + 1, w + 2 * op.pad - kw + 1];
          y = maxpoolRef(y, { n, c: op.cout, h: ho, w: wo });
        }
        break;
      }
      case 'fc': {
        const p = names.get(node.id)!;
        y = fcRef(a, weights.get(p.weight.name)!, weights.get(p.bias.name)!, {
          n,
          inFeatures: c * h * w,
          outFeatures: op.units,
          relu: op.epilogue.some((s) => s.kind === 'relu'), // fused ReLU, if any
        });
        break;
      }
      case 'relu':
        y = a.map((v) => Math.max(v, 0));
        break;
      case 'maxpool':
        y = maxpoolRef(a, { n, c, h, w });
        break;
      case 'lrn':
        y = lrnRef(a, { n, c, h, w, size: op.n, alpha: op.alpha, beta: op.beta, k: op.k });
        break;
      case 'softmax':
        y = softmaxRef(a, { n, classes: c * h * w });
        break;
      case 'dropout':
        y = a;
        break;
      default:
        throw new Error(`networkRef: '${op.op}' is a training op`);
    }
    values.set(node.id, y);
  }
  return values.get(graph.nodes.at(-1)!.id)!;
}

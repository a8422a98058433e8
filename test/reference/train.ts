/**
 * Float64 CPU reference of one SGD training step of a whole network, written independently of
 * the autodiff pass: a forward walk over the lowered graph (as written: separate ReLU and
 * dropout nodes) that keeps every activation, the mean soft-max cross-entropy, a backward walk
 * in reverse with each layer's reference derivative, then PyTorch's SGD on every parameter.
 */
import type { TypedGraph } from '../../compiler/shapes.js';
import { paramNames } from '../../compiler/params.js';
import { conv2dRef } from './conv.js';
import {
  convBackwardBiasRef,
  convBackwardDataRef,
  convBackwardWeightRef,
} from './conv-backward.js';
import { dropoutMaskRef, dropoutRef } from './dropout.js';
import { fcRef } from './fc.js';
import { fcBackwardDataRef, fcBackwardWeightRef } from './fc-backward.js';
import { lrnRef } from './lrn.js';
import { lrnBackwardRef } from './lrn-backward.js';
import { maxpoolRef } from './maxpool.js';
import { maxpoolBackwardRef } from './maxpool-backward.js';
import { reluBackwardRef } from './relu-backward.js';
import { sgdStepRef, type SgdHyper } from './sgd.js';
import { softmaxXentRef } from './softmax-xent.js';

export interface TrainStepRef {
  /** Mean loss over the batch, and the number of top-1 hits. */
  readonly loss: number;
  readonly correct: number;
  /** Parameters and momenta after the step, and the gradients, by torchvision name. */
  readonly weights: Map<string, Float64Array>;
  readonly momenta: Map<string, Float64Array>;
  readonly grads: Map<string, Float64Array>;
}

export function trainStepRef(
  graph: TypedGraph,
  weights: ReadonlyMap<string, ArrayLike<number>>,
  momenta: ReadonlyMap<string, ArrayLike<number>> | undefined,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  hyper: SgdHyper,
  dropout: { seed: number; step: number },
): TrainStepRef {
  const names = paramNames(graph);
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const w64 = (name: string) => Float64Array.from(weights.get(name)!);
  const values = new Map<number, Float64Array>();
  const masks = new Map<number, Uint8Array>();
  let logits: Float64Array | undefined;
  let logitsNode = -1;

  for (const node of graph.nodes) {
    const op = node.op;
    if (op.op === 'input') {
      values.set(node.id, Float64Array.from(x));
      continue;
    }
    const src = byId.get(node.inputs[0]!)!;
    const a = values.get(src.id)!;
    const [c, h, w] = src.out;
    let y: Float64Array;
    switch (op.op) {
      case 'conv': {
        const p = names.get(node.id)!;
        const spec = {
          n,
          cin: c,
          h,
          w,
          cout: op.cout,
          kernel: op.kernel,
          pad: op.pad,
          relu: false,
        };
        y = conv2dRef(a, w64(p.weight.name), w64(p.bias.name), spec);
        break;
      }
      case 'fc': {
        const p = names.get(node.id)!;
        const spec = { n, inFeatures: c * h * w, outFeatures: op.units, relu: false };
        y = fcRef(a, w64(p.weight.name), w64(p.bias.name), spec);
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
      case 'dropout': {
        const mask = dropoutMaskRef(a.length, op.p, dropout.seed, dropout.step, node.id);
        masks.set(node.id, mask);
        y = dropoutRef(a, mask, op.p);
        break;
      }
      case 'softmax':
        logits = a;
        logitsNode = src.id;
        continue;
      default:
        throw new Error(`trainStepRef: unexpected ${op.op}`);
    }
    values.set(node.id, y);
  }
  if (!logits) {
    logitsNode = graph.nodes.at(-1)!.id;
    logits = values.get(logitsNode)!;
  }
  const classes = logits.length / n;
  const head = softmaxXentRef(logits, labels, n, classes);

  const grads = new Map<string, Float64Array>();
  let dy = head.dx;
  for (const node of [...graph.nodes].reverse()) {
    if (node.id > logitsNode || node.op.op === 'input' || node.op.op === 'softmax') continue;
    const op = node.op;
    const src = byId.get(node.inputs[0]!)!;
    const a = values.get(src.id)!;
    const [c, h, w] = src.out;
    switch (op.op) {
      case 'conv': {
        const p = names.get(node.id)!;
        const spec = {
          n,
          cin: c,
          h,
          w,
          cout: op.cout,
          kernel: op.kernel as 1 | 3,
          pad: op.pad,
          relu: false,
        };
        grads.set(p.weight.name, convBackwardWeightRef(a, dy, spec));
        grads.set(p.bias.name, convBackwardBiasRef(dy, spec));
        dy = convBackwardDataRef(dy, w64(p.weight.name), spec);
        break;
      }
      case 'fc': {
        const p = names.get(node.id)!;
        const spec = { n, inFeatures: c * h * w, outFeatures: op.units };
        const { dw, db } = fcBackwardWeightRef(a, dy, spec);
        grads.set(p.weight.name, dw);
        grads.set(p.bias.name, db);
        dy = fcBackwardDataRef(dy, w64(p.weight.name), spec);
        break;
      }
      case 'relu':
        dy = reluBackwardRef(a, dy);
        break;
      case 'maxpool':
        dy = maxpoolBackwardRef(a, dy, { n, c, h, w });
        break;
      case 'lrn':
        dy = lrnBackwardRef(a, dy, {
          n,
          c,
          h,
          w,
          size: op.n,
          alpha: op.alpha,
          beta: op.beta,
          k: op.k,
        });
        break;
      case 'dropout':
        dy = dropoutRef(dy, masks.get(node.id)!, op.p);
        break;
      default:
        throw new Error(`trainStepRef: unexpected ${op.op}`);
    }
  }

  const newWeights = new Map<string, Float64Array>();
  const newMomenta = new Map<string, Float64Array>();
  for (const [name, g] of grads) {
    const wt = w64(name);
    const v = momenta ? Float64Array.from(momenta.get(name)!) : new Float64Array(wt.length);
    sgdStepRef(wt, g, v, hyper);
    newWeights.set(name, wt);
    newMomenta.set(name, v);
  }
  return {
    loss: head.loss.reduce((s, v) => s + v, 0) / n,
    correct: head.correct.reduce((s, v) => s + v, 0),
    weights: newWeights,
    momenta: newMomenta,
    grads,
  };
}

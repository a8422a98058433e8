/**
 * Scheduling of the training ops (compiler/ir.ts `TrainingOp`): which kernels each backward and
 * optimiser node becomes and what they bind, and the training layout of the parameters.
 *
 * Training layout: every parameter, its gradient and its momentum live in three flat buffers
 * ('params', 'grads', 'momenta') at the same offsets, each tensor starting on the adapter's
 * storage-offset alignment, so the layers bind their own tensor as a view (an offset into the
 * flat buffer) and the fused optimiser updates all of them in one pass over the flat range.
 * Small host-written or host-read tensors ('labels', 'loss', 'correct', the optimiser's
 * 'hyper' parameters and each dropout layer's seed block) have buffers of their own.
 */
import type { Shape, TypedNode } from './ir.js';
import type { NodeParams } from './params.js';
import {
  TRAIN_HOST,
  dropoutParams,
  gradName,
  momentumName,
  type FlatEntry,
  type PlanTensor,
} from './plan.js';
import {
  convBackwardDataKernels,
  convBackwardScratch,
  convBackwardWeightKernels,
} from './wgsl/conv-backward.js';
import { dropoutBackwardKernels, dropoutForwardKernels } from './wgsl/dropout.js';
import { fcBackwardDataKernels, fcBackwardWeightKernels } from './wgsl/fc-backward.js';
import type { Kernel, TargetInfo } from './wgsl/kernel.js';
import { lrnBackwardKernels } from './wgsl/lrn-backward.js';
import { maxpoolBackwardKernels } from './wgsl/maxpool-backward.js';
import { reluBackwardKernels } from './wgsl/relu-backward.js';
import { sgdKernels } from './wgsl/sgd.js';
import { softmaxXentKernels, xentGradKernels } from './wgsl/softmax-xent.js';
import { lcm } from './wgsl/template.js';

/** What the scheduler lends the training-op scheduling. */
export interface TrainContext {
  readonly n: number;
  readonly target: TargetInfo;
  /** Input node of `node`, by position. */
  input(node: TypedNode, i: number): TypedNode;
  /** Plan tensor name of a node's activation (or activation gradient). */
  act(id: number): string;
  /** Declares the activation tensor of `node` and returns its name. */
  activation(node: TypedNode): string;
  addTensor(t: PlanTensor): void;
  /** The parameters of the layer with module path `param`. */
  params(param: string): NodeParams;
}

export interface ScheduledNode {
  readonly kernels: Kernel[];
  readonly bind: Record<string, string>;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Kernels and bindings of one training op (or of a dropout layer's forward in training). */
export function scheduleTrainingNode(node: TypedNode, ctx: TrainContext): ScheduledNode {
  const { n, target } = ctx;
  const op = node.op;
  const host = (
    name: string,
    kind: PlanTensor['kind'],
    shape: number[],
    bytes = 4 * prod(shape),
  ) => {
    ctx.addTensor({ name, kind, shape, bytes });
    return name;
  };
  const head = () => {
    host(TRAIN_HOST.labels, 'host', [n]);
    host(TRAIN_HOST.loss, 'host', [n]);
    host(TRAIN_HOST.correct, 'host', [n]);
  };
  const paramsOf = () => {
    if (!node.param) throw new Error(`internal: ${op.op} node ${node.id} has no parameters`);
    return ctx.params(node.param);
  };
  const gradTensors = (p: NodeParams) => {
    for (const t of [p.weight, p.bias]) {
      ctx.addTensor({
        name: gradName(t.name),
        kind: 'grad',
        shape: t.shape,
        bytes: 4 * prod(t.shape),
      });
    }
    return { dw: gradName(p.weight.name), db: gradName(p.bias.name) };
  };
  const numel = (s: Shape) => s[0] * s[1] * s[2];

  switch (op.op) {
    case 'dropout': {
      const x = ctx.input(node, 0);
      const params = host(dropoutParams(node.id), 'host', [4]);
      const kernels = dropoutForwardKernels({ count: n * numel(x.out), p: op.p }, target);
      return { kernels, bind: { x: ctx.act(x.id), params, y: ctx.activation(node) } };
    }
    case 'softmax-xent':
    case 'xent-grad': {
      const x = ctx.input(node, 0);
      head();
      const spec = { n, classes: numel(x.out) };
      const kernels =
        op.op === 'softmax-xent' ? softmaxXentKernels(spec, target) : xentGradKernels(spec, target);
      const bind = {
        [op.op === 'softmax-xent' ? 'x' : 'p']: ctx.act(x.id),
        labels: TRAIN_HOST.labels,
        loss: TRAIN_HOST.loss,
        correct: TRAIN_HOST.correct,
        dx: ctx.activation(node),
      };
      return { kernels, bind };
    }
    case 'relu-grad': {
      const [m, dy] = [ctx.input(node, 0), ctx.input(node, 1)];
      const kernels = reluBackwardKernels({ count: n * numel(node.out) }, target);
      return { kernels, bind: { x: ctx.act(m.id), dy: ctx.act(dy.id), dx: ctx.activation(node) } };
    }
    case 'maxpool-grad':
    case 'lrn-grad': {
      const [x, dy] = [ctx.input(node, 0), ctx.input(node, 1)];
      const [c, h, w] = x.out;
      const kernels =
        op.op === 'maxpool-grad'
          ? maxpoolBackwardKernels({ n, c, h, w }, target)
          : lrnBackwardKernels(
              { n, c, h, w, size: op.n, alpha: op.alpha, beta: op.beta, k: op.k },
              target,
            );
      return { kernels, bind: { x: ctx.act(x.id), dy: ctx.act(dy.id), dx: ctx.activation(node) } };
    }
    case 'dropout-grad': {
      const dy = ctx.input(node, 0);
      const kernels = dropoutBackwardKernels({ count: n * numel(node.out), p: op.p }, target);
      const params = host(dropoutParams(op.stream), 'host', [4]);
      return { kernels, bind: { dy: ctx.act(dy.id), params, dx: ctx.activation(node) } };
    }
    case 'conv-grad-data':
    case 'fc-grad-data': {
      const dy = ctx.input(node, 0);
      const p = paramsOf();
      const [cin, h, w] = node.out;
      const bind: Record<string, string> = {
        dy: ctx.act(dy.id),
        w: p.weight.name,
        dx: ctx.activation(node),
      };
      if (op.mask) bind.mask_src = ctx.act(ctx.input(node, 1).id);
      let kernels: Kernel[];
      if (op.op === 'conv-grad-data') {
        const spec = convSpec(n, cin, h, w, dy.out[0], op.kernel, op.pad);
        kernels = convBackwardDataKernels({ ...spec, mask: op.mask }, target);
      } else {
        const spec = { n, inFeatures: cin * h * w, outFeatures: dy.out[0], relu: false };
        kernels = fcBackwardDataKernels({ ...spec, mask: op.mask }, target);
      }
      return { kernels, bind };
    }
    case 'conv-grad-weight':
    case 'fc-grad-weight': {
      const [x, dy] = [ctx.input(node, 0), ctx.input(node, 1)];
      const p = paramsOf();
      const bind: Record<string, string> = {
        x: ctx.act(x.id),
        dy: ctx.act(dy.id),
        ...gradTensors(p),
      };
      const [cin, h, w] = x.out;
      let kernels: Kernel[];
      if (op.op === 'conv-grad-weight') {
        const spec = convSpec(n, cin, h, w, dy.out[0], op.kernel, op.pad);
        kernels = convBackwardWeightKernels(spec, target);
        for (const s of convBackwardScratch(spec, target)) {
          const name = `scratch${node.id}.${s.tensor}`;
          ctx.addTensor({ name, kind: 'scratch', shape: [s.bytes / 4], bytes: s.bytes });
          bind[s.tensor] = name;
        }
      } else {
        const spec = { n, inFeatures: cin * h * w, outFeatures: dy.out[0], relu: false };
        kernels = fcBackwardWeightKernels(spec, target);
      }
      return { kernels, bind };
    }
    case 'sgd':
      throw new Error('internal: the optimiser is scheduled by scheduleOptimizer');
    default:
      throw new Error(`internal: '${op.op}' is not a training op`);
  }
}

function convSpec(
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  kernel: number,
  pad: number,
) {
  if ((kernel !== 1 && kernel !== 3) || 2 * pad !== kernel - 1) {
    throw new Error(`internal: no backward kernel for a ${kernel}x${kernel} conv, pad ${pad}`);
  }
  return { n, cin, h, w, cout, kernel: kernel as 1 | 3, pad, relu: false };
}

/** Places the parameters of `params` (in order) in the flat buffers. */
export function flatLayout(
  params: readonly { name: string; bytes: number }[],
  target: TargetInfo,
): FlatEntry[] {
  const align = lcm(target.minStorageBufferOffsetAlignment, 256);
  let offset = 0;
  return params.map((p) => {
    const e = { name: p.name, offsetBytes: offset, bytes: p.bytes };
    offset = Math.ceil((offset + p.bytes) / align) * align;
    return e;
  });
}

/**
 * The optimiser node: per parameter tensor one SGD dispatch over its view (unfused), or one pass
 * over the whole flat range when the node covers every parameter (the `sgd-one-dispatch` fusion).
 */
export function scheduleOptimizer(
  node: TypedNode,
  ctx: TrainContext,
  all: readonly string[],
  entries: readonly FlatEntry[],
): { kernels: Kernel[]; bind: Record<string, string> }[] {
  if (node.op.op !== 'sgd') throw new Error('internal: not an optimiser node');
  ctx.addTensor({ name: TRAIN_HOST.hyper, kind: 'host', shape: [4], bytes: 16 });
  const covered = node.op.params;
  if (covered.length === all.length && covered.length > 1) {
    const end = entries.at(-1)!;
    const count = (end.offsetBytes + end.bytes) / 4;
    return [
      {
        kernels: sgdKernels({ count }, ctx.target),
        bind: { w: 'params', g: 'grads', v: 'momenta', hyper: TRAIN_HOST.hyper },
      },
    ];
  }
  return covered.flatMap((param) => {
    const p = ctx.params(param);
    return [p.weight, p.bias].map((t) => ({
      kernels: sgdKernels({ count: prod(t.shape) }, ctx.target),
      bind: {
        w: t.name,
        g: gradName(t.name),
        v: momentumName(t.name),
        hyper: TRAIN_HOST.hyper,
      },
    }));
  });
}

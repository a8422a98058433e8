/**
 * Lowering rules of the training ops (compiler/ir.ts `TrainingOp`; compiler/lowering/rule.ts):
 * the loss head, the backward of every forward op, and the SGD optimiser over the training
 * layout (compiler/schedule.ts: parameters, gradients and momenta as views into three flat
 * buffers, so the fused optimiser updates all of them in one pass over the flat range).
 */
import type { TrainingOp } from '../ir.js';
import { TRAIN_HOST, gradName, momentumName } from '../plan.js';
import {
  convBackwardDataKernels,
  convBackwardScratch,
  convBackwardWeightKernels,
} from '../wgsl/conv-backward.js';
import { dropoutBackwardKernels } from '../wgsl/dropout.js';
import { fcBackwardDataKernels, fcBackwardWeightKernels } from '../wgsl/fc-backward.js';
import { gemmFcBackwardDataKernels, gemmFcBackwardWeightKernels } from '../wgsl/gemm.js';
import type { Kernel } from '../wgsl/kernel.js';
import { lrnBackwardKernels } from '../wgsl/lrn-backward.js';
import { maxpoolBackwardKernels } from '../wgsl/maxpool-backward.js';
import { reluBackwardKernels } from '../wgsl/relu-backward.js';
import { sgdKernels } from '../wgsl/sgd.js';
import { softmaxXentKernels, xentGradKernels } from '../wgsl/softmax-xent.js';
import { winogradBackwardDataKernels, winogradScratch } from '../wgsl/winograd.js';
import { fcLayer, prod, type LowerContext, type Lowered, type Rules } from './rule.js';
import { winogradM, winogradOrDirect } from './winograd.js';

/** The loss head: soft-max + cross-entropy (fused) or its gradient from the soft-max output. */
const lossHead =
  (role: 'x' | 'p', kernels: typeof xentGradKernels) =>
  (ctx: LowerContext): Lowered => {
    const x = ctx.input(0);
    for (const t of [TRAIN_HOST.labels, TRAIN_HOST.loss, TRAIN_HOST.correct]) {
      ctx.tensor(t, 'host', [ctx.n]);
    }
    const { labels, loss, correct } = TRAIN_HOST;
    return {
      kernels: kernels({ n: ctx.n, classes: prod(x.out) }, ctx.target),
      bind: { [role]: ctx.act(x.id), labels, loss, correct, dx: ctx.out() },
    };
  };

/** The backward of a windowed op: reads its input x and the gradient dy. */
const windowGrad =
  (kernels: (ctx: LowerContext, c: number, h: number, w: number) => Kernel[]) =>
  (ctx: LowerContext): Lowered => {
    const [x, dy] = [ctx.input(0), ctx.input(1)];
    return {
      kernels: kernels(ctx, ...x.out),
      bind: { x: ctx.act(x.id), dy: ctx.act(dy.id), dx: ctx.out() },
    };
  };

/** The backward kernels of a 'same' 1x1 or 3x3 conv with input `cin` x h x w. */
function convSpec(ctx: LowerContext, cin: number, h: number, w: number, cout: number) {
  const op = ctx.node.op as Extract<TrainingOp, { op: 'conv-grad-data' | 'conv-grad-weight' }>;
  const { kernel, pad } = op;
  if ((kernel !== 1 && kernel !== 3) || 2 * pad !== kernel - 1) {
    throw new Error(`internal: no backward kernel for a ${kernel}x${kernel} conv, pad ${pad}`);
  }
  return { n: ctx.n, cin, h, w, cout, kernel: kernel as 1 | 3, pad, relu: false };
}

/** The backward to the data of a conv or FC: dx from dy and the weight, masked when fused. */
const gradData = (ctx: LowerContext<Extract<TrainingOp, { mask: boolean }>>): Lowered => {
  const { n, target, node } = ctx;
  const dy = ctx.input(0);
  const [cin, h, w] = node.out;
  const bind: Record<string, string> = {
    dy: ctx.act(dy.id),
    w: ctx.params().weight.name,
    dx: ctx.out(),
  };
  if (node.op.mask) bind.mask_src = ctx.act(ctx.input(1).id);
  if (node.op.op === 'conv-grad-data' && node.op.kernel === 3) {
    const spec = { ...convSpec(ctx, cin, h, w, dy.out[0]), mask: node.op.mask };
    const layer = { op: 'conv-grad-data', n, cin, cout: dy.out[0], h, w, kernel: 3, pad: 1 };
    const chosen = winogradOrDirect(ctx.choose(layer), layer, target);
    const m = winogradM(chosen.algorithm);
    const kernels = m
      ? winogradBackwardDataKernels({ ...spec, m }, target, chosen.tuning)
      : convBackwardDataKernels(spec, target, chosen.tuning);
    if (m) Object.assign(bind, ctx.scratch(winogradScratch(spec, m, target, chosen.tuning, true)));
    return { kernels, bind, algorithm: chosen };
  }
  if (node.op.op === 'conv-grad-data') {
    const spec = { ...convSpec(ctx, cin, h, w, dy.out[0]), mask: node.op.mask };
    return { kernels: convBackwardDataKernels(spec, target), bind };
  }
  const spec = {
    n,
    inFeatures: cin * h * w,
    outFeatures: dy.out[0],
    relu: false,
    mask: node.op.mask,
  };
  const algorithm = ctx.choose(fcLayer('fc-grad-data', n, spec.inFeatures, spec.outFeatures));
  const kernels =
    algorithm.algorithm === 'gemm'
      ? gemmFcBackwardDataKernels(spec, target, algorithm.tuning)
      : fcBackwardDataKernels(spec, target);
  return { kernels, bind, algorithm };
};

/** The weight and bias gradients of a conv or FC from its input x and dy. */
const gradWeight = (ctx: LowerContext): Lowered => {
  const [x, dy] = [ctx.input(0), ctx.input(1)];
  const bind: Record<string, string> = { x: ctx.act(x.id), dy: ctx.act(dy.id), ...ctx.grads() };
  const [cin, h, w] = x.out;
  if (ctx.node.op.op === 'conv-grad-weight') {
    const spec = convSpec(ctx, cin, h, w, dy.out[0]);
    const kernels = convBackwardWeightKernels(spec, ctx.target);
    return { kernels, bind: { ...bind, ...ctx.scratch(convBackwardScratch(spec, ctx.target)) } };
  }
  const spec = { n: ctx.n, inFeatures: cin * h * w, outFeatures: dy.out[0], relu: false };
  const algorithm = ctx.choose(fcLayer('fc-grad-weight', ctx.n, spec.inFeatures, spec.outFeatures));
  const kernels =
    algorithm.algorithm === 'gemm'
      ? gemmFcBackwardWeightKernels(spec, ctx.target, algorithm.tuning)
      : fcBackwardWeightKernels(spec, ctx.target);
  return { kernels, bind, algorithm };
};

export const trainingRules: Rules<TrainingOp['op']> = {
  'softmax-xent': lossHead('x', softmaxXentKernels),
  'xent-grad': lossHead('p', xentGradKernels),
  'relu-grad': (ctx) => {
    const [m, dy] = [ctx.input(0), ctx.input(1)];
    const kernels = reluBackwardKernels({ count: ctx.n * prod(ctx.node.out) }, ctx.target);
    return { kernels, bind: { x: ctx.act(m.id), dy: ctx.act(dy.id), dx: ctx.out() } };
  },
  'maxpool-grad': windowGrad((ctx, c, h, w) =>
    maxpoolBackwardKernels({ n: ctx.n, c, h, w }, ctx.target),
  ),
  'lrn-grad': windowGrad((ctx, c, h, w) => {
    const { n: size, alpha, beta, k } = ctx.node.op as Extract<TrainingOp, { op: 'lrn-grad' }>;
    return lrnBackwardKernels({ n: ctx.n, c, h, w, size, alpha, beta, k }, ctx.target);
  }),
  'dropout-grad': (ctx) => {
    const { p, stream } = ctx.node.op;
    const dy = ctx.input(0);
    const kernels = dropoutBackwardKernels({ count: ctx.n * prod(ctx.node.out), p }, ctx.target);
    return { kernels, bind: { dy: ctx.act(dy.id), params: ctx.seed(stream), dx: ctx.out() } };
  },
  'conv-grad-data': gradData,
  'fc-grad-data': gradData,
  'conv-grad-weight': gradWeight,
  'fc-grad-weight': gradWeight,
  // Per parameter tensor one SGD dispatch over its view (unfused), or one pass over the whole
  // flat range when the node covers every parameter (the `sgd-one-dispatch` fusion).
  sgd: (ctx) => {
    const hyper = ctx.tensor(TRAIN_HOST.hyper, 'host', [4], 16);
    const covered = ctx.node.op.params;
    if (covered.length === ctx.allParams.length && covered.length > 1) {
      const end = ctx.flat.at(-1)!;
      const count = (end.offsetBytes + end.bytes) / 4;
      const kernels = sgdKernels({ count }, ctx.target);
      return [{ kernels, bind: { w: 'params', g: 'grads', v: 'momenta', hyper } }];
    }
    return covered.flatMap((param) => {
      const p = ctx.params(param);
      return [p.weight, p.bias].map((t) => ({
        kernels: sgdKernels({ count: prod(t.shape) }, ctx.target),
        bind: { w: t.name, g: gradName(t.name), v: momentumName(t.name), hyper },
      }));
    });
  },
};

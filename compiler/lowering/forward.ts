/**
 * Lowering rules of the forward ops (compiler/lowering/rule.ts): conv (the fast 'same' kernel,
 * or conv-valid for other sizes and FC-like convs), FC, ReLU, max pool, LRN, soft-max, and
 * dropout, which only a training plan runs (inference removes it first).
 */
import type { AlgorithmChoice } from '../algorithms.js';
import type { ForwardOp } from '../ir.js';
import { convKernels, convScratch } from '../wgsl/conv.js';
import { convValidKernels } from '../wgsl/conv-valid.js';
import { dropoutForwardKernels } from '../wgsl/dropout.js';
import { fcKernels } from '../wgsl/fc.js';
import { gemmConv1x1Kernels, gemmFcKernels } from '../wgsl/gemm.js';
import type { Kernel } from '../wgsl/kernel.js';
import { lrnKernels } from '../wgsl/lrn.js';
import { maxpoolKernels } from '../wgsl/maxpool.js';
import { reluKernels } from '../wgsl/relu.js';
import { softmaxKernels } from '../wgsl/softmax.js';
import { winogradKernels, winogradScratch } from '../wgsl/winograd.js';
import { fcLayer, prod, type LowerContext, type Lowered, type Rules } from './rule.js';
import { winogradM, winogradOrDirect } from './winograd.js';

/** The input `x` and output `y` of a one-input op, and the input's shape. */
const io = (ctx: LowerContext) => {
  const src = ctx.input(0);
  return { bind: { x: ctx.act(src.id), y: ctx.out() }, shape: src.out };
};
/** An op whose kernels depend only on its input shape. */
const simple =
  (kernels: (ctx: LowerContext, c: number, h: number, w: number) => Kernel[]) =>
  (ctx: LowerContext): Lowered => {
    const { bind, shape } = io(ctx);
    return { kernels: kernels(ctx, ...shape), bind };
  };

export const forwardRules: Rules<ForwardOp['op']> = {
  input: (ctx) => (ctx.out(), []),
  conv: (ctx) => {
    const { n, target, node } = ctx;
    const op = node.op;
    const { bind, shape } = io(ctx);
    const b: Record<string, string> = bind;
    const [c, h, w] = shape;
    if (op.epilogue.some((s) => s.kind === 'dropout')) {
      throw new Error(`internal: conv node ${node.id} has a dropout epilogue`);
    }
    const relu = op.epilogue.some((s) => s.kind === 'relu');
    // 'same' 3x3/1x1 convs take the fast kernel; other sizes (the FC-to-conv rewrite's k x k,
    // padding 0) and a pad-0 conv whose output is 1x1 (exactly an FC) take conv-valid.
    const same = (op.kernel === 1 || op.kernel === 3) && 2 * op.pad === op.kernel - 1;
    const kw = op.kernelW ?? op.kernel;
    const fcLike = op.pad === 0 && h === op.kernel && w === kw;
    // A fused 2x2 max pool (conv-relu-pool): node.out is already the pooled shape.
    const pool = op.epilogue.some((s) => s.kind === 'maxpool');
    let kernels: Kernel[];
    let algorithm: AlgorithmChoice | undefined;
    if (!same || fcLike || kw !== op.kernel) {
      if (op.pad !== 0) {
        throw new Error(`internal: no kernel for a ${op.kernel}x${op.kernel} conv, pad ${op.pad}`);
      }
      kernels = convValidKernels(
        { n, cin: c, h, w, cout: op.cout, kernel: op.kernel, kernelW: kw, relu },
        target,
      );
      if (pool) {
        // conv-valid has no pooling epilogue: the conv writes the pre-pool tensor and the
        // maxpool kernel reads it (two dispatches, as unfused, for this rare node).
        const [ph, pw] = [h - op.kernel + 1, w - kw + 1];
        b.prepool = ctx.tensor(`act${node.id}.prepool`, 'activation', [n, op.cout, ph, pw]);
        const rename = (k: Kernel, from: string): Kernel => ({
          ...k,
          bindings: k.bindings.map((x) => (x.tensor === from ? { ...x, tensor: 'prepool' } : x)),
        });
        kernels = [
          ...kernels.map((k) => rename(k, 'y')),
          ...maxpoolKernels({ n, c: op.cout, h: ph, w: pw }, target).map((k) => rename(k, 'x')),
        ];
      }
    } else {
      const spec = {
        n,
        cin: c,
        h,
        w,
        cout: op.cout,
        kernel: op.kernel as 1 | 3,
        pad: op.pad,
        relu,
        pool,
      };
      if (op.kernel === 3) {
        const layer = { op: 'conv', n, cin: c, cout: op.cout, h, w, kernel: 3, pad: 1, pool };
        const chosen = winogradOrDirect(ctx.choose(layer), layer, target);
        const m = winogradM(chosen.algorithm);
        const tuning = chosen.tuning ?? {};
        kernels = m
          ? winogradKernels({ ...spec, m }, target, tuning)
          : convKernels(spec, target, tuning);
        Object.assign(
          b,
          ctx.scratch(
            m ? winogradScratch(spec, m, target, tuning) : convScratch(spec, target, tuning),
          ),
        );
        return { kernels, bind: { ...b, ...ctx.weights() }, algorithm: chosen };
      }
      if (op.kernel === 1) {
        // A 1x1 conv is a matrix product per sample: the direct kernel or the GEMM.
        algorithm = ctx.choose({
          op: 'conv',
          n,
          cin: c,
          cout: op.cout,
          h,
          w,
          kernel: 1,
          pad: 0,
          pool,
        });
      }
      if (algorithm?.algorithm === 'gemm') {
        kernels = gemmConv1x1Kernels(spec, target, algorithm.tuning);
      } else {
        const tuning = algorithm?.tuning ?? {};
        kernels = convKernels(spec, target, tuning);
        Object.assign(b, ctx.scratch(convScratch(spec, target, tuning)));
      }
    }
    return { kernels, bind: { ...b, ...ctx.weights() }, ...(algorithm ? { algorithm } : {}) };
  },
  fc: (ctx) => {
    const { n, target, node } = ctx;
    const op = node.op;
    const { bind, shape } = io(ctx);
    // A fused dropout (fc-dropout, training only) binds its layer's seed block, the one its
    // dropout-grad reads, and the runtime writes it each step like a dropout node's.
    const drop = op.epilogue.find((s) => s.kind === 'dropout');
    if (drop && !ctx.training) {
      throw new Error(`internal: FC node ${node.id} has a dropout epilogue in inference`);
    }
    const relu = op.epilogue.some((s) => s.kind === 'relu');
    const spec = { n, inFeatures: prod(shape), outFeatures: op.units, relu };
    const seed: Record<string, string> = drop ? { params: ctx.seed(drop.stream) } : {};
    const algorithm = ctx.choose(fcLayer('fc', n, spec.inFeatures, spec.outFeatures));
    const full = drop ? { ...spec, dropout: { p: drop.p } } : spec;
    const kernels =
      algorithm.algorithm === 'gemm'
        ? gemmFcKernels(full, target, algorithm.tuning)
        : fcKernels(full, target);
    return { kernels, bind: { ...bind, ...seed, ...ctx.weights() }, algorithm };
  },
  relu: simple((ctx, c, h, w) => reluKernels({ count: ctx.n * c * h * w }, ctx.target)),
  maxpool: simple((ctx, c, h, w) => maxpoolKernels({ n: ctx.n, c, h, w }, ctx.target)),
  lrn: simple((ctx, c, h, w) => {
    const { n: size, alpha, beta, k } = ctx.node.op as Extract<ForwardOp, { op: 'lrn' }>;
    return lrnKernels({ n: ctx.n, c, h, w, size, alpha, beta, k }, ctx.target);
  }),
  softmax: simple((ctx, c, h, w) => softmaxKernels({ n: ctx.n, classes: c * h * w }, ctx.target)),
  dropout: (ctx) => {
    if (!ctx.training) {
      throw new Error('internal: dropout reached the scheduler (run the inference passes first)');
    }
    const x = ctx.input(0);
    const params = ctx.seed(ctx.node.id);
    const kernels = dropoutForwardKernels(
      { count: ctx.n * prod(x.out), p: ctx.node.op.p },
      ctx.target,
    );
    return { kernels, bind: { x: ctx.act(x.id), params, y: ctx.out() } };
  },
};

/**
 * Fused soft-max + cross-entropy, forward and backward in one kernel (the training head):
 *
 *   p[n, i]     = exp(x[n, i] - m_n) / S_n,   m_n = max_i x[n, i],   S_n = sum_i exp(x[n, i] - m_n)
 *   loss[n]     = -log p[n, label_n] = log S_n + m_n - x[n, label_n]      (per sample; the trainer
 *                 averages over the batch, PyTorch's default reduction 'mean')
 *   dx[n, i]    = (p[n, i] - [i == label_n]) / N                         (gradient of the mean loss)
 *   correct[n]  = 1.0 when argmax_i x[n, i] == label_n (first max wins ties), else 0.0
 *
 * Labels are i32 class indices in [0, classes) (no ignore_index; an out-of-range label is clamped
 * for the load, so its loss is meaningless, and its `correct` is 0).
 *
 * As compiler/wgsl/softmax.ts: one workgroup per sample; each lane keeps a running
 * (max, sum of exp(x - max), first index of the max) over a strided slice of the classes
 * ("online soft-max"), a tree reduction in workgroup memory combines them (ties between lanes go
 * to the smaller index), a second pass writes dx. Two reads of x and one write per element.
 */
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import { foldGrid, requirePositiveIntegers, treeWorkgroupSize, uniformStruct } from './template.js';

export interface SoftmaxXentSpec {
  /** Batch size N (dx is divided by it). */
  readonly n: number;
  /** Classes per sample. */
  readonly classes: number;
}

/** The training head's bindings: its input ('x' logits or 'p' posteriors), labels, outputs. */
const headBindings = (input: 'x' | 'p'): KernelBinding[] => [
  { binding: 0, tensor: input, access: 'read' },
  { binding: 1, tensor: 'labels', access: 'read' },
  { binding: 2, tensor: 'loss', access: 'read_write' },
  { binding: 3, tensor: 'dx', access: 'read_write' },
  { binding: 4, tensor: 'correct', access: 'read_write' },
];

export function softmaxXentKernels(spec: SoftmaxXentSpec, target: TargetInfo): Kernel[] {
  const { n, classes } = spec;
  requirePositiveIntegers('softmax-xent', { n, classes });
  const wg = treeWorkgroupSize(classes, target);
  const [gx, gy] = foldGrid(n, target.maxComputeWorkgroupsPerDimension);
  const name = `softmax_xent_${classes}_n${n}`;
  const dims = uniformStruct(5, { n });
  const code = `// softmax_xent_${classes}: soft-max + cross-entropy, forward and backward fused.
//   loss[n] = log(sum_i exp(x[n, i] - m)) + m - x[n, label[n]]      (m = max_i x[n, i])
//   dx[n, i] = (softmax(x[n])[i] - (i == label[n])) / N             (gradient of the batch mean)
//   correct[n] = 1.0 if argmax_i x[n, i] == label[n] (first max wins), else 0.0
//   x, dx: [N, ${classes}] (f32)   label: [N] (i32)   loss, correct: [N] (f32); the batch N is
//   read at run time (dims.n).
//   One workgroup of ${wg} invocations per sample (the grid folded into 2-D): running
//   (max, sum, argmax) per lane over a strided slice, a tree reduction in workgroup memory,
//   then a pass that writes dx.

${dims.wgsl}

const CLASSES: u32 = ${classes}u;
const WG: u32 = ${wg}u;
// The most negative f32, an empty slice's max (finite: combining two empty slices gives 0, not NaN).
const LOWEST: f32 = -0x1.fffffep+127f;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> correct: array<f32>;

var<workgroup> wg_max: array<f32, ${wg}>;
var<workgroup> wg_sum: array<f32, ${wg}>;
var<workgroup> wg_arg: array<u32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let sn = wid.x + wid.y * nwg.x;
  if (sn >= dims.n) { return; } // whole workgroups only: barriers stay in uniform control flow
  let row = sn * CLASSES;

  // Pass 1: running max, sum of exp(x - max) and the first index of the max over this slice.
  var m = LOWEST;
  var s = 0.0;
  var arg = 0xffffffffu; // empty slice: loses every tie
  for (var i = lid; i < CLASSES; i += WG) {
    let v = x[row + i];
    if (i == lid || v > m) { arg = i; } // strict: a later equal value does not replace the first
    let m2 = max(m, v);
    s = s * exp(m - m2) + exp(v - m2);
    m = m2;
  }
  wg_max[lid] = m;
  wg_sum[lid] = s;
  wg_arg[lid] = arg;
  workgroupBarrier();

  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let ma = wg_max[lid];
      let mb = wg_max[lid + stride];
      let ia = wg_arg[lid];
      let ib = wg_arg[lid + stride];
      let mm = max(ma, mb);
      wg_sum[lid] = wg_sum[lid] * exp(ma - mm) + wg_sum[lid + stride] * exp(mb - mm);
      wg_max[lid] = mm;
      wg_arg[lid] = select(ia, ib, mb > ma || (mb == ma && ib < ia));
    }
    workgroupBarrier();
  }
  let total_max = wg_max[0];
  let sum = wg_sum[0];
  let inv_sum = 1.0 / sum;
  let label = labels[sn];
  let valid = label >= 0 && label < i32(CLASSES);
  let lab = u32(clamp(label, 0, i32(CLASSES) - 1));

  if (lid == 0u) {
    loss[sn] = log(sum) + (total_max - x[row + lab]);
    correct[sn] = select(0.0, 1.0, valid && wg_arg[0] == lab);
  }
  // Pass 2: dx = (p - onehot) / N.
  let inv_n = 1.0 / f32(dims.n);
  for (var i = lid; i < CLASSES; i += WG) {
    let p = exp(x[row + i] - total_max) * inv_sum;
    dx[row + i] = (p - select(0.0, 1.0, i == lab)) * inv_n;
  }
}
`;
  return [
    {
      name,
      code,
      entryPoint: 'main',
      workgroupSize: [wg, 1, 1],
      dispatch: [gx, gy, 1],
      bindings: headBindings('x'),
      uniforms: dims.uniforms,
      // Per element: running max/sum (~6), the second exp, product, subtraction and scale (~5).
      flops: 11 * n * classes,
      bytes: f32Bytes(3 * n * classes + 3 * n),
    },
  ];
}

/**
 * The cross-entropy head WITHOUT the soft-max fused in (`--no-fuse`): reads the posteriors p that
 * the soft-max kernel wrote and computes, with the same rules as the fused kernel,
 *
 *   loss[n] = -log p[n, label_n],   dx[n, i] = (p[n, i] - [i == label_n]) / N,
 *   correct[n] = 1.0 when argmax_i p[n, i] == label_n (first max wins ties).
 *
 * One invocation per sample walks its classes: the head is a tiny part of a training step.
 * Bindings 'p', 'labels', 'loss', 'dx', 'correct'.
 */
export function xentGradKernels(spec: SoftmaxXentSpec, target: TargetInfo): Kernel[] {
  const { n, classes } = spec;
  requirePositiveIntegers('xent-grad', { n, classes });
  const wg = 64;
  const [gx, gy] = foldGrid(Math.ceil(n / wg), target.maxComputeWorkgroupsPerDimension);
  const name = `xent_grad_${classes}_n${n}`;
  const dims = uniformStruct(5, { n });
  const code = `// xent_grad_${classes}: cross-entropy forward and backward from soft-max posteriors p.
//   loss[n] = -log(p[n, label[n]]);  dx[n, i] = (p[n, i] - (i == label[n])) / N
//   correct[n] = 1.0 if argmax_i p[n, i] == label[n] (first max wins), else 0.0
//   p, dx: [N, ${classes}] (f32)   label: [N] (i32)   loss, correct: [N] (f32); the batch N is
//   read at run time (dims.n). One invocation per sample, in workgroups of ${wg}.

${dims.wgsl}

const CLASSES: u32 = ${classes}u;

@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> correct: array<f32>;

@compute @workgroup_size(${wg})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let sn = (wid.x + wid.y * nwg.x) * ${wg}u + lid;
  if (sn >= dims.n) { return; }
  let inv_n = 1.0 / f32(dims.n);
  let row = sn * CLASSES;
  let label = labels[sn];
  let valid = label >= 0 && label < i32(CLASSES);
  let lab = u32(clamp(label, 0, i32(CLASSES) - 1));
  var best = p[row];
  var arg = 0u;
  for (var i = 0u; i < CLASSES; i++) {
    let v = p[row + i];
    if (v > best) { best = v; arg = i; }
    dx[row + i] = (v - select(0.0, 1.0, i == lab)) * inv_n;
  }
  loss[sn] = -log(p[row + lab]);
  correct[sn] = select(0.0, 1.0, valid && arg == lab);
}
`;
  return [
    {
      name,
      code,
      entryPoint: 'main',
      workgroupSize: [wg, 1, 1],
      dispatch: [gx, gy, 1],
      bindings: headBindings('p'),
      uniforms: dims.uniforms,
      flops: 3 * n * classes,
      bytes: f32Bytes(2 * n * classes + 3 * n),
    },
  ];
}

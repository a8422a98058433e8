/**
 * Soft-max over the class dimension, per sample, numerically stable:
 *   y[n, i] = exp(x[n, i] - m) / sum_j exp(x[n, j] - m),   m = max_j x[n, j].
 *
 * One workgroup per sample. Each invocation walks a strided slice of the classes once, keeping a
 * running (max, sum of exp(x - max)) pair ("online soft-max": the sum is rescaled by
 * exp(old max - new max) whenever the max grows); the pairs are combined by a tree reduction in
 * workgroup memory; a second pass writes the outputs. Two reads and one write per element.
 * The batch and the grid width are read at run time from the uniform struct `dims`
 * (Kernel.uniforms), so every batch shares one pipeline; the class count is a constant.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import { foldGrid, requirePositiveIntegers, treeWorkgroupSize, uniformStruct } from './template.js';

export interface SoftmaxSpec {
  /** Batch size. */
  readonly n: number;
  /** Classes per sample. */
  readonly classes: number;
}

export function softmaxKernels(spec: SoftmaxSpec, target: TargetInfo): Kernel[] {
  const { n, classes } = spec;
  requirePositiveIntegers('softmax', { n, classes });
  const wg = treeWorkgroupSize(classes, target);
  const [gx, gy] = foldGrid(n, target.maxComputeWorkgroupsPerDimension);
  const name = `softmax_${classes}_n${n}`;
  const dims = uniformStruct(2, { n, gx });
  const code = `// softmax_${classes}: numerically stable soft-max over the classes of each sample.
//   y[n, i] = exp(x[n, i] - max_j x[n, j]) / sum_j exp(x[n, j] - max_j x[n, j])
//   x, y: [N, ${classes}] (f32); N is read at run time from 'dims'
//   One workgroup of ${wg} invocations per sample; each keeps a running (max, sum) over a strided
//   slice of the classes, a tree reduction in workgroup memory combines them, a second pass writes.
//   Dispatch (gx, gy, 1), gx * gy >= N.

const CLASSES: u32 = ${classes}u;
const WG: u32 = ${wg}u;
// The most negative f32: an empty slice's max. Finite, so that combining two empty slices gives
// exp(0) * 0 = 0 rather than exp(-inf + inf) = NaN.
const LOWEST: f32 = -0x1.fffffep+127f;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

// Run-time sizes: the batch n, gx workgroups along x (the grid is folded into 2-D).
${dims.wgsl}

var<workgroup> wg_max: array<f32, ${wg}>;
var<workgroup> wg_sum: array<f32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let sn = wid.x + wid.y * dims.gx;
  if (sn >= dims.n) { return; } // whole workgroups only: barriers stay in uniform control flow
  let row = sn * CLASSES;

  // Pass 1: running max and sum of exp(x - max) over this invocation's slice.
  var m = LOWEST;
  var s = 0.0;
  for (var i = lid; i < CLASSES; i += WG) {
    let v = x[row + i];
    let m2 = max(m, v);
    s = s * exp(m - m2) + exp(v - m2);
    m = m2;
  }
  wg_max[lid] = m;
  wg_sum[lid] = s;
  workgroupBarrier();

  // Tree reduction of the (max, sum) pairs.
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let ma = wg_max[lid];
      let mb = wg_max[lid + stride];
      let mm = max(ma, mb);
      wg_sum[lid] = wg_sum[lid] * exp(ma - mm) + wg_sum[lid + stride] * exp(mb - mm);
      wg_max[lid] = mm;
    }
    workgroupBarrier();
  }
  let total_max = wg_max[0];
  let inv_sum = 1.0 / wg_sum[0];

  // Pass 2: normalised outputs.
  for (var i = lid; i < CLASSES; i += WG) {
    y[row + i] = exp(x[row + i] - total_max) * inv_sum;
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
      bindings: [
        { binding: 0, tensor: 'x', access: 'read' },
        { binding: 1, tensor: 'y', access: 'read_write' },
      ],
      // Per element: the running max and rescaled sum (~6), the output exp and product (~3).
      flops: 9 * n * classes,
      bytes: f32Bytes(2 * n * classes),
      uniforms: dims.uniforms,
    },
  ];
}

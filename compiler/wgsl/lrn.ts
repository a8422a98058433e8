/**
 * Local response normalisation across channels, AlexNet style, as the VGG paper writes it:
 *
 *   b[i] = a[i] / (k + alpha * sum_{j = max(0, i - size/2)}^{min(C - 1, i + size/2)} a[j]^2)^beta
 *
 * with size/2 rounded down. This is the paper's formula: `alpha` multiplies the sum directly,
 * where PyTorch's nn.LocalResponseNorm multiplies by alpha / size (to match PyTorch for an odd
 * size, pass alpha = alpha_torch / size). For an even `size` the window is size + 1 channels
 * wide (the formula taken literally; PyTorch's would be size channels); AlexNet and VGG use 5.
 *
 * Design (loads set the speed on lavapipe): each invocation owns one pixel position (4 adjacent
 * positions as a vec4 when H * W is a multiple of 4) of one sample and walks the channels once,
 * keeping the last `2 * (size/2) + 1` channel values in registers. The channel loop is unrolled by
 * that window length so that every register has a fixed role in each unrolled step (a ring buffer
 * with static indices): every input element is loaded once and every output stored once, and the
 * sum of squares is recomputed from the registers each step (no running sum, so no cancellation).
 *
 * The channel count and the window are WGSL constants; the plane size, the invocation count and
 * the grid width are read at run time from the uniform struct `dims` (Kernel.uniforms), so one
 * pipeline serves every image size and batch (whether H * W % 4 == 0 stays a code switch).
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import {
  f32Literal,
  invocationGrid,
  invocationMain,
  range,
  requirePositiveIntegers,
  uniformStruct,
  vectorOf,
} from './template.js';

export interface LrnSpec {
  /** Batch size. */
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  /** Channels in the window (the paper's n); AlexNet/VGG use 5. */
  readonly size: number;
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;
}

const WORKGROUP = 64;

export function lrnKernels(spec: LrnSpec, target: TargetInfo): Kernel[] {
  const { n, c, h, w, size, alpha, beta, k } = spec;
  requirePositiveIntegers('lrn', { n, c, h, w, size });
  if (!(k > 0)) throw new Error('lrn: k must be positive (the base of the power must not be 0)');
  if (!(alpha >= 0)) throw new Error('lrn: alpha must be non-negative');
  const half = Math.floor(size / 2);
  const L = 2 * half + 1; // channels in the window, and registers in the ring
  const plane = h * w;
  const { V, T } = vectorOf(plane);
  const P = plane / V; // elements of type T per channel plane
  const invocations = n * P;
  const [gx, gy] = invocationGrid(invocations, WORKGROUP, target);
  const steps = Math.ceil(c / L); // iterations of the unrolled channel loop
  const ring = range(L);
  const sumSq = ring.map((s) => `r${s} * r${s}`).join(' + ');

  // Unrolled step j of a loop iteration (channel ch = base + j): channel ch + half enters the
  // ring in slot (j + half) % L, replacing channel ch - half - 1; channel ch sits in slot j % L.
  const step = (j: number): string => `    {
      // channel base + ${j}
      let enter = base + ${j + half}u;
      r${(j + half) % L} = select(${T}(0.0), x[min(enter, C - 1u) * P + p], enter < C);
      if (base + ${j}u < C) {
        let s = ${sumSq};
        y[(base + ${j}u) * P + p] = r${j % L} * pow(K + ALPHA * s, ${T}(-BETA));
      }
    }`;

  const name = `lrn${size}_c${c}_${h}x${w}_n${n}`;
  const dims = uniformStruct(2, { p: P, invocations, gx });
  const code = `// lrn${size}_c${c}: cross-channel local response normalisation (AlexNet, as written in the VGG paper):
//   y[i] = x[i] / (k + alpha * sum_{j=max(0,i-${half})}^{min(C-1,i+${half})} x[j]^2)^beta
//   with k = ${k}, alpha = ${alpha}, beta = ${beta}, size = ${size} (window ${L} channels).
//   NOTE: the paper's formula: alpha multiplies the sum directly (PyTorch's LocalResponseNorm
//   divides alpha by size).
//   x, y: [N, ${c}, H, W] (NCHW, f32); N, H, W are read at run time from 'dims'
//   Each invocation: ${V === 4 ? '4 adjacent pixel positions (vec4)' : 'one pixel position'} of one sample, all ${c} channels,
//   the last ${L} channels kept in registers r0..r${L - 1} (loop unrolled by ${L}).
//   Workgroup size ${WORKGROUP}; dispatch (gx, gy, 1), one invocation per ${T} of a channel plane.

const C: u32 = ${c}u;
const K: f32 = ${f32Literal(k, 'lrn')};
const ALPHA: f32 = ${f32Literal(alpha, 'lrn')};
const BETA: f32 = ${f32Literal(beta, 'lrn')};

@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read_write> y: array<${T}>;

// Run-time sizes: p ${T} per channel plane (H * W${V === 4 ? ' / 4' : ''}), invocations = N x p, gx workgroups along x.
${dims.wgsl}

${invocationMain(WORKGROUP, { gx: 'dims.gx', invocations: 'dims.invocations' })}
  let P = dims.p;
  let img = i / P;
  let p0 = i % P;
  // x[img, ch, pixel p0] and y[...] are element ch * P + p.
  let p = img * C * P + p0;
  // The ring: slot s holds the channel congruent to s modulo ${L}; channels outside 0..C-1 are 0.
${ring.map((s) => `  var r${s} = ${T}(0.0);`).join('\n')}
  // Prologue: channels 0..${half - 1} enter before the first output.
${range(Math.min(half, c))
  .map((ch) => `  r${ch} = x[${ch}u * P + p];`)
  .join('\n')}
  for (var base = 0u; base < ${steps * L}u; base += ${L}u) {
${ring.map(step).join('\n')}
  }
}
`;
  return [
    {
      name,
      code,
      entryPoint: 'main',
      workgroupSize: [WORKGROUP, 1, 1],
      dispatch: [gx, gy, 1],
      bindings: [
        { binding: 0, tensor: 'x', access: 'read' },
        { binding: 1, tensor: 'y', access: 'read_write' },
      ],
      // Per output: L multiply-adds for the sum, k + alpha * s (2), pow (~3), the product (1).
      flops: n * c * plane * (2 * L + 6),
      bytes: f32Bytes(2 * n * c * plane),
      uniforms: dims.uniforms,
    },
  ];
}

/**
 * Backward of the cross-channel LRN of compiler/wgsl/lrn.ts, the VGG paper's formula
 * (alpha multiplies the sum directly, not alpha / size):
 *
 *   b_i = a_i * s_i^-beta,   s_i = k + alpha * sum_{c in window(i)} a_c^2,
 *   window(i) = max(0, i - H) .. min(C - 1, i + H),   H = floor(size / 2)
 *
 *   da_j = dy_j * s_j^-beta - 2 * alpha * beta * a_j * sum_{i : j in window(i)} dy_i * a_i * s_i^(-beta-1)
 *
 * and j is in window(i) exactly when |i - j| <= H, so the sum runs over the same window around j.
 *
 * Design (loads set the speed on lavapipe): like the forward, an invocation owns one pixel
 * position (4 adjacent positions as a vec4 when H * W is a multiple of 4) of one sample and walks
 * the channels once, as a three-stage pipeline over registers. At step m it
 *   1. loads a_m and dy_m (0 past the last channel),
 *   2. finishes channel i = m - H, whose window a_{m-2H} .. a_m is now in registers:
 *      u_i = dy_i * s_i^-beta and t_i = dy_i * a_i * s_i^(-beta-1) = u_i * a_i / s_i,
 *   3. writes da_j for j = m - 2H, whose window t_{m-3H} .. t_{m-H} is now complete:
 *      da_j = u_j - 2 alpha beta a_j * (sum of the t ring).
 * Each of a, dy, u, t lives in a ring of L = 2H + 1 registers (channel c in slot c mod L); the
 * loop is unrolled by L so every slot has a fixed role in each unrolled step. Channels before 0
 * and after C - 1 read as 0, which makes their t and u 0. Two loads and one store per element;
 * one pow and one division per element.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import {
  f32Literal,
  invocationGrid,
  invocationMainDims,
  range,
  requirePositiveIntegers,
  uniformStruct,
  vectorOf,
  batchFree,
} from './template.js';
import type { LrnSpec } from './lrn.js';

export type LrnBackwardSpec = LrnSpec;

const WORKGROUP = 64;

export function lrnBackwardKernels(spec: LrnBackwardSpec, target: TargetInfo): Kernel[] {
  const { n, c, h, w, size, alpha, beta, k } = spec;
  requirePositiveIntegers('lrn backward', { n, c, h, w, size });
  if (!(k > 0)) throw new Error('lrn backward: k must be positive');
  if (!(alpha >= 0)) throw new Error('lrn backward: alpha must be non-negative');
  const H = Math.floor(size / 2);
  const L = 2 * H + 1;
  const plane = h * w;
  const { V, T } = vectorOf(plane);
  const P = plane / V;
  const invocations = n * P;
  const [gx, gy] = invocationGrid(invocations, WORKGROUP, target);
  const steps = Math.ceil((c + 2 * H) / L);
  const ring = range(L);
  const mod = (v: number): number => ((v % L) + L) % L;

  const step = (j: number): string => {
    const si = mod(j - H); // slot of channel i = m - H
    const sj = mod(j - 2 * H); // slot of channel j = m - 2H
    return `    {
      let m = base + ${j}u;
      let mc = min(m, C - 1u) * P + p;
      a${j} = select(${T}(0.0), x[mc], m < C);
      d${j} = select(${T}(0.0), dy[mc], m < C);
      // channel m - ${H}: its window is the whole a ring
      let s = K + ALPHA * (${ring.map((r) => `a${r} * a${r}`).join(' + ')});
      u${si} = d${si} * pow(s, ${T}(-BETA));
      t${si} = u${si} * a${si} / s;
      // channel m - ${2 * H}: its window is the whole t ring
      if (m >= ${2 * H}u && m < C + ${2 * H}u) {
        dx[(m - ${2 * H}u) * P + p] = u${sj} - TWO_ALPHA_BETA * a${sj} * (${ring.map((r) => `t${r}`).join(' + ')});
      }
    }`;
  };

  const name = `lrn${size}_bwd_c${c}_${h}x${w}_n${n}`;
  const dims = uniformStruct(3, { invocations });
  const code = `// ${batchFree(name, n)}: backward of cross-channel LRN (the VGG paper's formula, alpha not divided by size):
//   da_j = dy_j * s_j^-beta - 2 alpha beta a_j sum_{|i-j|<=${H}} dy_i a_i s_i^(-beta-1),
//   s_i = k + alpha * sum_{|c-i|<=${H}, 0<=c<C} a_c^2;  k = ${k}, alpha = ${alpha}, beta = ${beta}, size = ${size} (window ${L}).
//   x (the forward input a), dy, dx: [N, ${c}, ${h}, ${w}] (NCHW, f32; the batch N is read at run time)
//   Each invocation: ${V === 4 ? '4 adjacent pixel positions (vec4)' : 'one pixel position'} of one sample, all channels, as a
//   pipeline over register rings a, d (inputs), u, t (per channel terms) of ${L} slots, unrolled by ${L}.
//   Workgroup size ${WORKGROUP}; N x ${P} invocations (dims.invocations), the grid folded into 2-D.

${dims.wgsl}

const C: u32 = ${c}u;
const P: u32 = ${P}u;          // ${T} per channel plane
const K: f32 = ${f32Literal(k, 'lrn backward')};
const ALPHA: f32 = ${f32Literal(alpha, 'lrn backward')};
const BETA: f32 = ${f32Literal(beta, 'lrn backward')};
const TWO_ALPHA_BETA: f32 = ${f32Literal(Math.fround(2 * alpha * beta), 'lrn backward')};

@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> dy: array<${T}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${T}>;

${invocationMainDims(WORKGROUP)}
  let img = i / P;
  let p = img * C * P + i % P;     // element (img, channel ch, pixel) is ch * P + p
${ring.map((r) => `  var a${r} = ${T}(0.0);\n  var d${r} = ${T}(0.0);\n  var u${r} = ${T}(0.0);\n  var t${r} = ${T}(0.0);`).join('\n')}
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
        { binding: 1, tensor: 'dy', access: 'read' },
        { binding: 2, tensor: 'dx', access: 'read_write' },
      ],
      // Per element: the sum of squares (2L), s (2), pow (~3), u and t (3), the t sum (L), da (3).
      flops: n * c * plane * (3 * L + 11),
      bytes: f32Bytes(3 * n * c * plane),
      uniforms: dims.uniforms,
    },
  ];
}

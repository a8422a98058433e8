/**
 * 2x2 max pooling, stride 2, PyTorch semantics: the output is floor(H/2) x floor(W/2), so an odd
 * side drops its last row or column. NaN propagates as in PyTorch: a window holding a NaN yields
 * NaN. WGSL's `max()` leaves NaN handling to the implementation (and WGSL lets compilers assume
 * there are no NaNs, so `v != v` may be folded away), so the kernel tests the bits instead.
 *
 * Lavapipe's speed is set by loads (see docs/dawn-and-lavapipe.md): when W is a multiple of 4,
 * each invocation reads one vec4 from each of its two input rows and writes two outputs as one
 * vec2 (2 loads + 1 store for 2 outputs, against 8 + 2 in the scalar form); otherwise each
 * invocation reads its 4 inputs as scalars and writes one output.
 *
 * Channels and the spatial size are constants: a run-time divisor (the row and plane indices)
 * made the kernel 2.2-4.8x slower on lavapipe (docs/kernels.md, "Run-time sizes"). The batch
 * only bounds the grid, so it comes in through the uniform struct (`dims.invocations`) and the
 * grid's row length from the dispatch: an epoch's last partial batch reuses the pipeline.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import {
  invocationGrid,
  invocationMainDims,
  requirePositiveIntegers,
  uniformStruct,
} from './template.js';

export interface MaxpoolSpec {
  /** Batch size. */
  readonly n: number;
  /** Channels. */
  readonly c: number;
  /** Input height and width (at least 2 each). */
  readonly h: number;
  readonly w: number;
}

const WORKGROUP = 64;

/** NaN-propagating max helpers, shared by both forms and by the conv kernel's fused pool. */
export const NAN_MAX = `// max(a, b) that returns NaN when either operand is NaN (PyTorch semantics). The test is on
// the bits: exponent all ones and a non-zero mantissa.
fn is_nan4(v: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u);
}
fn nan_max4(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
  return select(max(a, b), a + b, is_nan4(a) | is_nan4(b));
}`;

export function maxpoolKernels(spec: MaxpoolSpec, target: TargetInfo): Kernel[] {
  const { n, c, h, w } = spec;
  requirePositiveIntegers('maxpool', { n, c, h, w });
  if (h < 2 || w < 2) throw new Error(`maxpool: input ${h}x${w} is smaller than the 2x2 window`);
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  const planes = n * c;
  const vec = w % 4 === 0;
  // Invocations: one per output pair (vec form) or per output (scalar form).
  const perRow = vec ? ow / 2 : ow;
  const invocations = planes * oh * perRow;
  const [gx, gy] = invocationGrid(invocations, WORKGROUP, target);
  const title = `maxpool2x2_c${c}_${h}x${w}`;
  const name = `${title}_n${n}`;
  const dims = uniformStruct(2, { invocations });
  const header = `// ${title}: 2x2 max pooling, stride 2 (PyTorch semantics: odd sides drop the last row/column;
// a NaN in a window gives NaN).
//   x: [N, ${c}, ${h}, ${w}]   y: [N, ${c}, ${oh}, ${ow}]   (NCHW, f32; N at run time)
//   Each invocation: ${vec ? 'two adjacent outputs from one vec4 per input row (W % 4 == 0)' : 'one output from four scalar loads'}.
//   Workgroup size ${WORKGROUP}; the grid is folded into 2-D, its row length read from the dispatch.`;
  const consts = `${dims.wgsl}

const OH: u32 = ${oh}u;
const PER_ROW: u32 = ${perRow}u;   // invocations per output row`;

  const body = vec
    ? `// x and y as vectors: an input row holds W / 4 = ${w / 4} vec4, an output row OW / 2 = ${ow / 2} vec2.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec2<f32>>;

${NAN_MAX}

${invocationMainDims(WORKGROUP)}
  let q = i % PER_ROW;             // output pair within the row
  let row = i / PER_ROW;           // plane * OH + oy
  let oy = row % OH;
  let plane = row / OH;
  let top = (plane * ${h}u + 2u * oy) * ${w / 4}u + q;  // vec4 index of x[plane, 2 oy, 4 q]
  let a = x[top];
  let b = x[top + ${w / 4}u];                           // the row below
  let m = nan_max4(a, b);                                // column-wise max of the two rows
  let l = nan_max4(m.xzxz, m.ywyw);                      // (max of cols 0,1; max of cols 2,3)
  y[i] = l.xy;
}
`
    : `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

${NAN_MAX}

${invocationMainDims(WORKGROUP)}
  let ox = i % PER_ROW;
  let row = i / PER_ROW;           // plane * OH + oy
  let oy = row % OH;
  let plane = row / OH;
  let top = (plane * ${h}u + 2u * oy) * ${w}u + 2u * ox;  // x[plane, 2 oy, 2 ox]
  let v = vec4<f32>(x[top], x[top + 1u], x[top + ${w}u], x[top + ${w + 1}u]);
  let m = nan_max4(v, v.zwxy);                            // rows combined
  y[i] = nan_max4(m, m.yxwz).x;                           // columns combined
}
`;
  return [
    {
      name,
      code: `${header}\n\n${consts}\n\n${body}`,
      entryPoint: 'main',
      workgroupSize: [WORKGROUP, 1, 1],
      dispatch: [gx, gy, 1],
      bindings: [
        { binding: 0, tensor: 'x', access: 'read' },
        { binding: 1, tensor: 'y', access: 'read_write' },
      ],
      // Three comparisons per output.
      flops: 3 * planes * oh * ow,
      bytes: f32Bytes(planes * h * w + planes * oh * ow),
      uniforms: dims.uniforms,
    },
  ];
}

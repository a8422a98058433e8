/**
 * Backward of 2x2 / stride 2 max pooling (compiler/wgsl/maxpool.ts), PyTorch semantics: each
 * window's dy goes to the window's argmax in x, every other dx element is 0, including the last
 * row / column that an odd side drops.
 *
 * The argmax follows PyTorch's max_pool2d kernels (CPU and CUDA): the window is scanned in
 * row-major order (top-left, top-right, bottom-left, bottom-right) starting from -inf and an
 * element replaces the running max when `val > max || isnan(val)`. So among equal maxima the
 * FIRST one wins (strict `>`), and when the window holds NaNs the LAST NaN wins. NaN is tested on
 * the bits (lavapipe's comparisons and `v != v` cannot be trusted with NaN, see docs/kernels.md).
 *
 * Every dx element is written exactly once, without atomics: one invocation per window (two
 * adjacent windows as vec4 rows when W % 4 == 0) writes its 4 dx elements; the invocations of the
 * right-most windows also zero the dropped column of an odd W, those of the bottom windows the
 * dropped row of an odd H (and the corner).
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import {
  invocationGrid,
  invocationMainDims,
  requirePositiveIntegers,
  uniformStruct,
  batchFree,
} from './template.js';
import type { MaxpoolSpec } from './maxpool.js';

export type MaxpoolBackwardSpec = MaxpoolSpec;

const WORKGROUP = 64;

const ARGMAX = `fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}
// Window position (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of PyTorch's argmax:
// scan in that order, take v when v is NaN or v > the max so far (ties keep the first).
fn argmax4(v: vec4<f32>) -> u32 {
  var m = v.x;
  var k = 0u;
  let t1 = is_nan(v.y) || (!is_nan(m) && v.y > m);
  m = select(m, v.y, t1);
  k = select(k, 1u, t1);
  let t2 = is_nan(v.z) || (!is_nan(m) && v.z > m);
  m = select(m, v.z, t2);
  k = select(k, 2u, t2);
  let t3 = is_nan(v.w) || (!is_nan(m) && v.w > m);
  return select(k, 3u, t3);
}`;

export function maxpoolBackwardKernels(spec: MaxpoolBackwardSpec, target: TargetInfo): Kernel[] {
  const { n, c, h, w } = spec;
  requirePositiveIntegers('maxpool backward', { n, c, h, w });
  if (h < 2 || w < 2) {
    throw new Error(`maxpool backward: input ${h}x${w} is smaller than the 2x2 window`);
  }
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  const planes = n * c;
  const vec = w % 4 === 0;
  const perRow = vec ? ow / 2 : ow;
  const invocations = planes * oh * perRow;
  const [gx, gy] = invocationGrid(invocations, WORKGROUP, target);
  const oddH = h % 2 === 1;
  const oddW = w % 2 === 1;
  const name = `maxpool2x2_bwd_c${c}_${h}x${w}_n${n}`;
  const header = `// ${batchFree(name, n)}: backward of 2x2 / stride 2 max pooling (PyTorch semantics).
//   dx[argmax of window (oy, ox)] = dy[oy, ox]; every other dx element = 0 (including the
//   dropped last row / column of an odd side). Argmax: first max in window order TL, TR, BL, BR
//   wins ties; a NaN wins (the last NaN when several).
//   x, dx: [N, ${c}, ${h}, ${w}]   dy: [N, ${c}, ${oh}, ${ow}]   (NCHW, f32; the batch N is read at run time)
//   Each invocation: ${vec ? 'two adjacent windows: one vec4 per input row in, one vec4 per dx row out (W % 4 == 0)' : 'one window: four scalar loads, four scalar stores'}${oddW ? '; right-most windows also zero column W-1' : ''}${oddH ? '; bottom windows also zero row H-1' : ''}.
//   Workgroup size ${WORKGROUP}; N x ${c} x ${oh} x ${perRow} invocations (dims.invocations), the grid folded into 2-D.`;
  const dims = uniformStruct(3, { invocations });
  const consts = `${dims.wgsl}

const OH: u32 = ${oh}u;
const PER_ROW: u32 = ${perRow}u;   // invocations per output row`;

  const body = vec
    ? `@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;

${ARGMAX}

${invocationMainDims(WORKGROUP)}
  let q = i % PER_ROW;             // window pair within the row
  let row = i / PER_ROW;           // plane * OH + oy
  let oy = row % OH;
  let plane = row / OH;
  let top = (plane * ${h}u + 2u * oy) * ${w / 4}u + q;  // vec4 index of x[plane, 2 oy, 4 q]
  let a = x[top];
  let b = x[top + ${w / 4}u];
  let g = dy[i];
  let k0 = argmax4(vec4<f32>(a.x, a.y, b.x, b.y));
  let k1 = argmax4(vec4<f32>(a.z, a.w, b.z, b.w));
  let z = 0.0;
  dx[top] = vec4<f32>(select(z, g.x, k0 == 0u), select(z, g.x, k0 == 1u),
                      select(z, g.y, k1 == 0u), select(z, g.y, k1 == 1u));
  dx[top + ${w / 4}u] = vec4<f32>(select(z, g.x, k0 == 2u), select(z, g.x, k0 == 3u),
                                select(z, g.y, k1 == 2u), select(z, g.y, k1 == 3u));${
                                  oddH
                                    ? `
  if (oy == OH - 1u) { dx[top + ${w / 2}u] = vec4<f32>(0.0); } // the dropped row H-1`
                                    : ''
                                }
}
`
    : `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

${ARGMAX}

${invocationMainDims(WORKGROUP)}
  let ox = i % PER_ROW;
  let row = i / PER_ROW;           // plane * OH + oy
  let oy = row % OH;
  let plane = row / OH;
  let top = (plane * ${h}u + 2u * oy) * ${w}u + 2u * ox;  // x[plane, 2 oy, 2 ox]
  let k = argmax4(vec4<f32>(x[top], x[top + 1u], x[top + ${w}u], x[top + ${w + 1}u]));
  let g = dy[i];
  dx[top] = select(0.0, g, k == 0u);
  dx[top + 1u] = select(0.0, g, k == 1u);
  dx[top + ${w}u] = select(0.0, g, k == 2u);
  dx[top + ${w + 1}u] = select(0.0, g, k == 3u);${
    oddW
      ? `
  let right = ox == PER_ROW - 1u;
  if (right) { // the dropped column W-1, in both rows of the window
    dx[top + 2u] = 0.0;
    dx[top + ${w + 2}u] = 0.0;
  }`
      : ''
  }${
    oddH
      ? `
  if (oy == OH - 1u) { // the dropped row H-1, below the window${oddW ? ' (and its corner)' : ''}
    dx[top + ${2 * w}u] = 0.0;
    dx[top + ${2 * w + 1}u] = 0.0;${oddW ? `\n    if (right) { dx[top + ${2 * w + 2}u] = 0.0; }` : ''}
  }`
      : ''
  }
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
        { binding: 1, tensor: 'dy', access: 'read' },
        { binding: 2, tensor: 'dx', access: 'read_write' },
      ],
      // Three comparisons per window.
      flops: 3 * planes * oh * ow,
      bytes: f32Bytes(2 * planes * h * w + planes * oh * ow),
      uniforms: dims.uniforms,
    },
  ];
}

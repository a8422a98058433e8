/**
 * Winograd convolution F(m x m, 3 x 3), m = 2 or 4, for 3x3, stride 1, pad 1 convolutions:
 * forward (bias, ReLU and the fused 2x2 max pool in the epilogue) and the data gradient (the
 * same convolution of dy with the weights flipped 180 degrees and cin/cout swapped, with the
 * fused ReLU-grad mask). Matrices: compiler/wgsl/winograd-transforms.ts. Design, measurements
 * and errors: docs/winograd.md.
 *
 * Two kernels per convolution, in dispatch order:
 *
 * 1. Weight transform: U = G g G^T (n x n, n = m + 2) for every (output channel, input channel)
 *    pair, written to the scratch tensor `u` laid out [co block][ci][co in block][point], so the
 *    (CO_TILE x n^2) block that one input channel contributes to one block of output channels is
 *    contiguous vec4s. It runs every step (weights change in training); it is small next to the
 *    convolution. With `flip` (the data gradient) g = w[co, ci] rotated 180 degrees, with the
 *    roles of cin and cout swapped.
 * 2. Main kernel, one dispatch, everything in registers: an invocation owns CO_TILE output
 *    channels x TX output tiles of m x m side by side in a row. Per input channel it loads its
 *    n x (m TX + 2) input patch (zero padding by masks), computes V = B^T d B for each tile
 *    (shared by the CO_TILE channels), takes the channel's transformed weights by
 *    subgroupBroadcast (lane q of each group of LANES loads vec4s q, q + LANES, ... of the
 *    block), and accumulates U * V point-wise (n^2 / 4 vec4 multiply-adds per channel and tile:
 *    the "batched matrix products over the transform points", done per register tile). After the
 *    channel loop: Y = A^T M A, then the epilogue.
 *
 * The spatial size and the batch come from the uniform struct `dims`, so one pipeline serves every
 * image size and batch; channel counts and tiles are WGSL constants.
 */
import type { Applicable, LayerShape, Tuning } from './layer.js';
import type { ConvBackwardSpec } from './conv-backward.js';
import type { ConvScratch, ConvSpec } from './conv.js';
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import { NAN_MAX } from './maxpool.js';
import {
  defaultLanes,
  f32Literal,
  gridXZ,
  indent,
  invocationGrid,
  invocationMain,
  plusSigned,
  range,
  requirePositiveIntegers,
  SUBGROUP_NAN,
  subgroupGuardComment,
  uniformStruct,
  windowMasks,
  workgroupMain,
} from './template.js';
import { winogradMatrices, WINOGRAD_POINTS, type WinogradMatrices } from './winograd-transforms.js';

/** Output tile side: F(2x2, 3x3) or F(4x4, 3x3). */
export type WinogradM = 2 | 4;

/** Register tile of the main kernel. */
export interface WinogradTuning {
  /** Output channels per invocation: 4, 8 or 16. */
  readonly coTile?: number;
  /** Output tiles per invocation, side by side in a row: 1 or 2. */
  readonly tilesX?: number;
  /**
   * Input channels per loop iteration, at most (1, 2 or 4; the largest that divides the channels
   * is used).
   */
  readonly ciStep?: number;
  /** Invocations per workgroup, a multiple of 8 (default 32 on a software adapter, else 64). */
  readonly workgroupSize?: number;
}

/** Defaults, measured on lavapipe (docs/winograd.md). */
export function defaultWinogradTuning(
  m: WinogradM,
): Required<Omit<WinogradTuning, 'workgroupSize'>> {
  return m === 2 ? { coTile: 8, tilesX: 2, ciStep: 1 } : { coTile: 4, tilesX: 1, ciStep: 1 };
}

interface Plan {
  readonly M: WinogradMatrices;
  readonly m: number;
  readonly n: number;
  /** Transform points n^2 and their vec4 count. */
  readonly np: number;
  readonly nq: number;
  /** Channels the main loop walks (forward cin, backward cout) and channels it produces. */
  readonly chIn: number;
  readonly chOut: number;
  readonly co: number;
  readonly tx: number;
  /** Input channels per loop iteration (divides chIn). */
  readonly cs: number;
  readonly coBlocks: number;
  readonly wg: number;
  readonly lanes: number;
  readonly backward: boolean;
  readonly target: TargetInfo;
}

function plan(
  spec: ConvSpec,
  m: WinogradM,
  target: TargetInfo,
  tuning: WinogradTuning,
  backward: boolean,
): Plan {
  const { n, cin, h, w, cout } = spec;
  requirePositiveIntegers('winograd', { n, cin, h, w, cout });
  if (m !== 2 && m !== 4) throw new Error(`winograd: m must be 2 or 4, got ${String(m)}`);
  if (spec.kernel !== 3 || spec.pad !== 1) {
    throw new Error('winograd: only 3x3 convolutions with pad 1 (stride 1)');
  }
  if (!target.subgroups) throw new Error('winograd: needs subgroups (broadcast weights)');
  const d = defaultWinogradTuning(m);
  const chOutFor = backward ? cin : cout;
  // No wider than the channels need (fewer idle accumulators, a shorter unrolled loop).
  const co = tuning.coTile ?? Math.min(d.coTile, chOutFor <= 4 ? 4 : chOutFor <= 8 ? 8 : 16);
  const tx = tuning.tilesX ?? d.tilesX;
  if (![4, 8, 16].includes(co)) throw new Error('winograd: coTile must be 4, 8 or 16');
  if (tx !== 1 && tx !== 2) throw new Error('winograd: tilesX must be 1 or 2');
  const wg = Math.min(
    tuning.workgroupSize ?? (target.software ? 32 : 64),
    target.maxComputeInvocationsPerWorkgroup,
  );
  if (wg % 8 !== 0 || wg < 8) throw new Error('winograd: workgroupSize must be a multiple of 8');
  const M = winogradMatrices(m, WINOGRAD_POINTS[m]);
  const chIn = backward ? cout : cin;
  const chOut = backward ? cin : cout;
  const maxStep = tuning.ciStep ?? d.ciStep;
  const cs = [4, 2, 1].find((c) => c <= maxStep && chIn % c === 0)!;
  const coBlocks = Math.ceil(chOut / co);
  const np = M.n * M.n;
  const largest = Math.max(
    f32Bytes(n * cin * h * w),
    f32Bytes(n * cout * h * w),
    f32Bytes(coBlocks * co * chIn * np),
  );
  if (largest > target.maxStorageBufferBindingSize) {
    throw new Error(
      `winograd: a tensor of ${largest} bytes exceeds maxStorageBufferBindingSize ` +
        `(${target.maxStorageBufferBindingSize}); split the batch`,
    );
  }
  return {
    M,
    m,
    n: M.n,
    np,
    nq: np / 4,
    chIn,
    chOut,
    co,
    tx,
    cs,
    coBlocks,
    wg,
    lanes: defaultLanes(target),
    backward,
    target,
  };
}

/** The scratch tensor `u` (transformed weights) of a Winograd convolution. */
export function winogradScratch(
  spec: ConvSpec,
  m: WinogradM,
  target: TargetInfo,
  tuning: WinogradTuning = {},
  backward = false,
): ConvScratch[] {
  const p = plan(spec, m, target, tuning, backward);
  return [{ tensor: 'u', bytes: f32Bytes(p.coBlocks * p.co * p.chIn * p.np) }];
}

/**
 * Forward: y = pool?(relu?(conv3x3(x, w) + b)); bindings x, w, b, y and the scratch `u`
 * (winogradScratch).
 */
export function winogradKernels(
  spec: ConvSpec & { readonly m: WinogradM },
  target: TargetInfo,
  tuning: WinogradTuning = {},
): Kernel[] {
  const p = plan(spec, spec.m, target, tuning, false);
  return [transformKernel(p, spec), mainKernel(p, spec, spec.relu, spec.pool ?? false, false)];
}

/**
 * Data gradient: dx = conv3x3(dy, flipped w^T), zeroed where mask_src <= 0 with `mask`;
 * bindings dy, w, dx (+ mask_src) and the scratch `u` (winogradScratch with backward = true).
 */
export function winogradBackwardDataKernels(
  spec: ConvBackwardSpec & { readonly m: WinogradM },
  target: TargetInfo,
  tuning: WinogradTuning = {},
): Kernel[] {
  const p = plan(spec, spec.m, target, tuning, true);
  return [transformKernel(p, spec), mainKernel(p, spec, false, false, spec.mask ?? false)];
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/** `c1 * t1 + c2 * t2 ...` with the zero terms left out and +-1 written without a product. */
function lin(coeffs: readonly number[], terms: readonly string[], zero: string): string {
  let s = '';
  coeffs.forEach((c, i) => {
    if (c === 0) return;
    const mag = Math.abs(c);
    const t = mag === 1 ? terms[i]! : `${f32Literal(mag, 'winograd')} * ${terms[i]!}`;
    s += s === '' ? (c < 0 ? `-${t}` : t) : c < 0 ? ` - ${t}` : ` + ${t}`;
  });
  return s === '' ? zero : s;
}

const fmtMatrix = (name: string, a: readonly (readonly number[])[]): string =>
  `//     ${name} = [${a.map((r) => r.map((v) => String(+v.toFixed(6))).join(', ')).join('; ')}]`;

// ---------------------------------------------------------------------------------------------
// Weight transform

function transformKernel(p: Plan, spec: ConvSpec): Kernel {
  const { n, np, nq, co: CO, chIn, chOut, coBlocks, backward, M } = p;
  const WG = 64;
  const invocations = coBlocks * CO * chIn;
  const [gx, gy] = invocationGrid(invocations, WG, p.target);
  const g = (k: number): string => `g${k}`;
  const lines: string[] = [];
  // t = G g (n x 3), then U = t G^T (n x n); g is 3 x 3, row-major.
  for (const j of range(n))
    for (const c of range(3))
      lines.push(
        `let t${j}_${c} = ${lin(
          M.G[j]!,
          range(3).map((a) => g(a * 3 + c)),
          '0.0',
        )};`,
      );
  const U = range(n).flatMap((j) =>
    range(n).map((l) =>
      lin(
        M.G[l]!,
        range(3).map((b) => `t${j}_${b}`),
        '0.0',
      ),
    ),
  );
  const stores = range(nq).map(
    (q) => `u[o4 + ${q}u] = vec4<f32>(${U.slice(4 * q, 4 * q + 4).join(',\n    ')});`,
  );
  const name = `winograd_f${p.m}_${backward ? 'bwd_' : ''}wtransform_c${spec.cin}_k${spec.cout}_t${CO}`;
  const source = backward
    ? 'g[ky][kx] = w[c, o, 2 - ky, 2 - kx] (180-degree turn, cin and cout swapped: the data gradient)'
    : 'g[ky][kx] = w[o, c, ky, kx]';
  const code = `// ${name}: Winograd F(${p.m}x${p.m}, 3x3) weight transform U = G g G^T (${n} x ${n} points) of every
// output channel o and input channel c of the convolution the main kernel computes, where
//   ${source}.
${fmtMatrix('G', M.G)}
//   w: [${spec.cout}, ${spec.cin}, 3, 3] (torch layout)
//   u: [${coBlocks} blocks of ${CO} output channels][${chIn} input channels][${CO}][${np} points], as vec4s;
//   channels past ${chOut} are zero. One invocation per (block, c, o in block); workgroup ${WG}.

const CH_IN: u32 = ${chIn}u;   // channels the main kernel loops over
const CH_OUT: u32 = ${chOut}u; // channels it produces
const CO_TILE: u32 = ${CO}u;
const INVOCATIONS: u32 = ${invocations}u;
const GX: u32 = ${gx}u;

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<vec4<f32>>;

${invocationMain(WG)}
  let oi = i % CO_TILE;
  let c = (i / CO_TILE) % CH_IN;
  let o = (i / (CO_TILE * CH_IN)) * CO_TILE + oi;
  let o_ok = o < CH_OUT;
  let oc = min(o, CH_OUT - 1u);
  let base = ${backward ? '(c * CH_OUT + oc) * 9u' : '(oc * CH_IN + c) * 9u'};
${range(9)
  .map((k) => `  let ${g(k)} = select(0.0, w[base + ${backward ? 8 - k : k}u], o_ok);`)
  .join('\n')}
${indent(lines, 2)}
  let o4 = i * ${nq}u; // first vec4 of this (block, c, o)
${indent(stores, 2)}
}
`;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings: [
      { binding: 0, tensor: 'w', access: 'read' },
      { binding: 1, tensor: 'u', access: 'read_write' },
    ],
    flops: invocations * (n * 3 * 5 + n * n * 5),
    bytes: f32Bytes(spec.cout * spec.cin * 9 + invocations * np),
  };
}

// ---------------------------------------------------------------------------------------------
// Main kernel

function mainKernel(p: Plan, spec: ConvSpec, relu: boolean, pool: boolean, mask: boolean): Kernel {
  const { m, n, np, nq, co: CO, tx: TX, chIn: CIN, chOut: COUT, coBlocks, M } = p;
  const { wg: WG, lanes: LANES, backward, cs: CS } = p;
  const { n: N, h: H, w: W } = spec;
  if (pool && (H < 2 || W < 2)) {
    throw new Error(`winograd: a 2x2 pool needs 2x2 pixels, not ${H}x${W}`);
  }
  const PC = m * TX + 2; // input patch columns
  const xs = backward ? 'dy' : 'x';
  const ys = backward ? 'dx' : 'y';
  const oh = pool ? Math.floor(H / 2) : H;
  const ow = pool ? Math.floor(W / 2) : W;
  // Tiles that hold output pixels (with the pool: the conv rows and columns that pool windows
  // use; a tile holding only an odd side's last row or column is not dispatched).
  const tilesY = Math.ceil((pool ? 2 * oh : H) / m);
  const tilesX = Math.ceil((pool ? 2 * ow : W) / (m * TX));
  const tiles = N * tilesY * tilesX;
  const grid = gridXZ(
    Math.ceil(tiles / WG),
    coBlocks,
    p.target,
    'winograd: too many output channel blocks',
  );
  const dims = uniformStruct(4, {
    n: N,
    h: H,
    w: W,
    oh,
    ow,
    tiles_x: tilesX,
    tiles_y: tilesY,
    tiles,
    gx: grid[0],
  });
  const regs = Math.ceil((CO * nq) / LANES);
  const V = m === 2 ? 'vec2<f32>' : 'vec4<f32>';
  const acc = (co: number, t: number, k: number): string => `acc${co}_${t}_${k}`;
  const name =
    `winograd_f${m}_${backward ? 'bwd_data_' : ''}conv3x3_c${spec.cin}_k${spec.cout}_${H}x${W}_n${N}` +
    `${relu ? '_relu' : ''}${pool ? '_pool' : ''}${mask ? '_relumask' : ''}`;

  // --- the loop over input channels
  // Per loop iteration CS input channels: the products of the CS channels are summed before
  // they reach an accumulator (a loop-carried var costs a masked blend and store per update on
  // lavapipe, as much as the multiply-add itself when each update has one product).
  const step: string[] = [];
  for (const c of range(CS)) {
    const S = `${c}_`; // names of sub-step c
    step.push(
      `// Channel ci + ${c}: this lane's share of its ${CO} x ${np} transformed weights (broadcast below).`,
      ...range(regs).map((k) => `let ur${S}${k} = u[ub + ${c * CO * nq}u + uo${k}];`),
      `// Its input patch: rows oy - 1 .. oy + ${m}, columns x0 - 1 .. x0 + ${PC - 2}; zero outside the image.`,
    );
    for (const r of range(n))
      for (const j of range(PC)) {
        const d = j - 1;
        const at = d === 0 ? `xr${r}` : d < 0 ? `xr${r} - 1u` : `xr${r} + ${d}u`;
        const plane = c === 0 ? '' : ` + ${c}u * hw`;
        step.push(`let d${S}${r}_${j} = select(0.0, ${xs}[${at}${plane}], rok${r} && cok${j});`);
      }
    for (const t of range(TX)) {
      step.push(`// Tile ${t}: V = B^T d B over patch columns ${t * m} .. ${t * m + n - 1}.`);
      for (const i of range(n))
        for (const cc of range(n))
          step.push(
            `let s${S}${t}_${i}_${cc} = ${lin(
              M.BT[i]!,
              range(n).map((r) => `d${S}${r}_${t * m + cc}`),
              '0.0',
            )};`,
          );
      const Vt = range(n).flatMap((i) =>
        range(n).map((j) =>
          lin(
            M.BT[j]!,
            range(n).map((cc) => `s${S}${t}_${i}_${cc}`),
            '0.0',
          ),
        ),
      );
      for (const q of range(nq))
        step.push(`let v${S}${t}_${q} = vec4<f32>(${Vt.slice(4 * q, 4 * q + 4).join(', ')});`);
    }
  }
  for (const co of range(CO)) {
    step.push(
      `// Output channel co0 + ${co}: U * V, point by point, summed over the ${CS} channels.`,
    );
    for (const k of range(nq)) {
      const f = co * nq + k;
      for (const c of range(CS))
        step.push(
          `let w${c}_${co}_${k} = subgroupBroadcast(ur${c}_${Math.floor(f / LANES)}, ${f % LANES}u);`,
        );
      for (const t of range(TX))
        step.push(
          `${acc(co, t, k)} += ${range(CS)
            .map((c) => `w${c}_${co}_${k} * v${c}_${t}_${k}`)
            .join(' + ')};`,
        );
    }
  }

  // --- output transform Y = A^T M A
  const pt = (k: number): string => `a[${Math.floor(k / 4)}].${'xyzw'[k % 4]}`;
  const outLines: string[] = [];
  for (const i of range(m))
    for (const j of range(n))
      outLines.push(
        `let t${i}_${j} = ${lin(
          M.AT[i]!,
          range(n).map((r) => pt(r * n + j)),
          '0.0',
        )};`,
      );
  const rows = range(m).map(
    (i) =>
      `${V}(${range(m)
        .map((j) =>
          lin(
            M.AT[j]!,
            range(n).map((c) => `t${i}_${c}`),
            '0.0',
          ),
        )
        .join(', ')})`,
  );

  // --- epilogue: the accumulators go to an array so that the output transform and the stores
  // are written once, in a loop over the tile's channels (a shorter unrolled body compiles faster).
  const epilogue: string[] = [
    `var accs: array<array<vec4<f32>, ${TX * nq}>, ${CO}>;`,
    ...range(CO).map(
      (co) =>
        `accs[${co}] = array<vec4<f32>, ${TX * nq}>(${range(TX)
          .flatMap((t) => range(nq).map((k) => acc(co, t, k)))
          .join(', ')});`,
    ),
    `for (var c = 0u; c < CO_TILE; c++) {`,
  ];
  for (const t of range(TX)) {
    const r = `r${t}`;
    const col = t === 0 ? 'x0' : `x0 + ${t * m}u`;
    epilogue.push(
      `  let ${r} = output_transform(array<vec4<f32>, ${nq}>(${range(nq)
        .map((k) => `accs[c][${t * nq + k}]`)
        .join(', ')}));`,
    );
    if (!pool) {
      for (const i of range(m))
        epilogue.push(`  store(n, co0 + c, oy + ${i}u, ${col}, ${r}[${i}], ok, bad, nan);`);
    } else if (m === 2) {
      epilogue.push(
        `  store(n, co0 + c, oy / 2u, (${col}) / 2u, vec2<f32>(pool4(${r}[0], ${r}[1]), 0.0), ok, bad, nan);`,
      );
    } else {
      for (const i of range(2))
        epilogue.push(
          `  store(n, co0 + c, oy / 2u + ${i}u, (${col}) / 2u, pool2(${r}[${2 * i}], ${r}[${2 * i + 1}]), ok, bad, nan);`,
        );
    }
  }
  epilogue.push('}');

  const SV = pool ? 'vec2<f32>' : V; // what store takes
  const SN = pool ? m / 2 : m; // pixels per store
  const value = backward ? 'v' : relu ? `max(v + b[co], ${SV}(0.0))` : 'v + b[co]';
  const put = mask ? 'select(0.0, e[i], mask_src[at + i] > 0.0)' : 'e[i]';
  const formula = backward
    ? `dx[n, ci, y, x] = ${mask ? '(mask_src[n, ci, y, x] > 0) * ' : ''}sum_{co, ky, kx} dy[n, co, y - ky + 1, x - kx + 1] * w[co, ci, ky, kx]`
    : `${pool ? 'c' : 'y'}[n, co, oy, ox] = ${relu ? 'max(0, ' : ''}b[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + ky - 1, ox + kx - 1]${relu ? ')' : ''}`;
  const header = `// ${`winograd_f${m}${backward ? '_bwd_data' : ''}`}: Winograd F(${m}x${m}, 3x3) ${
    backward
      ? `gradient of a 3x3 convolution (stride 1, pad 1) with respect to its input${mask ? ', masked by the previous ReLU' : ''}`
      : `3x3 convolution, stride 1, pad 1, + bias${relu ? ' + ReLU' : ''}${pool ? ' + 2x2 max pool, stride 2' : ''}`
  }.
//   ${formula}${
    pool
      ? `\n//   y[n, co, py, px] = max of c[n, co, 2 py + dy, 2 px + dx] (an odd side's last row/column dropped; NaN propagates),\n//   the bias${relu ? ' and ReLU' : ''} applied after the max (the same floats).`
      : ''
  }
//   ${xs}: [N, ${CIN}, H, W]   u: the weight transform's output   ${ys}: [N, ${COUT}, ${pool ? 'H / 2, W / 2' : 'H, W'}]; N, H, W from 'dims'.
//   Transforms (points ${M.points.join(', ')} and infinity): V = B^T d B, U = G g G^T (first kernel), y = A^T (U * V) A.
${fmtMatrix('B^T', M.BT)}
${fmtMatrix('A^T', M.AT)}
//   Each invocation: ${CO} output channels x ${TX} tile${TX > 1 ? 's' : ''} of ${m} x ${m} pixels (${CO * TX * nq} vec4 accumulators, ${np} points each tile);
//   per input channel it loads its ${n} x ${PC} input patch (scalar loads, masked: zero outside the image),
//   transforms it (${TX} x ${np} points) and does ${CO * TX * nq} vec4 multiply-adds (unrolled, ${CS} channel${CS > 1 ? 's' : ''} per
//   iteration, their products summed before each accumulator update).
//   Transformed weights: each lane of a group of ${LANES} loads ${regs} vec4s of the channel's ${CO * nq}, shared by
//   subgroupBroadcast from lanes 0..${LANES - 1}; needs subgroup size >= ${LANES} (checked: writes NaN otherwise).
//   Workgroup size ${WG}; grid: ceil(tiles / ${WG}) x ${coBlocks} block${coBlocks > 1 ? 's' : ''} of ${CO} output channels.`;

  const code = `${header}
enable subgroups;

const CIN: u32 = ${CIN}u;
const COUT: u32 = ${COUT}u;
const CO_TILE: u32 = ${CO}u;           // output channels per invocation
const NQ: u32 = ${nq}u;                // vec4s of transform points
const LANES: u32 = ${LANES}u;           // lanes that load the transformed weights of a subgroup

${dims.wgsl}
@group(0) @binding(0) var<storage, read> ${xs}: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
${
  backward
    ? mask
      ? '@group(0) @binding(2) var<storage, read> mask_src: array<f32>; // forward input x (post-ReLU)\n'
      : ''
    : '@group(0) @binding(2) var<storage, read> b: array<f32>;\n'
}@group(0) @binding(3) var<storage, read_write> ${ys}: array<f32>;
${pool ? `\n${NAN_MAX}\n` : ''}
// Y = A^T M A: the ${m} x ${m} output tile (rows) from the ${np} accumulated points.
fn output_transform(a: array<vec4<f32>, ${nq}>) -> array<${V}, ${m}> {
${indent(outLines, 2)}
  return array<${V}, ${m}>(
${indent([rows.join(',\n')], 4)}
  );
}
${
  pool
    ? m === 2
      ? `
// The max of a 2 x 2 tile (NaN-propagating).
fn pool4(top: vec2<f32>, bottom: vec2<f32>) -> f32 {
  let c = nan_max4(vec4<f32>(top, bottom), vec4<f32>(bottom, top));
  return nan_max4(c.xxxx, c.yyyy).x;
}
`
      : `
// The 2x2 maxima of two rows of 4 columns: (columns 0, 1 of both rows; columns 2, 3).
fn pool2(top: vec4<f32>, bottom: vec4<f32>) -> vec2<f32> {
  let c = nan_max4(top, bottom);
  return nan_max4(c.xzxz, c.ywyw).xy;
}
`
    : ''
}
// ${backward ? (mask ? 'Stores, zero where mask_src <= 0,' : 'Stores') : `Adds the bias${relu ? ', applies the ReLU' : ''} and stores`} ${SN} pixel${SN > 1 ? 's' : ''} (row oy, columns ox..) of channel co
// of image n, skipping what lies outside ${ys}; NaN when the subgroup was too small (bad).
fn store(n: u32, co: u32, oy: u32, ox: u32, v: ${SV}, ok: bool, bad: bool, nan: f32) {
  if (!ok || co >= COUT || oy >= dims.${pool ? 'oh' : 'h'}) { return; }
  let e = select(${value}, ${SV}(nan), bad);
  let at = ((n * COUT + co) * dims.${pool ? 'oh' : 'h'} + oy) * dims.${pool ? 'ow' : 'w'} + ox;
  for (var i = 0u; i < ${SN}u; i++) {
    if (ox + i < dims.${pool ? 'ow' : 'w'}) { ${ys}[at + i] = ${put}; }
  }
}

${workgroupMain(WG, true, true)}
  let H = dims.h;
  let W = dims.w;
  // Tile group of this invocation; groups past the end are clamped for loading (every lane
  // takes part in the broadcasts) and not stored.
  let gid = (wid.z * dims.gx + wid.x) * ${WG}u + lid;
  let tg = min(gid, dims.tiles - 1u);
  let n = tg / (dims.tiles_y * dims.tiles_x);
  let oy = (tg / dims.tiles_x) % dims.tiles_y * ${m}u;
  let x0 = tg % dims.tiles_x * ${m * TX}u;
  let co0 = wid.y * CO_TILE;
  // Lane q of each group of LANES loads vec4s q, q + LANES, ... of every input channel's block
  // [co][point] (clamped to the block; such vec4s are never broadcast).
  let q = sid % LANES;
${range(regs)
  .map((k) => `  let uo${k} = min(${k * LANES}u + q, CO_TILE * NQ - 1u);`)
  .join('\n')}
  // Patch rows and columns: whether they are inside the image.
${indent(windowMasks(n, PC, 1, { row: 'oy', col: 'x0' }, plusSigned), 2)}
${range(CO)
  .flatMap((co) =>
    range(TX).flatMap((t) => range(nq).map((k) => `  var ${acc(co, t, k)} = vec4<f32>(0.0);`)),
  )
  .join('\n')}
  var xo = n * CIN * H * W;           // input channel ci of image n
  var ub = wid.y * CIN * CO_TILE * NQ; // its block of transformed weights
  let hw = H * W;
  for (var ci = 0u; ci < CIN; ci += ${CS}u) {
${indent(
  range(n).map(
    (r) => `let xr${r} = xo + u32(iy${r} * i32(W) + i32(x0)); // row ${r} of the patch, column x0`,
  ),
  4,
)}
${indent(step, 4)}
    xo += ${CS}u * hw;
    ub += ${CS}u * CO_TILE * NQ;
  }
  ${subgroupGuardComment('LANES')}
  let ok = gid < dims.tiles;
  let bad = sgsize < LANES;
  let nan = ${SUBGROUP_NAN};
${indent(epilogue, 2)}
}
`;

  const bindings: KernelBinding[] = [
    { binding: 0, tensor: xs, access: 'read' },
    { binding: 1, tensor: 'u', access: 'read' },
    ...(backward
      ? mask
        ? [{ binding: 2, tensor: 'mask_src', access: 'read' } as const]
        : []
      : [{ binding: 2, tensor: 'b', access: 'read' } as const]),
    { binding: 3, tensor: ys, access: 'read_write' },
  ];
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: grid,
    bindings,
    // The direct algorithm's multiply-adds (the "effective" count; winogradMultiplies gives the
    // actual point-wise ones), plus the pool's comparisons as the conv kernel counts them.
    flops: 2 * N * COUT * H * W * CIN * 9 + (pool ? 3 * N * COUT * oh * ow : 0),
    bytes: f32Bytes(N * CIN * H * W + coBlocks * CO * CIN * np + N * COUT * oh * ow),
    uniforms: dims.uniforms,
  };
}

/** The point-wise multiplies the main kernel does (per output tile n^2 per channel pair). */
export function winogradMultiplies(spec: ConvSpec, m: WinogradM): number {
  const tiles = spec.n * Math.ceil(spec.h / m) * Math.ceil(spec.w / m);
  return tiles * (m + 2) ** 2 * spec.cin * spec.cout;
}

// ---------------------------------------------------------------------------------------------
// Applicability (compiler/algorithms.ts APPLICABLE)

/**
 * The tunings of F(m, 3) worth timing for a layer: 3x3 pad 1 'conv' (forward) and
 * 'conv-grad-data' layers on an adapter with subgroups; none otherwise.
 */
export function applicableWinograd(m: WinogradM): Applicable {
  return (layer: LayerShape, target: TargetInfo): readonly Tuning[] => {
    if (layer.op !== 'conv' && layer.op !== 'conv-grad-data') return [];
    if (layer.kernel !== 3 || layer.pad !== 1 || !target.subgroups) return [];
    if (layer.op === 'conv-grad-data' && layer.pool) return [];
    const d = defaultWinogradTuning(m);
    return [d, ...[4, 8].filter((c) => c !== d.coTile).map((coTile) => ({ ...d, coTile }))];
  };
}

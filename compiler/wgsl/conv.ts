/**
 * 2-D convolution, stride 1, "same" size: y = pool?(relu?(conv(x, w) + b)), K x K with K in
 * {1, 3}, pool an optional 2x2 / stride 2 max pool (the conv-relu-pool fusion).
 *
 * x is `[N, CIN, H, W]` (NCHW), w is `[COUT, CIN, K, K]` (torch Conv2d layout), b is `[COUT]`,
 * y is `[N, COUT, H, W]`, or `[N, COUT, floor(H / 2), floor(W / 2)]` with the pool: the tensors
 * as they are, one kernel, no scratch. The channel counts and tile sizes are WGSL constants; the
 * batch and the spatial size (N, H, W, and the tile counts and grid width derived from them) are
 * read at run time from the uniform struct `dims` (Kernel.uniforms), so one pipeline serves every
 * image size and batch of a layer (docs/kernels.md, "Run-time sizes"). Whether W % 4 == 0 (vec4
 * input rows) and whether H > 1 (default rows) stay code switches.
 *
 * The design follows what sets the speed on lavapipe (docs/dawn-and-lavapipe.md and
 * docs/conv-kernel.md): a storage-buffer load with a lane-varying address is a per-lane loop of
 * bounds-checked scalar loads (~12 instructions per lane and float; a vec4 shares part of that
 * cost over its 4 floats), while a multiply-add is 2 instructions for 8 lanes. So the kernel
 * minimises floats loaded per lane per multiply-add:
 *
 * - each invocation owns a register tile of CO_TILE output channels x ROWS x COLS pixels
 *   (CO_TILE * ROWS * COLS / 4 vec4 accumulators) and walks the input channels one at a time;
 *   per input channel it loads its (ROWS + K - 1) x (COLS + K - 1) input window once, the tile's
 *   own columns as aligned vec4s when W % 4 == 0 (x is then bound a second time, as vec4s);
 * - the weights are the same for every lane of a workgroup: with subgroups, lane q of each group
 *   of LANES lanes loads floats q, q + LANES, ... of the channel's K*K x CO_TILE weight block, and
 *   `subgroupBroadcast` with a constant lane hands each weight to the whole subgroup; without
 *   subgroups every lane loads the whole block itself (a broadcast from cache on a real GPU);
 * - zero padding is done with masks (`select`) on the loads, so x needs no padded copy;
 *   out-of-image addresses are left to WebGPU's bounds checks and their values masked to zero;
 * - the fused pool (`spec.pool`) changes only the tiling and the stores: ROWS must be even (2 or
 *   4) and COLS is 4 or 8, so a tile starts on an even row and column and holds whole 2x2 windows;
 *   after the input-channel loop each pair of accumulator rows becomes one pooled row (a
 *   NaN-propagating vec4 max of the two rows, then of the column pairs), the bias and ReLU are
 *   applied to the maxima (both commute with max: the same floats), and ROWS/2 x COLS/2 pooled
 *   pixels per channel are stored. The main loop, and so the speed on lavapipe, is unchanged; the
 *   separate pool pass and 3/4 of the stores go. Odd sides need no special case: the tiles cover
 *   only the pooled outputs (tiles holding just an odd side's last row or column are not
 *   dispatched), and the stores mask pooled rows and columns past floor(H / 2) x floor(W / 2).
 *
 * Correctness never depends on the subgroup size: broadcasts read lanes 0..LANES-1 only, and the
 * kernel checks `subgroup_size >= LANES` (it writes NaN otherwise, so a misuse fails loudly).
 * LANES is min(8, subgroupMinSize) when the target states it, else 8 on a software adapter
 * (lavapipe: 8) and 4, WebGPU's minimum subgroup size, elsewhere.
 *
 * Lavapipe compiles a pipeline with LLVM at its first dispatch, in time that grows faster than
 * the unrolled step (CO_TILE x K x K x ROWS x COLS / 4 vec4 multiply-adds): ~4 s for the default
 * 16 x 2 x 4 tile, ~10 s for 16 x 4 x 4, which runs ~24% faster (docs/conv-kernel.md).
 */
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import { NAN_MAX } from './maxpool.js';
import {
  defaultLanes,
  enableSubgroups,
  gridXZ,
  indent,
  lanesConst,
  plusSigned,
  range,
  requirePositiveIntegers,
  sharedWeightsNote,
  subgroupGuard,
  uniformStruct,
  useSubgroups,
  windowMasks,
  workgroupMain,
} from './template.js';

export interface ConvSpec {
  /** Batch size N. */
  readonly n: number;
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly cout: number;
  readonly kernel: 1 | 3;
  /** Zero padding on every side: 1 for 3x3, 0 for 1x1 (the output keeps the input's size). */
  readonly pad: number;
  /** Apply ReLU after the bias. */
  readonly relu: boolean;
  /**
   * Then 2x2 max pooling, stride 2 (the `maxpool` epilogue step): y is `[N, COUT, floor(H / 2),
   * floor(W / 2)]`, an odd side's last row or column dropped as in PyTorch. Default false. The
   * backward kernels (conv-backward.ts) do not take it.
   */
  readonly pool?: boolean;
}

/** Tile sizes and design switches; the defaults are the ones measured fastest on lavapipe. */
export interface ConvTuning {
  /** Output channels per invocation, a multiple of 4 up to 32 (default 16; 8 without subgroups). */
  readonly coTile?: number;
  /** Output rows per invocation, 1 to 4 (default 2). */
  readonly rows?: number;
  /** Output columns per invocation: 4 (default) or 8. */
  readonly cols?: number;
  /**
   * Invocations per workgroup, a multiple of 8 (default: 8 on a software adapter, 64 elsewhere;
   * not chosen from the tile count, so that the code does not depend on the image size).
   */
  readonly workgroupSize?: number;
  /** Lanes that load the weights for their subgroup: 4 or 8. Needs subgroup size >= lanes. */
  readonly lanes?: 4 | 8;
  /** Use subgroupBroadcast when the target has subgroups (default true). */
  readonly subgroups?: boolean;
  /** Read the tile's own input columns as vec4s when W % 4 == 0 (default true). */
  readonly vec4Input?: boolean;
  /** Order of the unrolled multiply-adds: channel by channel (default) or pixel block by block. */
  readonly order?: 'channels' | 'pixels';
}

/** A scratch tensor that the kernels of one convolution need besides x, w, b and y. */
export interface ConvScratch {
  readonly tensor: string;
  readonly bytes: number;
}

/** Everything the kernel is specialised on, derived once from the spec, target and tuning. */
interface Plan {
  readonly spec: ConvSpec;
  readonly K: number;
  readonly P: number;
  readonly KK: number;
  readonly coTile: number;
  readonly rows: number;
  readonly cols: number;
  readonly coBlocks: number;
  readonly wg: number;
  readonly lanes: number;
  readonly subgroups: boolean;
  readonly vec4Input: boolean;
  readonly order: 'channels' | 'pixels';
  /** Fused 2x2 max pool: y is OH x OW = floor(H / 2) x floor(W / 2). Else OH = H, OW = W. */
  readonly pool: boolean;
  readonly oh: number;
  readonly ow: number;
  /** Pixel tiles per row and per column of the image. */
  readonly tilesX: number;
  readonly tilesY: number;
  readonly tiles: number;
  readonly grid: readonly [number, number, number];
}

/**
 * Default invocations per workgroup on a software adapter: lavapipe runs one workgroup at a time
 * per thread, so one subgroup per workgroup leaves no subgroup idle at any image size (the
 * measurements are in docs/kernels.md, "Run-time sizes").
 */
const SOFTWARE_WG = 8;

function plan(spec: ConvSpec, target: TargetInfo, tuning: ConvTuning): Plan {
  const { n, cin, h, w, cout, kernel: K, pad: P } = spec;
  requirePositiveIntegers('conv', { n, cin, h, w, cout });
  if (K !== 1 && K !== 3) throw new Error(`conv: kernel must be 1 or 3, got ${String(K)}`);
  if (2 * P !== K - 1) throw new Error(`conv: a ${K}x${K} kernel needs pad ${(K - 1) / 2}`);
  const subgroups = useSubgroups(target, tuning);
  const lanes = tuning.lanes ?? defaultLanes(target);
  // Defaults (docs/conv-kernel.md): 16 output channels x 2 rows x 4 columns with subgroups, 8
  // output channels without (every lane then loads all the weights itself).
  const coTile = tuning.coTile ?? Math.min(subgroups ? 16 : 8, Math.ceil(cout / 4) * 4);
  const cols = tuning.cols ?? 4;
  const rows = tuning.rows ?? (h > 1 ? 2 : 1);
  if (coTile % 4 !== 0 || coTile < 4 || coTile > 32) throw new Error('conv: bad coTile');
  if (cols !== 4 && cols !== 8) throw new Error('conv: cols must be 4 or 8');
  if (!Number.isInteger(rows) || rows < 1 || rows > 4) throw new Error('conv: rows must be 1..4');
  const pool = spec.pool ?? false;
  if (pool && (h < 2 || w < 2)) throw new Error(`conv: a 2x2 pool needs 2x2 pixels, not ${h}x${w}`);
  // With the pool, tiles start on even rows and columns and hold whole 2x2 windows.
  if (pool && rows % 2 !== 0) throw new Error('conv: with pool, rows must be 2 or 4');
  const oh = pool ? Math.floor(h / 2) : h;
  const ow = pool ? Math.floor(w / 2) : w;
  // Tiles that hold output pixels (with the pool, an odd side's last row or column of conv
  // outputs is dropped, and a tile holding only that is not dispatched).
  const tilesX = pool ? Math.ceil(ow / (cols / 2)) : Math.ceil(w / cols);
  const tilesY = pool ? Math.ceil(oh / (rows / 2)) : Math.ceil(h / rows);
  const tiles = n * tilesY * tilesX;
  const wg = Math.min(
    tuning.workgroupSize ?? (target.software ? SOFTWARE_WG : 64),
    target.maxComputeInvocationsPerWorkgroup,
  );
  if (wg % 8 !== 0) throw new Error('conv: workgroupSize must be a multiple of 8');
  const coBlocks = Math.ceil(cout / coTile);
  const grid = gridXZ(
    Math.ceil(tiles / wg),
    coBlocks,
    target,
    'conv: too many output channel blocks',
  );
  const largest = Math.max(
    f32Bytes(n * cin * h * w),
    f32Bytes(n * cout * oh * ow),
    f32Bytes(cout * cin * K * K),
  );
  if (largest > target.maxStorageBufferBindingSize) {
    throw new Error(
      `conv: a tensor of ${largest} bytes exceeds maxStorageBufferBindingSize ` +
        `(${target.maxStorageBufferBindingSize}); split the batch`,
    );
  }
  return {
    spec,
    K,
    P,
    KK: K * K,
    coTile,
    rows,
    cols,
    coBlocks,
    wg,
    lanes,
    subgroups,
    vec4Input: tuning.vec4Input ?? true,
    order: tuning.order ?? 'channels',
    pool,
    oh,
    ow,
    tilesX,
    tilesY,
    tiles,
    grid,
  };
}

/** Scratch tensors that `convKernels` binds besides x, w, b and y: none (one kernel). */
export function convScratch(
  spec: ConvSpec,
  target: TargetInfo,
  tuning: ConvTuning = {},
): ConvScratch[] {
  plan(spec, target, tuning); // validates
  return [];
}

/** The kernels of one convolution, in dispatch order: one kernel binding x, w, b and y. */
export function convKernels(spec: ConvSpec, target: TargetInfo, tuning: ConvTuning = {}): Kernel[] {
  return [convKernel(plan(spec, target, tuning))];
}

function convKernel(p: Plan): Kernel {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT, relu } = p.spec;
  const dims = uniformStruct(5, {
    h: H,
    w: W,
    oh: p.oh,
    ow: p.ow,
    tiles_x: p.tilesX,
    tiles_y: p.tilesY,
    tiles: p.tiles,
    gx: p.grid[0],
  });
  const { K, P, KK, coTile: CO, rows: R, cols: C, lanes: LANES, wg: WG } = p;
  const { pool, oh: OH, ow: OW } = p;
  const sg = p.subgroups;
  const G = C / 4; // vec4 column groups per tile row
  // Rows of x start on a 16-byte boundary: read the tile's own columns as vec4s through a
  // second binding of x.
  const xVec = W % 4 === 0 && p.vec4Input;
  const xScalar = !xVec || K > 1; // halo columns (or everything) as scalars
  const xvBinding = xScalar ? 4 : 0;
  const WR = R + K - 1; // input window rows
  const WC = C + K - 1; // input window columns
  const BLOCK = KK * CO; // weights per input channel of the tile, laid out [tap][co]
  const regs = Math.ceil(BLOCK / LANES); // weight floats each lane loads per input channel
  const cos = range(CO);
  const name = `conv${K}x${K}_c${CIN}_k${COUT}_${H}x${W}_n${N}${relu ? '_relu' : ''}${pool ? '_pool' : ''}`;
  const acc = (co: number, r: number, g: number): string => `acc${co}_${r}${g}`;

  /** Weight of output channel co (tile-relative), tap t, for the current input channel. */
  const weight = (co: number, t: number): string => {
    const f = t * CO + co;
    return sg ? `subgroupBroadcast(wr${Math.floor(f / LANES)}, ${f % LANES}u)` : `w${co}_${t}`;
  };

  const step: string[] = [];
  if (sg) {
    step.push(`// This lane's share of the channel's ${KK} x ${CO} weights (broadcast below).`);
    for (const k of range(regs)) step.push(`let wr${k} = w[wo${k} + wci];`);
  } else {
    step.push(`// The channel's ${KK} x ${CO} weights.`);
    for (const co of cos)
      for (const t of range(KK)) step.push(`let w${co}_${t} = w[wrow${co} + wci + ${t}u];`);
  }
  step.push(
    `// Input window: rows oy - ${P} .. oy + ${R - 1 + P}, columns x0 - ${P} .. x0 + ${C - 1 + P}; zero outside the image.`,
  );
  // Window column j is image column x0 - P + j. With vec4 rows, the tile's own columns
  // (j = P .. P + C - 1) come as aligned vec4s and only the halo columns as scalars.
  const inBody = (j: number): boolean => xVec && j >= P && j < P + C;
  for (const r of range(WR)) {
    if (xVec) {
      for (const g of range(G)) {
        const ok = `rok${r} && x0 + ${4 * g}u < W`;
        step.push(`let v${r}_${g} = select(vec4<f32>(0.0), xv[xr${r} / 4u + ${g}u], ${ok});`);
      }
    }
    for (const j of range(WC)) {
      if (inBody(j)) continue;
      const d = j - P;
      const at = d < 0 ? `xr${r} - ${-d}u` : `xr${r} + ${d}u`;
      step.push(`let i${r}_${j} = select(0.0, x[${at}], rok${r} && cok${j});`);
    }
  }
  /** The input value at window row r, column j. */
  const cell = (r: number, j: number): string =>
    inBody(j) ? `v${r}_${Math.floor((j - P) / 4)}.${'xyzw'[(j - P) % 4]}` : `i${r}_${j}`;
  const tapVector = (r: number, g: number, t: number): string => {
    const ky = Math.floor(t / K);
    const kx = t % K;
    if (xVec && kx === P) return `v${r + ky}_${g}`; // the tile's own columns
    return `vec4<f32>(${range(4)
      .map((i) => cell(r + ky, 4 * g + i + kx))
      .join(', ')})`;
  };
  const pixelBlocks = range(R).flatMap((r) => range(G).map((g) => [r, g] as const));
  if (p.order === 'pixels') {
    for (const [r, g] of pixelBlocks) {
      step.push(`// ${CO} output channels x pixels (row ${r}, columns ${4 * g}..${4 * g + 3})`);
      for (const t of range(KK)) step.push(`let t${r}${g}_${t} = ${tapVector(r, g, t)};`);
      for (const co of cos) {
        const terms = range(KK).map((t) => `${weight(co, t)} * t${r}${g}_${t}`);
        step.push(`${acc(co, r, g)} += ${terms.join('\n    + ')};`);
      }
    }
  } else {
    step.push(
      `// The 4-pixel vector of each tap, for each row and group of 4 columns of the tile.`,
    );
    for (const [r, g] of pixelBlocks)
      for (const t of range(KK)) step.push(`let t${r}${g}_${t} = ${tapVector(r, g, t)};`);
    for (const co of cos) {
      step.push(
        `// Output channel co0 + ${co}: its ${KK} weights, then its ${R * G} accumulators.`,
      );
      if (sg) for (const t of range(KK)) step.push(`let w${co}_${t} = ${weight(co, t)};`);
      for (const [r, g] of pixelBlocks) {
        const terms = range(KK).map((t) => `w${co}_${t} * t${r}${g}_${t}`);
        step.push(`${acc(co, r, g)} += ${terms.join('\n    + ')};`);
      }
    }
  }

  const setup: string[] = [];
  if (sg) {
    setup.push(
      `// Lane q of each group of LANES loads weight floats f = q, q + LANES, ... of every input`,
      `// channel's block [tap][co]: tap f / CO_TILE, channel co0 + f % CO_TILE (clamped to the`,
      `// block and to COUT; such floats are never broadcast or their results never stored).`,
      `let q = sid % LANES;`,
      ...range(regs).map((k) => `let wo${k} = weightOffset(co0, ${k * LANES}u + q);`),
    );
  } else {
    setup.push(
      `// First weight of each output channel of the tile (clamped to COUT; results unused).`,
      ...cos.map((co) => `let wrow${co} = min(co0 + ${co}u, COUT - 1u) * CIN * KK;`),
    );
  }
  setup.push(
    `// Window rows and columns: offsets into a channel plane, and whether they are inside.`,
    ...windowMasks(WR, WC, P, { row: 'oy', col: 'x0' }, plusSigned),
  );
  const loopSetup = range(WR).map(
    (r) => `let xr${r} = xo + u32(iy${r} * i32(W) + i32(x0)); // row ${r} of the window, column x0`,
  );

  const vec = pool ? 'vec2<f32>' : 'vec4<f32>';
  const act = (e: string): string => (relu ? `max(${e}, ${vec}(0.0))` : e);
  // With the pool, rows 2i and 2i + 1 of a column group make 2 pooled pixels: pooled row
  // oy / 2 + i, columns x0 / 2 + 2g and + 1 (oy and x0 are even: tiles hold whole windows).
  const stores = pool
    ? cos.flatMap((co) =>
        range(R / 2).flatMap((i) =>
          range(G).map(
            (g) =>
              `store(n, co0 + ${co}u, py0 + ${i}u, px0 + ${2 * g}u, pool2(${acc(co, 2 * i, g)}, ${acc(co, 2 * i + 1, g)}), ok);`,
          ),
        ),
      )
    : cos.flatMap((co) =>
        range(R).flatMap((r) =>
          range(G).map(
            (g) => `store(n, co0 + ${co}u, oy + ${r}u, x0 + ${4 * g}u, ${acc(co, r, g)}, ok);`,
          ),
        ),
      );

  const convFormula = `${relu ? 'max(0, ' : ''}b[co] + sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + ky - ${P}, ox + kx - ${P}]${relu ? ')' : ''}`;
  const header = `// conv${K}x${K}_c${CIN}_k${COUT}${relu ? '_relu' : ''}${pool ? '_pool' : ''}: ${K}x${K} convolution, stride 1, pad ${P}, + bias${relu ? ' + ReLU' : ''}${pool ? ' + 2x2 max pool, stride 2' : ''}.
${
  pool
    ? `//   c[n, co, oy, ox] = ${convFormula}
//   y[n, co, py, px] = max of c[n, co, 2 py + dy, 2 px + dx], dy, dx in {0, 1} (PyTorch: an odd side's last row/column is
//   dropped; the max propagates a NaN). Computed as ${relu ? 'max(0, b[co] + max of the sums)' : 'b[co] + max of the sums'}: the same floats.`
    : `//   y[n, co, oy, ox] = ${convFormula}`
}
//   x: [N, ${CIN}, H, W]   w: [${COUT}, ${CIN}, ${K}, ${K}] (torch layout)   b: [${COUT}]   y: [N, ${COUT}, ${pool ? 'H / 2, W / 2' : 'H, W'}]
//   N, H, W (and the tile counts) are read at run time from 'dims'${xVec ? ' (W % 4 == 0)' : ''}.
//   Each invocation: ${CO} output channels x ${R} row${R > 1 ? 's' : ''} x ${C} columns (${CO * R * G} vec4 accumulators);
//   per input channel it loads its ${WR} x ${WC} input window (${
    xVec
      ? `per row ${G} vec4${G > 1 ? 's' : ''} through 'xv'${K > 1 ? ' + 2 scalars' : ''}`
      : 'scalar loads'
  }, masked: zero outside the image)
//   and does ${CO * R * G * KK} vec4 multiply-adds (unrolled).${
    pool
      ? `\n//   Pool: the tile starts on an even row and column, so its ${R} x ${C} pixels are ${(R / 2) * (C / 2)} whole 2x2 windows, pooled in
//   registers after the loop: ${CO * (R / 2) * (C / 2)} outputs stored per invocation, no pre-pool tensor.`
      : ''
  }
//   Weights: ${sharedWeightsNote(sg, LANES, regs, BLOCK)}.
//   Workgroup size ${WG}, all in one block of output channels; dispatch (dims.gx, ${p.coBlocks}, z) with
//   gx * z >= the pixel tiles (N x ${pool ? `ceil(OH / ${R / 2}) x ceil(OW / ${C / 2})` : `ceil(H / ${R}) x ceil(W / ${C})`}) / ${WG}, y: ${p.coBlocks} block${p.coBlocks > 1 ? 's' : ''} of ${CO} output channels.`;

  const code = `${header}
${enableSubgroups(sg)}
const CIN: u32 = ${CIN}u;
const COUT: u32 = ${COUT}u;
const KK: u32 = ${KK}u;                 // taps per filter
const CO_TILE: u32 = ${CO}u;           // output channels per invocation${lanesConst(sg, LANES, 'the weights of a subgroup')}

// Run-time sizes: h, w the image; oh, ow the output (${pool ? 'floor(h / 2), floor(w / 2)' : 'h, w'});
// tiles_x = ${pool ? `ceil(ow / ${C / 2})` : `ceil(w / ${C})`}, tiles_y = ${pool ? `ceil(oh / ${R / 2})` : `ceil(h / ${R})`} pixel tiles per row and column, tiles = N x both;
// gx workgroups along x of the grid.
${dims.wgsl}

${xScalar ? '@group(0) @binding(0) var<storage, read> x: array<f32>;\n' : ''}@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;${
    xVec
      ? `\n@group(0) @binding(${xvBinding}) var<storage, read> xv: array<vec4<f32>>; // x as vec4s`
      : ''
  }
${
  sg
    ? `
// Offset in w, for input channel 0, of float f (0 <= f < KK * CO_TILE) of the weight block
// [tap][co] of the tile whose first output channel is co0.
fn weightOffset(co0: u32, f: u32) -> u32 {
  let fc = min(f, KK * CO_TILE - 1u);
  return min(co0 + fc % CO_TILE, COUT - 1u) * CIN * KK + fc / CO_TILE;
}
`
    : ''
}
${
  pool
    ? `${NAN_MAX}

// The 2x2 maxima of two rows of 4 columns: (columns 0, 1 of both rows; columns 2, 3).
fn pool2(top: vec4<f32>, bottom: vec4<f32>) -> vec2<f32> {
  let m = nan_max4(top, bottom);
  return nan_max4(m.xzxz, m.ywyw).xy;
}

// Adds the bias, applies the activation and stores 2 pooled pixels (row py, columns px, px + 1)
// of output channel co of image n, skipping what lies outside y. The bias and ReLU commute with
// the max (both are monotone), so they are applied to the 2 maxima, not to 8 pixels.
fn store(n: u32, co: u32, py: u32, px: u32, m: vec2<f32>, ok: bool) {
  if (!ok || co >= COUT || py >= dims.oh) { return; }
  let v = ${act('m + b[co]')};
  let at = ((n * COUT + co) * dims.oh + py) * dims.ow + px;
  for (var i = 0u; i < 2u; i++) {
    if (px + i < dims.ow) { y[at + i] = v[i]; }
  }
}`
    : `// Adds the bias, applies the activation and stores 4 pixels (row oy, columns ox..ox + 3) of
// output channel co of image n, skipping what lies outside y.
fn store(n: u32, co: u32, oy: u32, ox: u32, acc: vec4<f32>, ok: bool) {
  if (!ok || co >= COUT || oy >= dims.h) { return; }
  let v = ${act('acc + b[co]')};
  let at = ((n * COUT + co) * dims.h + oy) * dims.w + ox;
  for (var i = 0u; i < 4u; i++) {
    if (ox + i < dims.w) { y[at + i] = v[i]; }
  }
}`
}

${workgroupMain(WG, sg, true)}
  let H = dims.h;
  let W = dims.w;${pool ? '\n  let OH = dims.oh;\n  let OW = dims.ow;' : ''}
  let TILES_X = dims.tiles_x;
  let TILES_Y = dims.tiles_y;
  let TILES = dims.tiles;
  // Pixel tile of this invocation; tiles past the end are clamped for loading (every lane
  // takes part in the broadcasts) and not stored.
  let gid = (wid.z * dims.gx + wid.x) * ${WG}u + lid;
  let t = min(gid, TILES - 1u);
  let n = t / (TILES_Y * TILES_X);
  let oy = (t / TILES_X) % TILES_Y * ${R}u;
  let x0 = t % TILES_X * ${C}u;
  let co0 = wid.y * CO_TILE;${pool ? '\n  let py0 = oy / 2u; // first pooled row and column of the tile\n  let px0 = x0 / 2u;' : ''}
${indent(setup, 2)}
${cos
  .flatMap((co) =>
    range(R).flatMap((r) => range(G).map((g) => `  var ${acc(co, r, g)} = vec4<f32>(0.0);`)),
  )
  .join('\n')}
  var xo = n * CIN * H * W; // input channel ci of image n
  var wci = 0u;             // weights of input channel ci: ci * KK
  for (var ci = 0u; ci < CIN; ci++) {
${indent(loopSetup, 4)}
${indent(step, 4)}
    xo += H * W;
    wci += KK;
  }
${subgroupGuard(sg, 'gid < TILES', [
  `for (var co = co0; co < min(co0 + CO_TILE, COUT); co++) {
  for (var r = ${pool ? 'py0' : 'oy'}; r < min(${pool ? `py0 + ${R / 2}u, OH` : `oy + ${R}u, H`}); r++) {
    for (var ox = ${pool ? 'px0' : 'x0'}; ox < min(${pool ? `px0 + ${C / 2}u, OW` : `x0 + ${C}u, W`}); ox++) { y[((n * COUT + co) * ${pool ? 'OH' : 'H'} + r) * ${pool ? 'OW' : 'W'} + ox] = nan; }
  }
}`,
])}
${indent(stores, 2)}
}
`;

  const bindings: KernelBinding[] = [
    ...(xScalar ? [{ binding: 0, tensor: 'x', access: 'read' } as const] : []),
    { binding: 1, tensor: 'w', access: 'read' },
    { binding: 2, tensor: 'b', access: 'read' },
    { binding: 3, tensor: 'y', access: 'read_write' },
    ...(xVec ? [{ binding: xvBinding, tensor: 'x', access: 'read' } as const] : []),
  ];
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: p.grid,
    bindings,
    // With the pool: 3 comparisons per pooled output, as the maxpool kernel counts them.
    flops: 2 * N * COUT * H * W * CIN * KK + (pool ? 3 * N * COUT * OH * OW : 0),
    bytes: f32Bytes(N * CIN * H * W + COUT * CIN * KK + COUT + N * COUT * OH * OW),
    uniforms: dims.uniforms,
  };
}

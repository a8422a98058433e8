/**
 * 2-D convolution without padding ("valid"), any K, stride 1: y = relu?(conv(x, w) + b).
 *
 * x is `[N, CIN, H, W]`, w is `[COUT, CIN, K, K]` (torch Conv2d layout), b is `[COUT]`, y is
 * `[N, COUT, HO, WO]` with HO = H - K + 1, WO = W - K + 1. This is the FC-to-conv rewrite's
 * kernel (dense evaluation, compiler/passes/fc-to-conv.ts): VGG-16's FC6 becomes a 7x7 conv,
 * 512 -> 4096, on maps of 7x7 (224) to ~16x16 (512), i.e. outputs of 1x1 to ~10x10, batch 1.
 *
 * Such a layer is memory bound on its weight (392 MiB for FC6, each float used HO * WO times), so
 * the design is fc.ts's 'rows' design with output pixels in place of samples: a weight row (one
 * output channel, CIN * K * K floats, contiguous) times the input patch of each output pixel.
 *
 * - Each lane owns R consecutive output channels and a tile of TH x TW output pixels, and walks
 *   the whole row (flat index e = (ci * K + ky) * K + kx) with vec4 weight loads when
 *   CIN * K * K % 4 == 0: each weight element is loaded once per pixel tile.
 * - A workgroup's lanes share the pixel tile, so they need the same x values: with subgroups,
 *   lane q of each group of LANES lanes loads the patch value of e = k + q for every pixel of the
 *   tile, and `subgroupBroadcast` with constant lanes 0..LANES-1 hands them to every lane (lanes
 *   past the last channel clamp their loads, so all lanes take part). Without subgroups each
 *   lane loads them itself.
 * - Tiles are the fastest-varying workgroup index, so the workgroups that run together read the
 *   same weight rows (shared in the CPU's cache on a software adapter).
 * - A weight over `maxStorageBufferBindingSize` is split by output channels exactly as fc.ts
 *   splits rows (`fcChunks`): one kernel per chunk, binding its aligned byte range of 'w'.
 * - A 1x1 output of a K x K input is exactly an FC layer (same w, x and y layouts): then
 *   `convValidKernels` returns `fcKernels`.
 *
 * The loop body is unrolled over LANES x R x (TH * TW) multiply-adds only (K and CIN are loop
 * bounds), so lavapipe compiles it quickly.
 *
 * The batch, the spatial sizes (H, W, HO, WO), the chunk's first channel and channel count, the
 * tile counts and the grid width are read at run time from the uniform struct `dims`
 * (Kernel.uniforms), and the default pixel tile (4 x 4) does not depend on the map size: every
 * scale of a dense evaluation, and every chunk of a split weight, runs one pipeline
 * (docs/kernels.md, "Run-time sizes").
 */
import { chunkBinding, fcChunks, fcKernels, type FcChunk, type FcSpec } from './fc.js';
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import {
  defaultLanes,
  enableSubgroups,
  foldGrid,
  partSuffix,
  range,
  requirePositiveIntegers,
  SUBGROUP_NAN,
  subgroupGuardComment,
  uniformStruct,
  useSubgroups,
  vectorOf,
  workgroupMain,
} from './template.js';

export interface ConvValidSpec {
  /** Batch size N. */
  readonly n: number;
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly cout: number;
  /** Kernel height K; no padding, stride 1. */
  readonly kernel: number;
  /** Kernel width when it differs from K (an FC reading a non-square map); default K. */
  readonly kernelW?: number;
  /** Apply ReLU after the bias. */
  readonly relu: boolean;
}

/** Tile sizes and switches; the defaults are chosen for lavapipe. For benchmarks and tests. */
export interface ConvValidTuning {
  /** Output channels per lane, 1 to 4 (default 2). */
  readonly rowsPerLane?: number;
  /**
   * Output pixels per lane: tile height and width (default 4 x 4, not chosen from the map size,
   * so that every scale shares the code).
   */
  readonly tileH?: number;
  readonly tileW?: number;
  /** Invocations per workgroup (default 64). */
  readonly workgroupSize?: number;
  /** Use subgroupBroadcast for x when the target has subgroups (default true). */
  readonly subgroups?: boolean;
  /** Lanes that load x for their subgroup: 4 or 8 (needs subgroup size >= lanes). */
  readonly lanes?: 4 | 8;
  /** Use fcKernels for a 1x1 output of a K x K input (default true). */
  readonly fcWhen1x1?: boolean;
}

const fcSpecOf = (s: ConvValidSpec): FcSpec => ({
  n: s.n,
  inFeatures: s.cin * s.kernel * (s.kernelW ?? s.kernel),
  outFeatures: s.cout,
  relu: s.relu,
});

/** How the output channels are split so that each chunk's weight binding fits the target. */
export function convValidChunks(spec: ConvValidSpec, target: TargetInfo): FcChunk[] {
  return fcChunks(fcSpecOf(spec), target);
}

/** The kernels of one valid convolution: one per weight chunk, dispatched in order. */
export function convValidKernels(
  spec: ConvValidSpec,
  target: TargetInfo,
  tuning: ConvValidTuning = {},
): Kernel[] {
  const { n, cin, h, w, cout, kernel: K } = spec;
  const KW = spec.kernelW ?? K;
  requirePositiveIntegers('conv-valid', { n, cin, h, w, cout, kernel: K, kernelW: KW });
  if (h < K || w < KW) {
    throw new Error(
      `conv-valid: a ${K}x${KW} kernel needs at least ${K}x${KW} input, got ${h}x${w}`,
    );
  }
  if (h === K && w === KW && (tuning.fcWhen1x1 ?? true)) return fcKernels(fcSpecOf(spec), target);
  const HO = h - K + 1;
  const WO = w - KW + 1;
  for (const [what, bytes] of [
    ['input', f32Bytes(n * cin * h * w)],
    ['output', f32Bytes(n * cout * HO * WO)],
  ] as const) {
    if (bytes > target.maxStorageBufferBindingSize) {
      throw new Error(
        `conv-valid: ${what} of ${bytes} bytes exceeds maxStorageBufferBindingSize; split the batch`,
      );
    }
  }
  const chunks = convValidChunks(spec, target);
  return chunks.map((c, i) => chunkKernel(spec, target, tuning, c, i, chunks.length));
}

/** Balanced tile sides: the fewest tiles of at most `max` pixels on a side. */
const balanced = (side: number, max: number): number => Math.ceil(side / Math.ceil(side / max));

/** Pixel slots per lane by default: the unrolled accumulators of a tile of up to 16 pixels. */
const SLOTS = 16;

function chunkKernel(
  spec: ConvValidSpec,
  target: TargetInfo,
  tuning: ConvValidTuning,
  chunk: FcChunk,
  index: number,
  count: number,
): Kernel {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT, kernel: K, relu } = spec;
  const KW = spec.kernelW ?? K;
  const HO = H - K + 1;
  const WO = W - KW + 1;
  const KTOT = CIN * K * KW;
  const R = tuning.rowsPerLane ?? 2;
  // The tile's shape is a run-time size (balanced to the map: 2x2 for a 2x2 output, 4x4 tiles
  // for 10x10); only its number of pixel slots is a constant.
  const TW = tuning.tileW ?? balanced(WO, 4);
  const TH = tuning.tileH ?? balanced(HO, Math.max(1, Math.floor(SLOTS / TW)));
  for (const [k, v, max] of [
    ['rowsPerLane', R, 4],
    ['tileW', TW, 16],
    ['tileH', TH, 16],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`conv-valid: bad ${k} ${v}`);
  }
  const P = tuning.tileH === undefined && tuning.tileW === undefined ? SLOTS : TH * TW;
  const sg = useSubgroups(target, tuning);
  const LANES = sg ? (tuning.lanes ?? defaultLanes(target)) : 1;
  // vec4 weight loads when every row (and so every chunk) starts on a 16-byte boundary.
  const { V, T } = vectorOf(KTOT);
  const STEP = sg ? LANES : V; // flat weight elements per main-loop iteration
  const MAIN = KTOT - (KTOT % STEP);
  const WG = Math.min(tuning.workgroupSize ?? 64, target.maxComputeInvocationsPerWorkgroup);
  if (sg && WG % LANES !== 0)
    throw new Error('conv-valid: workgroupSize must be a multiple of lanes');

  const tilesX = Math.ceil(WO / TW);
  const tilesY = Math.ceil(HO / TH);
  const tiles = N * tilesY * tilesX;
  const chGroups = Math.ceil(chunk.rows / (WG * R));
  const total = tiles * chGroups;
  const [gx, gy] = foldGrid(total, target.maxComputeWorkgroupsPerDimension, 'conv-valid');

  const rs = range(R);
  const ps = range(P);

  const what = `convvalid${K}x${KW}_c${CIN}_k${COUT}${relu ? '_relu' : ''}`;
  const name = `convvalid${K}x${KW}_c${CIN}_k${COUT}_${H}x${W}_n${N}${relu ? '_relu' : ''}${partSuffix(index, count)}`;
  const dims = uniformStruct(4, {
    w: W,
    hw: H * W,
    chw: CIN * H * W,
    ho: HO,
    wo: WO,
    row0: chunk.row0,
    rows: chunk.rows,
    th: TH,
    tw: TW,
    tiles_x: tilesX,
    tiles_y: tilesY,
    tiles,
    total,
    gx,
  });
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'x', access: 'read' },
    chunkBinding(1, 'w', 'read', chunk, KTOT, count > 1),
    { binding: 2, tensor: 'b', access: 'read' },
    { binding: 3, tensor: 'y', access: 'read_write' },
  ];

  /** Weight element j (0 <= j < STEP) of the current step for lane row r. */
  const wEl = (r: number, j: number): string =>
    V === 4 ? `w${r}_${j >> 2}[${j & 3}]` : `w${r}_${j}`;
  /** x offset of flat element `e` within a patch: (ci, ky, kx) -> ci * H * W + ky * W + kx. */
  const patchOffset = (e: string): string =>
    `(${e}) / KK * HW + (${e}) % KK / KW * W + (${e}) % KW`;

  // The main loop body.
  // The main loop body: this step's weights, then pixel slot by pixel slot (a slot outside the
  // run-time tile is skipped: `live` is the same for the whole workgroup).
  const body: string[] = [];
  for (const r of rs) {
    for (let j = 0; j < STEP / V; j++) body.push(`let w${r}_${j} = w[wr${r} + k / ${V}u + ${j}u];`);
  }
  if (sg) {
    body.push(`let off = ${patchOffset('k + q')}; // element k + q, loaded by lane q`);
    for (const p of ps) {
      body.push(`if (live${p}) {`, `  let xv = x[px${p} + off];`);
      for (let j = 0; j < STEP; j++) {
        body.push(`  let xs${j} = subgroupBroadcast(xv, ${j}u); // element k + ${j}`);
        body.push(...rs.map((r) => `  acc${r}_${p} += ${wEl(r, j)} * xs${j};`));
      }
      body.push('}');
    }
  } else {
    for (let j = 0; j < STEP; j++) body.push(`let off${j} = ${patchOffset(`k + ${j}u`)};`);
    for (const p of ps) {
      body.push(`if (live${p}) {`);
      for (let j = 0; j < STEP; j++) {
        body.push(`  let xs${j} = x[px${p} + off${j}];`);
        body.push(...rs.map((r) => `  acc${r}_${p} += ${wEl(r, j)} * xs${j};`));
      }
      body.push('}');
    }
  }
  // The tail (KTOT % STEP elements): every lane loads its own x, scalar weights.
  const wScalar = (r: number, e: string): string =>
    V === 4 ? `w[wr${r} + ${e} / 4u][${e} % 4u]` : `w[wr${r} + ${e}]`;
  const tail =
    MAIN < KTOT
      ? `
  // tail: the last ${KTOT - MAIN} elements of each row
  for (var e = ${MAIN}u; e < KTOT; e++) {
    let off = ${patchOffset('e')};
${rs.map((r) => `    let wt${r} = ${wScalar(r, 'e')};`).join('\n')}
${ps
  .map(
    (p) =>
      `    if (live${p}) {\n      let xs = x[px${p} + off];\n${rs.map((r) => `      acc${r}_${p} += wt${r} * xs;`).join('\n')}\n    }`,
  )
  .join('\n')}
  }`
      : '';

  const stores = rs.flatMap((r) =>
    ps.map((p) => {
      const v = `acc${r}_${p} + b[ROW0 + row + ${r}u]`;
      return `  if (live${p} && row + ${r}u < ROWS && sy${p} < HO && sx${p} < WO) {
    let v = ${sg ? `select(nan, ${v}, sgOk)` : v};
    y[((nn * COUT + ROW0 + row + ${r}u) * HO + sy${p}) * WO + sx${p}] = ${relu ? 'max(v, 0.0)' : 'v'};
  }`;
    }),
  );

  const code = `// ${what}: ${K}x${KW} convolution, no padding, stride 1${relu ? ' + ReLU' : ''}, one chunk of output channels.
//   y[n, co, oy, ox] = ${relu ? 'max(0, ' : ''}sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + ky, ox + kx] + b[co]${relu ? ')' : ''}
//   x: [N, ${CIN}, H, W]   w: [${COUT}, ${CIN}, ${K}, ${KW}] (torch layout; rows of ${KTOT})   b: [${COUT}]   y: [N, ${COUT}, HO, WO]
//   This kernel: output channels ROW0 .. ROW0 + ROWS - 1 (a chunk, or all of them). When the weight is
//   split, 'w' is bound from the chunk's first row; 'b' and 'y' are bound whole and indexed from ROW0.
//   N, the sizes, the chunk and the tile counts are read at run time from 'dims'.
//   Each lane owns ${R} output channel(s) x a tile of up to ${P} pixels (th x tw, read at run time:
//   slot p is pixel (p / tw, p % tw) of the tile, slots past th * tw are skipped) and walks its weight
//   rows with ${V === 4 ? 'vec4' : 'scalar'} loads (each weight element loaded once per tile); x is ${
    sg
      ? `shared through subgroupBroadcast:\n//   lane q of each ${LANES} loads element k + q of every pixel's patch, lanes 0..${LANES - 1} broadcast\n//   (needs subgroup size >= ${LANES}: writes NaN otherwise).`
      : 'loaded by every lane.'
  }
//   Workgroup size ${WG}; dispatch (gx, gy, 1) = ceil(ROWS / ${WG * R}) channel groups x TILES tiles, tiles fastest.
${enableSubgroups(sg)}
const COUT: u32 = ${COUT}u;
const KW: u32 = ${KW}u;         // kernel width (height ${K})
const KK: u32 = ${K * KW}u;
const KTOT: u32 = ${KTOT}u;     // weights per output channel: CIN * KH * KW

// Run-time sizes: x is N x CIN x h x w (hw = h * w, chw = CIN * h * w), y's planes ho x wo;
// the chunk's channels row0 .. row0 + rows - 1; tiles of th x tw pixels, tiles_x x tiles_y per image, tiles
// over the batch; total workgroups (channel groups x tiles), gx of them along x.
${dims.wgsl}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<${T}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

${workgroupMain(WG, sg, true)}
  let W = dims.w;
  let HW = dims.hw;
  let CHW = dims.chw;
  let HO = dims.ho;
  let WO = dims.wo;
  let ROW0 = dims.row0;
  let ROWS = dims.rows;
  let TILES_X = dims.tiles_x;
  let TILES_Y = dims.tiles_y;
  let TILES = dims.tiles;
  let TOTAL = dims.total;
  let flat = wid.x + wid.y * dims.gx;
  if (flat >= TOTAL) { return; } // whole workgroups only: control flow stays uniform
  let tile = flat % TILES;
  let row = ((flat / TILES) * ${WG}u + lid) * ${R}u; // first channel of this lane, chunk-relative
  let tx = tile % TILES_X;
  let ty = (tile / TILES_X) % TILES_Y;
  let nn = tile / (TILES_X * TILES_Y);
  let ox0 = tx * dims.tw;
  let oy0 = ty * dims.th;
  let pixels = dims.th * dims.tw; // live slots
  // Out-of-range channels and pixels are clamped for loading (every lane takes part in the
  // broadcasts) and skipped when storing.
${rs.map((r) => `  let wr${r} = min(row + ${r}u, ROWS - 1u) * ${KTOT / V}u;`).join('\n')}
${ps
  .map(
    (p) => `  let live${p} = ${p}u < pixels;
  let sy${p} = oy0 + ${p}u / dims.tw;
  let sx${p} = ox0 + ${p}u % dims.tw;
  let px${p} = nn * CHW + min(sy${p}, HO - 1u) * W + min(sx${p}, WO - 1u);`,
  )
  .join('\n')}
${rs.flatMap((r) => ps.map((p) => `  var acc${r}_${p} = 0.0;`)).join('\n')}${sg ? `\n  let q = sid % ${LANES}u;` : ''}
  for (var k = 0u; k < ${MAIN}u; k += ${STEP}u) {
${body.map((l) => '    ' + l).join('\n')}
  }${tail}${
    sg
      ? `
  ${subgroupGuardComment(`${LANES}`)}
  let sgOk = sgsize >= ${LANES}u;
  let nan = ${SUBGROUP_NAN};`
      : ''
  }
${stores.join('\n')}
}
`;
  const outs = N * chunk.rows * HO * WO;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings,
    flops: 2 * outs * KTOT + outs * (relu ? 2 : 1),
    bytes: f32Bytes(chunk.rows * KTOT + N * CIN * H * W + chunk.rows + outs),
    uniforms: dims.uniforms,
  };
}

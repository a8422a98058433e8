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
 */
import { chunkBinding, chunkRange, fcChunks, fcKernels, type FcChunk, type FcSpec } from './fc.js';
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
  /** Output pixels per lane: tile height and width (default: balanced tiles of <= 16 pixels). */
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
  const TW = tuning.tileW ?? balanced(WO, 4);
  const TH = tuning.tileH ?? balanced(HO, Math.max(1, Math.floor(16 / TW)));
  for (const [k, v, max] of [
    ['rowsPerLane', R, 4],
    ['tileW', TW, 16],
    ['tileH', TH, 16],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`conv-valid: bad ${k} ${v}`);
  }
  const P = TH * TW;
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
  const pix = (p: number): [number, number] => [Math.floor(p / TW), p % TW];

  const name = `convvalid${K}x${KW}_c${CIN}_k${COUT}_${H}x${W}_n${N}${relu ? '_relu' : ''}${partSuffix(index, count)}`;
  const { offsetBytes: wOffset, sizeBytes: wSize } = chunkRange(chunk, KTOT);
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
  const body: string[] = [];
  if (sg) {
    body.push(`let e = k + q;`, `let off = ${patchOffset('e')};`);
    body.push(...ps.map((p) => `let xv${p} = x[px${p} + off];`));
    for (const r of rs) {
      for (let j = 0; j < STEP / V; j++)
        body.push(`let w${r}_${j} = w[wr${r} + k / ${V}u + ${j}u];`);
    }
    for (let j = 0; j < STEP; j++) {
      body.push(`{ // element k + ${j}, from lane ${j}`);
      body.push(...ps.map((p) => `  let xs${p} = subgroupBroadcast(xv${p}, ${j}u);`));
      for (const r of rs) body.push(...ps.map((p) => `  acc${r}_${p} += ${wEl(r, j)} * xs${p};`));
      body.push('}');
    }
  } else {
    for (const r of rs) {
      for (let j = 0; j < STEP / V; j++)
        body.push(`let w${r}_${j} = w[wr${r} + k / ${V}u + ${j}u];`);
    }
    for (let j = 0; j < STEP; j++) {
      body.push(`{ // element k + ${j}`);
      body.push(`  let off = ${patchOffset(`k + ${j}u`)};`);
      body.push(...ps.map((p) => `  let xs${p} = x[px${p} + off];`));
      for (const r of rs) body.push(...ps.map((p) => `  acc${r}_${p} += ${wEl(r, j)} * xs${p};`));
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
${ps.map((p) => `    let xs${p} = x[px${p} + off];`).join('\n')}
${rs.flatMap((r) => ps.map((p) => `    acc${r}_${p} += wt${r} * xs${p};`)).join('\n')}
  }`
      : '';

  const stores = rs.flatMap((r) =>
    ps.map((p) => {
      const [ty, tx] = pix(p);
      const v = `acc${r}_${p} + b[ROW0 + row + ${r}u]`;
      return `  if (row + ${r}u < ROWS && oy0 + ${ty}u < HO && ox0 + ${tx}u < WO) {
    let v = ${sg ? `select(nan, ${v}, sgOk)` : v};
    y[((nn * COUT + ROW0 + row + ${r}u) * HO + oy0 + ${ty}u) * WO + ox0 + ${tx}u] = ${relu ? 'max(v, 0.0)' : 'v'};
  }`;
    }),
  );

  const code = `// ${name}: ${K}x${KW} convolution, no padding, stride 1${relu ? ' + ReLU' : ''}, one chunk of output channels.
//   y[n, co, oy, ox] = ${relu ? 'max(0, ' : ''}sum_{ci, ky, kx} w[co, ci, ky, kx] * x[n, ci, oy + ky, ox + kx] + b[co]${relu ? ')' : ''}
//   x: [${N}, ${CIN}, ${H}, ${W}]   w: [${COUT}, ${CIN}, ${K}, ${KW}] (torch layout; rows of ${KTOT})   b: [${COUT}]   y: [${N}, ${COUT}, ${HO}, ${WO}]
//   This kernel: output channels ${chunk.row0}..${chunk.row0 + chunk.rows - 1} (chunk ${index + 1} of ${count}).${
    count > 1
      ? `\n//   'w' is bound from byte ${wOffset}, ${wSize} bytes (this chunk's rows only);` +
        `\n//   'b' and 'y' are bound whole and indexed from channel ROW0.`
      : ''
  }
//   Each lane owns ${R} output channel(s) x a ${TH}x${TW} pixel tile and walks its weight rows with
//   ${V === 4 ? 'vec4' : 'scalar'} loads (each weight element loaded once per tile); x is ${
    sg
      ? `shared through subgroupBroadcast:\n//   lane q of each ${LANES} loads element k + q of every pixel's patch, lanes 0..${LANES - 1} broadcast\n//   (needs subgroup size >= ${LANES}: writes NaN otherwise).`
      : 'loaded by every lane.'
  }
//   Workgroup size ${WG}; dispatch (${gx}, ${gy}, 1) = ${chGroups} channel group(s) x ${tiles} tile(s) (${tilesY}x${tilesX} per image), tiles fastest.
${enableSubgroups(sg)}
const COUT: u32 = ${COUT}u;
const KW: u32 = ${KW}u;         // kernel width (height ${K})
const KK: u32 = ${K * KW}u;
const KTOT: u32 = ${KTOT}u;     // weights per output channel: CIN * KH * KW
const W: u32 = ${W}u;
const HW: u32 = ${H * W}u;
const CHW: u32 = ${CIN * H * W}u;
const HO: u32 = ${HO}u;
const WO: u32 = ${WO}u;
const ROW0: u32 = ${chunk.row0}u;      // first output channel of this chunk
const ROWS: u32 = ${chunk.rows}u;      // output channels in this chunk
const TILES_X: u32 = ${tilesX}u;
const TILES_Y: u32 = ${tilesY}u;
const TILES: u32 = ${tiles}u;          // pixel tiles over the batch
const TOTAL: u32 = ${total}u;          // workgroups: channel groups x tiles
const GX: u32 = ${gx}u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<${T}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

${workgroupMain(WG, sg, true)}
  let flat = wid.x + wid.y * GX;
  if (flat >= TOTAL) { return; } // whole workgroups only: control flow stays uniform
  let tile = flat % TILES;
  let row = ((flat / TILES) * ${WG}u + lid) * ${R}u; // first channel of this lane, chunk-relative
  let tx = tile % TILES_X;
  let ty = (tile / TILES_X) % TILES_Y;
  let nn = tile / (TILES_X * TILES_Y);
  let ox0 = tx * ${TW}u;
  let oy0 = ty * ${TH}u;
  // Out-of-range channels and pixels are clamped for loading (every lane takes part in the
  // broadcasts) and skipped when storing.
${rs.map((r) => `  let wr${r} = min(row + ${r}u, ROWS - 1u) * ${KTOT / V}u;`).join('\n')}
${ps
  .map((p) => {
    const [ty, tx] = pix(p);
    return `  let px${p} = nn * CHW + min(oy0 + ${ty}u, HO - 1u) * W + min(ox0 + ${tx}u, WO - 1u);`;
  })
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
  };
}

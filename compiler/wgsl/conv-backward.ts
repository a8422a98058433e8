/**
 * Backward pass of the 2-D convolution of compiler/wgsl/conv.ts (K x K, K in {1, 3}, stride 1,
 * pad (K - 1) / 2, so every tensor keeps its H x W), for training:
 *
 * - `convBackwardDataKernels`: dx = conv_transpose(dy, w),
 *     dx[n, ci, y, x] = sum_{co, ky, kx} dy[n, co, y - ky + P, x - kx + P] * w[co, ci, ky, kx],
 *   optionally fused with the ReLU-backward mask of the previous layer: dx = 0 where the
 *   forward input x of this convolution (`mask_src`, post-ReLU) is <= 0. Since x = relu(z),
 *   x > 0 iff z > 0, which is PyTorch's ReLU backward (gradient where the input is > 0).
 * - `convBackwardWeightKernels`: dw[co, ci, ky, kx] = sum_{n, y, x} dy[n, co, y, x] *
 *   x[n, ci, y + ky - P, x + kx - P] and db[co] = sum_{n, y, x} dy[n, co, y, x].
 *
 * Tensors are used as they are: x and dx `[N, CIN, H, W]`, dy `[N, COUT, H, W]`, w and dw
 * `[COUT, CIN, K, K]` (torch layout), db `[COUT]`. `spec.relu` is ignored: dy is the gradient
 * with respect to the convolution's output after its own activation has been handled (by the
 * next layer's fused mask). Every shape but the batch N is a WGSL constant; what depends on N
 * (pixel tiles, pixel rows, chunk length) is read at run time from the uniform struct `dims`,
 * so every batch size runs the same code (one pipeline for the full and the last partial batch).
 *
 * The design follows what sets the speed on lavapipe (docs/conv-kernel.md, "Backward"): minimise
 * floats loaded per lane per multiply-add, share the operand that all lanes of a workgroup need
 * through `subgroupBroadcast` (constant lanes), no workgroup memory, no barriers, no atomics:
 *
 * - data: the forward kernel's design with the roles of the channels swapped. An invocation owns
 *   CI_TILE input channels x ROWS x 4 pixels of dx (vec4 accumulators) and walks the output
 *   channels; per output channel it loads its (ROWS + K - 1) x (4 + K - 1) window of dy (masked:
 *   zero outside the image) and the K*K x CI_TILE weights of that channel, flipped, which are
 *   the same for all lanes (broadcast).
 * - weight: an invocation owns CO_TILE output channels x one input channel (CO_TILE x K*K scalar
 *   accumulators) and walks pixels 4 at a time; the lanes of a workgroup differ in the input
 *   channel only, so the CO_TILE x 4 values of dy are the same for all lanes (broadcast) and each
 *   lane loads its K x (4 + K - 1) window of x. db comes for free from the broadcast dy values.
 *   When channels are few (cin 1 or 3) the pixel rows (N*H) are split into S chunks, each
 *   writing partial sums to the scratch tensor 'dwb_partial' ([S][COUT*CIN*K*K + COUT]), and a
 *   second pass adds the S partial sums in a fixed order: results are deterministic. S does not
 *   depend on N (a small batch leaves chunks short or empty: they write zeros).
 *
 * Correctness never depends on the subgroup size: broadcasts read lanes 0..LANES-1 only, and the
 * kernels write NaN if `subgroup_size < LANES`. Without subgroups every lane loads the shared
 * operand itself (a broadcast from cache on a real GPU), with smaller tiles.
 */
import type { ConvScratch, ConvSpec } from './conv.js';
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import {
  defaultLanes,
  enableSubgroups,
  gridXZ,
  indent,
  lanesConst,
  plus,
  range,
  requirePositiveIntegers,
  sharedWeightsNote,
  subgroupGuard,
  tileWorkgroupSize,
  uniformStruct,
  useSubgroups,
  windowMasks,
  workgroupMain,
  workgroupMainGrid,
  batchFree,
} from './template.js';

/** The convolution whose gradients are computed, with the data kernel's fusion flag. */
export interface ConvBackwardSpec extends ConvSpec {
  /**
   * Data kernel: fuse the ReLU backward of this convolution's input: bind 'mask_src' (the forward
   * input x, post-ReLU) and zero dx where it is <= 0. Default false; the weight kernels ignore it.
   */
  readonly mask?: boolean;
}

/** Tile sizes and switches; the defaults are the ones chosen for lavapipe. */
export interface ConvBackwardTuning {
  /** Data kernel: input channels per invocation, a multiple of 4 up to 32 (default 16; 8 plain). */
  readonly ciTile?: number;
  /** Data kernel: dx rows per invocation, 1 to 4 (default 2, 1 when H = 1). */
  readonly rows?: number;
  /** Weight kernel: output channels per invocation, a multiple of 4 up to 32 (16; 8 plain). */
  readonly coTile?: number;
  /** Weight kernel: number of pixel-row chunks (default: enough for ~1024 invocations). */
  readonly splits?: number;
  /** Invocations per workgroup, a multiple of 8. */
  readonly workgroupSize?: number;
  /** Use subgroupBroadcast when the target has subgroups (default true). */
  readonly subgroups?: boolean;
}

const round4 = (n: number): number => Math.ceil(n / 4) * 4;

interface Common {
  readonly K: number;
  readonly P: number;
  readonly KK: number;
  readonly subgroups: boolean;
  readonly lanes: number;
}

function validate(spec: ConvSpec, target: TargetInfo, tuning: ConvBackwardTuning): Common {
  const { n, cin, h, w, cout, kernel: K, pad: P } = spec;
  requirePositiveIntegers('conv backward', { n, cin, h, w, cout });
  if (K !== 1 && K !== 3) throw new Error(`conv backward: kernel must be 1 or 3, got ${String(K)}`);
  if (2 * P !== K - 1)
    throw new Error(`conv backward: a ${K}x${K} kernel needs pad ${(K - 1) / 2}`);
  const largest = Math.max(
    f32Bytes(n * cin * h * w),
    f32Bytes(n * cout * h * w),
    f32Bytes(cout * cin * K * K),
  );
  if (largest > target.maxStorageBufferBindingSize) {
    throw new Error(
      `conv backward: a tensor of ${largest} bytes exceeds maxStorageBufferBindingSize ` +
        `(${target.maxStorageBufferBindingSize}); split the batch`,
    );
  }
  return { K, P, KK: K * K, subgroups: useSubgroups(target, tuning), lanes: defaultLanes(target) };
}

/** Invocations per workgroup for `items` parallel items (template.ts), a multiple of 8. */
function workgroupSize(items: number, target: TargetInfo, tuning: ConvBackwardTuning): number {
  const wg = Math.min(
    tuning.workgroupSize ?? tileWorkgroupSize(items, target.software),
    target.maxComputeInvocationsPerWorkgroup,
  );
  if (wg % 8 !== 0 || wg < 8)
    throw new Error('conv backward: workgroupSize must be a multiple of 8');
  return wg;
}

const grid2 = (groups: number, y: number, target: TargetInfo): [number, number, number] =>
  gridXZ(groups, y, target, 'conv backward: too many channel blocks');

// ---------------------------------------------------------------------------------------------
// dx = conv_transpose(dy, w)

/** The kernels of the data gradient, in dispatch order: one kernel binding dy, w, dx (+ mask_src). */
export function convBackwardDataKernels(
  spec: ConvBackwardSpec,
  target: TargetInfo,
  tuning: ConvBackwardTuning = {},
): Kernel[] {
  const c = validate(spec, target, tuning);
  const { n: N, cin: CIN, h: H, w: W, cout: COUT } = spec;
  const { K, P, KK, lanes: LANES } = c;
  const sg = c.subgroups;
  const mask = spec.mask ?? false;
  const CI = tuning.ciTile ?? Math.min(sg ? 16 : 8, round4(CIN));
  const R = tuning.rows ?? (H > 1 ? 2 : 1);
  const C = 4;
  // W % 4 == 0: dx (and mask_src) are bound as vec4s, one aligned vec4 per 4 pixels, which
  // shortens both the store code and its compile time.
  const vecOut = W % 4 === 0;
  if (CI % 4 !== 0 || CI < 4 || CI > 32) throw new Error('conv backward: bad ciTile');
  if (!Number.isInteger(R) || R < 1 || R > 4) throw new Error('conv backward: rows must be 1..4');
  const tilesX = Math.ceil(W / C);
  const tilesY = Math.ceil(H / R);
  const tiles = N * tilesY * tilesX;
  // Sized by one image's tiles, not the batch's, so that the code does not change with N.
  const WG = workgroupSize(tilesY * tilesX, target, tuning);
  const ciBlocks = Math.ceil(CIN / CI);
  const grid = grid2(Math.ceil(tiles / WG), ciBlocks, target);
  const WR = R + K - 1;
  const WC = C + K - 1;
  const BLOCK = KK * CI; // weights per output channel of the tile, [tap][ci]
  const regs = Math.ceil(BLOCK / LANES);
  const cis = range(CI);
  const name = `conv${K}x${K}_bwd_data_c${CIN}_k${COUT}_${H}x${W}_n${N}${mask ? '_relumask' : ''}`;
  const dims = uniformStruct(mask ? 4 : 3, { tiles });
  const acc = (ci: number, r: number): string => `acc${ci}_${r}`;

  // Weight of input channel ci (tile-relative) at flipped tap t = ky' * K + kx' (the tap
  // K*K - 1 - t of w), for the current output channel.
  const weight = (ci: number, t: number): string => {
    const f = t * CI + ci;
    return sg ? `subgroupBroadcast(wr${Math.floor(f / LANES)}, ${f % LANES}u)` : `w${ci}_${t}`;
  };

  const step: string[] = [];
  if (sg) {
    step.push(`// This lane's share of the channel's ${KK} x ${CI} weights (broadcast below).`);
    for (const k of range(regs)) step.push(`let wr${k} = w[wo${k} + wco];`);
  } else {
    step.push(`// The channel's ${KK} x ${CI} weights, taps flipped.`);
    for (const ci of cis)
      for (const t of range(KK))
        step.push(`let w${ci}_${t} = w[wrow${ci} + wco + ${KK - 1 - t}u];`);
  }
  step.push(
    `// dy window: rows oy - ${P} .. oy + ${R - 1 + P}, columns x0 - ${P} .. x0 + ${C - 1 + P}; zero outside the image.`,
  );
  for (const r of range(WR))
    for (const j of range(WC)) {
      const d = j - P;
      const at = d === 0 ? `dr${r}` : d < 0 ? `dr${r} - ${-d}u` : `dr${r} + ${d}u`;
      step.push(`let i${r}_${j} = select(0.0, dy[${at}], rok${r} && cok${j});`);
    }
  const tap = (r: number, t: number): string => {
    const ky = Math.floor(t / K);
    const kx = t % K;
    return `vec4<f32>(${range(4)
      .map((i) => `i${r + ky}_${i + kx}`)
      .join(', ')})`;
  };
  for (const r of range(R)) for (const t of range(KK)) step.push(`let t${r}_${t} = ${tap(r, t)};`);
  for (const ci of cis) {
    step.push(`// Input channel ci0 + ${ci}: its ${KK} weights, then its ${R} accumulators.`);
    if (sg) for (const t of range(KK)) step.push(`let w${ci}_${t} = ${weight(ci, t)};`);
    for (const r of range(R)) {
      const terms = range(KK).map((t) => `w${ci}_${t} * t${r}_${t}`);
      step.push(`${acc(ci, r)} += ${terms.join('\n    + ')};`);
    }
  }

  const setup: string[] = [];
  if (sg) {
    setup.push(
      `// Lane q of each group of LANES loads weight floats f = q, q + LANES, ... of every output`,
      `// channel's block [tap][ci]: flipped tap f / CI_TILE, input channel ci0 + f % CI_TILE`,
      `// (clamped; such floats are never broadcast or their results never stored).`,
      `let q = sid % LANES;`,
      ...range(regs).map((k) => `let wo${k} = weightOffset(ci0, ${k * LANES}u + q);`),
    );
  } else {
    setup.push(
      `// Weights of each input channel of the tile for output channel 0 (clamped; results unused).`,
      ...cis.map((ci) => `let wrow${ci} = min(ci0 + ${ci}u, CIN - 1u) * KK;`),
    );
  }
  setup.push(
    `// Window rows and columns: whether they are inside the image.`,
    ...windowMasks(WR, WC, P, { row: 'oy', col: 'x0' }, plus),
  );
  const loopSetup = range(WR).map(
    (r) =>
      `let dr${r} = dyo + u32(iy${r} * i32(W) + i32(x0)); // row ${r} of the window, column x0`,
  );
  const stores = cis.flatMap((ci) =>
    range(R).map((r) => `store(n, ci0 + ${ci}u, oy + ${r}u, x0, ${acc(ci, r)}, ok);`),
  );

  const header = `// ${batchFree(name, N)}: gradient of a ${K}x${K} convolution (stride 1, pad ${P}) with respect to its input${
    mask ? ',\n// masked by the previous ReLU' : ''
  }.
//   dx[n, ci, y, x] = ${mask ? '(mask_src[n, ci, y, x] > 0) * ' : ''}sum_{co, ky, kx} dy[n, co, y - ky + ${P}, x - kx + ${P}] * w[co, ci, ky, kx]
//   dy: [N, ${COUT}, ${H}, ${W}]   w: [${COUT}, ${CIN}, ${K}, ${K}] (torch layout)   dx${mask ? ', mask_src' : ''}: [N, ${CIN}, ${H}, ${W}]
//   Each invocation: ${CI} input channels x ${R} row${R > 1 ? 's' : ''} x ${C} columns (${CI * R} vec4 accumulators);
//   per output channel it loads its ${WR} x ${WC} dy window (scalar loads, masked: zero outside the image)
//   and does ${CI * R * KK} vec4 multiply-adds (unrolled).
//   dx${mask ? ' and mask_src' : ''}: ${vecOut ? 'bound as vec4s (W % 4 == 0), one store per 4 pixels' : 'scalar stores'}.
//   Weights: ${sharedWeightsNote(sg, LANES, regs, BLOCK)}.
//   Workgroup size ${WG}; dispatch: N x ${tilesY * tilesX} pixel tiles (N x ceil(H / ${R}) x ceil(W / ${C}), dims.tiles) / ${WG},
//   x ${ciBlocks} block${ciBlocks > 1 ? 's' : ''} of ${CI} input channels. The batch N is read at run time.`;

  const code = `${header}
${enableSubgroups(sg)}
const CIN: u32 = ${CIN}u;
const H: u32 = ${H}u;
const W: u32 = ${W}u;
const COUT: u32 = ${COUT}u;
const KK: u32 = ${KK}u;                 // taps per filter
const CI_TILE: u32 = ${CI}u;           // input channels per invocation
const TILES_X: u32 = ${tilesX}u;           // pixel tiles per image row, ceil(W / ${C})
const TILES_Y: u32 = ${tilesY}u;           // pixel tiles per image column, ceil(H / ${R})${lanesConst(sg, LANES, 'the shared operand')}

${dims.wgsl}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<${vecOut ? 'vec4<f32>' : 'f32'}>;${
    mask
      ? `\n@group(0) @binding(3) var<storage, read> mask_src: array<${vecOut ? 'vec4<f32>' : 'f32'}>; // forward input x (post-ReLU)`
      : ''
  }
${
  sg
    ? `
// Offset in w, for output channel 0, of float f (0 <= f < KK * CI_TILE) of the weight block
// [flipped tap][ci] of the tile whose first input channel is ci0.
fn weightOffset(ci0: u32, f: u32) -> u32 {
  let fc = min(f, KK * CI_TILE - 1u);
  return min(ci0 + fc % CI_TILE, CIN - 1u) * KK + (KK - 1u - fc / CI_TILE);
}
`
    : ''
}
// Stores 4 pixels (row y, columns x..x + 3) of input channel ci of image n, skipping what lies
// outside dx${mask ? ', zero where mask_src <= 0' : ''}.
fn store(n: u32, ci: u32, y: u32, x: u32, v: vec4<f32>, ok: bool) {
  if (!ok || ci >= CIN || y >= H) { return; }
  let at = ((n * CIN + ci) * H + y) * W + x;
${
  vecOut
    ? `  // W % 4 == 0: the 4 pixels are one aligned vec4.
  dx[at / 4u] = ${mask ? 'select(vec4<f32>(0.0), v, mask_src[at / 4u] > vec4<f32>(0.0))' : 'v'};`
    : `  for (var i = 0u; i < 4u; i++) {
    if (x + i < W) { dx[at + i] = ${mask ? 'select(0.0, v[i], mask_src[at + i] > 0.0)' : 'v[i]'}; }
  }`
}
}

${workgroupMainGrid(WG, sg, true)}
  // Pixel tile of this invocation; tiles past the end are clamped for loading (every lane
  // takes part in the broadcasts) and not stored.
  let gid = (wid.z * nwg.x + wid.x) * ${WG}u + lid;
  let t = min(gid, dims.tiles - 1u);
  let n = t / (TILES_Y * TILES_X);
  let oy = (t / TILES_X) % TILES_Y * ${R}u;
  let x0 = t % TILES_X * ${C}u;
  let ci0 = wid.y * CI_TILE;
${indent(setup, 2)}
${cis.flatMap((ci) => range(R).map((r) => `  var ${acc(ci, r)} = vec4<f32>(0.0);`)).join('\n')}
  var dyo = n * COUT * H * W; // channel co of dy, image n
  var wco = 0u;               // weights of output channel co: co * CIN * KK
  for (var co = 0u; co < COUT; co++) {
${indent(loopSetup, 4)}
${indent(step, 4)}
    dyo += H * W;
    wco += CIN * KK;
  }
${subgroupGuard(sg, 'gid < dims.tiles', [
  `for (var ci = ci0; ci < min(ci0 + CI_TILE, CIN); ci++) {
  for (var r = oy; r < min(oy + ${R}u, H); r++) {
    ${vecOut ? `dx[((n * CIN + ci) * H + r) * W / 4u + x0 / 4u] = vec4<f32>(nan);` : `for (var x = x0; x < min(x0 + ${C}u, W); x++) { dx[((n * CIN + ci) * H + r) * W + x] = nan; }`}
  }
}`,
])}
${indent(stores, 2)}
}
`;
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'dy', access: 'read' },
    { binding: 1, tensor: 'w', access: 'read' },
    { binding: 2, tensor: 'dx', access: 'read_write' },
    ...(mask ? [{ binding: 3, tensor: 'mask_src', access: 'read' } as const] : []),
  ];
  const px = N * H * W;
  return [
    {
      name,
      code,
      entryPoint: 'main',
      workgroupSize: [WG, 1, 1],
      dispatch: grid,
      bindings,
      uniforms: dims.uniforms,
      flops: 2 * px * CIN * COUT * KK,
      bytes: f32Bytes(px * COUT + COUT * CIN * KK + px * CIN * (mask ? 2 : 1)),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// dw, db

interface WeightPlan extends Common {
  readonly spec: ConvSpec;
  readonly CO: number;
  readonly WG: number;
  readonly ciGroups: number;
  readonly coBlocks: number;
  /** Chunks of the N*H pixel rows, whatever N is; 1: the kernel writes dw and db directly. */
  readonly S: number;
  /** Pixel rows per chunk at this batch (read at run time; the last chunks may be short or empty). */
  readonly chunk: number;
  readonly grid: [number, number, number];
}

function weightPlan(spec: ConvSpec, target: TargetInfo, tuning: ConvBackwardTuning): WeightPlan {
  const c = validate(spec, target, tuning);
  const { n: N, cin: CIN, h: H, cout: COUT } = spec;
  const CO = tuning.coTile ?? Math.min(c.subgroups ? 16 : 8, round4(COUT));
  if (CO % 4 !== 0 || CO < 4 || CO > 32) throw new Error('conv backward: bad coTile');
  const WG = workgroupSize(CIN, target, tuning);
  const ciGroups = Math.ceil(CIN / WG);
  const coBlocks = Math.ceil(COUT / CO);
  const rowsTotal = N * H;
  // Enough invocations to keep the adapter busy: lavapipe runs one workgroup per thread at a
  // time, a GPU wants thousands of invocations.
  const want = target.software ? 1024 : 16384;
  const invocations = ciGroups * WG * coBlocks;
  // S does not depend on the batch (the code and the scratch size stay the same for every N):
  // a small batch leaves chunks short or empty, and an empty chunk writes zero partial sums.
  let S = tuning.splits ?? Math.ceil(want / invocations);
  S = Math.max(1, Math.min(S, target.maxComputeWorkgroupsPerDimension));
  const chunk = Math.ceil(rowsTotal / S);
  if (
    ciGroups > target.maxComputeWorkgroupsPerDimension ||
    coBlocks > target.maxComputeWorkgroupsPerDimension
  )
    throw new Error('conv backward: too many channel blocks');
  const partial = S * (COUT * CIN * c.KK + COUT);
  if (S > 1 && f32Bytes(partial) > target.maxStorageBufferBindingSize)
    throw new Error(
      'conv backward: partial sums exceed maxStorageBufferBindingSize; pass fewer splits',
    );
  return { ...c, spec, CO, WG, ciGroups, coBlocks, S, chunk, grid: [ciGroups, coBlocks, S] };
}

/** Scratch tensors of `convBackwardWeightKernels`: 'dwb_partial' when the pixel rows are split. */
export function convBackwardScratch(
  spec: ConvSpec,
  target: TargetInfo,
  tuning: ConvBackwardTuning = {},
): ConvScratch[] {
  const p = weightPlan(spec, target, tuning);
  if (p.S === 1) return [];
  const { cin, cout } = spec;
  return [{ tensor: 'dwb_partial', bytes: f32Bytes(p.S * (cout * cin * p.KK + cout)) }];
}

/**
 * The kernels of the weight and bias gradients, in dispatch order: one kernel binding x, dy, dw
 * and db; or, when the pixel rows are split (see `convBackwardScratch`), one writing partial
 * sums to 'dwb_partial' and a second adding them into dw and db.
 */
export function convBackwardWeightKernels(
  spec: ConvSpec,
  target: TargetInfo,
  tuning: ConvBackwardTuning = {},
): Kernel[] {
  const p = weightPlan(spec, target, tuning);
  const ks = [weightKernel(p)];
  if (p.S > 1) ks.push(reduceKernel(p, target));
  return ks;
}

function weightKernel(p: WeightPlan): Kernel {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT } = p.spec;
  const { K, P, KK, CO, WG, S, lanes: LANES } = p;
  const sg = p.subgroups;
  const split = S > 1;
  const PX = 4; // pixels per step
  const BLOCK = CO * PX; // dy values per step, [co][px]
  const regs = Math.ceil(BLOCK / LANES);
  const WC = PX + K - 1;
  const cos = range(CO);
  const taps = range(KK);
  const tilesX = Math.ceil(W / PX);
  const name = `conv${K}x${K}_bwd_weight_c${CIN}_k${COUT}_${H}x${W}_n${N}${split ? `_s${S}` : ''}`;
  const DW = COUT * CIN * KK;
  const dims = uniformStruct(split ? 3 : 4, { rows: N * H, chunk: p.chunk });

  /** dy of output channel co (tile-relative) at pixel px of the step. */
  const d = (co: number, px: number): string => {
    if (!sg) return `d${co}_${px}`;
    const f = co * PX + px;
    return `subgroupBroadcast(dr${Math.floor(f / LANES)}, ${f % LANES}u)`;
  };

  const step: string[] = [];
  if (sg) {
    step.push(
      `// This lane's share of the ${CO} x ${PX} dy values (broadcast below); zero past W.`,
    );
    for (const k of range(regs)) {
      step.push(`let dr${k} = select(0.0, dy[dyr + do${k}], x0 + px${k} < W);`);
      step.push(`db${k} += dr${k};`);
    }
  } else {
    step.push(`// The ${CO} x ${PX} dy values; zero past W.`);
    for (const co of cos) {
      for (const px of range(PX))
        step.push(`let d${co}_${px} = select(0.0, dy[dyr + drow${co} + ${px}u], x0 + ${px}u < W);`);
      step.push(
        `db${co} += ${range(PX)
          .map((px) => `d${co}_${px}`)
          .join(' + ')};`,
      );
    }
  }
  step.push(
    `// x window of this lane's input channel: rows y - ${P} .. y + ${P}, columns x0 - ${P} .. x0 + ${PX - 1 + P}.`,
  );
  for (const r of range(K))
    for (const j of range(WC)) {
      const dd = j - P;
      const at = dd === 0 ? `xr${r}` : dd < 0 ? `xr${r} - ${-dd}u` : `xr${r} + ${dd}u`;
      step.push(
        `let i${r}_${j} = select(0.0, x[${at}], rok${r} && (x0 + ${j}u >= ${P}u) && (x0 + ${j}u < W + ${P}u));`,
      );
    }
  for (const co of cos) {
    step.push(`// Output channel co0 + ${co}: its ${PX} dy values, then its ${KK} accumulators.`);
    if (sg) for (const px of range(PX)) step.push(`let e${co}_${px} = ${d(co, px)};`);
    const e = (px: number): string => (sg ? `e${co}_${px}` : d(co, px));
    for (const t of taps) {
      const ky = Math.floor(t / K);
      const kx = t % K;
      const terms = range(PX).map((px) => `${e(px)} * i${ky}_${px + kx}`);
      step.push(`a${co}_${t} += ${terms.join(' + ')};`);
    }
  }

  const setup: string[] = [];
  if (sg) {
    setup.push(
      `// Lane q of each group of LANES loads dy floats f = q, q + LANES, ... of the step's block`,
      `// [co][px]: channel co0 + f / 4 (clamped to COUT: never stored), pixel x0 + f % 4.`,
      `let q = sid % LANES;`,
      ...range(regs).flatMap((k) => [
        `let f${k} = min(${k * LANES}u + q, ${BLOCK - 1}u);`,
        `let px${k} = f${k} % 4u;`,
        `let do${k} = min(co0 + f${k} / 4u, COUT - 1u) * H * W + px${k};`,
      ]),
    );
  } else {
    setup.push(...cos.map((co) => `let drow${co} = min(co0 + ${co}u, COUT - 1u) * H * W;`));
  }
  const accs = [
    ...cos.flatMap((co) => taps.map((t) => `var a${co}_${t} = 0.0;`)),
    ...(sg ? range(regs) : cos).map((k) => `var db${k} = 0.0; // partial bias gradient`),
  ];

  // Stores: dw[co][ci][t] (or the partial sums of chunk s).
  const dst = split ? 'part' : 'dw';
  const base = split ? 'wid.z * STRIDE + ' : '';
  const stores: string[] = [];
  for (const co of cos) {
    stores.push(`if (ok && co0 + ${co}u < COUT) {`);
    stores.push(`  let at = ${base}(co0 + ${co}u) * CIN * KK + ci * KK;`);
    for (const t of taps) stores.push(`  ${dst}[at + ${t}u] = a${co}_${t};`);
    stores.push(`}`);
  }
  // db: the first lane of the first input-channel group sums the per-lane partial sums.
  const dbDst = split ? `part[wid.z * STRIDE + DW + co0 + ` : `db[co0 + `;
  stores.push(`// The bias gradient: per-lane partial sums, added in a fixed order.`);
  const dbTerms: string[][] = cos.map(() => []);
  if (sg) {
    for (const k of range(regs))
      for (const lane of range(LANES)) {
        const f = k * LANES + lane;
        if (f < BLOCK) dbTerms[Math.floor(f / PX)]!.push(`subgroupBroadcast(db${k}, ${lane}u)`);
      }
  } else for (const co of cos) dbTerms[co]!.push(`db${co}`);
  for (const co of cos) stores.push(`let b${co} = ${dbTerms[co]!.join(' + ')};`);
  stores.push(`if (wid.x == 0u && lid == 0u && ok) {`);
  for (const co of cos) stores.push(`  if (co0 + ${co}u < COUT) { ${dbDst}${co}u] = b${co}; }`);
  stores.push(`}`);

  const header = `// ${batchFree(name, N)}: weight and bias gradients of a ${K}x${K} convolution (stride 1, pad ${P}).
//   dw[co, ci, ky, kx] = sum_{n, y, x} dy[n, co, y, x] * x[n, ci, y + ky - ${P}, x + kx - ${P}]    db[co] = sum_{n, y, x} dy[n, co, y, x]
//   x: [N, ${CIN}, ${H}, ${W}]   dy: [N, ${COUT}, ${H}, ${W}]   dw: [${COUT}, ${CIN}, ${K}, ${K}]   db: [${COUT}]
//   The batch N is read at run time: dims.rows = N x H pixel rows, dims.chunk = rows per chunk.
//   Each invocation: ${CO} output channels x 1 input channel (${CO * KK} scalar accumulators), looping over
//   ${split ? `one of ${S} chunks of the N x H pixel rows` : `all N x H pixel rows`}, 4 pixels per step: per step it loads its ${K} x ${WC} x window
//   (masked: zero outside the image) and does ${CO * KK * PX} multiply-adds (unrolled).
//   dy: ${
    sg
      ? `the same for all lanes; each lane of a group of ${LANES} loads ${regs} of the step's ${BLOCK}, shared by\n//   subgroupBroadcast from lanes 0..${LANES - 1}; needs subgroup size >= ${LANES} (checked: writes NaN otherwise)`
      : `every lane loads the step's ${BLOCK} values itself (no subgroups)`
  }.
//   db from the same dy values, summed per lane, then across lanes in a fixed order.
//   Workgroup size ${WG} (one input channel each); dispatch (${p.grid.join(', ')}) = ${p.ciGroups} group${p.ciGroups > 1 ? 's' : ''} of input channels
//   x ${p.coBlocks} block${p.coBlocks > 1 ? 's' : ''} of ${CO} output channels x ${S} chunk${S > 1 ? 's' : ''} of pixel rows.${
    split
      ? `\n//   Writes partial sums: part[s * ${DW + COUT} + i], i < ${DW}: dw; then db. A second pass adds them.`
      : ''
  }`;

  const code = `${header}
${enableSubgroups(sg)}
const CIN: u32 = ${CIN}u;
const H: u32 = ${H}u;
const W: u32 = ${W}u;
const COUT: u32 = ${COUT}u;
const KK: u32 = ${KK}u;                 // taps per filter
const CO_TILE: u32 = ${CO}u;           // output channels per invocation
const TILES_X: u32 = ${tilesX}u;       // steps per row, ceil(W / 4)${
    split
      ? `\nconst DW: u32 = ${DW}u;\nconst STRIDE: u32 = ${DW + COUT}u;    // floats per chunk of partial sums`
      : ''
  }${lanesConst(sg, LANES, 'the shared operand')}

${dims.wgsl}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
${
  split
    ? '@group(0) @binding(2) var<storage, read_write> part: array<f32>; // dwb_partial'
    : '@group(0) @binding(2) var<storage, read_write> dw: array<f32>;\n@group(0) @binding(3) var<storage, read_write> db: array<f32>;'
}

${workgroupMain(WG, sg, true)}
  // Input channel of this invocation: lanes past CIN load channel CIN - 1 (every lane takes part
  // in the broadcasts) and store nothing.
  let gci = wid.x * ${WG}u + lid;
  let ci = min(gci, CIN - 1u);
  let co0 = wid.y * CO_TILE;
  let row0 = min(wid.z * dims.chunk, dims.rows);
  let row1 = min(row0 + dims.chunk, dims.rows); // row0 == row1: an empty chunk, zero sums
${indent(setup, 2)}
${indent(accs, 2)}
  for (var row = row0; row < row1; row++) {
    let n = row / H;
    let y = row % H;
    var dyr = n * COUT * H * W + y * W; // dy[n, 0, y, 0], then column x0
    let xo = (n * CIN + ci) * H * W;
${indent(
  range(K).flatMap((r) => [
    `let iy${r} = ${plus('i32(y)', r - P)};`,
    `let rok${r} = iy${r} >= 0 && iy${r} < i32(H);`,
    `var xr${r} = xo + u32(iy${r} * i32(W)); // x[n, ci, y + ${r - P}, x0]`,
  ]),
  4,
)}
    for (var x0 = 0u; x0 < W; x0 += 4u) {
${indent(step, 6)}
      dyr += 4u;
${indent(
  range(K).map((r) => `xr${r} += 4u;`),
  6,
)}
    }
  }
${subgroupGuard(
  sg,
  'gci < CIN',
  cos.map((co) => `a${co}_0 = nan;`),
)}
${indent(stores, 2)}
}
`;
  const px = N * H * W;
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'x', access: 'read' },
    { binding: 1, tensor: 'dy', access: 'read' },
    ...(split
      ? [{ binding: 2, tensor: 'dwb_partial', access: 'read_write' } as const]
      : [
          { binding: 2, tensor: 'dw', access: 'read_write' } as const,
          { binding: 3, tensor: 'db', access: 'read_write' } as const,
        ]),
  ];
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: p.grid,
    bindings,
    uniforms: dims.uniforms,
    flops: 2 * px * COUT * CIN * KK + px * COUT,
    bytes: f32Bytes(px * CIN + px * COUT + S * (DW + COUT)),
  };
}

/** Adds the S chunks' partial sums, in chunk order, into dw and db. */
function reduceKernel(p: WeightPlan, target: TargetInfo): Kernel {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT } = p.spec;
  const { K, KK, S } = p;
  const DW = COUT * CIN * KK;
  const total = DW + COUT;
  const WG = 64;
  const grid = grid2(Math.ceil(total / WG), 1, target);
  const name = `conv${K}x${K}_bwd_weight_c${CIN}_k${COUT}_${H}x${W}_n${N}_s${S}_sum`;
  const code = `// conv${K}x${K}_bwd_weight_c${CIN}_k${COUT}_${H}x${W}_s${S}_sum: adds the ${S} partial sums of the weight kernel (one per chunk of pixel rows),
// in chunk order (deterministic), into dw [${COUT}, ${CIN}, ${K}, ${K}] and db [${COUT}].
//   part: [${S}, ${total}] (dw then db per chunk)   one invocation per float of dw and db; dispatch (${grid.join(', ')}) x ${WG}.

const S: u32 = ${S}u;
const DW: u32 = ${DW}u;
const TOTAL: u32 = ${total}u;
const GX: u32 = ${grid[0]}u;

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.z * GX + wid.x) * ${WG}u + lid;
  if (i >= TOTAL) { return; }
  var s = 0.0;
  for (var k = 0u; k < S; k++) { s += part[k * TOTAL + i]; }
  if (i < DW) { dw[i] = s; } else { db[i - DW] = s; }
}
`;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: grid,
    bindings: [
      { binding: 0, tensor: 'dwb_partial', access: 'read' },
      { binding: 1, tensor: 'dw', access: 'read_write' },
      { binding: 2, tensor: 'db', access: 'read_write' },
    ],
    flops: S * total,
    bytes: f32Bytes(S * total + total),
  };
}

/**
 * Backward of the fully connected layer y[n, o] = sum_i x[n, i] * w[o, i] + b[o] (compiler/wgsl/fc.ts).
 *
 * - `fcBackwardDataKernels`: dx[n, i] = sum_o dy[n, o] * w[o, i], optionally multiplied by the
 *   ReLU-backward mask of the FC's *input* (`mask_src`, the tensor that fed this FC: dx is zeroed
 *   where mask_src <= 0). That fuses the backward of the ReLU that produced x; the backward of a
 *   ReLU on this FC's own output (`spec.relu`) belongs to whoever produced dy and is ignored here.
 * - `fcBackwardWeightKernels`: dw[o, i] = sum_n dy[n, o] * x[n, i] and db[o] = sum_n dy[n, o].
 *
 * Both keep w / dw in torch Linear layout [OUT, IN] and split it by output rows with `fcChunks`
 * when it exceeds `maxStorageBufferBindingSize`, exactly as the forward does (same chunks, same
 * A-aligned byte ranges), one dispatch per chunk, dispatched in order:
 * - data: chunk 0 writes dx, later chunks add their rows' contribution to it (read-modify-write
 *   in a later dispatch, so ordered by the pass boundary); the mask is applied by the last chunk;
 * - weight: each chunk writes its own rows of dw (bound as that byte range) and of db.
 *
 * Design (lavapipe: loads set the speed, see docs/dawn-and-lavapipe.md). In both kernels the
 * lanes of a workgroup run along `in` (one vec4 of 4 columns per lane when IN % 4 == 0, adjacent
 * lanes read adjacent memory) and the scalar operand that every lane needs (dy) is shared: each
 * lane loads dy for step k + sid % 4 and `subgroupBroadcast` with constant lanes 0..3 hands it to
 * all (4 is WebGPU's minimum subgroup size); without subgroups every lane loads it itself.
 * - data: a lane owns one column vec4 x a tile of up to 8 samples and walks the chunk's rows, so
 *   every weight vec4 is loaded once per batch tile and there is no reduction;
 * - weight: a lane owns one column vec4 x R (default 4) consecutive rows and walks the batch, so
 *   every x vec4 is loaded once per R rows; the lanes of the first column also sum db.
 */
import { chunkBinding, chunkRange, fcChunks, type FcChunk, type FcSpec } from './fc.js';
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import {
  enableSubgroups,
  foldGrid,
  indent,
  partSuffix,
  range,
  requireBindingFits,
  requirePositiveIntegers,
  scope,
  uniformStruct,
  useSubgroups as subgroupsOf,
  vectorOf,
  workgroupMain,
  workgroupMainGrid,
  batchFree,
} from './template.js';

/** The FC layer whose gradients are computed, with the data kernel's fusion flag. */
export interface FcBackwardSpec extends FcSpec {
  /**
   * Data kernel: fuse the ReLU backward of the FC's input: bind 'mask_src' ([N, IN]); dx = 0
   * where it is <= 0. Default false; the weight kernels ignore it.
   */
  readonly mask?: boolean;
}

export interface FcBackwardDataTuning {
  /** Samples per invocation (default 8, whatever the batch, so that every batch shares the code). */
  readonly batchTile?: number;
  /** Invocations per workgroup (default 64). */
  readonly workgroupSize?: number;
  /** Share dy through subgroupBroadcast when the target has subgroups (default true). */
  readonly subgroups?: boolean;
}

export interface FcBackwardWeightTuning {
  /** Output rows per invocation (default 4). */
  readonly rowsPerLane?: number;
  /** Invocations per workgroup (default 64). */
  readonly workgroupSize?: number;
  /** Share dy through subgroupBroadcast when the target has subgroups (default true). */
  readonly subgroups?: boolean;
}

/** The batch and sizes are positive integers and x/dx and dy fit a storage binding. */
export function checkFcSpec(spec: FcSpec, target: TargetInfo, what: string): void {
  const { n, inFeatures, outFeatures } = spec;
  requirePositiveIntegers(what, { n, inFeatures, outFeatures });
  requireBindingFits(`${what}: x/dx`, n * inFeatures, target);
  requireBindingFits(`${what}: dy`, n * outFeatures, target);
}

const positiveInt = (v: number, what: string): number => {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer`);
  return v;
};

/** The kernels of dx = dy . w (one per weight chunk, dispatched in order). */
export function fcBackwardDataKernels(
  spec: FcBackwardSpec,
  target: TargetInfo,
  tuning: FcBackwardDataTuning = {},
): Kernel[] {
  checkFcSpec(spec, target, 'fc backward data');
  const chunks = fcChunks(spec, target);
  return chunks.map((c, i) => dataKernel(spec, target, tuning, c, i, chunks.length));
}

function dataKernel(
  spec: FcBackwardSpec,
  target: TargetInfo,
  options: FcBackwardDataTuning,
  chunk: FcChunk,
  index: number,
  count: number,
): Kernel {
  const { n: N, inFeatures: IN, outFeatures: OUT } = spec;
  const B = positiveInt(options.batchTile ?? 8, 'fc backward: batchTile');
  const WG = Math.min(
    positiveInt(options.workgroupSize ?? 64, 'fc backward: workgroupSize'),
    target.maxComputeInvocationsPerWorkgroup,
  );
  const useSubgroups = subgroupsOf(target, options);
  const first = index === 0;
  const last = index === count - 1;
  const mask = (spec.mask ?? false) && last;
  const { V, T } = vectorOf(IN);
  const K = IN / V; // T per row of w, x, dx
  const colGroups = Math.ceil(K / WG);
  const batchTiles = Math.ceil(N / B);
  const tiles = colGroups * batchTiles;
  const [gx, gy] = foldGrid(tiles, target.maxComputeWorkgroupsPerDimension);
  const bs = range(B);
  const STEP = 4;
  const MAIN = chunk.rows - (chunk.rows % STEP);

  const name = `fc_bwd_data_${IN}x${OUT}_n${N}${spec.mask ? '_mask' : ''}${partSuffix(index, count)}`;
  const dims = uniformStruct(mask ? 4 : 3, { n: N, tiles });
  const { offsetBytes: wOffset, sizeBytes: wSize } = chunkRange(chunk, IN);
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'dy', access: 'read' },
    chunkBinding(1, 'w', 'read', chunk, IN, count > 1),
    { binding: 2, tensor: 'dx', access: 'read_write' },
    ...(mask ? [{ binding: 3, tensor: 'mask_src', access: 'read' } as const] : []),
  ];

  /** One row o of the chunk: the weight vec4 of this lane's column times dy of every sample. */
  const step = (o: string, dyOf: (b: number) => string): string[] => [
    `let wv = w[(${o}) * K + c];`,
    ...bs.map((b) => `acc${b} += wv * ${dyOf(b)};`),
  ];
  const mainBody: string[] = useSubgroups
    ? [
        ...bs.map((b) => `let dv${b} = dy[dyr${b} + o + q];`),
        ...range(STEP).flatMap((j) =>
          scope(step(`o + ${j}u`, (b) => `subgroupBroadcast(dv${b}, ${j}u)`)),
        ),
      ]
    : range(STEP).flatMap((j) => scope(step(`o + ${j}u`, (b) => `dy[dyr${b} + o + ${j}u]`)));
  const tail: string[] = [];
  for (let o = MAIN; o < chunk.rows; o++) {
    tail.push(...scope(step(`${o}u`, (b) => `dy[dyr${b} + ${o}u]`)));
  }
  const store = (b: number): string => `  if (col < K && n0 + ${b}u < dims.n) {
    let idx = (n0 + ${b}u) * K + col;
    ${first ? `let v = acc${b};` : `let v = dx[idx] + acc${b}; // earlier chunks' rows`}
    dx[idx] = ${mask ? `select(${T}(0.0), v, mask_src[idx] > ${T}(0.0)); // ReLU backward of the input` : 'v;'}
  }`;

  const code = `// ${batchFree(name, N)}: backward of a fully connected layer w.r.t. its input, one chunk of weight rows.
//   dx[n, i] ${first ? '=' : '+='} sum_{o in chunk} dy[n, o] * w[o, i]${mask ? '\n//   then dx[n, i] = 0 where mask_src[n, i] <= 0 (fused ReLU backward of the FC input)' : ''}
//   dy: [N, ${OUT}]   w: [${OUT}, ${IN}] (torch Linear layout)   dx: [N, ${IN}]; the batch N is read at run time
//   This kernel: rows ${chunk.row0}..${chunk.row0 + chunk.rows - 1} (chunk ${index + 1} of ${count})${count > 1 ? `; 'w' bound from byte ${wOffset}, ${wSize} bytes` : ''}.
//   Each lane owns one ${V === 4 ? 'vec4 of 4 columns' : 'column'} x ${B} sample(s) and walks the chunk's rows; dy is
//   ${useSubgroups ? 'shared through subgroupBroadcast (lane q loads dy[o + q % 4], lanes 0..3 broadcast)' : 'loaded by every lane'}.
//   Workgroup size ${WG}; ${colGroups} column group(s) x ceil(N / ${B}) batch tile(s) (dims.tiles), the grid folded into 2-D.
${enableSubgroups(useSubgroups)}
${dims.wgsl}

const OUT: u32 = ${OUT}u;
const K: u32 = ${K}u;          // ${T} per row
const ROW0: u32 = ${chunk.row0}u;
const COL_GROUPS: u32 = ${colGroups}u;

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<${T}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${T}>;${mask ? `\n@group(0) @binding(3) var<storage, read> mask_src: array<${T}>;` : ''}

${workgroupMainGrid(WG, useSubgroups)}
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= dims.tiles) { return; } // whole workgroups only: control flow stays uniform
  let col = (tile % COL_GROUPS) * ${WG}u + lid;
  let n0 = (tile / COL_GROUPS) * ${B}u;
  let last = dims.n - 1u;
  // Out-of-range columns and samples are clamped for loading (every lane takes part in the
  // broadcasts) and skipped when storing.
  let c = min(col, K - 1u);
${bs.map((b) => `  let dyr${b} = min(n0 + ${b}u, last) * OUT + ROW0;`).join('\n')}
${bs.map((b) => `  var acc${b} = ${T}(0.0);`).join('\n')}${useSubgroups ? '\n  let q = sid % 4u;' : ''}
  for (var o = 0u; o < ${MAIN}u; o += ${STEP}u) {
${indent(mainBody, 4)}
  }${tail.length ? `\n  // tail: the chunk's last ${chunk.rows - MAIN} row(s)\n${indent(tail, 2)}` : ''}
${bs.map(store).join('\n')}
}
`;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings,
    uniforms: dims.uniforms,
    flops: 2 * N * IN * chunk.rows + (first ? 0 : N * IN),
    bytes: f32Bytes(
      chunk.rows * IN + N * chunk.rows + N * IN * (first ? 1 : 2) + (mask ? N * IN : 0),
    ),
  };
}

/** The kernels of dw = dy^T . x and db = sum_n dy (one per weight chunk). */
export function fcBackwardWeightKernels(
  spec: FcSpec,
  target: TargetInfo,
  tuning: FcBackwardWeightTuning = {},
): Kernel[] {
  checkFcSpec(spec, target, 'fc backward weight');
  const chunks = fcChunks(spec, target);
  return chunks.map((c, i) => weightKernel(spec, target, tuning, c, i, chunks.length));
}

function weightKernel(
  spec: FcSpec,
  target: TargetInfo,
  options: FcBackwardWeightTuning,
  chunk: FcChunk,
  index: number,
  count: number,
): Kernel {
  const { n: N, inFeatures: IN, outFeatures: OUT } = spec;
  const R = positiveInt(options.rowsPerLane ?? 4, 'fc backward: rowsPerLane');
  const WG = Math.min(
    positiveInt(options.workgroupSize ?? 64, 'fc backward: workgroupSize'),
    target.maxComputeInvocationsPerWorkgroup,
  );
  const useSubgroups = subgroupsOf(target, options);
  const { V, T } = vectorOf(IN);
  const K = IN / V;
  const colGroups = Math.ceil(K / WG);
  const rowGroups = Math.ceil(chunk.rows / R);
  const tiles = colGroups * rowGroups;
  const [gx, gy] = foldGrid(tiles, target.maxComputeWorkgroupsPerDimension);
  const rs = range(R);
  const STEP = 4;

  const name = `fc_bwd_weight_${IN}x${OUT}_n${N}${partSuffix(index, count)}`;
  const dims = uniformStruct(4, { n: N });
  const { offsetBytes: wOffset, sizeBytes: wSize } = chunkRange(chunk, IN);
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'x', access: 'read' },
    { binding: 1, tensor: 'dy', access: 'read' },
    chunkBinding(2, 'dw', 'read_write', chunk, IN, count > 1),
    { binding: 3, tensor: 'db', access: 'read_write' },
  ];

  /** One sample: x vec4 of this lane's column times dy of each of the lane's rows. */
  const step = (nn: string, dyOf: (r: number) => string): string[] => [
    `let xv = x[(${nn}) * K + c];`,
    ...rs.flatMap((r) => [
      `let d${r} = ${dyOf(r)};`,
      `acc${r} += d${r} * xv;`,
      `dbs${r} += d${r};`,
    ]),
  ];
  const mainBody: string[] = useSubgroups
    ? [
        ...rs.map((r) => `let dv${r} = dy[(n + q) * OUT + rr${r}];`),
        ...range(STEP).flatMap((j) =>
          scope(step(`n + ${j}u`, (r) => `subgroupBroadcast(dv${r}, ${j}u)`)),
        ),
      ]
    : range(STEP).flatMap((j) => scope(step(`n + ${j}u`, (r) => `dy[(n + ${j}u) * OUT + rr${r}]`)));
  const tail = step('n', (r) => `dy[n * OUT + rr${r}]`);

  const code = `// ${batchFree(name, N)}: backward of a fully connected layer w.r.t. its weight and bias, one chunk of rows.
//   dw[o, i] = sum_n dy[n, o] * x[n, i]      db[o] = sum_n dy[n, o]
//   x: [N, ${IN}]   dy: [N, ${OUT}]   dw: [${OUT}, ${IN}] (torch Linear layout)   db: [${OUT}]
//   The batch N is read at run time (dims.n).
//   This kernel: rows ${chunk.row0}..${chunk.row0 + chunk.rows - 1} (chunk ${index + 1} of ${count})${count > 1 ? `; 'dw' bound from byte ${wOffset}, ${wSize} bytes` : ''}.
//   Each lane owns one ${V === 4 ? 'vec4 of 4 columns' : 'column'} x ${R} row(s) and walks the batch; dy is
//   ${useSubgroups ? 'shared through subgroupBroadcast (lane q loads dy[n + q % 4], lanes 0..3 broadcast)' : 'loaded by every lane'}.
//   The lanes of column 0 also write db for their rows.
//   Workgroup size ${WG}; ${tiles} workgroups = ${colGroups} column group(s) x ${rowGroups} row group(s).
${enableSubgroups(useSubgroups)}
${dims.wgsl}

const OUT: u32 = ${OUT}u;
const K: u32 = ${K}u;          // ${T} per row
const ROW0: u32 = ${chunk.row0}u;
const ROWS: u32 = ${chunk.rows}u;
const COL_GROUPS: u32 = ${colGroups}u;
const TILES: u32 = ${tiles}u;
const GX: u32 = ${gx}u;

@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<${T}>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

${workgroupMain(WG, useSubgroups, false)}
  let tile = wid.x + wid.y * GX;
  if (tile >= TILES) { return; } // whole workgroups only: control flow stays uniform
  let col = (tile % COL_GROUPS) * ${WG}u + lid;
  let row = (tile / COL_GROUPS) * ${R}u; // first row of this lane, chunk-relative
  // Out-of-range columns and rows are clamped for loading and skipped when storing.
  let c = min(col, K - 1u);
${rs.map((r) => `  let rr${r} = ROW0 + min(row + ${r}u, ROWS - 1u);`).join('\n')}
${rs.map((r) => `  var acc${r} = ${T}(0.0);\n  var dbs${r} = 0.0;`).join('\n')}${useSubgroups ? '\n  let q = sid % 4u;' : ''}
  let whole = dims.n - dims.n % ${STEP}u; // samples in whole steps of ${STEP}
  for (var n = 0u; n < whole; n += ${STEP}u) {
${indent(mainBody, 4)}
  }
  // tail: the last dims.n % ${STEP} sample(s)
  for (var n = whole; n < dims.n; n++) {
${indent(tail, 4)}
  }
${rs
  .map(
    (r) => `  if (row + ${r}u < ROWS) {
    if (col < K) { dw[(row + ${r}u) * K + col] = acc${r}; }
    if (col == 0u) { db[ROW0 + row + ${r}u] = dbs${r}; }
  }`,
  )
  .join('\n')}
}
`;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings,
    uniforms: dims.uniforms,
    flops: 2 * N * IN * chunk.rows + N * chunk.rows,
    bytes: f32Bytes(N * IN + N * chunk.rows + chunk.rows * IN + chunk.rows),
  };
}

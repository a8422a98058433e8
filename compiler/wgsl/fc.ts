/**
 * Fully connected layer: y[n, o] = relu?(sum_i x[n, i] * w[o, i] + b[o]), optionally followed by
 * inverted dropout (training only, the fc-dropout fusion): y[n, o] *= keep(n * OUT + o) / (1 - p).
 *
 * x is `[N, IN]` (an NCHW tensor flattened in C x H x W order), w is `[OUT, IN]` (torch Linear
 * layout), b is `[OUT]`, y is `[N, OUT]`. For batch 1 this is a matrix-vector product: memory
 * bound, every weight element is used once per sample. Two designs:
 *
 * 'rows' (the default on a software adapter; loads, not arithmetic, set lavapipe's speed, see
 * docs/dawn-and-lavapipe.md):
 * - every lane owns a few consecutive output rows and walks the whole `in` dimension with vec4
 *   loads, so there is no reduction and every weight vec4 is loaded once per batch tile;
 * - every lane computes a tile of up to 8 samples, so the weight is streamed ceil(N / 8) times;
 * - x is the same for all lanes of a subgroup: each lane of a group of 4 loads one x vec4 and
 *   `subgroupBroadcast` with a constant lane shares it (4 is WebGPU's minimum subgroup size, so
 *   this is valid on every adapter); without subgroups every lane loads x itself.
 *
 * 'reduce' (the default on a hardware GPU): a workgroup owns a few rows; its lanes stride along
 * `in` so that adjacent lanes read adjacent memory (coalesced), and a tree reduction in workgroup
 * memory sums the partial sums. On lavapipe it measured 2-4x slower than 'rows'.
 *
 * A weight larger than `maxStorageBufferBindingSize` (VGG-16's FC6, 392 MiB, on lavapipe's
 * 128 MiB) is split by output rows into chunks; each chunk is its own Kernel that binds its byte
 * range of 'w' (y and b are bound whole).
 *
 * The batch N, the chunk's first row and row count, and the grid (row groups, tiles, width) are
 * read at run time from the uniform struct `dims` (Kernel.uniforms): every chunk, the last and
 * shorter one included, and every batch of 8 or more share one WGSL module and so one pipeline
 * (docs/kernels.md, "Run-time sizes"). The batch tile (min(N, 8) samples per lane) stays a
 * constant: batches below 8 each have their own code.
 *
 * Dropout epilogue: after the bias and the ReLU, each output is scaled by keep(i) / (1 - p) with
 * i = n * OUT + o, its element index in the [N, OUT] output: the index, hash and scale of the
 * standalone dropout kernel on the same tensor (the WGSL is shared, compiler/wgsl/dropout.ts), so
 * the dropout backward regenerates the same mask. The seed block [seed, step, stream, unused] is
 * the 4-u32 read-only binding 'params', bound whole by every chunk.
 */
import { dropoutMaskWgsl } from './dropout.js';
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import {
  enableSubgroups,
  foldGrid,
  gcd,
  indent,
  lcm,
  nameTag,
  partSuffix,
  plural,
  range,
  requirePositiveIntegers,
  scope,
  uniformStruct,
  useSubgroups,
  vectorOf,
  workgroupMain,
} from './template.js';

export interface FcSpec {
  /** Batch size N. */
  readonly n: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Apply ReLU after the bias. */
  readonly relu: boolean;
  /**
   * Inverted dropout after the bias and ReLU, drop probability `p` (binding 'params': the 4-u32
   * seed block of the layer). Training only.
   */
  readonly dropout?: { readonly p: number };
}

/** Tile sizes; defaults are the ones measured fastest on lavapipe. For benchmarks and tests. */
export interface FcTuning {
  /**
   * 'rows': each lane owns whole output rows, no reduction, x shared through subgroups (fastest
   * on lavapipe, where loads dominate). 'reduce': a workgroup's lanes stride along `in` and reduce
   * in workgroup memory (coalesced; for real GPUs). Default: 'rows' on a software adapter.
   */
  readonly design?: 'rows' | 'reduce';
  /** Samples per invocation (default min(N, 8)). */
  readonly batchTile?: number;
  /** Output rows per lane ('rows') or per workgroup ('reduce'); see `defaultRows`. */
  readonly rowsPerLane?: number;
  /** Invocations per workgroup (default 64 for 'rows', 128 for 'reduce'). */
  readonly workgroupSize?: number;
  /** Use subgroupBroadcast for x when the target has subgroups (default true). */
  readonly subgroups?: boolean;
}

/** One chunk of output rows, bound as one byte range of the weight. */
export interface FcChunk {
  readonly row0: number;
  readonly rows: number;
}

/** Byte range of a chunk's rows in a row-major weight of `rowFloats` floats per row. */
export function chunkRange(
  chunk: FcChunk,
  rowFloats: number,
): { offsetBytes: number; sizeBytes: number } {
  return {
    offsetBytes: f32Bytes(chunk.row0 * rowFloats),
    sizeBytes: f32Bytes(chunk.rows * rowFloats),
  };
}

/**
 * The binding of a weight split by rows (`fcChunks`): the chunk's byte range when the weight is
 * split into several chunks, the whole tensor otherwise.
 */
export function chunkBinding(
  binding: number,
  tensor: string,
  access: KernelBinding['access'],
  chunk: FcChunk,
  rowFloats: number,
  split: boolean,
): KernelBinding {
  return split
    ? { binding, tensor, access, ...chunkRange(chunk, rowFloats) }
    : { binding, tensor, access };
}

/**
 * How the weight's output rows are split so that each chunk's binding fits the target. Chunk
 * offsets are multiples of lcm(minStorageBufferOffsetAlignment, 256) bytes; chunks are balanced.
 */
export function fcChunks(spec: FcSpec, target: TargetInfo): FcChunk[] {
  const rowBytes = f32Bytes(spec.inFeatures);
  const total = rowBytes * spec.outFeatures;
  if (total <= target.maxStorageBufferBindingSize) return [{ row0: 0, rows: spec.outFeatures }];
  const align = lcm(target.minStorageBufferOffsetAlignment, 256);
  // Chunk row counts must be multiples of rowAlign so that every chunk offset is aligned.
  const rowAlign = align / gcd(rowBytes, align);
  const fit = Math.floor(target.maxStorageBufferBindingSize / rowBytes);
  const maxRows = fit - (fit % rowAlign);
  if (maxRows < 1) {
    throw new Error(
      `fc: one weight row (${rowBytes} bytes, aligned to ${rowAlign} rows) exceeds the ` +
        `adapter's maxStorageBufferBindingSize (${target.maxStorageBufferBindingSize} bytes)`,
    );
  }
  const count = Math.ceil(spec.outFeatures / maxRows);
  const per = Math.ceil(Math.ceil(spec.outFeatures / count) / rowAlign) * rowAlign;
  const chunks: FcChunk[] = [];
  for (let row0 = 0; row0 < spec.outFeatures; row0 += per) {
    chunks.push({ row0, rows: Math.min(per, spec.outFeatures - row0) });
  }
  return chunks;
}

/** The kernels of one FC layer: one per weight chunk, dispatched in order. */
export function fcKernels(spec: FcSpec, target: TargetInfo, tuning: FcTuning = {}): Kernel[] {
  const { n, inFeatures, outFeatures } = spec;
  requirePositiveIntegers('fc', { n, inFeatures, outFeatures });
  if (f32Bytes(n * inFeatures) > target.maxStorageBufferBindingSize) {
    throw new Error(
      `fc: input of ${f32Bytes(n * inFeatures)} bytes exceeds maxStorageBufferBindingSize`,
    );
  }
  const chunks = fcChunks(spec, target);
  return chunks.map((c, i) => fcChunkKernel(spec, target, tuning, c, i, chunks.length));
}

function fcChunkKernel(
  spec: FcSpec,
  target: TargetInfo,
  tuning: FcTuning,
  chunk: FcChunk,
  index: number,
  count: number,
): Kernel {
  const { n: N, inFeatures: IN, outFeatures: OUT, relu, dropout } = spec;
  const design = tuning.design ?? (target.software ? 'rows' : 'reduce');
  const B = tuning.batchTile ?? Math.min(N, 8);
  const R = tuning.rowsPerLane ?? defaultRows(design, B);
  if (!(B >= 1 && R >= 1 && Number.isInteger(B) && Number.isInteger(R))) {
    throw new Error('fc: batchTile and rowsPerLane must be positive integers');
  }
  // vec4 loads when every row starts on a 16-byte boundary, scalars otherwise.
  const { V, T } = vectorOf(IN);
  const K = IN / V; // elements of type T per row
  const rs = range(R);
  const bs = range(B);
  const hsum = (e: string): string => (V === 4 ? `dot(${e}, vec4<f32>(1.0))` : e);

  let WG = Math.min(
    tuning.workgroupSize ?? (design === 'rows' ? 64 : 128),
    target.maxComputeInvocationsPerWorkgroup,
  );
  if (design === 'reduce') {
    // A power of two (for the tree) whose partial sums fit in workgroup memory.
    WG = 2 ** Math.floor(Math.log2(WG));
    while (WG > 1 && f32Bytes(R * B * WG) > target.maxComputeWorkgroupStorageSize) WG /= 2;
  }
  // Rows covered by one workgroup: one lane per R rows ('rows'), or R rows in all ('reduce').
  const rowsPerGroup = design === 'rows' ? WG * R : R;
  const rowGroups = Math.ceil(chunk.rows / rowsPerGroup);
  const batchTiles = Math.ceil(N / B);
  const [gx, gy] = foldGrid(rowGroups * batchTiles, target.maxComputeWorkgroupsPerDimension);
  const sg = design === 'rows' && useSubgroups(target, tuning);

  const dropTag = dropout ? `_drop${nameTag(dropout.p)}` : '';
  const name = `fc_${IN}x${OUT}_n${N}${relu ? '_relu' : ''}${dropTag}${partSuffix(index, count)}`;
  const dims = uniformStruct(5, {
    n: N,
    row0: chunk.row0,
    rows: chunk.rows,
    row_groups: rowGroups,
    tiles: rowGroups * batchTiles,
    gx,
  });
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'x', access: 'read' },
    chunkBinding(1, 'w', 'read', chunk, IN, count > 1),
    { binding: 2, tensor: 'b', access: 'read' },
    { binding: 3, tensor: 'y', access: 'read_write' },
    ...(dropout ? [{ binding: 4, tensor: 'params', access: 'read' } as const] : []),
  ];

  /**
   * Bias, ReLU, dropout and the store of output (row + r, sample n0 + b), guarded. The dropout
   * mask index is the element's index in y, as the standalone dropout kernel's.
   */
  const activated = relu ? 'max(v, 0.0)' : 'v';
  const store = (r: string, b: string, value: string, pad: string): string =>
    `${pad}if (row + ${r} < ROWS && n0 + ${b} < N) {
${pad}  let v = ${value} + b[ROW0 + row + ${r}];
${
  dropout
    ? `${pad}  let o = (n0 + ${b}) * OUT + ROW0 + row + ${r};
${pad}  y[o] = select(0.0, ${activated} * DROPOUT_SCALE, kept(o, key));`
    : `${pad}  y[(n0 + ${b}) * OUT + ROW0 + row + ${r}] = ${activated};`
}
${pad}}`;

  const what = `${relu ? ' + ReLU' : ''}${dropout ? ` + dropout (p = ${dropout.p})` : ''}`;
  const formula = `${relu ? 'max(0, ' : ''}sum_i x[n, i] * w[o, i] + b[o]${relu ? ')' : ''}`;
  const header = `// fc_${IN}x${OUT}${relu ? '_relu' : ''}${dropTag}: fully connected layer${what}, one chunk of output rows.
//   y[n, o] = ${dropout ? `(${formula}) * keep(n * OUT + o) / (1 - p)` : formula}${
    dropout
      ? '\n//   keep(i): the dropout mask of compiler/wgsl/dropout.ts, key from params = [seed, step, stream, unused].'
      : ''
  }
//   x: [N, ${IN}]   w: [${OUT}, ${IN}] (torch Linear layout)   b: [${OUT}]   y: [N, ${OUT}]
//   This kernel: rows ROW0 .. ROW0 + ROWS - 1 (a chunk, or all of them). When the weight is split,
//   'w' is bound from the chunk's first row; 'b' and 'y' are bound whole and indexed from ROW0.
//   N, the chunk and the grid are read at run time from 'dims'.`;
  const consts = `const OUT: u32 = ${OUT}u;
const K: u32 = ${K}u;         // ${T} per row

// Run-time sizes: the batch n; the chunk's rows row0 .. row0 + rows - 1; the grid: row_groups
// workgroups along the rows, tiles = row groups x batch tiles, gx workgroups along x (the grid is
// folded into 2-D).
${dims.wgsl}

@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> w: array<${T}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;${
    dropout
      ? `\n@group(0) @binding(4) var<storage, read> params: vec4<u32>;\n\n${dropoutMaskWgsl(dropout.p)}`
      : ''
  }`;
  const sizeLets = indent(
    ['N', 'ROW0', 'ROWS', 'ROW_GROUPS', 'TILES'].map((u) => `let ${u} = dims.${u.toLowerCase()};`),
    2,
  );
  // The dropout key, once per invocation (after the early return; it is not a subgroup op).
  const keyLine = dropout ? '\n  let key = dropout_key(params);' : '';
  const loadOffsets = `${rs.map((r) => `  let wr${r} = min(row + ${r}u, ROWS - 1u) * K;`).join('\n')}
${bs.map((b) => `  let xr${b} = min(n0 + ${b}u, N - 1u) * K;`).join('\n')}
${rs.flatMap((r) => bs.map((b) => `  var acc${r}_${b} = ${T}(0.0);`)).join('\n')}`;

  let code: string;
  if (design === 'rows') {
    const STEP = 4; // x elements shared per broadcast round (WebGPU's minimum subgroup size)
    const MAIN = K - (K % STEP);
    /** One step of the inner product: x element `xe(b)` for every sample, weight at `k`. */
    const step = (k: string, xe: (b: number) => string): string[] => [
      ...bs.map((b) => `let xs${b} = ${xe(b)};`),
      ...rs.map((r) => `let w${r} = w[wr${r} + ${k}];`),
      ...rs.flatMap((r) => bs.map((b) => `acc${r}_${b} += w${r} * xs${b};`)),
    ];
    const mainBody: string[] = sg
      ? [
          ...bs.map((b) => `let xv${b} = x[xr${b} + k + q];`),
          ...range(STEP).flatMap((j) => [
            `// x[k + ${j}] from subgroup lane ${j}`,
            ...scope(step(`k + ${j}u`, (b) => `subgroupBroadcast(xv${b}, ${j}u)`)),
          ]),
        ]
      : range(STEP).flatMap((j) => scope(step(`k + ${j}u`, (b) => `x[xr${b} + k + ${j}u]`)));
    const tail: string[] = [];
    for (let k = MAIN; k < K; k++) tail.push(...scope(step(`${k}u`, (b) => `x[xr${b} + ${k}u]`)));
    code = `${header}
//   Design 'rows': each lane owns ${plural(R, 'consecutive row')} x ${plural(B, 'sample')} and walks all of in with
//   ${V === 4 ? 'vec4' : 'scalar'} loads, so each weight element is loaded once per batch tile; no reduction.
//   x is ${sg ? 'shared through subgroupBroadcast: each lane loads x[k + sid % 4], lanes 0..3 broadcast' : 'loaded by every lane'}.
//   Workgroup size ${WG}; dispatch (gx, gy, 1) = ceil(ROWS / ${rowsPerGroup}) row groups x ceil(N / ${B}) batch tiles.
${enableSubgroups(sg)}
${consts}

${workgroupMain(WG, sg, false)}
${sizeLets}
  let tile = wid.x + wid.y * dims.gx;
  if (tile >= TILES) { return; } // whole workgroups only: control flow stays uniform
  let row = ((tile % ROW_GROUPS) * ${WG}u + lid) * ${R}u; // first row of this lane, chunk-relative
  let n0 = (tile / ROW_GROUPS) * ${B}u;                   // first sample of this lane${keyLine}
  // Out-of-range rows and samples are clamped for loading (every lane must take part in the
  // broadcasts) and skipped when storing.
${loadOffsets}${sg ? '\n  let q = sid % 4u;' : ''}
  for (var k = 0u; k < ${MAIN}u; k += ${STEP}u) {
${indent(mainBody, 4)}
  }${tail.length ? `\n  // tail: the last ${K - MAIN} ${T} of each row\n${indent(tail, 2)}` : ''}
${rs.flatMap((r) => bs.map((b) => store(`${r}u`, `${b}u`, hsum(`acc${r}_${b}`), '  '))).join('\n')}
}
`;
  } else {
    const J = R * B; // partial sums per lane
    code = `${header}
//   Design 'reduce': a workgroup owns ${plural(R, 'row')} x ${plural(B, 'sample')}; its ${WG} lanes stride along in
//   (lane l reads ${V === 4 ? 'vec4' : 'element'} l, l + ${WG}, ...: adjacent lanes read adjacent memory), then a tree
//   reduction in workgroup memory sums the ${WG} partial sums of each output.
//   Workgroup size ${WG}; dispatch (gx, gy, 1) = ceil(ROWS / ${rowsPerGroup}) row groups x ceil(N / ${B}) batch tiles.

${consts}

// Partial sums: output j = r * ${B} + b of the workgroup at part[j * ${WG} + lane].
var<workgroup> part: array<f32, ${J * WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${sizeLets}
  let tile = wid.x + wid.y * dims.gx;
  if (tile >= TILES) { return; } // whole workgroups only: barriers stay in uniform control flow
  let row = (tile % ROW_GROUPS) * ${R}u; // first row of this workgroup, chunk-relative
  let n0 = (tile / ROW_GROUPS) * ${B}u;  // first sample of this workgroup${keyLine}
  // Out-of-range rows and samples are clamped for loading and skipped when storing.
${loadOffsets}
  for (var k = lid; k < K; k += ${WG}u) {
${bs.map((b) => `    let xs${b} = x[xr${b} + k];`).join('\n')}
${rs.map((r) => `    let w${r} = w[wr${r} + k];`).join('\n')}
${rs.flatMap((r) => bs.map((b) => `    acc${r}_${b} += w${r} * xs${b};`)).join('\n')}
  }
${rs.flatMap((r) => bs.map((b) => `  part[${r * B + b}u * ${WG}u + lid] = ${hsum(`acc${r}_${b}`)};`)).join('\n')}
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s /= 2u) {
    if (lid < s) {
      for (var j = 0u; j < ${J}u; j++) {
        part[j * ${WG}u + lid] += part[j * ${WG}u + lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid < ${J}u) {
    let r = lid / ${B}u;
    let bb = lid % ${B}u;
${store('r', 'bb', `part[lid * ${WG}u]`, '    ')}
  }
}
`;
  }
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings,
    flops: 2 * N * IN * chunk.rows + N * chunk.rows * (1 + (relu ? 1 : 0) + (dropout ? 1 : 0)),
    bytes: f32Bytes(chunk.rows * IN + N * IN + chunk.rows + N * chunk.rows) + (dropout ? 16 : 0),
    uniforms: dims.uniforms,
  };
}

/**
 * Rows per lane ('rows') or per workgroup ('reduce') by default, for a batch tile of `b` samples.
 * 'rows' on lavapipe (FC6, 25088 -> 4096): 2 rows beat 1 and 4 at batch 1; with a batch tile of
 * 8, 1 row beat 2 (more rows per lane mean more concurrent memory streams and registers).
 */
function defaultRows(design: 'rows' | 'reduce', b: number): number {
  if (design === 'rows') return b <= 2 ? 2 : 1;
  return Math.max(1, Math.min(4, Math.floor(16 / b)));
}

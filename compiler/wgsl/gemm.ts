/**
 * Matrix-product ("GEMM") kernels for the layers that are matrix products: 1x1 convolutions,
 * fully connected layers at batch >= 8 and their gradients (docs/gemm.md).
 *
 * Two templates, both built for what sets the speed on a software adapter (lavapipe: a
 * lane-varying storage load costs ~12 instructions per float, a multiply-add 2 per 8 lanes,
 * `subgroupBroadcast` from a constant lane about nothing; docs/conv-kernel.md,
 * docs/dawn-and-lavapipe.md): every invocation keeps a register tile of accumulators, the operand
 * that all lanes of a workgroup share is loaded by a few lanes and broadcast, the lane-varying
 * operand is loaded as vec4s. No workgroup memory, no barriers, no atomics: every sum runs in a
 * fixed order, so results are deterministic.
 *
 * - `outer` (C = A B, B's rows contiguous along the columns of C): an invocation owns TM rows x
 *   TJ column units (a unit is a vec4 of 4 columns when the row length is a multiple of 4, else
 *   one column) and walks k; per k it loads TJ units of B's row k and TM/LANES values of A's
 *   column k, which `subgroupBroadcast` hands to all lanes. Used by the 1x1 convolution
 *   (Y[n] = W X[n]), the FC data gradient (dX = dY W) and the FC weight gradient (dW = dY^T X,
 *   db = the row sums of dY^T).
 * - `dot` (Y = X W^T, both operands contiguous along k): the FC forward. An invocation owns R
 *   output rows x BT samples; per vec4 of k it loads R vec4s of its rows of W and one vec4 of x
 *   for BT / LANES samples, broadcast to all lanes, and does R x BT vec4 multiply-adds; the 4
 *   lanes of each vec4 accumulator are added at the end.
 *
 * Sizes that vary at run time (batch, spatial size, a weight chunk's first row) come in through
 * the uniform struct (`uniformStruct`), so a batch remainder or a second spatial size reuses the
 * pipeline; the header comment names no such size (the kernel's name does).
 */
import { dropoutMaskWgsl } from './dropout.js';
import { chunkBinding, fcChunks, type FcChunk, type FcSpec } from './fc.js';
import { checkFcSpec, type FcBackwardSpec } from './fc-backward.js';
import type { ConvSpec } from './conv.js';
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo } from './kernel.js';
import {
  defaultLanes,
  enableSubgroups,
  foldGrid,
  indent,
  nameTag,
  partSuffix,
  range,
  requireBindingFits,
  requirePositiveIntegers,
  SUBGROUP_NAN,
  subgroupGuardComment,
  tileWorkgroupSize,
  uniformStruct,
  useSubgroups,
  vectorOf,
} from './template.js';

/** Tile sizes and switches of the GEMM kernels (defaults: the ones measured on lavapipe). */
export interface GemmTuning {
  /** Rows of the register tile: `outer` 8 or 16 (a multiple of the broadcast lanes). */
  readonly tm?: number;
  /** Column units (vec4s, or columns when the rows are not vec4-aligned) of the `outer` tile. */
  readonly tj?: number;
  /** `dot` (FC forward): output rows per invocation. */
  readonly rows?: number;
  /** `dot` (FC forward): samples per invocation, a multiple of the broadcast lanes. */
  readonly batchTile?: number;
  /** Invocations per workgroup; default from the number of tiles (`tileWorkgroupSize`). */
  readonly workgroupSize?: number;
  /** Share the common operand through subgroupBroadcast when the target has subgroups. */
  readonly subgroups?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Where GEMM applies (compiler/algorithms.ts APPLICABLE.gemm)

/** The smallest batch at which an FC layer and its gradients are worth a GEMM. */
export const GEMM_MIN_BATCH = 8;

/**
 * The part of a layer shape (compiler/algorithms.ts `LayerShape`, not imported: that module
 * imports this one) that decides whether a GEMM kernel exists.
 */
export interface GemmLayer {
  readonly op: string;
  readonly n: number;
  readonly kernel: number;
  readonly pad: number;
  readonly pool?: boolean;
}

/**
 * The tunings worth timing for `layer` with the GEMM kernels (`GemmTuning` values); empty where the lowering has no
 * GEMM kernel for it: a 1x1 stride-1 convolution without a fused pool, an FC layer (and its data
 * and weight gradients) at batch >= 8. The FC forward with a fused dropout is covered.
 */
export function applicableGemm(
  layer: GemmLayer,
  target: TargetInfo,
): readonly Readonly<Record<string, number>>[] {
  const sg = target.subgroups;
  switch (layer.op) {
    case 'conv':
      if (layer.kernel !== 1 || layer.pad !== 0 || layer.pool) return [];
      return sg
        ? [
            { tm: 16, tj: 1 },
            { tm: 8, tj: 2 },
          ]
        : [{ tm: 8, tj: 1 }];
    case 'fc':
      if (layer.n < GEMM_MIN_BATCH) return [];
      return [{ rows: 2 }, { rows: 1 }, { rows: 4 }];
    case 'fc-grad-data':
      if (layer.n < GEMM_MIN_BATCH) return [];
      return layer.n >= 16
        ? [
            { tm: 16, tj: 1 },
            { tm: 8, tj: 2 },
          ]
        : [{ tm: 8, tj: 2 }];
    case 'fc-grad-weight':
      if (layer.n < GEMM_MIN_BATCH) return [];
      return [
        { tm: 16, tj: 1 },
        { tm: 8, tj: 2 },
      ];
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------------
// The `outer` template: C (M x COLS) = A (M x K) B (K x COLS), per batch index `bt`

interface OuterParts {
  /** Kernel name (sizes may appear here, never in the code). */
  readonly name: string;
  /** Header lines after the first: what is computed, in terms of the dims.* fields. */
  readonly header: string;
  /** Bindings 0.. of the kernel (the uniform struct goes after them) and their WGSL. */
  readonly bindings: readonly KernelBinding[];
  readonly decls: (T: string) => string;
  /** Run-time sizes: rows M of A and C, the k extent, floats per row of B and C, batch count. */
  readonly m: number;
  readonly k: number;
  readonly cols: number;
  readonly batch: number;
  /** More uniform fields the expressions read (a chunk's first row, a row stride). */
  readonly extra?: Readonly<Record<string, number>>;
  /** A(m, k) as an f32 expression; `m`, `k` are u32 expressions. */
  readonly a: (m: string, k: string) => string;
  /** B(k, unit c) as a T expression (c counts T units of the row). */
  readonly b: (k: string, c: string) => string;
  /** Statements storing `v` (a T) at row `m`, unit `c`; run only inside the tile. */
  readonly store: (m: string, c: string, v: string) => string[];
  /** Statements storing the sum over k of A(m, k) (run by the lane of column unit 0). */
  readonly rowSum?: (m: string, v: string) => string[];
  readonly flops: number;
  readonly bytes: number;
}

const pow2OrThrow = (v: number, allowed: readonly number[], what: string): number => {
  if (!allowed.includes(v)) throw new Error(`gemm: ${what} must be one of ${allowed.join(', ')}`);
  return v;
};

function outerKernel(p: OuterParts, target: TargetInfo, tuning: GemmTuning): Kernel {
  const sg = useSubgroups(target, tuning);
  const LANES = sg ? defaultLanes(target) : 1;
  const TM = pow2OrThrow(tuning.tm ?? (sg ? 16 : 8), [4, 8, 16, 32], 'tm');
  const TJ = pow2OrThrow(tuning.tj ?? 1, [1, 2, 4], 'tj');
  if (TM % LANES !== 0) throw new Error(`gemm: tm ${TM} is not a multiple of ${LANES} lanes`);
  const { V, T } = vectorOf(p.cols);
  const units = p.cols / V;
  const colTiles = Math.ceil(units / TJ);
  const WG = Math.min(
    tuning.workgroupSize ?? tileWorkgroupSize(colTiles, target.software),
    target.maxComputeInvocationsPerWorkgroup,
  );
  const colGroups = Math.ceil(colTiles / WG);
  const mBlocks = Math.ceil(p.m / TM);
  const tiles = colGroups * mBlocks * p.batch;
  const [gx, gy] = foldGrid(tiles, target.maxComputeWorkgroupsPerDimension, p.name);
  const binding = p.bindings.length;
  const { wgsl, uniforms } = uniformStruct(binding, {
    m: p.m,
    k: p.k,
    units,
    col_groups: colGroups,
    m_blocks: mBlocks,
    tiles,
    gx,
    ...p.extra,
  });
  const ms = range(TM);
  const js = range(TJ);
  const regs = TM / LANES;
  const aOf = (m: number): string =>
    sg ? `subgroupBroadcast(a${Math.floor(m / LANES)}, ${m % LANES}u)` : `a${m}`;
  const body: string[] = [
    ...(sg
      ? range(regs).map((r) => `let a${r} = ${p.a(`ma${r}`, 'k')};`)
      : ms.map((m) => `let a${m} = ${p.a(`ma${m}`, 'k')};`)),
    ...js.map((j) => `let b${j} = ${p.b('k', `cu${j}`)};`),
    ...ms.flatMap((m) => [
      `{ let a = ${aOf(m)};`,
      ...js.map((j) => `  acc${m}_${j} += a * b${j};`),
      ...(p.rowSum ? [`  rs${m} += a;`] : []),
      '}',
    ]),
  ];
  const loadRows = sg
    ? range(regs).map((r) => `let ma${r} = min(m0 + q + ${r * LANES}u, dims.m - 1u);`)
    : ms.map((m) => `let ma${m} = min(m0 + ${m}u, dims.m - 1u);`);
  const bad = sg ? 'sgsize < LANES' : 'false';
  const guarded = (v: string): string => (sg ? `select(${v}, ${T}(${SUBGROUP_NAN}), bad)` : v);
  const stores = ms.flatMap((m) => [
    `if (m0 + ${m}u < dims.m) {`,
    ...js.flatMap((j) => [
      `  if (c0 + ${j}u < dims.units) {`,
      ...p.store(`(m0 + ${m}u)`, `(c0 + ${j}u)`, guarded(`acc${m}_${j}`)).map((l) => `    ${l}`),
      '  }',
    ]),
    ...(p.rowSum
      ? [
          '  if (ct == 0u) {',
          ...p
            .rowSum(`(m0 + ${m}u)`, sg ? `select(rs${m}, ${SUBGROUP_NAN}, bad)` : `rs${m}`)
            .map((l) => `    ${l}`),
          '  }',
        ]
      : []),
    '}',
  ]);
  const code = `// gemm outer product: ${p.header}
//   Register tile: ${TM} rows x ${TJ} ${T} column unit(s) per invocation (${TM * TJ} ${T} accumulators); each
//   step of k loads ${TJ} ${T} of B's row k per lane, and A's ${TM} values of column k ${
    sg
      ? `are loaded ${regs} per lane by lanes 0..${LANES - 1}\n//   of each subgroup and shared by subgroupBroadcast (needs subgroup size >= ${LANES}: NaN otherwise)`
      : 'are loaded by every lane (no subgroups)'
  }.
//   Workgroup size ${WG}: the lanes of a workgroup share the rows m0.. and differ in the columns.
//   Grid: column groups x row blocks x batch, folded into 2-D (sizes in the uniform struct).
${enableSubgroups(sg)}
const LANES: u32 = ${LANES}u;
${wgsl}
${p.decls(T)}

@compute @workgroup_size(${WG})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,${sg ? '\n  @builtin(subgroup_invocation_id) sid: u32,\n  @builtin(subgroup_size) sgsize: u32,' : ''}
) {
  let tile = wid.x + wid.y * dims.gx;
  if (tile >= dims.tiles) { return; } // whole workgroups only: the broadcasts stay uniform
  let ct = (tile % dims.col_groups) * ${WG}u + lid; // this lane's column tile
  let rest = tile / dims.col_groups;
  let m0 = (rest % dims.m_blocks) * ${TM}u;         // the workgroup's first row
  let bt = rest / dims.m_blocks;                   // batch index
  let c0 = ct * ${TJ}u;                               // first column unit
  // Rows and columns past the end are clamped for loading (every lane takes part in the
  // broadcasts) and skipped when storing.${sg ? '\n  let q = sid % LANES;' : ''}
${indent(loadRows, 2)}
${indent(
  js.map((j) => `let cu${j} = min(c0 + ${j}u, dims.units - 1u);`),
  2,
)}
${indent(
  ms.flatMap((m) => [
    js.map((j) => `var acc${m}_${j} = ${T}(0.0);`).join(' '),
    ...(p.rowSum ? [`var rs${m} = 0.0;`] : []),
  ]),
  2,
)}
  for (var k = 0u; k < dims.k; k++) {
${indent(body, 4)}
  }
${sg ? `  ${subgroupGuardComment('LANES')}\n  let bad = ${bad};\n` : ''}${indent(stores, 2)}
}
`;
  return {
    name: p.name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings: p.bindings,
    flops: p.flops,
    bytes: p.bytes,
    uniforms,
  };
}

// ---------------------------------------------------------------------------------------------
// 1x1 convolution: Y[n] (COUT x HW) = W (COUT x CIN) X[n] (CIN x HW), bias, ReLU

/** The kernel of a 1x1, pad 0, stride 1 convolution (no fused pool) as a matrix product. */
export function gemmConv1x1Kernels(
  spec: ConvSpec,
  target: TargetInfo,
  tuning: GemmTuning = {},
): Kernel[] {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT, relu } = spec;
  requirePositiveIntegers('gemm conv', { n: N, cin: CIN, h: H, w: W, cout: COUT });
  if (spec.kernel !== 1 || spec.pad !== 0 || spec.pool) {
    throw new Error('gemm conv: only a 1x1 convolution, pad 0, without a fused pool');
  }
  const HW = H * W;
  requireBindingFits('gemm conv: x', N * CIN * HW, target);
  requireBindingFits('gemm conv: y', N * COUT * HW, target);
  const act = (v: string, T: string): string => (relu ? `max(${v}, ${T}(0.0))` : v);
  return [
    outerKernel(
      {
        name: `gemm_conv1x1_c${CIN}_k${COUT}_${H}x${W}_n${N}${relu ? '_relu' : ''}`,
        header: `1x1 convolution${relu ? ' + ReLU' : ''}, y[n] = ${relu ? 'relu(' : ''}W x[n] + b${relu ? ')' : ''}.
//   x: [N, CIN, HW]   w: [COUT, CIN] (torch [COUT, CIN, 1, 1])   b: [COUT]   y: [N, COUT, HW]
//   A = w (rows: output channels, k: input channels), B = x[n] (k x HW), batch = n;
//   dims.m = COUT, dims.k = CIN, dims.units = HW in column units.`,
        bindings: [
          { binding: 0, tensor: 'x', access: 'read' },
          { binding: 1, tensor: 'w', access: 'read' },
          { binding: 2, tensor: 'b', access: 'read' },
          { binding: 3, tensor: 'y', access: 'read_write' },
        ],
        decls: (T) => `@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<${T}>;`,
        m: COUT,
        k: CIN,
        cols: HW,
        batch: N,
        a: (m, k) => `w[${m} * dims.k + ${k}]`,
        b: (k, c) => `x[(bt * dims.k + ${k}) * dims.units + ${c}]`,
        store: (m, c, v) => [
          `y[(bt * dims.m + ${m}) * dims.units + ${c}] = ${act(`${v} + b[${m}]`, vectorOf(HW).T)};`,
        ],
        flops: 2 * N * COUT * CIN * HW + N * COUT * HW * (relu ? 2 : 1),
        bytes: f32Bytes(N * CIN * HW + COUT * CIN + COUT + N * COUT * HW),
      },
      target,
      tuning,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// FC gradients: dX = dY W (per weight chunk), dW = dY^T X and db = column sums of dY

/**
 * dx[n, i] = sum_o dy[n, o] w[o, i] (masked by `mask_src > 0` when `spec.mask`), one kernel per
 * weight chunk (`fcChunks`, as the direct kernels of compiler/wgsl/fc-backward.ts): the first
 * chunk writes dx, later ones add to it, the last applies the mask.
 */
export function gemmFcBackwardDataKernels(
  spec: FcBackwardSpec,
  target: TargetInfo,
  tuning: GemmTuning = {},
): Kernel[] {
  checkFcSpec(spec, target, 'gemm fc backward data');
  const { n: N, inFeatures: IN, outFeatures: OUT } = spec;
  const chunks = fcChunks(spec, target);
  const sgTm = N >= 16 ? 16 : 8;
  const t: GemmTuning = {
    tm: useSubgroups(target, tuning) ? sgTm : 8,
    tj: N >= 16 ? 1 : 2,
    ...tuning,
  };
  return chunks.map((chunk, index) => {
    const first = index === 0;
    const mask = (spec.mask ?? false) && index === chunks.length - 1;
    const { T } = vectorOf(IN);
    return outerKernel(
      {
        name: `gemm_fc_bwd_data_${IN}x${OUT}_n${N}${spec.mask ? '_mask' : ''}${partSuffix(index, chunks.length)}`,
        header: `FC data gradient, one chunk of weight rows: dx[n, i] ${first ? '=' : '+='} sum_{o in chunk} dy[n, o] w[o, i]${
          mask
            ? ',\n//   then dx = 0 where mask_src <= 0 (the fused ReLU backward of the FC input)'
            : ''
        }.
//   dy: [N, OUT]   w: this chunk's rows of [OUT, IN]   dx: [N, IN]
//   A = dy (rows: samples, k: the chunk's rows, from dims.row0), B = w; dims.m = N, dims.k = rows.`,
        bindings: [
          { binding: 0, tensor: 'dy', access: 'read' },
          chunkBinding(1, 'w', 'read', chunk, IN, chunks.length > 1),
          { binding: 2, tensor: 'dx', access: 'read_write' },
          ...(mask ? [{ binding: 3, tensor: 'mask_src', access: 'read' } as const] : []),
        ],
        decls: (T) => `@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<${T}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${T}>;${
          mask ? `\n@group(0) @binding(3) var<storage, read> mask_src: array<${T}>;` : ''
        }`,
        m: N,
        k: chunk.rows,
        cols: IN,
        batch: 1,
        extra: { out: OUT, row0: chunk.row0 },
        a: (m, k) => `dy[${m} * dims.out + dims.row0 + ${k}]`,
        b: (k, c) => `w[${k} * dims.units + ${c}]`,
        store: (m, c, v) => [
          `let at = ${m} * dims.units + ${c};`,
          first ? `let v = ${v};` : `let v = dx[at] + ${v}; // earlier chunks' rows`,
          mask
            ? `dx[at] = select(${T}(0.0), v, mask_src[at] > ${T}(0.0)); // ReLU backward of the input`
            : 'dx[at] = v;',
        ],
        flops: 2 * N * IN * chunk.rows + (first ? 0 : N * IN),
        bytes: f32Bytes(
          chunk.rows * IN + N * chunk.rows + N * IN * (first ? 1 : 2) + (mask ? N * IN : 0),
        ),
      },
      target,
      t,
    );
  });
}

/** dw[o, i] = sum_n dy[n, o] x[n, i], db[o] = sum_n dy[n, o], one kernel per chunk of rows. */
export function gemmFcBackwardWeightKernels(
  spec: FcSpec,
  target: TargetInfo,
  tuning: GemmTuning = {},
): Kernel[] {
  checkFcSpec(spec, target, 'gemm fc backward weight');
  const { n: N, inFeatures: IN, outFeatures: OUT } = spec;
  const chunks = fcChunks(spec, target);
  return chunks.map((chunk, index) =>
    outerKernel(
      {
        name: `gemm_fc_bwd_weight_${IN}x${OUT}_n${N}${partSuffix(index, chunks.length)}`,
        header: `FC weight gradient, one chunk of rows: dw[o, i] = sum_n dy[n, o] x[n, i], db[o] = sum_n dy[n, o].
//   x: [N, IN]   dy: [N, OUT]   dw: this chunk's rows of [OUT, IN]   db: [OUT]
//   A = dy^T (rows: the chunk's rows, from dims.row0; k: samples), B = x; dims.m = rows, dims.k = N.
//   db: the row sums of A, summed by every lane from the broadcast values, stored by column tile 0.`,
        bindings: [
          { binding: 0, tensor: 'x', access: 'read' },
          { binding: 1, tensor: 'dy', access: 'read' },
          chunkBinding(2, 'dw', 'read_write', chunk, IN, chunks.length > 1),
          { binding: 3, tensor: 'db', access: 'read_write' },
        ],
        decls: (T) => `@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<${T}>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;`,
        m: chunk.rows,
        k: N,
        cols: IN,
        batch: 1,
        extra: { out: OUT, row0: chunk.row0 },
        a: (m, k) => `dy[${k} * dims.out + dims.row0 + ${m}]`,
        b: (k, c) => `x[${k} * dims.units + ${c}]`,
        store: (m, c, v) => [`dw[${m} * dims.units + ${c}] = ${v};`],
        rowSum: (m, v) => [`db[dims.row0 + ${m}] = ${v};`],
        flops: 2 * N * IN * chunk.rows + N * chunk.rows,
        bytes: f32Bytes(N * IN + N * chunk.rows + chunk.rows * IN + chunk.rows),
      },
      target,
      { tm: useSubgroups(target, tuning) ? 16 : 8, ...tuning },
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// FC forward: Y (N x OUT) = X (N x IN) W^T + b, ReLU, dropout; one kernel per weight chunk

/** The kernels of an FC layer (batch >= 8 is where they pay): one per weight chunk. */
export function gemmFcKernels(spec: FcSpec, target: TargetInfo, tuning: GemmTuning = {}): Kernel[] {
  checkFcSpec(spec, target, 'gemm fc');
  const chunks = fcChunks(spec, target);
  return chunks.map((c, i) => fcDotKernel(spec, target, tuning, c, i, chunks.length));
}

function fcDotKernel(
  spec: FcSpec,
  target: TargetInfo,
  tuning: GemmTuning,
  chunk: FcChunk,
  index: number,
  count: number,
): Kernel {
  const { n: N, inFeatures: IN, outFeatures: OUT, relu, dropout } = spec;
  const sg = useSubgroups(target, tuning);
  const LANES = sg ? defaultLanes(target) : 1;
  const R = tuning.rows ?? 2;
  const BT = tuning.batchTile ?? 8;
  requirePositiveIntegers('gemm fc', { rows: R, batchTile: BT });
  if (BT % LANES !== 0) throw new Error(`gemm fc: batchTile ${BT} is not a multiple of ${LANES}`);
  const { V, T } = vectorOf(IN);
  const K = IN / V;
  const rowTiles = Math.ceil(chunk.rows / R);
  const WG = Math.min(
    tuning.workgroupSize ?? tileWorkgroupSize(rowTiles, target.software),
    target.maxComputeInvocationsPerWorkgroup,
  );
  const rowGroups = Math.ceil(rowTiles / WG);
  const tiles = rowGroups * Math.ceil(N / BT);
  const [gx, gy] = foldGrid(tiles, target.maxComputeWorkgroupsPerDimension, 'gemm fc');
  const { wgsl, uniforms } = uniformStruct(dropout ? 5 : 4, {
    n: N,
    out: OUT,
    k: K,
    row0: chunk.row0,
    rows: chunk.rows,
    row_groups: rowGroups,
    tiles,
    gx,
  });
  const rs = range(R);
  const bs = range(BT);
  const regs = BT / LANES;
  const hsum = (e: string): string => (V === 4 ? `dot(${e}, vec4<f32>(1.0))` : e);
  const xOf = (s: number): string =>
    sg ? `subgroupBroadcast(xv${Math.floor(s / LANES)}, ${s % LANES}u)` : `xv${s}`;
  const body = [
    ...(sg
      ? range(regs).map((r) => `let xv${r} = x[xr${r} + k];`)
      : bs.map((s) => `let xv${s} = x[xr${s} + k];`)),
    ...rs.map((r) => `let w${r} = w[wr${r} + k];`),
    ...bs.flatMap((s) => [
      `{ let xs = ${xOf(s)};`,
      ...rs.map((r) => `  acc${r}_${s} += w${r} * xs;`),
      '}',
    ]),
  ];
  const xRows = sg
    ? range(regs).map((r) => `let xr${r} = min(n0 + q + ${r * LANES}u, dims.n - 1u) * dims.k;`)
    : bs.map((s) => `let xr${s} = min(n0 + ${s}u, dims.n - 1u) * dims.k;`);
  const activated = relu ? 'max(v, 0.0)' : 'v';
  const stores = rs.flatMap((r) =>
    bs.flatMap((s) => [
      `if (row + ${r}u < dims.rows && n0 + ${s}u < dims.n) {`,
      `  let v = ${sg ? `select(${hsum(`acc${r}_${s}`)}, ${SUBGROUP_NAN}, bad)` : hsum(`acc${r}_${s}`)} + b[dims.row0 + row + ${r}u];`,
      `  let o = (n0 + ${s}u) * dims.out + dims.row0 + row + ${r}u;`,
      dropout
        ? `  y[o] = select(0.0, ${activated} * DROPOUT_SCALE, kept(o, key));`
        : `  y[o] = ${activated};`,
      '}',
    ]),
  );
  const dropTag = dropout ? `_drop${nameTag(dropout.p)}` : '';
  const name = `gemm_fc_${IN}x${OUT}_n${N}${relu ? '_relu' : ''}${dropTag}${partSuffix(index, count)}`;
  const code = `// gemm fc: fully connected layer${relu ? ' + ReLU' : ''}${dropout ? ` + dropout (p = ${dropout.p})` : ''}, one chunk of output rows (from dims.row0).
//   y[n, o] = ${relu ? 'max(0, ' : ''}sum_i x[n, i] w[o, i] + b[o]${relu ? ')' : ''}${dropout ? ', times keep(n * OUT + o) / (1 - p) (mask of compiler/wgsl/dropout.ts)' : ''}
//   x: [N, IN]   w: this chunk's rows of [OUT, IN] (torch Linear layout)   b: [OUT]   y: [N, OUT]
//   Register tile: ${R} row(s) x ${BT} samples per invocation (${R * BT} ${T} accumulators). Per ${T} of k a lane
//   loads its rows' ${R} ${T} of w and ${
    sg
      ? `${regs} ${T} of x (lanes 0..${LANES - 1} of each subgroup hold the ${BT} samples,\n//   shared by subgroupBroadcast; needs subgroup size >= ${LANES}: NaN otherwise)`
      : `the ${BT} samples' ${T} of x itself (no subgroups)`
  }.
//   Workgroup size ${WG}: the lanes share the samples n0.. and differ in the rows.
${enableSubgroups(sg)}
${wgsl}
@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> w: array<${T}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;${
    dropout
      ? `\n@group(0) @binding(4) var<storage, read> params: vec4<u32>;\n\n${dropoutMaskWgsl(dropout.p)}`
      : ''
  }

@compute @workgroup_size(${WG})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,${sg ? '\n  @builtin(subgroup_invocation_id) sid: u32,\n  @builtin(subgroup_size) sgsize: u32,' : ''}
) {
  let tile = wid.x + wid.y * dims.gx;
  if (tile >= dims.tiles) { return; } // whole workgroups only: the broadcasts stay uniform
  let row = ((tile % dims.row_groups) * ${WG}u + lid) * ${R}u; // chunk-relative
  let n0 = (tile / dims.row_groups) * ${BT}u;${dropout ? '\n  let key = dropout_key(params);' : ''}
  // Rows and samples past the end are clamped for loading and skipped when storing.${sg ? `\n  let q = sid % ${LANES}u;` : ''}
${indent(xRows, 2)}
${indent(
  rs.map((r) => `let wr${r} = min(row + ${r}u, dims.rows - 1u) * dims.k;`),
  2,
)}
${indent(
  rs.map((r) => bs.map((s) => `var acc${r}_${s} = ${T}(0.0);`).join(' ')),
  2,
)}
  for (var k = 0u; k < dims.k; k++) {
${indent(body, 4)}
  }
${sg ? `  ${subgroupGuardComment(String(LANES))}\n  let bad = sgsize < ${LANES}u;\n` : ''}${indent(stores, 2)}
}
`;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WG, 1, 1],
    dispatch: [gx, gy, 1],
    bindings: [
      { binding: 0, tensor: 'x', access: 'read' },
      chunkBinding(1, 'w', 'read', chunk, IN, count > 1),
      { binding: 2, tensor: 'b', access: 'read' },
      { binding: 3, tensor: 'y', access: 'read_write' },
      ...(dropout ? [{ binding: 4, tensor: 'params', access: 'read' } as const] : []),
    ],
    flops: 2 * N * IN * chunk.rows + N * chunk.rows * (1 + (relu ? 1 : 0) + (dropout ? 1 : 0)),
    bytes: f32Bytes(chunk.rows * IN + N * IN + chunk.rows + N * chunk.rows) + (dropout ? 16 : 0),
    uniforms,
  };
}

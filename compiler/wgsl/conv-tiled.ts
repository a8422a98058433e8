/**
 * 3x3 convolution, stride 1, pad 1, for real GPUs: workgroup-memory tiling and large register
 * tiles, y = relu?(conv(x, w) + b). Same tensors and layouts as compiler/wgsl/conv.ts (x
 * `[N, CIN, H, W]`, w `[COUT, CIN, 3, 3]`, b `[COUT]`, y `[N, COUT, H, W]`); no fused pool.
 *
 * conv.ts is built for the software adapter, where every load with a lane-varying address is a
 * per-lane loop and barriers are slow (docs/conv-kernel.md). A GPU rewards the opposite: shared
 * workgroup memory with barriers, and many multiply-adds per value loaded from it. So:
 *
 * - a workgroup owns an output block of CO_WG channels x TH rows x TW columns of one image;
 * - it walks the input channels CI_C at a time: all its invocations together copy the block's
 *   (TH + 2) x (TW + 2) input window of those channels (zero outside the image) and their
 *   3 x 3 x CO_WG weights into workgroup memory, then a barrier;
 * - each invocation then computes CO_T channels x PY rows x PX columns (CO_T / 4 x PY x PX vec4
 *   accumulators, four output channels per vec4): per input channel it reads its
 *   (PY + 2) x (PX + 2) input values and 9 x CO_T / 4 weight vec4s from workgroup memory and does
 *   9 x PY x PX x CO_T / 4 vec4 multiply-adds; a barrier before the next channels are copied;
 * - the bias and ReLU are applied on the way out; rows, columns and channels past the tensor's
 *   edges are masked, so any H, W, CIN and COUT work.
 *
 * With `storage: 'f16'` (compiler/wgsl/conv-f16.ts) x, w and y are f16 in memory and in workgroup
 * memory (half the bytes, so twice the channels per copy), products and sums in f32.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import type { ConvSpec } from './conv.js';
import { foldGrid, indent, range } from './template.js';

/** Tile sizes; the defaults suit a large GPU (16 x 16 pixels x 32 channels per workgroup). */
export interface ConvTiledTuning {
  /** Output columns and rows per workgroup (default 16 x 16). */
  readonly tileW?: number;
  readonly tileH?: number;
  /** Output channels per workgroup, a multiple of coT (default 32). */
  readonly coWg?: number;
  /** Output channels per invocation, a multiple of 4 (default 8). */
  readonly coT?: number;
  /** Output columns and rows per invocation (default 2 x 2); must divide tileW and tileH. */
  readonly px?: number;
  readonly py?: number;
  /** Input channels per workgroup-memory copy (default: as many as fit, at most 8 / 16 for f16). */
  readonly ciChunk?: number;
  /** Element type of x, w and y in memory: 'f32' (default) or 'f16' (needs shader-f16). */
  readonly storage?: 'f32' | 'f16';
}

interface Tiles {
  readonly tileW: number;
  readonly tileH: number;
  readonly coWg: number;
  readonly coT: number;
  readonly px: number;
  readonly py: number;
  readonly ciChunk: number;
  readonly storage: 'f32' | 'f16';
  readonly threads: number;
  /** Workgroup memory in bytes: the input window and the weight block of one copy. */
  readonly shared: number;
}

function tilesOf(spec: ConvSpec, target: TargetInfo, t: ConvTiledTuning): Tiles {
  const { n, cin, h, w, cout } = spec;
  for (const [k, v] of Object.entries({ n, cin, h, w, cout })) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`conv-tiled: ${k} must be a positive integer`);
  }
  if (spec.kernel !== 3 || spec.pad !== 1) throw new Error('conv-tiled: only 3x3 with pad 1');
  if (spec.pool) throw new Error('conv-tiled: no fused pool');
  const storage = t.storage ?? 'f32';
  const tileW = t.tileW ?? 16;
  const tileH = t.tileH ?? 16;
  const coT = t.coT ?? 8;
  const coWg = t.coWg ?? Math.min(32, Math.ceil(cout / coT) * coT);
  const px = t.px ?? 2;
  const py = t.py ?? 2;
  if (coT % 4 !== 0 || coT < 4) throw new Error('conv-tiled: coT must be a multiple of 4');
  if (coWg % coT !== 0) throw new Error('conv-tiled: coWg must be a multiple of coT');
  if (tileW % px !== 0 || tileH % py !== 0)
    throw new Error('conv-tiled: px, py must divide the tile');
  const threads = (tileW / px) * (tileH / py) * (coWg / coT);
  if (threads > target.maxComputeInvocationsPerWorkgroup)
    throw new Error(`conv-tiled: ${threads} invocations per workgroup exceed the target's limit`);
  const elem = storage === 'f16' ? 2 : 4;
  const perChannel = (tileH + 2) * (tileW + 2) * elem + 9 * coWg * elem;
  const fit = Math.floor(target.maxComputeWorkgroupStorageSize / perChannel);
  const ciChunk = Math.min(t.ciChunk ?? (storage === 'f16' ? 16 : 8), fit, cin);
  if (ciChunk < 1) throw new Error('conv-tiled: the tile does not fit in workgroup memory');
  return {
    tileW,
    tileH,
    coWg,
    coT,
    px,
    py,
    ciChunk,
    storage,
    threads,
    shared: ciChunk * perChannel,
  };
}

/** One kernel: the whole convolution. Needs `shader-f16` on the device for storage 'f16'. */
export function convTiledKernels(
  spec: ConvSpec,
  target: TargetInfo,
  tuning: ConvTiledTuning = {},
): Kernel[] {
  const T = tilesOf(spec, target, tuning);
  const { n, cin, h, w, cout, relu } = spec;
  const { tileW, tileH, coWg, coT, px, py, ciChunk: CC, storage } = T;
  const SW = tileW + 2;
  const SH = tileH + 2;
  const C4 = coT / 4;
  const WG4 = coWg / 4;
  const tilesX = Math.ceil(w / tileW);
  const tilesY = Math.ceil(h / tileH);
  const coBlocks = Math.ceil(cout / coWg);
  const [gx, gy] = foldGrid(tilesX * tilesY * coBlocks, target.maxComputeWorkgroupsPerDimension);
  if (n > target.maxComputeWorkgroupsPerDimension) throw new Error('conv-tiled: batch too large');
  const elem = storage === 'f16' ? 2 : 4;
  const largest = Math.max(n * cin * h * w, n * cout * h * w, cout * cin * 9) * elem;
  if (largest > target.maxStorageBufferBindingSize)
    throw new Error(`conv-tiled: a tensor of ${largest} bytes exceeds maxStorageBufferBindingSize`);
  const S = storage; // WGSL element type in memory
  const f = (e: string) => (S === 'f16' ? `f32(${e})` : e);
  const toS = (e: string) => (S === 'f16' ? `f16(${e})` : e);
  const vS = S === 'f16' ? 'vec4<f16>' : 'vec4<f32>';
  const wv = (e: string) => (S === 'f16' ? `vec4<f32>(${e})` : e);

  // The register tile: acc_r_c_q holds output channels 4q..4q+3 of row r, column c.
  const accs = range(py).flatMap((r) =>
    range(px).flatMap((c) => range(C4).map((q) => `acc_${r}_${c}_${q}`)),
  );
  // One block per tap, so that each declares its own weight vec4s.
  const tap = (ky: number, kx: number) => [
    ...range(C4).map(
      (q) => `let w${q} = ${wv(`ws[(ci * 9u + ${ky * 3 + kx}u) * ${WG4}u + cq + ${q}u]`)};`,
    ),
    ...range(py).flatMap((r) =>
      range(px).flatMap((c) =>
        range(C4).map(
          (q) =>
            `acc_${r}_${c}_${q} = fma(vec4<f32>(v_${r + ky}_${c + kx}), w${q}, acc_${r}_${c}_${q});`,
        ),
      ),
    ),
  ];
  const mac = range(9).map((t) => `{\n${indent(tap(Math.floor(t / 3), t % 3), 2)}\n}`);
  const window = range(py + 2).flatMap((r) =>
    range(px + 2).map((c) => `let v_${r}_${c} = ${f(`xs[xb + ${r * SW + c}u]`)};`),
  );
  const stores = range(py).flatMap((r) =>
    range(px).flatMap((c) =>
      range(C4).flatMap((q) =>
        range(4).map((e) => {
          const v = `acc_${r}_${c}_${q}[${e}] + b[co0 + ${q * 4 + e}u]`;
          return [
            `if (co0 + ${q * 4 + e}u < COUT && oy0 + ${r}u < H && ox0 + ${c}u < W) {`,
            `  y[((nimg * COUT + co0 + ${q * 4 + e}u) * H + oy0 + ${r}u) * W + ox0 + ${c}u] = ${toS(relu ? `max(${v}, 0.0)` : v)};`,
            `}`,
          ].join('\n');
        }),
      ),
    ),
  );
  const name = `conv3x3_tiled${S === 'f16' ? '_f16' : ''}_c${cin}_k${cout}_${h}x${w}_n${n}${relu ? '_relu' : ''}`;
  const code = `// ${name}: y = ${relu ? 'relu(' : ''}conv3x3(x, w) + b${relu ? ')' : ''}, pad 1, workgroup-memory tiled
// (compiler/wgsl/conv-tiled.ts). x [${n}, ${cin}, ${h}, ${w}], w [${cout}, ${cin}, 3, 3], b [${cout}], y [${n}, ${cout}, ${h}, ${w}];
// ${S} in memory, f32 arithmetic. Workgroup: ${coWg} channels x ${tileH} x ${tileW} pixels, ${T.threads} invocations of
// ${coT} channels x ${py} x ${px} pixels each; ${CC} input channels per copy (${T.shared} bytes of workgroup memory).
// Dispatch [${gx}, ${gy}, ${n}]: x, y = (tile, channel block) folded, z = image.
${S === 'f16' ? 'enable f16;\n' : ''}
const CIN = ${cin}u;
const COUT = ${cout}u;
const H = ${h}u;
const W = ${w}u;
const TILES_X = ${tilesX}u;
const TILES = ${tilesX * tilesY}u;
const BLOCKS = ${tilesX * tilesY * coBlocks}u;
const THREADS = ${T.threads}u;

@group(0) @binding(0) var<storage, read> x: array<${S}>;
@group(0) @binding(1) var<storage, read> wt: array<${S}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<${S}>;

// The input window of ${CC} channels, ${SH} x ${SW} each, and their weights as [ci][tap][channel/4].
var<workgroup> xs: array<${S}, ${CC * SH * SW}>;
var<workgroup> ws: array<${vS}, ${CC * 9 * WG4}>;

@compute @workgroup_size(${T.threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let block = wid.y * ${gx}u + wid.x;
  if (block >= BLOCKS) { return; } // the same for the whole workgroup: barriers stay uniform
  let tile = block % TILES;
  let cb = block / TILES;
  let nimg = wid.z;
  let ty0 = (tile / TILES_X) * ${tileH}u;
  let tx0 = (tile % TILES_X) * ${tileW}u;
  // This invocation: channels cq*4 .. (cq + ${C4})*4 - 1 of the block, pixels (py0, px0) onwards.
  let pix = lid % ${(tileW / px) * (tileH / py)}u;
  let cq = (lid / ${(tileW / px) * (tileH / py)}u) * ${C4}u;
  let py0 = (pix / ${tileW / px}u) * ${py}u;
  let px0 = (pix % ${tileW / px}u) * ${px}u;
  let co0 = cb * ${coWg}u + cq * 4u;
  let oy0 = ty0 + py0;
  let ox0 = tx0 + px0;
${indent(
  accs.map((a) => `var ${a} = vec4<f32>(0.0);`),
  2,
)}
  for (var c0 = 0u; c0 < CIN; c0 += ${CC}u) {
    // Copy the input window (zero outside the image and past CIN).
    for (var i = lid; i < ${CC * SH * SW}u; i += THREADS) {
      let ci = c0 + i / ${SH * SW}u;
      let iy = i32(ty0 + (i / ${SW}u) % ${SH}u) - 1;
      let ix = i32(tx0 + i % ${SW}u) - 1;
      let inside = ci < CIN && iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
      let at = select(0u, ((nimg * CIN + ci) * H + u32(iy)) * W + u32(ix), inside);
      xs[i] = select(${S}(0.0), x[at], inside);
    }
    // Copy the weights: four output channels per vec4 (zero past COUT and CIN).
    for (var i = lid; i < ${CC * 9 * WG4}u; i += THREADS) {
      let q = i % ${WG4}u;
      let tap = (i / ${WG4}u) % 9u;
      let ci = c0 + i / ${9 * WG4}u;
      var v = ${vS}(0.0);
      for (var e = 0u; e < 4u; e++) {
        let co = cb * ${coWg}u + q * 4u + e;
        let inside = co < COUT && ci < CIN;
        v[e] = select(${S}(0.0), wt[select(0u, (co * CIN + ci) * 9u + tap, inside)], inside);
      }
      ws[i] = v;
    }
    workgroupBarrier();
    let chunk = min(${CC}u, CIN - c0);
    for (var ci = 0u; ci < chunk; ci++) {
      let xb = ci * ${SH * SW}u + py0 * ${SW}u + px0;
${indent(window, 6)}
${indent(mac, 6)}
    }
    workgroupBarrier();
  }
${indent(stores, 2)}
}
`;
  const bytes =
    n * cin * h * w * elem + cout * cin * 9 * elem + f32Bytes(cout) + n * cout * h * w * elem;
  return [
    {
      name,
      code,
      entryPoint: 'main',
      workgroupSize: [T.threads, 1, 1],
      dispatch: [gx, gy, n],
      bindings: [
        { binding: 0, tensor: 'x', access: 'read' },
        { binding: 1, tensor: 'w', access: 'read' },
        { binding: 2, tensor: 'b', access: 'read' },
        { binding: 3, tensor: 'y', access: 'read_write' },
      ],
      flops: 2 * n * cout * h * w * cin * 9,
      bytes,
    },
  ];
}

/**
 * Float64 CPU references of the convolution backward kernels (compiler/wgsl/conv-backward.ts):
 * straightforward loops, checked against central finite differences in
 * test/kernels.conv-backward.test.ts.
 *
 * x, dx `[N, Cin, H, W]`, dy `[N, Cout, H, W]`, w, dw `[Cout, Cin, K, K]` (torch layout), db
 * `[Cout]`; stride 1, zero padding `spec.pad` = (K - 1) / 2 (every tensor keeps H x W).
 * `spec.relu` is ignored: dy is the gradient with respect to the convolution's output.
 */
import type { ConvSpec } from '../../compiler/wgsl/conv.js';

function check(spec: ConvSpec, what: string, a: Float64Array, count: number): void {
  if (2 * spec.pad !== spec.kernel - 1) throw new Error('conv backward ref: "same" padding only');
  if (a.length !== count) throw new Error(`conv backward ref: ${what} has the wrong size`);
}

/**
 * dx[n, ci, y, x] = sum_{co, ky, kx} dy[n, co, y - ky + P, x - kx + P] * w[co, ci, ky, kx];
 * with `maskSrc`, zero where maskSrc <= 0 (ReLU backward of the layer that produced x).
 */
export function convBackwardDataRef(
  dy: Float64Array,
  w: Float64Array,
  spec: ConvSpec,
  maskSrc?: Float64Array,
): Float64Array {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT, kernel: K, pad: P } = spec;
  check(spec, 'dy', dy, N * COUT * H * W);
  check(spec, 'w', w, COUT * CIN * K * K);
  if (maskSrc) check(spec, 'mask', maskSrc, N * CIN * H * W);
  const dx = new Float64Array(N * CIN * H * W);
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < CIN; ci++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const at = ((n * CIN + ci) * H + y) * W + x;
          if (maskSrc && !(maskSrc[at]! > 0)) continue; // stays 0
          let s = 0;
          for (let co = 0; co < COUT; co++)
            for (let ky = 0; ky < K; ky++) {
              const oy = y - ky + P;
              if (oy < 0 || oy >= H) continue;
              for (let kx = 0; kx < K; kx++) {
                const ox = x - kx + P;
                if (ox < 0 || ox >= W) continue;
                s +=
                  dy[((n * COUT + co) * H + oy) * W + ox]! *
                  w[((co * CIN + ci) * K + ky) * K + kx]!;
              }
            }
          dx[at] = s;
        }
  return dx;
}

/** dw[co, ci, ky, kx] = sum_{n, y, x} dy[n, co, y, x] * x[n, ci, y + ky - P, x + kx - P]. */
export function convBackwardWeightRef(
  x: Float64Array,
  dy: Float64Array,
  spec: ConvSpec,
): Float64Array {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT, kernel: K, pad: P } = spec;
  check(spec, 'x', x, N * CIN * H * W);
  check(spec, 'dy', dy, N * COUT * H * W);
  const dw = new Float64Array(COUT * CIN * K * K);
  for (let co = 0; co < COUT; co++)
    for (let ci = 0; ci < CIN; ci++)
      for (let ky = 0; ky < K; ky++)
        for (let kx = 0; kx < K; kx++) {
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let y = 0; y < H; y++) {
              const iy = y + ky - P;
              if (iy < 0 || iy >= H) continue;
              for (let xx = 0; xx < W; xx++) {
                const ix = xx + kx - P;
                if (ix < 0 || ix >= W) continue;
                s +=
                  dy[((n * COUT + co) * H + y) * W + xx]! * x[((n * CIN + ci) * H + iy) * W + ix]!;
              }
            }
          dw[((co * CIN + ci) * K + ky) * K + kx] = s;
        }
  return dw;
}

/** db[co] = sum_{n, y, x} dy[n, co, y, x]. */
export function convBackwardBiasRef(dy: Float64Array, spec: ConvSpec): Float64Array {
  const { n: N, h: H, w: W, cout: COUT } = spec;
  check(spec, 'dy', dy, N * COUT * H * W);
  const db = new Float64Array(COUT);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < COUT; co++) {
      let s = 0;
      for (let i = 0; i < H * W; i++) s += dy[(n * COUT + co) * H * W + i]!;
      db[co] = db[co]! + s;
    }
  return db;
}

/**
 * Float64 CPU reference of the convolution kernels (compiler/wgsl/conv.ts): straightforward loops.
 *
 * x `[N, Cin, H, W]`, w `[Cout, Cin, K, K]` (torch layout), b `[Cout]`; stride 1, zero padding
 * `spec.pad`, output `[N, Cout, Ho, Wo]` with Ho = H + 2 * pad - K + 1 (the input's size for
 * 3x3 pad 1 and 1x1 pad 0); ReLU after the bias when `spec.relu`. Any K and pad: it is also the
 * reference of the valid convolution (compiler/wgsl/conv-valid.ts, pad 0, K = 7 for FC6).
 */
import type { ConvSpec } from '../../compiler/wgsl/conv.js';

/** ConvSpec with any kernel size. */
export type ConvRefSpec = Omit<ConvSpec, 'kernel'> & {
  readonly kernel: number;
  /** Kernel width when it differs from `kernel` (the FC-to-conv rewrite of a non-square map). */
  readonly kernelW?: number;
};

export function conv2dRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  spec: ConvRefSpec,
): Float64Array {
  const { n: N, cin: CIN, h: H, w: W, cout: COUT, kernel: K, pad: P, relu } = spec;
  const KW = spec.kernelW ?? K;
  const HO = H + 2 * P - K + 1;
  const WO = W + 2 * P - KW + 1;
  if (x.length !== N * CIN * H * W) throw new Error('conv2dRef: x has the wrong size');
  if (w.length !== COUT * CIN * K * KW) throw new Error('conv2dRef: w has the wrong size');
  if (b.length !== COUT) throw new Error('conv2dRef: b has the wrong size');
  const y = new Float64Array(N * COUT * HO * WO);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < COUT; co++) {
      for (let oy = 0; oy < HO; oy++) {
        for (let ox = 0; ox < WO; ox++) {
          let s = b[co]!;
          for (let ci = 0; ci < CIN; ci++) {
            for (let ky = 0; ky < K; ky++) {
              const iy = oy + ky - P;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox + kx - P;
                if (ix < 0 || ix >= W) continue;
                s +=
                  w[((co * CIN + ci) * K + ky) * KW + kx]! * x[((n * CIN + ci) * H + iy) * W + ix]!;
              }
            }
          }
          y[((n * COUT + co) * HO + oy) * WO + ox] = relu ? Math.max(0, s) : s;
        }
      }
    }
  }
  return y;
}

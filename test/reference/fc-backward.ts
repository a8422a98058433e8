/**
 * Float64 references for the backward of a fully connected layer y = x . w^T + b, w in torch
 * Linear layout [out, in]:
 *   dx[n, i] = sum_o dy[n, o] w[o, i]   (times (maskSrc > 0) when a mask source is given)
 *   dw[o, i] = sum_n dy[n, o] x[n, i]    db[o] = sum_n dy[n, o]
 */
export interface FcBackwardRefSpec {
  readonly n: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export function fcBackwardDataRef(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  s: FcBackwardRefSpec,
  maskSrc?: ArrayLike<number>,
): Float64Array {
  const { n: N, inFeatures: IN, outFeatures: OUT } = s;
  const dx = new Float64Array(N * IN);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      const d = dy[n * OUT + o]!;
      for (let i = 0; i < IN; i++) dx[n * IN + i]! += d * w[o * IN + i]!;
    }
    if (maskSrc) for (let i = 0; i < IN; i++) if (!(maskSrc[n * IN + i]! > 0)) dx[n * IN + i] = 0;
  }
  return dx;
}

export function fcBackwardWeightRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  s: FcBackwardRefSpec,
): { dw: Float64Array; db: Float64Array } {
  const { n: N, inFeatures: IN, outFeatures: OUT } = s;
  const dw = new Float64Array(OUT * IN);
  const db = new Float64Array(OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      const d = dy[n * OUT + o]!;
      db[o]! += d;
      for (let i = 0; i < IN; i++) dw[o * IN + i]! += d * x[n * IN + i]!;
    }
  }
  return { dw, db };
}

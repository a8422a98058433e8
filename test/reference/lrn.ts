/**
 * Float64 reference for cross-channel LRN exactly as the VGG paper writes it (alpha multiplies the
 * sum directly; the window is i - floor(size/2) .. i + floor(size/2), clipped to the channels).
 */
export interface LrnRefSpec {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly size: number;
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;
}

export function lrnRef(x: ArrayLike<number>, s: LrnRefSpec): Float64Array {
  const plane = s.h * s.w;
  const half = Math.floor(s.size / 2);
  const y = new Float64Array(s.n * s.c * plane);
  for (let n = 0; n < s.n; n++) {
    for (let i = 0; i < s.c; i++) {
      for (let p = 0; p < plane; p++) {
        let sum = 0;
        for (let j = Math.max(0, i - half); j <= Math.min(s.c - 1, i + half); j++) {
          const a = x[(n * s.c + j) * plane + p]!;
          sum += a * a;
        }
        const idx = (n * s.c + i) * plane + p;
        y[idx] = x[idx]! / Math.pow(s.k + s.alpha * sum, s.beta);
      }
    }
  }
  return y;
}

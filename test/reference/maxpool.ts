/** Float64 reference for 2x2 / stride 2 max pooling, PyTorch semantics (floor sides, NaN wins). */
export interface MaxpoolRefSpec {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

export function maxpoolRef(x: ArrayLike<number>, s: MaxpoolRefSpec): Float64Array {
  const oh = Math.floor(s.h / 2);
  const ow = Math.floor(s.w / 2);
  const y = new Float64Array(s.n * s.c * oh * ow);
  for (let p = 0; p < s.n * s.c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let m = -Infinity;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const v = x[(p * s.h + 2 * oy + dy) * s.w + 2 * ox + dx]!;
            m = Number.isNaN(v) || Number.isNaN(m) ? NaN : Math.max(m, v);
          }
        }
        y[(p * oh + oy) * ow + ox] = m;
      }
    }
  }
  return y;
}

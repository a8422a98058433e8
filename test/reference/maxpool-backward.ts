/**
 * Float64 reference for the backward of 2x2 / stride 2 max pooling, PyTorch semantics: floor
 * sides; dy goes to the window's argmax, found as PyTorch's max_pool2d kernels find it (scan
 * top-left, top-right, bottom-left, bottom-right from -inf; take `val > max || isnan(val)`), so
 * the first of equal maxima wins and the last NaN wins; every other dx element is 0.
 */
export interface MaxpoolBackwardRefSpec {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

export function maxpoolBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  s: MaxpoolBackwardRefSpec,
): Float64Array {
  const oh = Math.floor(s.h / 2);
  const ow = Math.floor(s.w / 2);
  const dx = new Float64Array(s.n * s.c * s.h * s.w);
  for (let p = 0; p < s.n * s.c; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let m = -Infinity;
        let at = (p * s.h + 2 * oy) * s.w + 2 * ox;
        for (let dr = 0; dr < 2; dr++) {
          for (let dc = 0; dc < 2; dc++) {
            const idx = (p * s.h + 2 * oy + dr) * s.w + 2 * ox + dc;
            const v = x[idx]!;
            if (v > m || Number.isNaN(v)) {
              m = v;
              at = idx;
            }
          }
        }
        dx[at] = dy[(p * oh + oy) * ow + ox]!;
      }
    }
  }
  return dx;
}

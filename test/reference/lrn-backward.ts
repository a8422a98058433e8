/**
 * Float64 reference for the backward of cross-channel LRN as the VGG paper writes it
 * (test/reference/lrn.ts): b_i = a_i s_i^-beta, s_i = k + alpha * sum_{|c-i|<=size/2} a_c^2, so
 *   da_j = dy_j s_j^-beta - 2 alpha beta a_j sum_{i: |i-j|<=size/2} dy_i a_i s_i^(-beta-1).
 * Written directly from the formula (no pipelining), to be checked by finite differences.
 */
import type { LrnRefSpec } from './lrn.js';

export function lrnBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  s: LrnRefSpec,
): Float64Array {
  const plane = s.h * s.w;
  const half = Math.floor(s.size / 2);
  const at = (n: number, c: number, p: number): number => (n * s.c + c) * plane + p;
  const dx = new Float64Array(s.n * s.c * plane);
  const sum = new Float64Array(s.c);
  for (let n = 0; n < s.n; n++) {
    for (let p = 0; p < plane; p++) {
      for (let i = 0; i < s.c; i++) {
        let acc = 0;
        for (let c = Math.max(0, i - half); c <= Math.min(s.c - 1, i + half); c++) {
          acc += x[at(n, c, p)]! ** 2;
        }
        sum[i] = s.k + s.alpha * acc;
      }
      for (let j = 0; j < s.c; j++) {
        let cross = 0;
        for (let i = Math.max(0, j - half); i <= Math.min(s.c - 1, j + half); i++) {
          cross += dy[at(n, i, p)]! * x[at(n, i, p)]! * Math.pow(sum[i]!, -s.beta - 1);
        }
        dx[at(n, j, p)] =
          dy[at(n, j, p)]! * Math.pow(sum[j]!, -s.beta) -
          2 * s.alpha * s.beta * x[at(n, j, p)]! * cross;
      }
    }
  }
  return dx;
}

/**
 * The matrices of Winograd's minimal filtering algorithm F(m, 3) (Lavin & Gray, "Fast Algorithms
 * for Convolutional Neural Networks", 2015), built by the Toom-Cook construction from a list of
 * interpolation points, so that F(2,3) and F(4,3) (and a change of points) come from one
 * derivation instead of hand-copied tables.
 *
 * One dimension: with n = m + 2 points (n - 1 finite points a_j and infinity), a filter g of 3
 * taps and an input d of n values, the m outputs y_i = sum_k g_k d_{i+k} are
 *
 *   y = A^T [ (G g) * (B^T d) ]          (* point-wise)
 *
 * where G (n x 3) evaluates the filter polynomial at the points (G[j][k] = a_j^k; the row of
 * infinity picks the leading coefficient), A^T (m x n) evaluates the output polynomial
 * (A^T[i][j] = a_j^i), and B^T (n x n) is the transpose of the inverse of the n x n evaluation
 * matrix (the interpolation of the product). That is the transpose of Toom-Cook's linear
 * convolution, which turns it into a correlation. The diagonal scaling between G and B^T is
 * free; we move the factors prod_{l != j} (a_j - a_l) into G so that B^T has small entries.
 *
 * Two dimensions nest the one-dimensional algorithm: U = G g G^T (n x n), V = B^T d B,
 * Y = A^T (U * V) A (m x m output tile from an n x n input patch).
 */

export interface WinogradMatrices {
  /** Output tile side m. */
  readonly m: number;
  /** Input patch side n = m + 2 (transform points: n * n). */
  readonly n: number;
  /** The n - 1 finite interpolation points (the n-th is infinity). */
  readonly points: readonly number[];
  /** n x 3 */
  readonly G: readonly (readonly number[])[];
  /** n x n */
  readonly BT: readonly (readonly number[])[];
  /** m x n */
  readonly AT: readonly (readonly number[])[];
}

/** The points used by the kernels: F(2,3) 0, +-1; F(4,3) 0, +-1, +-1/2 (and infinity). */
export const WINOGRAD_POINTS: Readonly<Record<2 | 4, readonly number[]>> = {
  2: [0, 1, -1],
  4: [0, 1, -1, 0.5, -0.5],
};

/** Inverse of a small square matrix by Gauss-Jordan elimination with partial pivoting. */
function inverse(a: readonly (readonly number[])[]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (m[p]![c] === 0) throw new Error('winograd: the points are not distinct');
    [m[c], m[p]] = [m[p]!, m[c]!];
    const piv = m[c]![c]!;
    for (let j = 0; j < 2 * n; j++) m[c]![j]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f !== 0) for (let j = 0; j < 2 * n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

/** Rounds values within 1e-12 of a multiple of 1/48 to it (the construction's exact rationals). */
const tidy = (v: number): number => {
  const r = Math.round(v * 48) / 48;
  return Math.abs(v - r) < 1e-12 ? r + 0 : v;
};

/** The matrices of F(m, 3) on `points` (n - 1 = m + 1 distinct finite points, then infinity). */
export function winogradMatrices(m: number, points: readonly number[]): WinogradMatrices {
  const r = 3;
  const n = m + r - 1;
  if (points.length !== n - 1) throw new Error(`winograd: F(${m},3) needs ${n - 1} points`);
  // Evaluation rows: a finite point a gives [1, a, a^2, ...]; infinity gives [0, ..., 0, 1].
  const evalRow = (j: number, len: number): number[] =>
    j < n - 1
      ? Array.from({ length: len }, (_, k) => points[j]! ** k)
      : Array.from({ length: len }, (_, k) => (k === len - 1 ? 1 : 0));
  const V = Array.from({ length: n }, (_, j) => evalRow(j, n));
  const C = inverse(V); // interpolation: coefficients from values at the points
  // Scale factor of each point: prod_{l != j} (a_j - a_l) for finite points, 1 for infinity.
  const f = Array.from({ length: n }, (_, j) =>
    j < n - 1 ? points.reduce((p, a, l) => (l === j ? p : p * (points[j]! - a)), 1) : 1,
  );
  // The sign is free too: each row of B^T starts with a positive entry.
  const BT = Array.from({ length: n }, (_, j) =>
    Array.from({ length: n }, (_, l) => tidy(C[l]![j]! * f[j]!)),
  );
  const sign = BT.map((row) => Math.sign(row.find((v) => v !== 0)!));
  BT.forEach((row, j) => row.forEach((v, l) => (row[l] = v * sign[j]! + 0)));
  const G = Array.from({ length: n }, (_, j) =>
    evalRow(j, r).map((v) => tidy((v * sign[j]!) / f[j]!) + 0),
  );
  const AT = Array.from({ length: m }, (_, i) =>
    Array.from({ length: n }, (_, j) => tidy(evalRow(j, m)[i]!)),
  );
  return { m, n, points, G, BT, AT };
}

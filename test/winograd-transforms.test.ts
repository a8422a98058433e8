/**
 * The Winograd matrices (compiler/wgsl/winograd-transforms.ts) against the definition, in float64:
 * A^T [(G g) * (B^T d)] must be the correlation y_i = sum_k g_k d_{i+k} for random g and d, in
 * one dimension and nested in two, for the kernels' points and for Lavin & Gray's +-2 points
 * (whose published B^T the construction must reproduce).
 */
import { describe, expect, it } from 'vitest';
import { winogradMatrices, WINOGRAD_POINTS } from '../compiler/wgsl/winograd-transforms.js';
import { randomArray } from './reference/random.js';

const mul = (a: readonly (readonly number[])[], v: readonly number[]): number[] =>
  a.map((row) => row.reduce((s, x, k) => s + x * v[k]!, 0));

const CASES: [number, readonly number[]][] = [
  [2, WINOGRAD_POINTS[2]],
  [4, WINOGRAD_POINTS[4]],
  [4, [0, 1, -1, 2, -2]],
];

describe('winogradMatrices', () => {
  for (const [m, points] of CASES) {
    it(`F(${m},3) on points ${points.join(', ')} computes the 1-D correlation`, () => {
      const M = winogradMatrices(m, points);
      for (let seed = 1; seed <= 5; seed++) {
        const g = [...randomArray(3, seed)];
        const d = [...randomArray(M.n, seed + 100)];
        const u = mul(M.G, g);
        const v = mul(M.BT, d);
        const y = mul(
          M.AT,
          u.map((x, j) => x * v[j]!),
        );
        for (let i = 0; i < m; i++) {
          const ref = g[0]! * d[i]! + g[1]! * d[i + 1]! + g[2]! * d[i + 2]!;
          expect(Math.abs(y[i]! - ref)).toBeLessThan(1e-12);
        }
      }
    });

    it(`F(${m}x${m},3x3) on points ${points.join(', ')} computes the 2-D correlation`, () => {
      const M = winogradMatrices(m, points);
      const { n } = M;
      const g = [...randomArray(9, 7)];
      const d = [...randomArray(n * n, 8)];
      const T = <X>(a: readonly (readonly X[])[]): X[][] =>
        a[0]!.map((_, j) => a.map((row) => row[j]!));
      const mm = (
        a: readonly (readonly number[])[],
        b: readonly (readonly number[])[],
      ): number[][] =>
        a.map((row) => b[0]!.map((_, j) => row.reduce((s, x, k) => s + x * b[k]![j]!, 0)));
      const gm = [0, 1, 2].map((r) => g.slice(3 * r, 3 * r + 3));
      const dm = Array.from({ length: n }, (_, r) => d.slice(n * r, n * r + n));
      const U = mm(mm(M.G, gm), T(M.G));
      const V = mm(mm(M.BT, dm), T(M.BT));
      const P = U.map((row, i) => row.map((x, j) => x * V[i]![j]!));
      const Y = mm(mm(M.AT, P), T(M.AT));
      for (let i = 0; i < m; i++)
        for (let j = 0; j < m; j++) {
          let ref = 0;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) ref += gm[ky]![kx]! * dm[i + ky]![j + kx]!;
          expect(Math.abs(Y[i]![j]! - ref)).toBeLessThan(1e-12);
        }
    });
  }

  // Rows may differ in sign: the diagonal scaling between G and B^T is free.
  const upToSign = (a: readonly (readonly number[])[]): number[][] =>
    a.map((row) => {
      const s = Math.sign(row.find((x) => x !== 0)!);
      return row.map((x) => x * s + 0);
    });

  it("reproduces Lavin & Gray's F(2,3) and F(4,3) input transforms (up to row signs)", () => {
    expect(upToSign(winogradMatrices(2, WINOGRAD_POINTS[2]).BT)).toEqual([
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, 1, -1, 0],
      [0, 1, 0, -1],
    ]);
    expect(upToSign(winogradMatrices(4, [0, 1, -1, 2, -2]).BT)).toEqual([
      [4, 0, -5, 0, 1, 0],
      [0, 4, 4, -1, -1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, 2, 1, -2, -1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ]);
  });

  it('refuses a wrong number of points and repeated points', () => {
    expect(() => winogradMatrices(4, [0, 1, -1])).toThrow(/needs 5 points/);
    expect(() => winogradMatrices(2, [0, 1, 1])).toThrow(/not distinct/);
  });
});

/**
 * Float64 reference for a fully connected layer: y[n, o] = relu?(sum_i x[n, i] * w[o, i] + b[o]),
 * w in torch Linear layout [out, in]. `rows` restricts the work to some output rows (the others
 * are left NaN), so tests of very large layers can check a sample of rows quickly.
 */
export interface FcRefSpec {
  readonly n: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly relu: boolean;
}

export function fcRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  s: FcRefSpec,
  rows?: Iterable<number>,
): Float64Array {
  const y = new Float64Array(s.n * s.outFeatures).fill(NaN);
  const outRows = rows ?? Array.from({ length: s.outFeatures }, (_, o) => o);
  for (const o of outRows) {
    for (let n = 0; n < s.n; n++) {
      let acc = b[o]!;
      const xo = n * s.inFeatures;
      const wo = o * s.inFeatures;
      for (let i = 0; i < s.inFeatures; i++) acc += x[xo + i]! * w[wo + i]!;
      y[n * s.outFeatures + o] = s.relu ? Math.max(0, acc) : acc;
    }
  }
  return y;
}

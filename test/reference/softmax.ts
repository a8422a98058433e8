/** Float64 reference for a numerically stable soft-max over the classes of each sample. */
export interface SoftmaxRefSpec {
  readonly n: number;
  readonly classes: number;
}

export function softmaxRef(x: ArrayLike<number>, s: SoftmaxRefSpec): Float64Array {
  const y = new Float64Array(s.n * s.classes);
  for (let n = 0; n < s.n; n++) {
    const row = n * s.classes;
    let m = -Infinity;
    for (let i = 0; i < s.classes; i++) m = Math.max(m, x[row + i]!);
    let sum = 0;
    for (let i = 0; i < s.classes; i++) sum += Math.exp(x[row + i]! - m);
    for (let i = 0; i < s.classes; i++) y[row + i] = Math.exp(x[row + i]! - m) / sum;
  }
  return y;
}

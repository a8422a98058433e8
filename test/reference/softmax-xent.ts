/**
 * Float64 reference for fused soft-max + cross-entropy: per-sample loss -log softmax(x)[label],
 * dx = (softmax(x) - onehot(label)) / N (gradient of the batch mean), correct = argmax == label
 * (first max wins ties).
 */
export function softmaxXentRef(
  x: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  classes: number,
): { loss: Float64Array; dx: Float64Array; correct: Float64Array } {
  const loss = new Float64Array(n);
  const dx = new Float64Array(n * classes);
  const correct = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const row = s * classes;
    let m = -Infinity;
    let arg = 0;
    for (let i = 0; i < classes; i++) {
      if (x[row + i]! > m) {
        m = x[row + i]!;
        arg = i;
      }
    }
    let sum = 0;
    for (let i = 0; i < classes; i++) sum += Math.exp(x[row + i]! - m);
    const label = labels[s]!;
    loss[s] = Math.log(sum) + m - x[row + label]!;
    correct[s] = arg === label ? 1 : 0;
    for (let i = 0; i < classes; i++) {
      dx[row + i] = (Math.exp(x[row + i]! - m) / sum - (i === label ? 1 : 0)) / n;
    }
  }
  return { loss, dx, correct };
}

/** The batch-mean loss, for finite-difference checks of dx. */
export function meanXentLoss(
  x: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  classes: number,
): number {
  return softmaxXentRef(x, labels, n, classes).loss.reduce((a, b) => a + b, 0) / n;
}

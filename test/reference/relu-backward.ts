/** Float64 reference for ReLU backward: dx = dy where x > 0, else 0. */
export function reluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = x[i]! > 0 ? dy[i]! : 0;
  return dx;
}

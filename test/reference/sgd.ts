/**
 * Float64 reference for one step of PyTorch's SGD with momentum and weight decay (dampening 0,
 * not Nesterov), in place on w and v: g' = g + wd w; v = mu v + g'; w = w - lr v.
 */
export interface SgdHyper {
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
}

export function sgdStepRef(
  w: Float64Array,
  g: ArrayLike<number>,
  v: Float64Array,
  h: SgdHyper,
): void {
  for (let i = 0; i < w.length; i++) {
    const d = g[i]! + h.weightDecay * w[i]!;
    v[i] = h.momentum * v[i]! + d;
    w[i] = w[i]! - h.lr * v[i]!;
  }
}

/**
 * Top-k classification error, as the VGG paper reports it (Tables 3 and 4): the top-1 error is
 * the share of images whose true class is not the highest-scoring one, the top-5 error the share
 * whose true class is not among the five highest.
 *
 * **Ties count against the true class.** The true class is in the top k only if fewer than k
 * *other* classes score at least as high as it does (>=). So when the true class ties for first
 * place with another class, the image is a top-1 error; when every class has the same score
 * (a dead network, all-zero logits) every image is an error, never a success. This is the
 * pessimistic reading: an error rate cannot improve by the network being unable to decide.
 * (The optimistic rule, "fewer than k classes score strictly higher", would give a constant
 * output 0% error.)
 *
 * NaN: a NaN score of the true class is always an error; a NaN score of another class counts
 * as scoring at least as high as the true class.
 *
 * When a model has k or fewer classes, every class that is not beaten by k others is in the
 * top k, so the top-k error can only come from ties or NaN; with at most k classes and finite
 * scores it is 0.
 */

/**
 * Whether class `label` is in the top `k` of `scores[offset .. offset + classes)` under the rule
 * above (ties and NaN count against it).
 */
export function inTopK(
  scores: ArrayLike<number>,
  offset: number,
  classes: number,
  label: number,
  k: number,
): boolean {
  if (!Number.isInteger(label) || label < 0 || label >= classes) {
    throw new RangeError(`label ${label} is outside the ${classes} classes`);
  }
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, not ${k}`);
  const own = scores[offset + label]!;
  if (Number.isNaN(own)) return false;
  let atLeast = 0;
  for (let c = 0; c < classes; c++) {
    if (c === label) continue;
    // `!(other < own)`: true for other >= own and for a NaN other.
    if (!(scores[offset + c]! < own) && ++atLeast >= k) return false;
  }
  return true;
}

export interface TopKCounts {
  /** Images counted. */
  readonly images: number;
  /** Images whose true class is not the top-1 class. */
  readonly top1Misses: number;
  /** Images whose true class is not in the top 5. */
  readonly top5Misses: number;
}

/**
 * Counts top-1 and top-5 misses of `n` score rows (`scores` is `[n, classes]`, any monotone
 * score: logits or posteriors) against `labels`.
 */
export function topKCounts(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  classes: number,
): TopKCounts {
  if (scores.length !== n * classes) {
    throw new RangeError(`scores hold ${scores.length} values, not ${n} x ${classes}`);
  }
  if (labels.length < n) throw new RangeError(`${labels.length} labels for ${n} images`);
  let top1Misses = 0;
  let top5Misses = 0;
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    if (!inTopK(scores, i * classes, classes, label, 1)) top1Misses++;
    if (!inTopK(scores, i * classes, classes, label, 5)) top5Misses++;
  }
  return { images: n, top1Misses, top5Misses };
}

/** Adds two counts (accumulating over batches). */
export function addCounts(a: TopKCounts, b: TopKCounts): TopKCounts {
  return {
    images: a.images + b.images,
    top1Misses: a.top1Misses + b.top1Misses,
    top5Misses: a.top5Misses + b.top5Misses,
  };
}

export const NO_COUNTS: TopKCounts = { images: 0, top1Misses: 0, top5Misses: 0 };

/** Top-1 and top-5 error as fractions in [0, 1] (0 for no images). */
export function errorRates(c: TopKCounts): { top1: number; top5: number } {
  if (c.images === 0) return { top1: 0, top5: 0 };
  return { top1: c.top1Misses / c.images, top5: c.top5Misses / c.images };
}

/**
 * The `k` highest-scoring classes of row `offset` of `scores`, best first, as
 * `[class, score]` pairs. Equal scores keep class order (the lower index first); NaN scores
 * come last. For printing (`vggc classify`), not for error rates.
 */
export function topClasses(
  scores: ArrayLike<number>,
  offset: number,
  classes: number,
  k: number,
): [cls: number, score: number][] {
  const order = Array.from({ length: classes }, (_, c) => c);
  order.sort((a, b) => {
    const x = scores[offset + a]!;
    const y = scores[offset + b]!;
    const xn = Number.isNaN(x);
    const yn = Number.isNaN(y);
    if (xn !== yn) return xn ? 1 : -1;
    if (!xn && x !== y) return y > x ? 1 : -1;
    return a - b;
  });
  return order.slice(0, k).map((c) => [c, scores[offset + c]!]);
}

/**
 * TypeScript re-implementation, bit for bit, of the dropout mask of compiler/wgsl/dropout.ts:
 *   pcg(v) = PCG-RXS-M-XS hash;  key = pcg(seed ^ pcg(step ^ pcg(stream)));
 *   keep(i) = (pcg(pcg(i ^ key) + key) >> 8) >= ceil(p * 2^24)
 * with u32 wrap-around arithmetic (Math.imul, >>> 0).
 */
export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export function dropoutKey(seed: number, step: number, stream: number): number {
  return pcg((seed ^ pcg((step ^ pcg(stream)) >>> 0)) >>> 0);
}

/** The keep mask (1 kept, 0 dropped) of `count` elements. */
export function dropoutMaskRef(
  count: number,
  p: number,
  seed: number,
  step: number,
  stream: number,
): Uint8Array {
  const key = dropoutKey(seed, step, stream);
  const threshold = Math.ceil(p * 2 ** 24);
  const mask = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const h = pcg((pcg((i ^ key) >>> 0) + key) >>> 0);
    mask[i] = h >>> 8 >= threshold ? 1 : 0;
  }
  return mask;
}

/** out = src * keep / (1 - p) in float64 (forward with x, backward with dy). */
export function dropoutRef(src: ArrayLike<number>, mask: Uint8Array, p: number): Float64Array {
  const out = new Float64Array(src.length);
  const scale = 1 / (1 - p);
  for (let i = 0; i < src.length; i++) out[i] = mask[i] ? src[i]! * scale : 0;
  return out;
}

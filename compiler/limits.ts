/**
 * Bounds beyond which a size is called absurd. They keep every tensor index inside the 32-bit
 * integers that WGSL kernels use, and keep a typo (`conv3-640000`) from reaching the GPU.
 */
export const MAX_SIDE = 16_384;
export const MAX_CHANNELS = 65_536;
export const MAX_UNITS = 1 << 24;
export const MAX_REPEAT = 1_000;
/** Layers after expanding every `xN`. */
export const MAX_LAYERS = 10_000;
/** Elements of one tensor, per sample, so that an index fits an i32 even with a batch dimension. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

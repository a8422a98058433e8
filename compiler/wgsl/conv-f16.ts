/**
 * 3x3 convolution with f16 storage and f32 arithmetic, for adapters with `shader-f16`: x, w and y
 * are f16 in memory (half the bytes moved and half the workgroup memory per input channel of
 * compiler/wgsl/conv-tiled.ts, whose kernel this is), the bias stays f32, every product and sum
 * is f32. Accuracy against the f32 path: docs/gpu.md (inputs rounded to f16 carry a relative
 * error of up to 2^-11 each; the f32 sums add none worth counting; y is rounded to f16 once).
 */
import { convTiledKernels, type ConvTiledTuning } from './conv-tiled.js';
import type { ConvSpec } from './conv.js';
import type { Kernel, TargetInfo } from './kernel.js';

/** A target that also says whether the device has the `shader-f16` feature enabled. */
export interface F16Target extends TargetInfo {
  readonly shaderF16: boolean;
}

/** Tensors x, w and y are f16 (2 bytes per value, packed); b is f32. */
export function convF16Kernels(
  spec: ConvSpec,
  target: F16Target,
  tuning: Omit<ConvTiledTuning, 'storage'> = {},
): Kernel[] {
  if (!target.shaderF16) throw new Error('conv-f16: the device has no shader-f16 feature');
  return convTiledKernels(spec, target, { ...tuning, storage: 'f16' });
}

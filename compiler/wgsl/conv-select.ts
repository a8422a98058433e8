/**
 * Which 3x3 convolution kernel suits an adapter: the selection rule for the GPU variants
 * (docs/gpu.md). Not wired into the scheduler yet; compiler/schedule would call it with the
 * target's traits and pick the generator by the answer.
 *
 * - 'subgroup' (compiler/wgsl/conv.ts): the design measured fastest on the software adapter
 *   (subgroup broadcasts, no workgroup memory, no barriers), and the one that takes every conv
 *   (1x1, the fused pool);
 * - 'tiled' (compiler/wgsl/conv-tiled.ts): workgroup-memory tiles and large register tiles, for
 *   hardware adapters, 3x3 pad 1 without a fused pool;
 * - 'tiled-f16' (compiler/wgsl/conv-f16.ts): the same with f16 storage, where the adapter has
 *   `shader-f16` and the caller accepts f16 precision.
 */
import type { ConvSpec } from './conv.js';

export type ConvVariant = 'subgroup' | 'tiled' | 'tiled-f16';

/** What the rule reads from an adapter (runtime/device.ts `Gpu` has all of it). */
export interface AdapterTraits {
  readonly software: boolean;
  readonly features: ReadonlySet<string>;
  readonly maxComputeInvocationsPerWorkgroup: number;
}

/** Invocations per workgroup that conv-tiled's default tiles take. */
export const TILED_INVOCATIONS = 256;

export function convVariantFor(
  adapter: AdapterTraits,
  spec?: Pick<ConvSpec, 'kernel' | 'pad' | 'pool'>,
  precision: 'f32' | 'f16' = 'f32',
): ConvVariant {
  if (adapter.software) return 'subgroup';
  if (adapter.maxComputeInvocationsPerWorkgroup < TILED_INVOCATIONS) return 'subgroup';
  if (spec && (spec.kernel !== 3 || spec.pad !== 1 || spec.pool)) return 'subgroup';
  if (precision === 'f16' && adapter.features.has('shader-f16')) return 'tiled-f16';
  return 'tiled';
}

/** The few layers' worth of shape that `directTunings` reads (compiler/algorithms.ts LayerShape). */
interface DirectLayer {
  readonly op: string;
  readonly h: number;
  readonly kernel: number;
  readonly pad: number;
}

/**
 * The direct kernel's tunings worth timing for a layer (compiler/algorithms.ts APPLICABLE.direct),
 * the default first: for a 3x3 'same' conv (compiler/wgsl/conv.ts) the default 16 x 2 x 4 register
 * tile and the 16 x 4 x 4 one, measured ~24% faster on lavapipe's large layers but ~2.5x slower
 * to compile (docs/conv-kernel.md), which is why it is a tuning and not the default. Every other
 * layer: the default only.
 */
export function directTunings(layer: DirectLayer): readonly Readonly<Record<string, number>>[] {
  if (layer.op === 'conv' && layer.kernel === 3 && layer.pad === 1 && layer.h >= 8) {
    return [{}, { rows: 4 }];
  }
  return [{}];
}

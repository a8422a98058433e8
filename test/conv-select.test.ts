/** The rule that picks a conv kernel for an adapter (compiler/wgsl/conv-select.ts). */
import { describe, expect, it } from 'vitest';
import {
  convVariantFor,
  TILED_INVOCATIONS,
  type AdapterTraits,
} from '../compiler/wgsl/conv-select.js';

const gpu = (features: string[], software = false, invocations = 1024): AdapterTraits => ({
  software,
  features: new Set(features),
  maxComputeInvocationsPerWorkgroup: invocations,
});
const conv3 = { kernel: 3 as const, pad: 1 };

describe('convVariantFor', () => {
  it('keeps the subgroup kernel on the software adapter, whatever it offers', () => {
    const lavapipe = gpu(['shader-f16', 'subgroups'], true);
    expect(convVariantFor(lavapipe)).toBe('subgroup');
    expect(convVariantFor(lavapipe, conv3, 'f16')).toBe('subgroup');
  });

  it('takes the tiled kernel on a hardware adapter in f32', () => {
    expect(convVariantFor(gpu(['shader-f16']))).toBe('tiled');
    expect(convVariantFor(gpu([]), conv3)).toBe('tiled');
  });

  it('takes f16 storage only when asked for and when shader-f16 exists', () => {
    expect(convVariantFor(gpu(['shader-f16']), conv3, 'f16')).toBe('tiled-f16');
    expect(convVariantFor(gpu(['subgroups']), conv3, 'f16')).toBe('tiled');
  });

  it('falls back to the subgroup kernel for what the tiled one does not compute', () => {
    const g = gpu(['shader-f16']);
    expect(convVariantFor(g, { kernel: 1, pad: 0 })).toBe('subgroup');
    expect(convVariantFor(g, { ...conv3, pool: true }, 'f16')).toBe('subgroup');
  });

  it('falls back when a workgroup cannot hold the tiled kernel', () => {
    expect(convVariantFor(gpu([], false, TILED_INVOCATIONS - 1))).toBe('subgroup');
    expect(convVariantFor(gpu([], false, TILED_INVOCATIONS))).toBe('tiled');
  });
});

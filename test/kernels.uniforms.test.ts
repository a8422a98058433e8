/**
 * Run-time sizes (Kernel.uniforms, `uniformStruct` in compiler/wgsl/template.ts): one WGSL module
 * read with different values must give each dispatch its own values, through the test harness and
 * through the executor that runs plans, with one pipeline for all of them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../compiler/wgsl/kernel.js';
import { uniformStruct } from '../compiler/wgsl/template.js';
import { acquireGpu, releaseGpu } from '../runtime/device.js';
import { pipelineFor } from '../runtime/executor.js';
import { runKernels } from './gpu-harness.js';

afterAll(releaseGpu);

/** y[i] = x[i] * scale + offset for i < count, with count, scale and offset read at run time. */
function affine(count: number, scale: number, offset: number): Kernel {
  const { wgsl, uniforms } = uniformStruct(2, { count, scale, offset });
  const code = `${wgsl}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= dims.count) { return; }
  y[g.x] = x[g.x] * f32(dims.scale) + f32(dims.offset);
}
`;
  return {
    name: 'affine',
    code,
    entryPoint: 'main',
    workgroupSize: [64, 1, 1],
    dispatch: [Math.ceil(count / 64), 1, 1],
    bindings: [
      { binding: 0, tensor: 'x', access: 'read' },
      { binding: 1, tensor: 'y', access: 'read_write' },
    ],
    flops: 2 * count,
    bytes: 8 * count,
    uniforms,
  };
}

describe('uniformStruct', () => {
  it('declares one u32 field per value, in order, and refuses what is not a u32', () => {
    const { wgsl, uniforms } = uniformStruct(3, { h: 7, w: 9 });
    expect(wgsl).toMatch(/struct Dims \{\s*h: u32,\s*w: u32,\s*\}/);
    expect(wgsl).toContain('@binding(3) var<uniform> dims: Dims;');
    expect(uniforms).toEqual({ binding: 3, fields: ['h', 'w'], values: [7, 9] });
    expect(() => uniformStruct(0, { h: -1 })).toThrow(/not a u32/);
    expect(() => uniformStruct(0, { h: 1.5 })).toThrow(/not a u32/);
    expect(() => uniformStruct(0, {})).toThrow(/needs a field/);
  });
});

describe('kernels with run-time sizes', () => {
  it('run one module with each dispatch its own values, on one pipeline', async () => {
    const gpu = await acquireGpu();
    const x = Float32Array.from({ length: 200 }, (_, i) => Math.sin(i + 1) * 3);
    const a = affine(200, 3, 5);
    const b = affine(150, 7, 2);
    expect(a.code).toBe(b.code);
    const out = await runKernels(gpu, [a], { x, y: 200 }, ['y']);
    const out2 = await runKernels(gpu, [b], { x, y: 200 }, ['y']);
    for (let i = 0; i < 200; i++) {
      expect(out.y![i]).toBeCloseTo(x[i]! * 3 + 5, 5);
      if (i < 150) expect(out2.y![i]).toBeCloseTo(x[i]! * 7 + 2, 5);
      else expect(out2.y![i]).toBeNaN(); // past `count`: untouched poison
    }
    expect(pipelineFor(gpu, a.code, 'main')).toBe(pipelineFor(gpu, b.code, 'main'));
  });
});

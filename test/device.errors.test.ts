/** runtime/device.ts: what Dawn reports becomes a VggcError, never silence or a hang. */
import { afterAll, describe, expect, it } from 'vitest';
import { VggcError } from '../dsl/diagnostics.js';
import { acquireGpu, checked, releaseGpu } from '../runtime/device.js';

afterAll(releaseGpu);

describe('GPU errors', () => {
  it('a shader that does not compile is a one-line validation error', async () => {
    const g = await acquireGpu();
    const attempt = checked(g, 'compiling a broken kernel', () => {
      const module = g.device.createShaderModule({
        code: '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_name; }',
      });
      g.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    });
    await expect(attempt).rejects.toThrow(VggcError);
    await expect(
      checked(g, 'compiling a broken kernel', () => {
        const module = g.device.createShaderModule({ code: 'fn main( {' });
        g.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      }),
    ).rejects.toThrow(/^compiling a broken kernel: GPU validation error: [^\n]+$/);
  });

  it('binding more than maxStorageBufferBindingSize is an error, not silent zeros', async () => {
    const g = await acquireGpu();
    const limit = g.limits.maxStorageBufferBindingSize;
    const attempt = checked(g, 'binding an oversized buffer', () => {
      const module = g.device.createShaderModule({
        code: '@group(0) @binding(0) var<storage, read_write> a: array<f32>;\n@compute @workgroup_size(1) fn main() { a[0] = 1.0; }',
      });
      const p = g.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      const buffer = g.device.createBuffer({ size: limit + 256, usage: GPUBufferUsage.STORAGE });
      try {
        g.device.createBindGroup({
          layout: p.getBindGroupLayout(0),
          entries: [{ binding: 0, resource: { buffer } }],
        });
      } finally {
        buffer.destroy();
      }
    });
    await expect(attempt).rejects.toThrow(/binding an oversized buffer: GPU validation error/);
  });
});

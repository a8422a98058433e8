/**
 * Day-one GPU check: an adapter exists (on CI, the software one), its real limits are granted,
 * a tiny WGSL kernel runs, and what comes back is right. It fails, never skips, without an adapter.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireGpu, checked, releaseGpu } from '../runtime/device.js';

afterAll(releaseGpu);

describe('GPU smoke test', () => {
  it('finds an adapter and grants its own limits, not the defaults', async () => {
    const g = await acquireGpu();
    expect(g.adapter.description.length).toBeGreaterThan(0);
    // WebGPU's default maxStorageBufferBindingSize is 128 MiB and invocations 256; a device that
    // asked for the adapter's limits has at least these.
    expect(g.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(g.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    // The kernels' fast paths use subgroups; the software adapter that CI runs on has them, so
    // the subgroup variants of every kernel test run there.
    if (g.adapter.software) expect(g.subgroups).toBe(true);
  });

  it('runs a compute kernel and reads back the right values', async () => {
    const g = await acquireGpu();
    const { device } = g;
    const n = 1000;
    const x = new Float32Array(n);
    let seed = 12345;
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      x[i] = (seed / 2 ** 32) * 4 - 2;
    }
    const code = /* wgsl */ `
      @group(0) @binding(0) var<storage, read> x: array<f32>;
      @group(0) @binding(1) var<storage, read_write> y: array<f32>;
      @compute @workgroup_size(64)
      fn main(@builtin(global_invocation_id) id: vec3u) {
        if (id.x < ${n}u) { y[id.x] = x[id.x] * x[id.x] - 3.0 * x[id.x] + 0.5; }
      }`;
    const result = await checked(g, 'smoke kernel', async () => {
      const xb = device.createBuffer({
        size: n * 4,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      const yb = device.createBuffer({
        size: n * 4,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      const rb = device.createBuffer({
        size: n * 4,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(xb, 0, x);
      device.queue.writeBuffer(yb, 0, new Float32Array(n).fill(NaN)); // poison
      const pipeline = device.createComputePipeline({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
      });
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: xb } },
          { binding: 1, resource: { buffer: yb } },
        ],
      });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(Math.ceil(n / 64));
      pass.end();
      enc.copyBufferToBuffer(yb, 0, rb, 0, n * 4);
      device.queue.submit([enc.finish()]);
      await rb.mapAsync(GPUMapMode.READ);
      const out = new Float32Array(rb.getMappedRange().slice(0));
      rb.unmap();
      for (const b of [xb, yb, rb]) b.destroy();
      return out;
    });
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const ref = v * v - 3 * v + 0.5;
      expect(Math.abs(result[i]! - ref)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(ref)));
    }
  });

  it('lets Node exit on its own once the device is released', () => {
    // A child acquires the GPU, runs nothing else, releases it and falls off the end of its
    // script. If Dawn kept the process alive, the child would hit the timeout.
    const script = `
      import { acquireGpu, releaseGpu } from './dist/runtime/device.js';
      const g = await acquireGpu();
      console.log('adapter', g.adapter.description);
      await releaseGpu();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url).pathname,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.error, 'child timed out: the process did not exit after releaseGpu()').toBeUndefined();
    expect(r.stdout).toContain('adapter');
    expect(r.status).toBe(0);
  });
});

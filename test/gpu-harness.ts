/**
 * Test harness: runs a list of generated Kernels on the GPU and reads tensors back.
 *
 * Tensors are bound by name (`KernelBinding.tensor`), with the binding's optional byte range.
 * A Float32Array is uploaded as is; a number allocates that many floats poisoned with NaN, so a
 * kernel that leaves an output element unwritten fails its test. All kernels run in one submit,
 * one compute pass each, in order; Dawn errors become failures through `checked()`.
 */
import { it, type TestContext } from 'vitest';
import type { Kernel } from '../compiler/wgsl/kernel.js';
import { checked, type Gpu } from '../runtime/device.js';
import { kernelBindGroup, pipelineFor } from '../runtime/executor.js';

/** What a kernel variant needs from the adapter beyond core WebGPU. */
export interface VariantNeeds {
  /** WGSL subgroup built-ins (`enable subgroups;`). */
  readonly subgroups?: boolean;
}

/** Why this adapter cannot run a variant that needs `needs`; undefined when it can. */
export function whyUnsupported(gpu: Gpu, needs: VariantNeeds): string | undefined {
  if (needs.subgroups && !gpu.subgroups) return 'the adapter has no subgroups';
  return undefined;
}

/**
 * Skips the running test when the adapter cannot run the variant: vitest reports it as skipped,
 * with the reason, never as passed. (A variant must not quietly fall back to another one either:
 * build its target with the feature on, and call this first.)
 */
export function skipUnsupported(ctx: TestContext, gpu: Gpu, needs: VariantNeeds): void {
  const why = whyUnsupported(gpu, needs);
  ctx.skip(why !== undefined, why);
}

/** `it` for the tests of one kernel variant: each calls `skipUnsupported` before it runs. */
export function variantIt(
  gpu: Gpu,
  needs: VariantNeeds,
): (name: string, fn: () => Promise<void>) => void {
  return (name, fn) =>
    it(name, async (ctx) => {
      skipUnsupported(ctx, gpu, needs);
      await fn();
    });
}

export async function runKernels(
  gpu: Gpu,
  kernels: readonly Kernel[],
  tensors: Record<string, Float32Array | number>,
  outputs: string[],
): Promise<Record<string, Float32Array>> {
  const { device } = gpu;
  const errorsBefore = gpu.uncapturedErrors.length;
  const buffers = new Map<string, GPUBuffer>();
  const sizes = new Map<string, number>();
  const readbacks = new Map<string, GPUBuffer>();
  const uniforms: GPUBuffer[] = [];
  try {
    const result = await checked(
      gpu,
      `kernels ${kernels.map((k) => k.name).join(', ')}`,
      async () => {
        for (const [name, t] of Object.entries(tensors)) {
          const count = typeof t === 'number' ? t : t.length;
          const size = Math.max(4, count * 4);
          const buf = device.createBuffer({
            size,
            usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
          });
          const data = typeof t === 'number' ? new Float32Array(count).fill(NaN) : t;
          if (data.length > 0)
            device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
          buffers.set(name, buf);
          sizes.set(name, size);
        }
        const enc = device.createCommandEncoder();
        for (const k of kernels) {
          const pipeline = pipelineFor(gpu, k.code, k.entryPoint);
          const bindGroup = kernelBindGroup(
            gpu,
            pipeline,
            k,
            (b) => {
              const buffer = buffers.get(b.tensor);
              if (!buffer)
                throw new Error(`kernel ${k.name} binds tensor '${b.tensor}', which was not given`);
              const offset = b.offsetBytes ?? 0;
              const size = b.sizeBytes ?? sizes.get(b.tensor)! - offset;
              return { buffer, offset, size };
            },
            uniforms,
          );
          const pass = enc.beginComputePass();
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(k.dispatch[0], k.dispatch[1], k.dispatch[2]);
          pass.end();
        }
        for (const name of outputs) {
          const src = buffers.get(name);
          if (!src) throw new Error(`output '${name}' is not among the tensors`);
          const rb = device.createBuffer({
            size: src.size,
            usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
          });
          enc.copyBufferToBuffer(src, 0, rb, 0, src.size);
          readbacks.set(name, rb);
        }
        device.queue.submit([enc.finish()]);
        const out: Record<string, Float32Array> = {};
        for (const [name, rb] of readbacks) {
          await rb.mapAsync(GPUMapMode.READ);
          const t = tensors[name]!;
          const count = typeof t === 'number' ? t : t.length;
          out[name] = new Float32Array(rb.getMappedRange().slice(0, count * 4));
          rb.unmap();
        }
        return out;
      },
    );
    const errors = gpu.uncapturedErrors.slice(errorsBefore);
    if (errors.length > 0) throw new Error(`GPU errors: ${errors.join('; ')}`);
    return result;
  } finally {
    for (const b of buffers.values()) b.destroy();
    for (const b of readbacks.values()) b.destroy();
    for (const b of uniforms) b.destroy();
  }
}

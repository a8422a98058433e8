/**
 * Compile work off the critical path: every pipeline a command will run is created and warmed
 * before its first timed or progress-reporting step.
 *
 * On the software adapter (lavapipe) `createComputePipeline` returns at once and LLVM compiles
 * the pipeline at its first dispatch (docs/dawn-and-lavapipe.md), so "warming" a pipeline means
 * dispatching it once. `warmUp` takes every plan a command will run (known up front), collects
 * their distinct pipelines (WGSL code + entry point: runtime/executor.ts `pipelineKey`), skips
 * those already run on this device in this process, and dispatches each remaining one a single
 * workgroup on small throwaway buffers, never on a plan's real buffers: a kernel that updates in
 * place (SGD) must not touch real state. WebGPU's bounds checks keep every access of such a
 * dispatch inside its buffer (every storage array of the kernels is runtime-sized, so a small
 * buffer satisfies the layout's minimum binding size); the kernel's run-time sizes
 * (Kernel.uniforms) are bound as the real run would bind them. What was measured (sequential vs
 * overlapped submits, async creation, a second device): docs/first-run.md.
 */
import type { KernelPlan } from '../compiler/plan.js';
import type { Kernel } from '../compiler/wgsl/kernel.js';
import { checked, openExtraGpu, type Gpu } from './device.js';
import { isWarm, kernelBindGroup, markWarm, pipelineForAsync, pipelineKey } from './executor.js';

/** Called before the first compile (done 0) and after each: `done` of `total` pipelines. */
export type WarmupProgress = (done: number, total: number) => void;

export interface WarmupOptions {
  readonly onProgress?: WarmupProgress;
  /** Compile on a second device too (default: on a software adapter; runtime/warmup.ts `warmUp`). */
  readonly helper?: boolean;
}

/** Bytes of each throwaway storage buffer: more than one element of any runtime-sized array. */
const DUMMY_BYTES = 256;

/**
 * The distinct pipelines of `plans` not yet run on `gpu`'s device, one kernel of each, in plan
 * order (the first plan's first: the pipelines needed first are ready first).
 */
export function pendingPipelines(gpu: Gpu, plans: readonly KernelPlan[]): Kernel[] {
  const seen = new Map<string, Kernel>();
  for (const plan of plans) {
    for (const { kernel } of plan.steps) {
      const key = pipelineKey(kernel);
      if (!seen.has(key) && !isWarm(gpu, key)) seen.set(key, kernel);
    }
  }
  return [...seen.values()];
}

/**
 * Creates and warms every distinct pipeline of `plans` not yet run on this device (see the file
 * comment), reporting progress; returns how many it compiled (0 when all were warm, and then
 * `onProgress` is not called). The plans' results are unchanged by it: only throwaway buffers
 * are bound.
 *
 * On a software adapter with two or more pipelines to compile, a second device (its own
 * lavapipe queue thread) compiles from the same list at the same time; Mesa's disk shader cache
 * then hands its results to this device, whose first dispatch of them loads instead of
 * compiling (docs/first-run.md has the figures). `helper: false` turns that off.
 */
export async function warmUp(
  gpu: Gpu,
  plans: readonly KernelPlan[],
  options: WarmupOptions = {},
): Promise<number> {
  const kernels = pendingPipelines(gpu, plans);
  const total = kernels.length;
  if (total === 0) return 0;
  const report = options.onProgress;
  report?.(0, total);
  const useHelper = (options.helper ?? gpu.adapter.software) && total > 1;
  const helper = useHelper ? await openExtraGpu().catch(() => undefined) : undefined;
  const fromHelper: Kernel[] = [];
  let next = 0;
  let done = 0;
  // Both devices take the next pipeline of the one list until it is empty.
  const chain = async (on: Gpu, mine: Kernel[] | undefined) => {
    while (next < total) {
      const kernel = kernels[next++]!;
      await dispatchOnce(on, kernel);
      if (mine) mine.push(kernel);
      else markWarm(gpu, pipelineKey(kernel));
      // The last step is reported once everything, the cache loads below included, is done.
      done++;
      if (done < total) report?.(done, total);
    }
  };
  try {
    await Promise.all([chain(gpu, undefined), ...(helper ? [chain(helper, fromHelper)] : [])]);
  } finally {
    helper?.device.destroy();
  }
  for (const kernel of fromHelper) {
    await dispatchOnce(gpu, kernel); // from Mesa's disk cache
    markWarm(gpu, pipelineKey(kernel));
  }
  report?.(total, total);
  return total;
}

/**
 * Creates `kernel`'s pipeline on `gpu` and dispatches it once (one workgroup) on small throwaway
 * buffers, waiting until it ran: on lavapipe that is when LLVM compiles it.
 */
async function dispatchOnce(gpu: Gpu, kernel: Kernel): Promise<void> {
  const { device } = gpu;
  const owned: GPUBuffer[] = [];
  try {
    await checked(gpu, `compiling kernel ${kernel.name}`, async () => {
      const pipeline = await pipelineForAsync(gpu, kernel);
      // Each binding its own buffer: two writable bindings of one buffer would be refused.
      const group = kernelBindGroup(
        gpu,
        pipeline,
        kernel,
        () => {
          const buffer = device.createBuffer({
            size: DUMMY_BYTES,
            usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
          });
          owned.push(buffer);
          return { buffer };
        },
        owned,
      );
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(1, 1, 1);
      pass.end();
      // One submit, then a wait for it: fences of several submits at once were all seen to
      // resolve together, at the end, which would leave the progress bar standing still.
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    });
  } finally {
    for (const b of owned) b.destroy();
  }
}

/**
 * Runs a KernelPlan on the GPU: parameter buffers uploaded once, activation buffers from the
 * memory plan, pipelines compiled once per distinct kernel and cached per device, and a whole
 * forward pass encoded into one compute pass of one command buffer.
 */
import { VggcError, error } from '../dsl/diagnostics.js';
import type { KernelPlan } from '../compiler/plan.js';
import { checked, type Gpu } from './device.js';

const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** Compiles (or finds) the pipeline for one WGSL module. */
export function pipelineFor(gpu: Gpu, code: string, entryPoint: string): GPUComputePipeline {
  let cache = pipelineCache.get(gpu.device);
  if (!cache) pipelineCache.set(gpu.device, (cache = new Map()));
  const key = `${entryPoint}\n${code}`;
  let p = cache.get(key);
  if (!p) {
    const module = gpu.device.createShaderModule({ code });
    p = gpu.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint } });
    cache.set(key, p);
  }
  return p;
}

export interface Executable {
  readonly plan: KernelPlan;
  /** Runs the plan on one batch, `[N, C, H, W]` flattened; returns the output, flattened. */
  run(input: Float32Array): Promise<Float32Array>;
  /**
   * Runs the plan once with every dispatch in its own compute pass and returns each dispatch's
   * GPU time: from timestamp queries where the adapter has them, else from fencing each
   * dispatch with its own submit (wall time, which includes ~0.1 ms of submit overhead).
   */
  profile(input: Float32Array): Promise<StepTimes>;
  /** Frees the GPU buffers. */
  destroy(): void;
}

export interface StepTimes {
  /** Milliseconds per plan step, in plan order. */
  readonly stepsMs: readonly number[];
  readonly source: 'timestamp-query' | 'fenced wall time';
}

export const STORAGE = () =>
  GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * Uploads `weights` (by torchvision name) and prepares every dispatch of `plan`. A missing weight
 * or one of the wrong size is a VggcError naming it.
 */
export async function prepare(
  gpu: Gpu,
  plan: KernelPlan,
  weights: ReadonlyMap<string, Float32Array>,
): Promise<Executable> {
  const { device } = gpu;
  const owned: GPUBuffer[] = [];
  const buffers = new Map<string, GPUBuffer>();
  let lost: string | undefined;
  void device.lost.then((info) => {
    lost = info.message || info.reason || 'device lost';
  });

  const bindGroups = await checked(gpu, `preparing ${plan.model}`, () => {
    const pool = allocatePool(device, plan, owned);
    for (const t of plan.tensors) {
      if (t.kind === 'param') {
        const data = weights.get(t.name);
        if (!data) throw new VggcError(error(`no weights for tensor '${t.name}'`));
        if (data.length * 4 !== t.bytes) {
          throw new VggcError(
            error(`tensor '${t.name}' holds ${data.length} values, the model needs ${t.bytes / 4}`),
          );
        }
        const b = device.createBuffer({ size: Math.max(16, align(t.bytes, 16)), usage: STORAGE() });
        writeLarge(device, b, data);
        owned.push(b);
        buffers.set(t.name, b);
      } else {
        const index = plan.memory.assignment.get(t.name);
        if (index === undefined) throw new Error(`internal: tensor ${t.name} has no buffer`);
        buffers.set(t.name, pool[index]!);
      }
    }
    return bindSteps(gpu, plan, (name) => ({ buffer: buffers.get(name)!, offset: 0 }));
  });

  const inputBuffer = buffers.get('input')!;
  const outputBytes = plan.tensors.find((t) => t.name === plan.output)!.bytes;
  const readback = device.createBuffer({
    size: align(outputBytes, 16),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  owned.push(readback);
  const inputFloats = plan.batch * plan.input[0] * plan.input[1] * plan.input[2];
  const pacer = new Pacer();

  const exe: Executable = {
    plan,
    async run(input) {
      if (lost) throw new VggcError(error(`the GPU device was lost: ${lost}`));
      if (input.length !== inputFloats) {
        throw new Error(
          `internal: input holds ${input.length} floats, the plan takes ${inputFloats}`,
        );
      }
      const started = performance.now();
      const out = await checked(gpu, `running ${plan.model}`, async () => {
        device.queue.writeBuffer(inputBuffer, 0, input.buffer, input.byteOffset, input.byteLength);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        encodeSteps(pass, plan, bindGroups);
        pass.end();
        enc.copyBufferToBuffer(buffers.get(plan.output)!, 0, readback, 0, outputBytes);
        device.queue.submit([enc.finish()]);
        await pacer.sleep();
        await readback.mapAsync(GPUMapMode.READ);
        const result = new Float32Array(readback.getMappedRange(0, outputBytes).slice(0));
        readback.unmap();
        return result;
      });
      pacer.done(performance.now() - started);
      if (lost) throw new VggcError(error(`the GPU device was lost: ${lost}`));
      return out;
    },
    async profile(input) {
      await exe.run(input); // upload the input, and compile every pipeline before timing
      return profileSteps(gpu, plan, bindGroups, pacer.expectedMs);
    },
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
  return exe;
}

export const align = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Dawn busy-polls the JS thread while a promise (mapAsync) is pending, which takes a core from
 * a software adapter (docs/dawn-and-lavapipe.md). A Pacer sleeps through most of a submission's
 * expected GPU time before the caller maps its result. The expectation is the last run's time;
 * when the result was ready as soon as the sleep ended (we overslept, so the GPU needed less),
 * it shrinks fast instead, so a slow run (a compile, a loaded machine) is forgotten in a few
 * runs. The first run, which includes lavapipe's pipeline compiles, is not counted.
 */
export class Pacer {
  expectedMs = Infinity;
  private runs = 0;
  private sleptMs = 0;

  async sleep(): Promise<void> {
    this.sleptMs = this.expectedMs > 5 && this.expectedMs < Infinity ? this.expectedMs * 0.8 : 0;
    if (this.sleptMs > 0) await new Promise((r) => setTimeout(r, this.sleptMs));
  }

  /** After the result is mapped: the run took `elapsedMs` from submit to mapped. */
  done(elapsedMs: number): void {
    if (this.runs++ === 0) return;
    const overslept = this.sleptMs > 0 && elapsedMs < this.sleptMs + 2;
    this.expectedMs = overslept ? this.expectedMs * 0.6 : elapsedMs;
  }
}

/**
 * Runs every step of `plan` once, each in its own compute pass, and returns each one's GPU time:
 * from timestamp queries where the adapter has them, else from fencing each dispatch with its own
 * submit (wall time, which includes ~0.1 ms of submit overhead). The buffers must hold valid data
 * and every pipeline should have run once (lavapipe compiles at the first dispatch).
 */
export async function profileSteps(
  gpu: Gpu,
  plan: KernelPlan,
  bound: readonly BoundStep[],
  expectedMs = 0,
): Promise<StepTimes> {
  const { device } = gpu;
  const encodeStep = (pass: GPUComputePassEncoder, i: number) => {
    const { pipeline, group } = bound[i]!;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const [x, y, z] = plan.steps[i]!.kernel.dispatch;
    pass.dispatchWorkgroups(x, y, z);
  };
  const steps = plan.steps.length;
  if (!gpu.features.has('timestamp-query')) {
    const stepsMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeStep(pass, i);
      pass.end();
      const t = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      stepsMs.push(performance.now() - t);
    }
    return { stepsMs, source: 'fenced wall time' };
  }
  return checked(gpu, `profiling ${plan.model}`, async () => {
    const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * steps });
    const resolve = device.createBuffer({
      size: 16 * steps,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = device.createBuffer({
      size: 16 * steps,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = device.createCommandEncoder();
    for (let i = 0; i < steps; i++) {
      const pass = enc.beginComputePass({
        timestampWrites: {
          querySet,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
      encodeStep(pass, i);
      pass.end();
    }
    enc.resolveQuerySet(querySet, 0, 2 * steps, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * steps);
    device.queue.submit([enc.finish()]);
    // As in run(): let the GPU work before Dawn starts busy-polling this thread.
    if (expectedMs > 5 && expectedMs < Infinity) {
      await new Promise((r) => setTimeout(r, expectedMs * 0.8));
    }
    await read.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const o of [querySet, resolve, read]) o.destroy();
    const stepsMs = Array.from(
      { length: steps },
      (_, i) => Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6,
    );
    return { stepsMs, source: 'timestamp-query' as const };
  });
}

export interface BoundStep {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
}

/**
 * The pipeline and bind group of every step of `plan`; `locate` says where a plan tensor lives
 * (a buffer, and the offset of a view inside it).
 */
export function bindSteps(
  gpu: Gpu,
  plan: KernelPlan,
  locate: (tensor: string) => { buffer: GPUBuffer; offset: number },
): BoundStep[] {
  const tensorBytes = new Map(plan.tensors.map((t) => [t.name, t.bytes]));
  return plan.steps.map((step) => {
    const pipeline = pipelineFor(gpu, step.kernel.code, step.kernel.entryPoint);
    const entries = step.kernel.bindings.map((b) => {
      const name = step.bind[b.tensor];
      if (name === undefined) {
        throw new Error(`internal: ${step.kernel.name} binds '${b.tensor}', which the plan lacks`);
      }
      const at = locate(name);
      const offset = b.offsetBytes ?? 0;
      const size = b.sizeBytes ?? tensorBytes.get(name)! - offset;
      return {
        binding: b.binding,
        resource: { buffer: at.buffer, offset: at.offset + offset, size },
      };
    });
    return {
      pipeline,
      group: gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }),
    };
  });
}

/** Records every step of `plan` into one compute pass. */
export function encodeSteps(
  pass: GPUComputePassEncoder,
  plan: KernelPlan,
  bound: readonly BoundStep[],
): void {
  for (const [i, step] of plan.steps.entries()) {
    const { pipeline, group } = bound[i]!;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    const [x, y, z] = step.kernel.dispatch;
    pass.dispatchWorkgroups(x, y, z);
  }
}

/** The activation and scratch buffers of the plan's memory plan. */
export function allocatePool(device: GPUDevice, plan: KernelPlan, owned: GPUBuffer[]): GPUBuffer[] {
  return plan.memory.buffers.map((bytes) => {
    const b = device.createBuffer({ size: Math.max(16, align(bytes, 16)), usage: STORAGE() });
    owned.push(b);
    return b;
  });
}

/** writeBuffer in slices (at byte offset `at` of `buffer`), so a 392 MiB tensor does not need one huge staging copy. */
export function writeLarge(device: GPUDevice, buffer: GPUBuffer, data: Float32Array, at = 0): void {
  const slice = 16 * 2 ** 20;
  for (let off = 0; off < data.byteLength; off += slice) {
    const len = Math.min(slice, data.byteLength - off);
    device.queue.writeBuffer(buffer, at + off, data.buffer, data.byteOffset + off, len);
  }
}

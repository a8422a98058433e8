/**
 * The one runtime executor: runs a KernelPlan on the GPU for inference, dense evaluation,
 * evaluation and training alike (runtime/plan-cache.ts, runtime/trainer.ts).
 *
 * A plan tensor is owned (its own buffer: inference parameters, the training plan's flat buffers
 * and host tensors), pooled (the batch, activations and scratch share the memory plan's buffers)
 * or a view into another (a training parameter inside 'params'); parameters may instead be bound
 * where another executor holds them (validation during training binds the trainer's). Pipelines
 * are compiled once per kernel and device. A run writes the host's tensors, encodes every
 * dispatch into one compute pass, copies what the caller reads into one readback buffer, submits
 * once, sleeps through most of the expected GPU time (Pacer) and maps the result back.
 */
import { VggcError, error } from '../dsl/diagnostics.js';
import { momentumName, pipelineKey, type KernelPlan, type PlanTensor } from '../compiler/plan.js';

export { pipelineKey };
import type { Kernel, KernelBinding } from '../compiler/wgsl/kernel.js';
import { checked, type Gpu } from './device.js';

const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
/** Pipelines that have run at least once per device (lavapipe compiles at the first dispatch). */
const warmed = new WeakMap<GPUDevice, Set<string>>();

/** Whether the pipeline of `key` has run on this device (runtime/warmup.ts skips it then). */
export const isWarm = (gpu: Gpu, key: string): boolean => warmed.get(gpu.device)?.has(key) ?? false;

/** Records that the pipeline of `key` has run on this device. */
export function markWarm(gpu: Gpu, key: string): void {
  let set = warmed.get(gpu.device);
  if (!set) warmed.set(gpu.device, (set = new Set()));
  set.add(key);
}

function cacheOf(gpu: Gpu): Map<string, GPUComputePipeline> {
  let cache = pipelineCache.get(gpu.device);
  if (!cache) pipelineCache.set(gpu.device, (cache = new Map()));
  return cache;
}

/**
 * `pipelineFor`, created off this thread (createComputePipelineAsync): runtime/warmup.ts creates
 * the next pipelines while the adapter compiles the current one. A module that does not compile
 * is a VggcError naming `name`.
 */
export async function pipelineForAsync(
  gpu: Gpu,
  kernel: Pick<Kernel, 'code' | 'entryPoint' | 'name'>,
): Promise<GPUComputePipeline> {
  const cache = cacheOf(gpu);
  const key = pipelineKey(kernel);
  const hit = cache.get(key);
  if (hit) return hit;
  const module = gpu.device.createShaderModule({ code: kernel.code });
  let p: GPUComputePipeline;
  try {
    p = await gpu.device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module, entryPoint: kernel.entryPoint },
    });
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new VggcError(error(`compiling kernel ${kernel.name}: ${message}`));
  }
  if (!cache.has(key)) cache.set(key, p);
  return cache.get(key)!;
}

/** Compiles (or finds) the pipeline for one WGSL module. */
export function pipelineFor(gpu: Gpu, code: string, entryPoint: string): GPUComputePipeline {
  const cache = cacheOf(gpu);
  const key = pipelineKey({ code, entryPoint });
  let p = cache.get(key);
  if (!p) {
    const module = gpu.device.createShaderModule({ code });
    p = gpu.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint } });
    cache.set(key, p);
  }
  return p;
}

/**
 * The bind group of one dispatch of `kernel`: each storage binding where `storage` places it,
 * and the kernel's run-time sizes (Kernel.uniforms) in a new uniform buffer, which is pushed on
 * `owned` for the caller to destroy with its other buffers.
 */
export function kernelBindGroup(
  gpu: Gpu,
  pipeline: GPUComputePipeline,
  kernel: Kernel,
  storage: (b: KernelBinding) => GPUBufferBinding,
  owned: GPUBuffer[],
): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = kernel.bindings.map((b) => ({
    binding: b.binding,
    resource: storage(b),
  }));
  const u = kernel.uniforms;
  if (u) {
    const buffer = gpu.device.createBuffer({
      size: align(Math.max(u.values.length, 1) * 4, 16),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    new Uint32Array(buffer.getMappedRange()).set(u.values);
    buffer.unmap();
    owned.push(buffer);
    entries.push({ binding: u.binding, resource: { buffer } });
  }
  return gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
}

/** Where a plan tensor lives: a buffer, the tensor's offset in it, and its size. */
export interface Location {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly bytes: number;
}

export interface ExecutorOptions {
  /** Parameter values by torchvision name, uploaded once; each must have its tensor's size. */
  readonly weights?: ReadonlyMap<string, Float32Array>;
  /** A training plan's momentum per parameter (when resuming); zero when absent. */
  readonly momenta?: ReadonlyMap<string, Float32Array>;
  /** Parameters that already live on the device (another executor's `locate`): bound there. */
  readonly params?: (name: string) => Location | undefined;
  /** The tensors `run` returns, in order (default: the plan's output). */
  readonly reads?: readonly string[];
}

export interface Executor {
  readonly plan: KernelPlan;
  /** Where a tensor of the plan lives; undefined for a name the plan lacks. */
  locate(name: string): Location | undefined;
  /** Writes whole host tensors by name (the batch, labels, ...), runs the plan once in one submit, returns the `reads`. */
  run(writes: Readonly<Record<string, ArrayBufferView>>): Promise<Float32Array[]>;
  /** A copy of one tensor, read outside the paced runs (weights, checkpoints). */
  read(name: string): Promise<ArrayBuffer>;
  /** GPU time of every plan step of one more run on the data last written (`profileSteps`). */
  profile(): Promise<StepTimes>;
  /** Frees the buffers the executor owns. */
  destroy(): void;
}

export interface StepTimes {
  /** Milliseconds per plan step, in plan order. */
  readonly stepsMs: readonly number[];
  readonly source: 'timestamp-query' | 'fenced wall time';
}

export const STORAGE = () =>
  GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const POOLED = new Set(['input', 'activation', 'scratch']);

/**
 * Places every tensor of `plan`, uploads its parameters (and momenta) and binds every step. A
 * missing parameter or one of the wrong size is a VggcError naming it.
 */
export async function createExecutor(
  gpu: Gpu,
  plan: KernelPlan,
  options: ExecutorOptions = {},
): Promise<Executor> {
  const { device } = gpu;
  const training = plan.training !== undefined;
  const owned: GPUBuffer[] = [];
  const located = new Map<string, Location>();
  let lost: string | undefined;
  void device.lost.then((info) => {
    lost = info.message || info.reason || 'device lost';
  });
  const checkLost = () => {
    if (lost) throw new VggcError(error(`the GPU device was lost: ${lost}`));
  };
  const buffer = (bytes: number, usage = STORAGE()) => {
    const b = device.createBuffer({ size: Math.max(16, align(bytes, 16)), usage });
    owned.push(b);
    return b;
  };

  const bound = await checked(
    gpu,
    `preparing ${training ? 'training of ' : ''}${plan.model}`,
    () => {
      const pool = plan.memory.buffers.map((bytes) => buffer(bytes));
      const upload: PlanTensor[] = [];
      for (const t of plan.tensors) {
        if (t.view) continue;
        const shared = t.kind === 'param' ? options.params?.(t.name) : undefined;
        if (shared && shared.bytes !== t.bytes) throw sizeError(t.name, shared.bytes, t.bytes);
        const index = plan.memory.assignment.get(t.name);
        if (POOLED.has(t.kind) && index === undefined) {
          throw new Error(`internal: tensor ${t.name} has no buffer`);
        }
        const own = () => (index === undefined ? buffer(t.bytes) : pool[index]!);
        located.set(t.name, shared ?? { buffer: own(), offset: 0, bytes: t.bytes });
        if (t.kind === 'param' && !shared) upload.push(t);
      }
      for (const t of plan.tensors) {
        if (!t.view) continue;
        const of = located.get(t.view.of)!;
        located.set(t.name, { ...of, offset: of.offset + t.view.offsetBytes, bytes: t.bytes });
        if (t.kind === 'param') upload.push(t);
      }
      for (const [what, values] of [
        ['weights', options.weights],
        ['momenta', options.momenta],
      ] as const) {
        if (what === 'momenta' && !values) continue;
        for (const t of upload) {
          const data = values?.get(t.name);
          if (!data) throw new VggcError(error(`no ${what} for tensor '${t.name}'`));
          const at = located.get(what === 'weights' ? t.name : momentumName(t.name))!;
          if (data.length * 4 !== at.bytes) throw sizeError(t.name, data.length * 4, at.bytes);
          writeLarge(device, at.buffer, data, at.offset);
        }
      }
      return bindSteps(gpu, plan, located, owned);
    },
  ).catch((e: unknown) => {
    for (const b of owned) b.destroy(); // nothing half-made stays on the device
    throw e;
  });

  const reads = (options.reads ?? [plan.output]).map((name) => located.get(name)!);
  const readBytes = reads.reduce((s, r) => s + r.bytes, 0);
  const readback = buffer(readBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const pacer = new Pacer();
  let ranOnce = false;
  const write = (name: string, data: ArrayBufferView) => {
    const at = located.get(name);
    if (!at || data.byteLength !== at.bytes) {
      throw new Error(`internal: '${name}' takes ${at?.bytes} bytes, not ${data.byteLength}`);
    }
    device.queue.writeBuffer(at.buffer, at.offset, data.buffer, data.byteOffset, data.byteLength);
  };

  return {
    plan,
    locate: (name) => located.get(name),
    async run(writes) {
      checkLost();
      const started = performance.now();
      const what = `${training ? 'training' : 'running'} ${plan.model}`;
      const out = await checked(gpu, what, async () => {
        for (const [name, data] of Object.entries(writes)) write(name, data);
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const step of bound) encode(pass, step);
        pass.end();
        let at = 0;
        for (const r of reads) {
          enc.copyBufferToBuffer(r.buffer, r.offset, readback, at, r.bytes);
          at += r.bytes;
        }
        device.queue.submit([enc.finish()]);
        await pacer.sleep();
        await readback.mapAsync(GPUMapMode.READ);
        const all = readback.getMappedRange(0, readBytes).slice(0);
        readback.unmap();
        at = 0;
        return reads.map((r) => new Float32Array(all, (at += r.bytes) - r.bytes, r.bytes / 4));
      });
      pacer.done(performance.now() - started);
      checkLost();
      if (!ranOnce) for (const s of plan.steps) markWarm(gpu, pipelineKey(s.kernel));
      ranOnce = true;
      return out;
    },
    read: (name) =>
      checked(gpu, `reading ${name} of ${plan.model}`, async () => {
        const at = located.get(name)!;
        const staging = device.createBuffer({
          size: align(at.bytes, 4),
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        });
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(at.buffer, at.offset, staging, 0, at.bytes);
        device.queue.submit([enc.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        const copy = staging.getMappedRange().slice(0);
        staging.unmap();
        staging.destroy();
        return copy;
      }),
    profile: () => profileSteps(gpu, plan, bound, pacer),
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}

const sizeError = (name: string, has: number, needs: number) =>
  new VggcError(error(`tensor '${name}' holds ${has / 4} values, the model needs ${needs / 4}`));

/** An inference plan on one batch at a time (tests and benchmarks; runtime/plan-cache.ts slices). */
export interface Executable {
  readonly plan: KernelPlan;
  /** Runs the plan on one batch, `[N, C, H, W]` flattened; returns the output, flattened. */
  run(input: Float32Array): Promise<Float32Array>;
  /** Runs `input` once (uploading it, compiling every pipeline), then profiles one more run. */
  profile(input: Float32Array): Promise<StepTimes>;
  /** Frees the GPU buffers. */
  destroy(): void;
}

/** Uploads `weights` (by torchvision name) and prepares every dispatch of an inference plan. */
export async function prepare(
  gpu: Gpu,
  plan: KernelPlan,
  weights: ReadonlyMap<string, Float32Array>,
): Promise<Executable> {
  const exe = await createExecutor(gpu, plan, { weights });
  const run = async (input: Float32Array) => (await exe.run({ input }))[0]!;
  return {
    plan,
    run,
    profile: async (input) => (await run(input), exe.profile()),
    destroy: () => exe.destroy(),
  };
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Dawn busy-polls the JS thread while a promise (mapAsync) is pending, which takes a core from
 * a software adapter (docs/dawn-and-lavapipe.md). A Pacer sleeps through most of a submission's
 * expected GPU time before the caller maps its result. The expectation is the last run's time;
 * when the result was ready as soon as the sleep ended (we overslept, so the GPU needed less),
 * it shrinks fast instead, so a slow run (a compile, a loaded machine) is forgotten in a few
 * runs. The first run, which includes lavapipe's pipeline compiles, is not counted.
 */
class Pacer {
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
async function profileSteps(
  gpu: Gpu,
  plan: KernelPlan,
  bound: readonly BoundStep[],
  pacer: Pacer,
): Promise<StepTimes> {
  const { device } = gpu;
  const steps = bound.length;
  if (!gpu.features.has('timestamp-query')) {
    const stepsMs: number[] = [];
    for (const step of bound) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encode(pass, step);
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
    for (const [i, step] of bound.entries()) {
      const pass = enc.beginComputePass({
        timestampWrites: {
          querySet,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
      encode(pass, step);
      pass.end();
    }
    enc.resolveQuerySet(querySet, 0, 2 * steps, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * steps);
    device.queue.submit([enc.finish()]);
    await pacer.sleep(); // as in run(): let the GPU work before Dawn busy-polls this thread
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

interface BoundStep {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  readonly dispatch: readonly [number, number, number];
}

/** The pipeline, bind group and grid of every step of `plan`, its tensors where `located` says. */
function bindSteps(
  gpu: Gpu,
  plan: KernelPlan,
  located: ReadonlyMap<string, Location>,
  owned: GPUBuffer[],
): BoundStep[] {
  return plan.steps.map(({ kernel, bind }) => {
    const pipeline = pipelineFor(gpu, kernel.code, kernel.entryPoint);
    const group = kernelBindGroup(
      gpu,
      pipeline,
      kernel,
      (b) => {
        const at = located.get(bind[b.tensor] ?? '');
        if (!at)
          throw new Error(`internal: ${kernel.name} binds '${b.tensor}', which the plan lacks`);
        const offset = b.offsetBytes ?? 0;
        const size = b.sizeBytes ?? at.bytes - offset;
        return { buffer: at.buffer, offset: at.offset + offset, size };
      },
      owned,
    );
    return { pipeline, group, dispatch: kernel.dispatch };
  });
}

function encode(pass: GPUComputePassEncoder, { pipeline, group, dispatch }: BoundStep): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(...dispatch);
}

/** writeBuffer in slices (at byte offset `at` of `buffer`), so a 392 MiB tensor does not need one huge staging copy. */
function writeLarge(device: GPUDevice, buffer: GPUBuffer, data: Float32Array, at = 0): void {
  const slice = 16 * 2 ** 20;
  for (let off = 0; off < data.byteLength; off += slice) {
    const len = Math.min(slice, data.byteLength - off);
    device.queue.writeBuffer(buffer, at + off, data.buffer, data.byteOffset + off, len);
  }
}

/**
 * Runs a training plan (compiler/compile.ts `compileTraining`) on the GPU: one training step =
 * one command buffer holding the forward pass, the backward pass and the optimiser update, then
 * a read-back of the per-sample loss and hits (a few hundred bytes).
 *
 * Parameters, gradients and momenta live in three flat buffers laid out by the plan
 * (compiler/schedule-train.ts); every layer binds its own tensor as a view into them. The host
 * writes the batch, its labels, the optimiser's hyper-parameters and each dropout layer's seed
 * block before each step, so changing the learning rate or the step needs no recompile.
 */
import { VggcError, error } from '../dsl/diagnostics.js';
import type { KernelPlan } from '../compiler/plan.js';
import { TRAIN_HOST } from '../compiler/plan.js';
import { checked, type Gpu } from './device.js';
import {
  align,
  allocatePool,
  bindSteps,
  encodeSteps,
  Pacer,
  profileSteps,
  STORAGE,
  writeLarge,
  type StepTimes,
} from './executor.js';

export interface Hyper {
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
}

export interface StepOptions extends Hyper {
  /** Seed of the dropout masks (fixed for a run). */
  readonly seed: number;
  /** The global step number: a new dropout mask every step. */
  readonly step: number;
}

export interface StepResult {
  /** Mean cross-entropy over the batch (PyTorch's 'mean' reduction). */
  readonly loss: number;
  /** Samples whose top-1 class is their label. */
  readonly correct: number;
}

export interface Trainer {
  readonly plan: KernelPlan;
  /** One SGD step on a batch: `images` N x C x H x W, `labels` N class indices. */
  step(images: Float32Array, labels: Int32Array, options: StepOptions): Promise<StepResult>;
  /**
   * GPU time of every plan step of one more training step on the last batch (timestamp queries,
   * else fenced wall time); call after at least one `step`. It updates the weights like a step.
   */
  profile(): Promise<StepTimes>;
  /** The current parameters by torchvision name, shaped as the weight file stores them. */
  readWeights(): Promise<Map<string, Float32Array>>;
  /** The momentum buffers by parameter name (for checkpoints). */
  readMomenta(): Promise<Map<string, Float32Array>>;
  destroy(): void;
}

/**
 * Uploads `weights` (every parameter the plan names) and, when resuming, `momenta` (zero
 * otherwise), and prepares the step.
 */
export async function createTrainer(
  gpu: Gpu,
  plan: KernelPlan,
  weights: ReadonlyMap<string, Float32Array>,
  momenta?: ReadonlyMap<string, Float32Array>,
): Promise<Trainer> {
  const layout = plan.training;
  if (!layout) throw new Error('internal: createTrainer needs a training plan');
  const { device } = gpu;
  const owned: GPUBuffer[] = [];
  const buffers = new Map<string, GPUBuffer>();
  const n = plan.batch;
  let lost: string | undefined;
  void device.lost.then((info) => {
    lost = info.message || info.reason || 'device lost';
  });
  const buffer = (bytes: number, usage = STORAGE()) => {
    const b = device.createBuffer({ size: Math.max(16, align(bytes, 16)), usage });
    owned.push(b);
    return b;
  };

  const bound = await checked(gpu, `preparing training of ${plan.model}`, () => {
    const pool = allocatePool(device, plan, owned);
    for (const t of plan.tensors) {
      if (t.view) continue;
      if (t.kind === 'flat' || t.kind === 'host') buffers.set(t.name, buffer(t.bytes));
      else if (t.kind === 'activation' || t.kind === 'input' || t.kind === 'scratch') {
        const index = plan.memory.assignment.get(t.name);
        if (index === undefined) throw new Error(`internal: tensor ${t.name} has no buffer`);
        buffers.set(t.name, pool[index]!);
      }
    }
    for (const [source, flat] of [
      [weights, 'params'],
      [momenta, 'momenta'],
    ] as const) {
      if (!source) continue;
      for (const e of layout.entries) {
        const data = source.get(e.name);
        const what = flat === 'params' ? 'weights' : 'momenta';
        if (!data) throw new VggcError(error(`no ${what} for tensor '${e.name}'`));
        if (data.length * 4 !== e.bytes) {
          throw new VggcError(
            error(`tensor '${e.name}' holds ${data.length} values, the model needs ${e.bytes / 4}`),
          );
        }
        writeLarge(device, buffers.get(flat)!, data, e.offsetBytes);
      }
    }
    const views = new Map(plan.tensors.filter((t) => t.view).map((t) => [t.name, t.view!]));
    return bindSteps(gpu, plan, (name) => {
      const view = views.get(name);
      const buffer = buffers.get(view ? view.of : name);
      if (!buffer) throw new Error(`internal: tensor ${name} has no buffer`);
      return { buffer, offset: view?.offsetBytes ?? 0 };
    });
  });

  const readback = buffer(8 * n, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const inputFloats = n * plan.input[0] * plan.input[1] * plan.input[2];
  const pacer = new Pacer();

  /** Copies [offset, offset + bytes) of a flat buffer back to the host. */
  const readFlat = async (flat: string): Promise<Map<string, Float32Array>> =>
    checked(gpu, `reading ${flat} of ${plan.model}`, async () => {
      const staging = device.createBuffer({
        size: layout.flatBytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(buffers.get(flat)!, 0, staging, 0, layout.flatBytes);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const all = staging.getMappedRange();
      const out = new Map<string, Float32Array>();
      for (const e of layout.entries) {
        out.set(e.name, new Float32Array(all.slice(e.offsetBytes, e.offsetBytes + e.bytes)));
      }
      staging.unmap();
      staging.destroy();
      return out;
    });

  return {
    plan,
    async step(images, labels, options) {
      if (lost) throw new VggcError(error(`the GPU device was lost: ${lost}`));
      if (images.length !== inputFloats || labels.length !== n) {
        throw new Error(
          `internal: a step takes ${n} images of ${inputFloats / n} floats and ${n} labels`,
        );
      }
      const started = performance.now();
      const result = await checked(gpu, `training ${plan.model}`, async () => {
        const q = device.queue;
        q.writeBuffer(
          buffers.get('input')!,
          0,
          images.buffer,
          images.byteOffset,
          images.byteLength,
        );
        q.writeBuffer(
          buffers.get(TRAIN_HOST.labels)!,
          0,
          labels.buffer,
          labels.byteOffset,
          labels.byteLength,
        );
        const hyper = new Float32Array([options.lr, options.momentum, options.weightDecay, 0]);
        q.writeBuffer(buffers.get(TRAIN_HOST.hyper)!, 0, hyper);
        for (const d of layout.dropout) {
          const block = new Uint32Array([options.seed >>> 0, options.step >>> 0, d.stream, 0]);
          q.writeBuffer(buffers.get(d.tensor)!, 0, block);
        }
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass();
        encodeSteps(pass, plan, bound);
        pass.end();
        enc.copyBufferToBuffer(buffers.get(TRAIN_HOST.loss)!, 0, readback, 0, 4 * n);
        enc.copyBufferToBuffer(buffers.get(TRAIN_HOST.correct)!, 0, readback, 4 * n, 4 * n);
        q.submit([enc.finish()]);
        await pacer.sleep();
        await readback.mapAsync(GPUMapMode.READ);
        const values = new Float32Array(readback.getMappedRange(0, 8 * n).slice(0));
        readback.unmap();
        let loss = 0;
        let correct = 0;
        for (let i = 0; i < n; i++) {
          loss += values[i]!;
          correct += values[n + i]!;
        }
        return { loss: loss / n, correct };
      });
      pacer.done(performance.now() - started);
      if (lost) throw new VggcError(error(`the GPU device was lost: ${lost}`));
      return result;
    },
    profile: () => profileSteps(gpu, plan, bound, pacer.expectedMs),
    readWeights: () => readFlat('params'),
    readMomenta: () => readFlat('momenta'),
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}

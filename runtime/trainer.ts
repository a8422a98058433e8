/**
 * Runs a training plan (compiler/compile.ts `compileTraining`) on the executor
 * (runtime/executor.ts): one training step = one command buffer holding the forward pass, the
 * backward pass and the optimiser update, then a read-back of the per-sample loss and hits.
 *
 * Parameters, gradients and momenta live in three flat buffers laid out by the plan
 * (compiler/schedule.ts); every layer binds its own tensor as a view into them. The host
 * writes the batch, its labels, the optimiser's hyper-parameters and each dropout layer's seed
 * block before each step, so changing the learning rate or the step needs no recompile.
 */
import { TRAIN_HOST, type KernelPlan } from '../compiler/plan.js';
import type { Gpu } from './device.js';
import { createExecutor, type Executor, type StepTimes } from './executor.js';

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
  /** The executor underneath: its `locate` finds the parameters in the flat buffer. */
  readonly executor: Executor;
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
  const n = plan.batch;
  const executor = await createExecutor(gpu, plan, {
    weights,
    ...(momenta ? { momenta } : {}),
    reads: [TRAIN_HOST.loss, TRAIN_HOST.correct],
  });

  /** A flat buffer ('params', 'momenta') back on the host, split by parameter. */
  const readFlat = async (flat: string): Promise<Map<string, Float32Array>> => {
    const all = await executor.read(flat);
    return new Map(
      layout.entries.map((e) => [
        e.name,
        // Views into the one fresh copy `read` returned: no second copy per parameter.
        new Float32Array(all, e.offsetBytes, e.bytes / 4),
      ]),
    );
  };

  return {
    plan,
    executor,
    async step(images, labels, options) {
      const writes: Record<string, ArrayBufferView> = {
        input: images,
        [TRAIN_HOST.labels]: labels,
        [TRAIN_HOST.hyper]: new Float32Array([
          options.lr,
          options.momentum,
          options.weightDecay,
          0,
        ]),
      };
      for (const d of layout.dropout) {
        writes[d.tensor] = new Uint32Array([options.seed >>> 0, options.step >>> 0, d.stream, 0]);
      }
      const [loss, correct] = await executor.run(writes);
      let sum = 0;
      let hits = 0;
      for (let i = 0; i < n; i++) {
        sum += loss![i]!;
        hits += correct![i]!;
      }
      return { loss: sum / n, correct: hits };
    },
    profile: () => executor.profile(),
    readWeights: () => readFlat('params'),
    readMomenta: () => readFlat('momenta'),
    destroy: () => executor.destroy(),
  };
}

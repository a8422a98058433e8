/**
 * The one plan cache, with batch slicing, behind inference (runtime/infer.ts), dense evaluation
 * and evaluation (runtime/dense.ts, runtime/eval.ts) and validation during training
 * (runtime/train/loop.ts). A plan is compiled for a graph (named by a key) and a batch size on
 * first use and kept with its executor: lavapipe compiles each new kernel for seconds, so a
 * plan is worth keeping. `run` sends any number of inputs through it in slices; `warmUp`
 * compiles, before the first run, every pipeline that `run` with the same arguments needs.
 */
import type { KernelPlan } from '../compiler/plan.js';
import type { Gpu } from './device.js';
import { createExecutor, type Executor, type ExecutorOptions } from './executor.js';
import { warmUp, type WarmupProgress } from './warmup.js';

/** Writes input `j` into `out` (zeros on entry). */
export type Fill = (j: number, out: Float32Array) => void;

export interface Slicing {
  /** Inputs per slice (the batch a plan is compiled for). */
  readonly slice: number;
  /** Pad the last slice with zero inputs to `slice` rather than compile a plan for its size. */
  readonly pad?: boolean;
  /** Called after each slice with the number of inputs done. */
  readonly onProgress?: (done: number) => void;
}

export class PlanCache {
  private readonly executors = new Map<string, Executor>();
  private readonly compiled = new Map<string, KernelPlan>();

  /** `params`: where parameters come from (`weights`, or bound to another executor's). */
  constructor(
    private readonly gpu: Gpu,
    private readonly params: Pick<ExecutorOptions, 'weights' | 'params'>,
  ) {}

  /** The plans compiled so far, `key/nB` (graph key, batch). */
  keys(): string[] {
    return [...this.executors.keys()];
  }

  /** The plan of `key` at batch `n`; `compile(n)` builds it the first time (no GPU work). */
  plan(key: string, n: number, compile: (n: number) => KernelPlan): KernelPlan {
    const k = `${key}/n${n}`;
    let p = this.compiled.get(k);
    if (!p) this.compiled.set(k, (p = compile(n)));
    return p;
  }

  /** The executor of `key` at batch `n`; `compile(n)` builds its plan the first time. */
  async executor(key: string, n: number, compile: (n: number) => KernelPlan): Promise<Executor> {
    const k = `${key}/n${n}`;
    let e = this.executors.get(k);
    if (!e) {
      e = await createExecutor(this.gpu, this.plan(key, n, compile), this.params);
      this.executors.set(k, e);
    }
    return e;
  }

  /** The plans `run` with these arguments uses, each once (for runtime/warmup.ts). */
  plansFor(
    key: string,
    compile: (n: number) => KernelPlan,
    count: number,
    slicing: Pick<Slicing, 'slice' | 'pad'>,
  ): KernelPlan[] {
    const sizes = new Set<number>();
    for (let i = 0; i < count; i += slicing.slice) {
      sizes.add(slicing.pad ? slicing.slice : Math.min(slicing.slice, count - i));
    }
    return [...sizes].map((n) => this.plan(key, n, compile));
  }

  /** Warms every pipeline `run` with these arguments needs (runtime/warmup.ts `warmUp`). */
  warmUp(
    key: string,
    compile: (n: number) => KernelPlan,
    count: number,
    slicing: Pick<Slicing, 'slice' | 'pad'>,
    onProgress?: WarmupProgress,
  ): Promise<number> {
    return warmUp(
      this.gpu,
      this.plansFor(key, compile, count, slicing),
      onProgress ? { onProgress } : {},
    );
  }

  /**
   * Runs `count` inputs through the plans of `key`, `slicing.slice` at a time; `input` holds
   * them one after another or a `Fill` writes each. Returns their outputs one after another.
   */
  async run(
    key: string,
    compile: (n: number) => KernelPlan,
    count: number,
    input: Float32Array | Fill,
    slicing: Slicing,
  ): Promise<Float32Array> {
    let out = new Float32Array(0);
    for (let i = 0; i < count; i += slicing.slice) {
      const m = Math.min(slicing.slice, count - i);
      const exe = await this.executor(key, slicing.pad ? slicing.slice : m, compile);
      const [c, h, w] = exe.plan.input;
      const per = c * h * w;
      let x: Float32Array;
      if (typeof input !== 'function' && m === exe.plan.batch) {
        x = input.subarray(i * per, (i + m) * per);
      } else {
        x = new Float32Array(exe.plan.batch * per); // zeros past m: the padding
        if (typeof input !== 'function') x.set(input.subarray(i * per, (i + m) * per));
        else for (let j = 0; j < m; j++) input(i + j, x.subarray(j * per, (j + 1) * per));
      }
      const [y] = await exe.run({ input: x });
      const outPer = y!.length / exe.plan.batch;
      if (i === 0) out = new Float32Array(count * outPer);
      out.set(y!.subarray(0, m * outPer), i * outPer);
      slicing.onProgress?.(i + m);
    }
    return out;
  }

  destroy(): void {
    for (const e of this.executors.values()) e.destroy();
    this.executors.clear();
    this.compiled.clear();
  }
}

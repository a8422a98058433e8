/**
 * Benchmarking a model, fused against unfused: the one code path of `vggc bench` (cli/bench.ts)
 * and of the repository's suite (`npm run bench`, bench/run.ts and bench/train.ts).
 *
 * `benchModel` compiles the model twice (every fusion, or the named set, against none), runs
 * each plan after a warm-up, and reports per case (forward pass, training step, dense evaluation
 * at a size): the wall time of every timed run (median, min, max), the sum of the per-kernel GPU
 * times (timestamp queries where the adapter has them, else fenced wall time), dispatches, bytes
 * moved and GFLOP/s, and the per-kernel table: kernels of the two plans doing the same work
 * paired, passes that fusion removed collected in one row (`kernelRows`).
 *
 * Fused and unfused runs alternate (`interleaved`), so that a change in the machine's load hits
 * both alike. Timings are measurements: no test asserts them.
 */
import type { Chooser, ConvMode } from '../compiler/algorithms.js';
import { candidateName, type TuningTable } from '../compiler/chooser.js';
import { compileDense, compileInference, compileTraining } from '../compiler/compile.js';
import type { FuseOption } from '../compiler/compile.js';
import type { Shape } from '../compiler/ir.js';
import { planStats, type KernelPlan, type PlanStep } from '../compiler/plan.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { fail } from '../dsl/diagnostics.js';
import { acquireGpu, targetOf, type AdapterDescription, type Gpu } from './device.js';
import { prepare, type StepTimes } from './executor.js';
import { initWeights } from './init.js';
import { createTrainer } from './trainer.js';
import { warmUp, type WarmupProgress } from './warmup.js';
import { convChooser } from './tuning.js';

export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------------------------------------
// The timing loop

/** A prepared plan, timed one run at a time so that several can be interleaved. */
export interface Runner {
  readonly name: string;
  /** One run: wall milliseconds and, for a training step, the batch's mean loss (else NaN). */
  step(): Promise<[ms: number, loss: number]>;
}

export interface Timing {
  readonly firstStepMs: number;
  readonly firstLoss: number;
  readonly warmup: number;
  readonly stepsMs: number[];
  readonly lastLoss: number;
}

/** How many warm-up runs: at least `min`, then until the run time settles, at most `max`. */
export interface Warmup {
  readonly min: number;
  readonly max: number;
}

/**
 * Warm-up runs of each runner, then `runs` rounds of one run of each runner in turn, so that a
 * change in the machine's load hits every variant alike.
 *
 * `benchModel` compiles every pipeline first (runtime/warmup.ts); a runner's first run may still
 * load them. After it, the executor sleeps 0.8 x its shortest run so
 * far before it waits for the GPU (Dawn busy-polls while waiting, which takes a core from
 * lavapipe), so after slow early runs every run can only be ~0.8 x the shortest before it, and
 * the times fall geometrically (seen: 904, 740, 595, 476, 400, 327, 262, 211 ms). The warm-up
 * therefore goes on, after `min` runs, until two runs in a row are no new minimum by more than
 * 12% (at most `max` runs): the timed runs are not held by the sleep. (One such run was not
 * enough: the MNIST net at batch 1 then still fell 27, 17, 9.5, 5.5, 2.2 ms in its timed runs.)
 */
export async function interleaved(
  runners: readonly Runner[],
  warmup: Warmup,
  runs: number,
): Promise<Timing[]> {
  const out = [];
  for (const r of runners) {
    const [firstStepMs, firstLoss] = await r.step();
    let n = 1;
    let best = Infinity;
    let steady = 0;
    while (n < warmup.max) {
      const [ms] = await r.step();
      n++;
      steady = ms > 0.88 * best ? steady + 1 : 0;
      best = Math.min(best, ms);
      if (n >= warmup.min && steady >= 2) break;
    }
    out.push({
      firstStepMs,
      firstLoss,
      warmup: n,
      stepsMs: [] as number[],
      lastLoss: firstLoss,
    });
  }
  for (let i = 0; i < runs; i++) {
    for (const [j, r] of runners.entries()) {
      const [ms, loss] = await r.step();
      out[j]!.stepsMs.push(ms);
      out[j]!.lastLoss = loss;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-kernel GPU times

/** One plan step's GPU time (median over the profiles). */
export interface KernelTime {
  readonly label: string;
  readonly kernel: string;
  /** The algorithm chosen for the step's layer (`direct`, `winograd-f4`, ...), where there was a choice. */
  readonly algorithm?: string;
  readonly ms: number;
  readonly gflops: number;
}

export interface Profiled {
  /** Sum of the per-kernel GPU times (each dispatch in its own pass). */
  readonly gpuMs: number;
  readonly profileSource: StepTimes['source'];
  readonly profiles: number;
  readonly perKernel: readonly KernelTime[];
}

/** Something whose plan steps can be timed on the GPU (an inference run, a training step). */
export interface Profilable {
  readonly plan: KernelPlan;
  profile(): Promise<StepTimes>;
}

/** `profiles` rounds of `profile()` of each target in turn; per plan step the median. */
export async function profiled(
  targets: readonly Profilable[],
  profiles: number,
): Promise<Profiled[]> {
  const runs: number[][][] = targets.map(() => []);
  const sources: StepTimes['source'][] = targets.map(() => 'timestamp-query');
  for (let p = 0; p < profiles; p++) {
    for (const [j, t] of targets.entries()) {
      const times = await t.profile();
      runs[j]!.push([...times.stepsMs]);
      sources[j] = times.source;
    }
  }
  return targets.map((t, j) => {
    const perKernel = t.plan.steps.map((s, i) => {
      const kms = median(runs[j]!.map((run) => run[i]!));
      return {
        label: s.label,
        kernel: s.kernel.name,
        ...(s.algorithm ? { algorithm: candidateName(s.algorithm) } : {}),
        ms: round(kms, 3),
        gflops: round(kms > 0 ? s.kernel.flops / (kms / 1e3) / 1e9 : 0, 1),
      };
    });
    return {
      gpuMs: round(
        perKernel.reduce((a, k) => a + k.ms, 0),
        3,
      ),
      profileSource: sources[j]!,
      profiles,
      perKernel,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The fused vs unfused per-kernel table

/** A row of the fused vs unfused comparison: kernels of the two plans doing the same work. */
export interface KernelRow {
  readonly row: string;
  readonly fusedMs: number;
  readonly unfusedMs: number;
  readonly fusedDispatches: number;
  readonly unfusedDispatches: number;
}

/**
 * Which row of the fused vs unfused comparison a step belongs to: the kernel name without the
 * fusion suffixes (`_relu`, `_mask`, `_relumask`, `_drop0_5`), the batch or the partial-sum
 * reduction (`_sum`), so that a fused kernel meets its unfused counterpart; passes that a fusion
 * removes or merges (ReLU, ReLU backward, soft-max and its cross-entropy gradient, the
 * per-tensor SGD updates) are collected in one row each.
 */
export function rowOf(step: PlanStep): string {
  const op = step.label.replace(/\+.*$/, '');
  if (op === 'sgd') return 'SGD update (all parameters)';
  if (op === 'softmax-xent' || op === 'soft-max' || op === 'xent-grad')
    return 'soft-max + cross-entropy';
  if (op === 'relu') return 'ReLU passes';
  if (op === 'relu-grad') return 'ReLU backward passes';
  return pretty(
    step.kernel.name
      .replace(/_sum$/, '')
      .replace(/_(relumask|relu|mask|drop\d+(?:_\d+)?)(?=_|$)/g, '')
      .replace(/_n\d+/, ''),
  );
}

/** A readable row name for a kernel name (falls back to the name). */
function pretty(k: string): string {
  let m = /^conv(\d)x\d_(bwd_weight|bwd_data)?_?c(\d+)_k(\d+)_(\d+x\d+)/.exec(k);
  if (m) {
    const what = m[2] === 'bwd_weight' ? 'dW' : m[2] === 'bwd_data' ? 'dX' : 'fwd';
    return `conv${m[1]} ${m[3]}->${m[4]} ${m[5]} ${what}`;
  }
  m = /^fc_(bwd_weight_|bwd_data_)?(\d+)x(\d+)/.exec(k);
  if (m) {
    const what = m[1] === 'bwd_weight_' ? 'dW' : m[1] === 'bwd_data_' ? 'dX' : 'fwd';
    return `FC ${m[2]}->${m[3]} ${what}`;
  }
  m = /^maxpool2x2_(bwd_)?c(\d+)_(\d+x\d+)/.exec(k);
  if (m) return `maxpool ${m[2]}x${m[3]} ${m[1] ? 'back' : 'fwd'}`;
  m = /^dropout_(fwd|bwd)/.exec(k);
  if (m) return `dropout ${m[1] === 'fwd' ? 'fwd' : 'back'}`;
  return k;
}

/** A plan and the GPU time of each of its steps, in plan order. */
export interface TimedPlan {
  readonly plan: KernelPlan;
  readonly perKernel: readonly { readonly ms: number }[];
}

/** Pairs the per-kernel times of the fused and unfused plans by `rowOf`, in plan order. */
export function kernelRows(fused: TimedPlan, unfused: TimedPlan): KernelRow[] {
  const acc = new Map<string, { f: number; u: number; fd: number; ud: number; order: number }>();
  const add = ({ plan, perKernel }: TimedPlan, isFused: boolean) => {
    let prev = -1;
    plan.steps.forEach((s, i) => {
      const key = rowOf(s);
      let r = acc.get(key);
      // A row seen only in one plan goes right after the previous row of that plan.
      if (!r) acc.set(key, (r = { f: 0, u: 0, fd: 0, ud: 0, order: prev + 0.001 }));
      prev = r.order;
      if (isFused) {
        r.f += perKernel[i]!.ms;
        r.fd++;
      } else {
        r.u += perKernel[i]!.ms;
        r.ud++;
      }
    });
  };
  // Number the rows in unfused plan order first, then place the fused-only rows among them.
  let n = 0;
  for (const s of unfused.plan.steps) {
    const key = rowOf(s);
    if (!acc.has(key)) acc.set(key, { f: 0, u: 0, fd: 0, ud: 0, order: n++ });
  }
  add(unfused, false);
  add(fused, true);
  return [...acc]
    .sort((a, b) => a[1].order - b[1].order)
    .map(([row, r]) => ({
      row,
      fusedMs: round(r.f, 3),
      unfusedMs: round(r.u, 3),
      fusedDispatches: r.fd,
      unfusedDispatches: r.ud,
    }));
}

// ---------------------------------------------------------------------------------------------
// benchModel

export interface BenchOptions {
  /** Images per run (default 1). */
  readonly batch?: number;
  /** Time training steps (forward, backward, SGD update) as well. */
  readonly train?: boolean;
  /** Time dense evaluation (FC layers as convolutions) at these square sizes Q (Q x Q images). */
  readonly dense?: readonly number[];
  /** Timed runs per variant (default 5). */
  readonly runs?: number;
  /**
   * The fused side: true (default) every fusion, a list the fusions named; against none.
   * false: only the unfused plan is timed.
   */
  readonly fuse?: FuseOption;
  /**
   * The algorithms (runtime/tuning.ts `convChooser`): one mode for both plans (default 'auto'),
   * or two, [A, B], to time A against B (both with the `fuse` fusions) instead of fused against
   * unfused: the result's `convCases`.
   */
  readonly conv?: ConvMode | readonly [ConvMode, ConvMode];
  /** The tuned winners `auto` prefers (default: the shipped defaults of the adapter). */
  readonly tuning?: TuningTable;
  /** Weights by torchvision name (default: Kaiming-initialised, seed 1). */
  readonly weights?: ReadonlyMap<string, Float32Array>;
  /** Profiles per variant for the per-kernel GPU times, median per kernel (default 3; 0: none). */
  readonly profiles?: number;
  readonly gpu?: Gpu;
  /** Told what is being compiled and run, one short line at a time. */
  readonly progress?: (line: string) => void;
  /** Progress of the warm-up that compiles every pipeline of every case first (runtime/warmup.ts). */
  readonly onCompile?: WarmupProgress;
}

export interface BenchVariant {
  readonly fuse: FuseOption;
  /** The `--conv` mode the plan was compiled with. */
  readonly conv: ConvMode;
  readonly dispatches: number;
  readonly kernels: number;
  /** Per run, as the plan's kernels count them. */
  readonly flops: number;
  readonly bytes: number;
  /**
   * Wall time of the first run, after the warm-up that compiled every pipeline (bench/first-run.ts
   * measures the cold first pass, each case from an empty shader cache).
   */
  readonly firstRunMs: number;
  readonly warmupRuns: number;
  /** Wall time of every timed run, in order. */
  readonly runsMs: readonly number[];
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** flops and bytes over the median wall time. */
  readonly gflops: number;
  readonly gbps: number;
  /** Sum of the per-kernel GPU times, and how they were measured (absent with 0 profiles). */
  readonly gpuMs?: number;
  readonly profileSource?: StepTimes['source'];
  readonly perKernel: readonly KernelTime[];
}

export interface BenchCase {
  /** `forward`, `train` or `dense` (at `input`). */
  readonly name: string;
  readonly batch: number;
  readonly input: Shape;
  readonly fused?: BenchVariant;
  readonly unfused: BenchVariant;
  /** fused / unfused median wall time, and sum of kernel GPU times (with a fused variant). */
  readonly ratio?: number;
  readonly gpuRatio?: number;
  /** The per-kernel table (with a fused variant, and profiles). */
  readonly rows?: readonly KernelRow[];
}

/** One layer of a `--conv A,B` comparison: the two plans' algorithms and GPU times for it. */
export interface LayerRow {
  /** `conv3-64+relu (node 2)`. */
  readonly layer: string;
  readonly algorithms: readonly [string, string];
  readonly ms: readonly [number, number];
}

/** A case timed with two algorithm settings (BenchOptions.conv = [A, B]). */
export interface ConvCase {
  readonly name: string;
  readonly batch: number;
  readonly input: Shape;
  readonly conv: readonly [ConvMode, ConvMode];
  readonly variants: readonly [BenchVariant, BenchVariant];
  /** A / B median wall time, and sum of kernel GPU times. */
  readonly ratio: number;
  readonly gpuRatio?: number;
  /** Per layer, both plans (with profiles). */
  readonly layers?: readonly LayerRow[];
}

export interface BenchResult {
  readonly model: string;
  readonly adapter: AdapterDescription;
  readonly runs: number;
  readonly profiles: number;
  /** Fused against unfused (empty when two algorithm settings are compared). */
  readonly cases: readonly BenchCase[];
  /** With BenchOptions.conv = [A, B]: A against B, per case. */
  readonly convCases?: readonly ConvCase[];
}

/** The step of `--train`: a plausible setting; the work of a step does not depend on it. */
const HYPER = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };

/** Deterministic values in [0, 1) (xorshift), for images that are not all zeros. */
export function pseudoImages(count: number, seed = 0x9e3779b9): Float32Array {
  const x = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    x[i] = (s >>> 0) / 2 ** 32;
  }
  return x;
}

interface Prepared extends Runner, Profilable {
  destroy(): void;
}

/** One plan of a case: its fusions and its algorithm choice. */
interface Side {
  readonly fuse: FuseOption;
  readonly conv: ConvMode;
  readonly choose: Chooser;
}

interface TimingOptions {
  readonly runs: number;
  readonly profiles: number;
  readonly progress: (line: string) => void;
}

/** `make(side)` compiles and prepares each side's plan; all timed, interleaved. */
async function timeSides(
  name: string,
  sides: readonly Side[],
  names: readonly string[],
  make: (side: Side) => Promise<Prepared>,
  o: TimingOptions,
): Promise<{ variants: BenchVariant[]; plans: KernelPlan[] }> {
  const prepared: Prepared[] = [];
  try {
    for (const [j, side] of sides.entries()) {
      o.progress(`${name}: compiling the ${names[j]} plan`);
      prepared.push(await make(side));
    }
    o.progress(`${name}: warm-up and ${o.runs} timed run${o.runs === 1 ? '' : 's'} of each`);
    const timings = await interleaved(prepared, { min: 3, max: 12 }, o.runs);
    if (o.profiles > 0) o.progress(`${name}: per-kernel GPU times`);
    const profiles = o.profiles > 0 ? await profiled(prepared, o.profiles) : undefined;
    const variants = prepared.map((p, j): BenchVariant => {
      const t = timings[j]!;
      const stats = planStats(p.plan);
      const ms = median(t.stepsMs);
      const prof = profiles?.[j];
      return {
        fuse: sides[j]!.fuse,
        conv: sides[j]!.conv,
        dispatches: stats.dispatches,
        kernels: stats.kernels,
        flops: stats.flops,
        bytes: stats.bytes,
        firstRunMs: round(t.firstStepMs, 2),
        warmupRuns: t.warmup,
        runsMs: t.stepsMs.map((v) => round(v, 3)),
        medianMs: round(ms, 3),
        minMs: round(Math.min(...t.stepsMs), 3),
        maxMs: round(Math.max(...t.stepsMs), 3),
        gflops: round(stats.flops / (ms / 1e3) / 1e9, 2),
        gbps: round(stats.bytes / (ms / 1e3) / 1e9, 3),
        ...(prof ? { gpuMs: prof.gpuMs, profileSource: prof.profileSource } : {}),
        perKernel: prof?.perKernel ?? [],
      };
    });
    return { variants, plans: prepared.map((p) => p.plan) };
  } finally {
    for (const p of prepared) p.destroy();
  }
}

/** One case, fused against unfused (or unfused alone with `fuse: false`). */
async function benchCase(
  name: string,
  input: Shape,
  batch: number,
  make: (side: Side) => Promise<Prepared>,
  o: TimingOptions & { fuse: FuseOption; conv: ConvMode; choose: Chooser },
): Promise<BenchCase> {
  const fuses: FuseOption[] = o.fuse === false ? [false] : [o.fuse, false];
  const sides = fuses.map((fuse) => ({ fuse, conv: o.conv, choose: o.choose }));
  const names = fuses.map((f) => (f === false ? 'unfused' : 'fused'));
  const { variants, plans } = await timeSides(name, sides, names, make, o);
  if (variants.length === 1) return { name, batch, input, unfused: variants[0]! };
  const [fused, unfused] = variants as [BenchVariant, BenchVariant];
  return {
    name,
    batch,
    input,
    fused,
    unfused,
    ratio: round(fused.medianMs / unfused.medianMs, 3),
    ...(fused.gpuMs !== undefined && unfused.gpuMs !== undefined
      ? {
          gpuRatio: round(fused.gpuMs / unfused.gpuMs, 3),
          rows: kernelRows(
            { plan: plans[0]!, perKernel: fused.perKernel },
            { plan: plans[1]!, perKernel: unfused.perKernel },
          ),
        }
      : {}),
  };
}

/** One case, algorithm setting A against B (same fusions). */
async function convCase(
  name: string,
  input: Shape,
  batch: number,
  make: (side: Side) => Promise<Prepared>,
  o: TimingOptions & {
    fuse: FuseOption;
    conv: readonly [ConvMode, ConvMode];
    chooser: (m: ConvMode) => Chooser;
  },
): Promise<ConvCase> {
  const sides = o.conv.map((conv) => ({ fuse: o.fuse, conv, choose: o.chooser(conv) }));
  const names = o.conv.map((c) => `--conv ${c}`);
  const { variants, plans } = await timeSides(name, sides, names, make, o);
  const [a, b] = variants as [BenchVariant, BenchVariant];
  return {
    name,
    batch,
    input,
    conv: o.conv,
    variants: [a, b],
    ratio: round(a.medianMs / b.medianMs, 3),
    ...(a.gpuMs !== undefined && b.gpuMs !== undefined
      ? {
          gpuRatio: round(a.gpuMs / b.gpuMs, 3),
          layers: layerRows([
            { plan: plans[0]!, perKernel: a.perKernel },
            { plan: plans[1]!, perKernel: b.perKernel },
          ]),
        }
      : {}),
  };
}

/**
 * The per-layer rows of two plans of the same graph and fusions: steps grouped by node (a layer
 * may take several dispatches with one algorithm and one with another), in plan order.
 */
export function layerRows(plans: readonly [TimedPlan, TimedPlan]): LayerRow[] {
  const rows = new Map<
    number,
    { layer: string; algorithms: [string, string]; ms: [number, number] }
  >();
  plans.forEach(({ plan, perKernel }, side) => {
    plan.steps.forEach((s, i) => {
      const r = rows.get(s.node) ?? {
        layer: `${s.label} (node ${s.node})`,
        algorithms: ['-', '-'],
        ms: [0, 0],
      };
      r.algorithms[side] = s.algorithm ? candidateName(s.algorithm) : '-';
      r.ms[side] = r.ms[side]! + perKernel[i]!.ms;
      rows.set(s.node, r);
    });
  });
  return [...rows.values()].map((r) => ({ ...r, ms: [round(r.ms[0], 3), round(r.ms[1], 3)] }));
}

/**
 * Benchmarks `graph` (typed at the input it runs on) fused against unfused: its forward pass,
 * with `train` its training step, with `dense` its dense evaluation at each size. Weights are
 * random (Kaiming, seed 1) unless given.
 */
export async function benchModel(
  graph: TypedGraph,
  options: BenchOptions = {},
): Promise<BenchResult> {
  const runs = options.runs ?? 5;
  const batch = options.batch ?? 1;
  if (!Number.isInteger(runs) || runs < 1) fail(`runs must be a positive integer, not ${runs}`);
  if (!Number.isInteger(batch) || batch < 1) fail(`batch must be a positive integer, not ${batch}`);
  const input = graph.nodes[0]!.out;
  // Dense sizes too small, or of the wrong channels: a VggcError before any GPU work.
  const dense = options.dense?.length ? compileDense(graph) : undefined;
  const denseInputs = (options.dense ?? []).map((q): Shape => [input[0], q, q]);
  for (const at of denseInputs) dense!.graphAt(at);
  const gpu = options.gpu ?? (await acquireGpu());
  const target = targetOf(gpu);
  const weights = options.weights ?? initWeights(graph, { scheme: 'kaiming', seed: 1 });
  const profiles = options.profiles ?? 3;
  const chooser = (conv: ConvMode) =>
    convChooser(gpu, { conv, ...(options.tuning ? { tuning: options.tuning } : {}) });
  const pair = Array.isArray(options.conv) ? (options.conv as [ConvMode, ConvMode]) : undefined;
  const single: ConvMode = pair ? pair[0] : ((options.conv as ConvMode | undefined) ?? 'auto');
  if (pair && pair[0] === pair[1])
    fail(`conv compares two different settings, not ${pair[0]} twice`);
  const fuse = options.fuse ?? true;
  const o = {
    runs,
    profiles,
    fuse,
    conv: single,
    choose: chooser(single),
    progress: options.progress ?? (() => undefined),
  };
  const inference = async (plan: KernelPlan): Promise<Prepared> => {
    const exe = await prepare(gpu, plan, weights);
    const x = pseudoImages(plan.batch * plan.input.reduce((a, b) => a * b, 1));
    return {
      name: 'inference',
      plan,
      async step() {
        const t = performance.now();
        await exe.run(x);
        return [performance.now() - t, NaN];
      },
      profile: () => exe.profile(x),
      destroy: () => exe.destroy(),
    };
  };

  // Every plan of every case, compiled once (CPU only) and warmed before the first case runs,
  // so that no case's first run waits for the adapter's compiler.
  const plans = new Map<string, KernelPlan>();
  const planOf = (what: string, side: Side, build: () => KernelPlan): KernelPlan => {
    const key = `${what}/${side.fuse === false ? 'unfused' : 'fused'}/${side.conv}`;
    let p = plans.get(key);
    if (!p) plans.set(key, (p = build()));
    return p;
  };
  const forwardPlan = (side: Side) =>
    planOf('forward', side, () =>
      compileInference(graph, { target, batch, fuse: side.fuse, choose: side.choose }),
    );
  const trainPlan = (side: Side) =>
    planOf('train', side, () =>
      compileTraining(graph, { target, batch, fuse: side.fuse, choose: side.choose }),
    );
  const densePlan = (at: Shape, side: Side) =>
    planOf(`dense ${at.join('x')}`, side, () =>
      dense!.plan(at, { target, batch, fuse: side.fuse, choose: side.choose }),
    );
  const sides: Side[] = pair
    ? pair.map((conv) => ({ fuse, conv, choose: chooser(conv) }))
    : (fuse === false ? [false as const] : [fuse, false as const]).map((f) => ({
        fuse: f,
        conv: single,
        choose: o.choose,
      }));
  for (const side of sides) {
    forwardPlan(side);
    if (options.train) trainPlan(side);
    for (const at of denseInputs) densePlan(at, side);
  }
  await warmUp(
    gpu,
    [...plans.values()],
    options.onCompile ? { onProgress: options.onCompile } : {},
  );

  const cases: BenchCase[] = [];
  const convCases: ConvCase[] = [];
  /** A case: fused against unfused, or (with a pair) conv A against conv B. */
  const run = async (name: string, at: Shape, make: (side: Side) => Promise<Prepared>) => {
    if (pair) convCases.push(await convCase(name, at, batch, make, { ...o, conv: pair, chooser }));
    else cases.push(await benchCase(name, at, batch, make, o));
  };
  await run('forward', input, (side) => inference(forwardPlan(side)));
  if (options.train) {
    const classes = graph.nodes.at(-1)!.out[0];
    await run('train', input, async (side) => {
      const plan = trainPlan(side);
      const trainer = await createTrainer(gpu, plan, weights);
      const images = pseudoImages(batch * input.reduce((a, b) => a * b, 1));
      const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7 + 3) % classes);
      let step = 0;
      return {
        name: 'train',
        plan,
        async step() {
          const t = performance.now();
          const r = await trainer.step(images, labels, { ...HYPER, seed: 11, step: step++ });
          return [performance.now() - t, r.loss];
        },
        profile: () => trainer.profile(),
        destroy: () => trainer.destroy(),
      };
    });
  }
  for (const at of denseInputs) {
    await run('dense', at, (side) => inference(densePlan(at, side)));
  }
  return {
    model: graph.name,
    adapter: gpu.adapter,
    runs,
    profiles,
    cases,
    ...(pair ? { convCases } : {}),
  };
}

/**
 * Training benchmark cases (`npm run bench:train`, or `node dist/bench/run.js --only train`; the
 * full `npm run bench` runs them too):
 *
 * - The MNIST net (examples/mnist.vgg), one SGD step at batch 64 (forward, backward, soft-max
 *   cross-entropy, momentum + weight-decay update, loss read back), fused vs unfused: median wall
 *   time of BENCH_TRAIN_RUNS steps after at least 3 warm-up steps (the first compiles the
 *   pipelines on lavapipe and is reported apart; see `interleaved` for when warm-up ends; fused
 *   and unfused steps alternate, so that a change in the machine's load hits both), images/s, GFLOP/s and GB/s (the plan's kernel flops and bytes over
 *   the step time), dispatches, and every kernel's GPU time from `Trainer.profile()` (timestamp
 *   queries; median of 5 profiles).
 * - TensorFlow.js's WebGPU backend on the same adapter, in the same run (after ours, not
 *   interleaved), on the same step of the same network (bench/tfjs.ts): ours / theirs.
 * - VGG-A (examples/vgg-paper.vgg, model A) at 224x224, batch 8, fused: training throughput,
 *   median of BENCH_VGG_STEPS steps (at least 3) after 3 to 8 warm-up steps, and one profile.
 *
 *   BENCH_TRAIN_RUNS=20   timed MNIST steps per variant (minimum 10; TF.js: 10)
 *   BENCH_VGG_STEPS=3     timed VGG-A steps (minimum 3); BENCH_VGG=0 skips VGG-A
 *   BENCH_TFJS=0          skips TensorFlow.js
 */
import { mergeSection, sectionOf } from './sections.js';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { FUSIONS } from '../compiler/passes/index.js';
import { planStats, type KernelPlan, type PlanStep } from '../compiler/plan.js';
import {
  interleaved,
  kernelRows,
  median,
  profiled,
  round,
  type KernelRow,
  type KernelTime,
  type Profilable,
  type Profiled,
  type Runner,
  type Timing,
} from '../runtime/bench.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { targetOf, type Gpu } from '../runtime/device.js';
import { initWeights } from '../runtime/init.js';
import { createTrainer, type StepOptions, type Trainer } from '../runtime/trainer.js';
import { barChart } from '../runtime/bar-chart.js';
import { tfjsMnistTrainer } from './tfjs.js';

const log = (s: string) => process.stdout.write(s + '\n');
const mib = (b: number) => round(b / 2 ** 20, 1);
const sig3 = (v: number) => Number(v.toPrecision(3));

export interface TrainBenchOptions {
  /** Timed MNIST steps per variant. */
  readonly runs: number;
  readonly tfjs: boolean;
  readonly vgg: boolean;
  /** Timed TF.js steps. */
  readonly tfjsRuns: number;
  /** Timed VGG-A steps. */
  readonly vggSteps: number;
}

export function trainBenchOptions(env = process.env): TrainBenchOptions {
  return {
    runs: Math.max(10, Number(env.BENCH_TRAIN_RUNS ?? 20)),
    tfjsRuns: 10,
    tfjs: env.BENCH_TFJS !== '0',
    vgg: env.BENCH_VGG !== '0',
    vggSteps: Math.max(3, Number(env.BENCH_VGG_STEPS ?? 3)),
  };
}

export interface TrainVariant {
  readonly model: string;
  readonly fuse: boolean;
  readonly batch: number;
  /** Wall time of the first step of the process: includes lavapipe's pipeline compiles. */
  readonly firstStepMs: number;
  readonly warmupSteps: number;
  /** Median wall time of the timed steps. */
  readonly ms: number;
  readonly minMs: number;
  readonly stepsMs: readonly number[];
  readonly imagesPerSec: number;
  readonly gflops: number;
  readonly gbps: number;
  readonly dispatches: number;
  readonly kernels: number;
  readonly gflopPerStep: number;
  readonly mbPerStep: number;
  /** Parameters, gradients and momenta: three flat buffers of this size. */
  readonly flatMiB: number;
  /** Activation and scratch buffers of the memory plan. */
  readonly poolMiB: number;
  readonly firstLoss: number;
  readonly lastLoss: number;
  /** Sum of the per-kernel GPU times (each dispatch in its own pass). */
  readonly gpuMs?: number;
  readonly profileSource?: string;
  readonly profiles?: number;
  readonly perKernel?: readonly KernelTime[];
}

export interface TrainResults {
  readonly startedAt: string;
  /** The fusion passes the fused plans ran (compiler/passes/index.ts FUSIONS). */
  readonly fusions: readonly string[];
  /** os.loadavg() (1, 5, 15 min) when the training cases started and ended. */
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly lpNumThreads?: string;
  readonly mnist: {
    readonly fused: TrainVariant;
    readonly unfused: TrainVariant;
    /** fused / unfused median step time. */
    readonly ratio: number;
    /** fused / unfused sum of the per-kernel GPU times (less exposed to the machine's load). */
    readonly gpuRatio: number;
    /** os.loadavg() when the MNIST steps were done. */
    readonly load: readonly number[];
    readonly rows: readonly KernelRow[];
    readonly hyper: { lr: number; momentum: number; weightDecay: number };
  };
  readonly tfjs?: {
    /** Median wall time of a step (forward, backward, update, loss read back), ms. */
    readonly ms: number;
    readonly minMs: number;
    /** The first step, which includes TF.js's shader compiles. */
    readonly firstStepMs: number;
    readonly warmupSteps: number;
    readonly stepsMs: readonly number[];
    readonly firstLoss: number;
    readonly lastLoss: number;
    readonly imagesPerSec: number;
    /** Our fused median step time / TF.js's. */
    readonly ratio: number;
    readonly ratioUnfused: number;
    /** os.loadavg() when TF.js's steps were done. */
    readonly load: readonly number[];
  };
  readonly tfjsError?: string;
  readonly vggA?: TrainVariant & {
    readonly hyper: Hyper;
    readonly categories: readonly CategoryTime[];
  };
  readonly vggAError?: string;
}

export interface CategoryTime {
  readonly category: string;
  readonly dispatches: number;
  readonly ms: number;
  readonly gflops: number;
}

export type Hyper = { lr: number; momentum: number; weightDecay: number };

/** examples/mnist.vgg's train block. */
export const HYPER: Hyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };
/**
 * VGG-A: the paper's lr 0.01 made the loss of the one repeated random batch diverge from
 * Kaiming-initialised weights (14.7 to 6e4 in five steps, trial of 2026-11-28); at 1e-4 it falls.
 * The work of a step is the same either way.
 */
export const HYPER_VGG: Hyper = { lr: 1e-4, momentum: 0.9, weightDecay: 5e-4 };

/** A deterministic batch: images in [0, 1), labels spread over the classes. */
function batchOf(plan: KernelPlan, classes: number): { images: Float32Array; labels: Int32Array } {
  const [c, h, w] = plan.input;
  const images = new Float32Array(plan.batch * c * h * w);
  let s = 0x9e3779b9;
  for (let i = 0; i < images.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    images[i] = (s >>> 0) / 2 ** 32;
  }
  const labels = Int32Array.from({ length: plan.batch }, (_, i) => (i * 7 + 3) % classes);
  return { images, labels };
}

export interface OurRunner extends Runner, Profilable {
  readonly plan: KernelPlan;
  readonly fuse: boolean;
  readonly trainer: Trainer;
}

export async function ourRunner(
  gpu: Gpu,
  graph: TypedGraph,
  batch: number,
  fuse: boolean,
  classes: number,
  hyper: Hyper,
  progress = false,
): Promise<OurRunner> {
  const plan = compileTraining(graph, { target: targetOf(gpu), batch, fuse });
  const weights = initWeights(graph, { scheme: 'kaiming', seed: 1 });
  const trainer = await createTrainer(gpu, plan, weights);
  const { images, labels } = batchOf(plan, classes);
  let step = 0;
  return {
    name: fuse ? 'fused' : 'unfused',
    plan,
    fuse,
    trainer,
    profile: () => trainer.profile(),
    async step() {
      const options: StepOptions = { ...hyper, seed: 11, step: step++ };
      const t = performance.now();
      const r = await trainer.step(images, labels, options);
      const ms = performance.now() - t;
      if (!Number.isFinite(r.loss)) throw new Error(`the loss became ${r.loss} at step ${step}`);
      if (progress) log(`    step ${step}: ${(ms / 1000).toFixed(1)} s, loss ${r.loss.toFixed(3)}`);
      return [ms, r.loss];
    },
  };
}

function variant(r: OurRunner, t: Timing, profile: Profiled): TrainVariant {
  const { plan } = r;
  const stats = planStats(plan);
  const ms = median(t.stepsMs);
  return {
    model: plan.model,
    fuse: r.fuse,
    batch: plan.batch,
    firstStepMs: round(t.firstStepMs, 1),
    warmupSteps: t.warmup,
    ms: round(ms, 2),
    minMs: round(Math.min(...t.stepsMs), 2),
    stepsMs: t.stepsMs.map((v) => round(v, 1)),
    imagesPerSec: sig3(plan.batch / (ms / 1e3)),
    gflops: round(stats.flops / (ms / 1e3) / 1e9, 2),
    gbps: round(stats.bytes / (ms / 1e3) / 1e9, 2),
    dispatches: stats.dispatches,
    kernels: stats.kernels,
    gflopPerStep: round(stats.flops / 1e9, 3),
    mbPerStep: round(stats.bytes / 1e6, 1),
    flatMiB: mib(plan.training!.flatBytes),
    poolMiB: mib(plan.memory.buffers.reduce((a, b) => a + b, 0)),
    firstLoss: round(t.firstLoss, 4),
    lastLoss: round(t.lastLoss, 4),
    ...profile,
  };
}

/** Sums a profile by the kind of work (forward conv, conv dW, ...). */
function categories(plan: KernelPlan, perKernel: readonly KernelTime[]): CategoryTime[] {
  const cat = (s: PlanStep) => {
    const op = s.label.replace(/\+.*$/, '').replace(/ .*$/, '');
    if (/^conv\d/.test(op)) return 'conv forward (+ReLU)';
    if (/^FC-/.test(op)) return 'FC forward (+ReLU)';
    return op;
  };
  const acc = new Map<string, { d: number; ms: number; flops: number }>();
  plan.steps.forEach((s, i) => {
    const key = cat(s);
    const r = acc.get(key) ?? { d: 0, ms: 0, flops: 0 };
    r.d++;
    r.ms += perKernel[i]!.ms;
    r.flops += s.kernel.flops;
    acc.set(key, r);
  });
  return [...acc]
    .map(([category, r]) => ({
      category,
      dispatches: r.d,
      ms: round(r.ms, 1),
      gflops: round(r.ms > 0 ? r.flops / (r.ms / 1e3) / 1e9 : 0, 1),
    }))
    .sort((a, b) => b.ms - a.ms);
}

const line = (v: TrainVariant, name: string) =>
  `  ${name.padEnd(18)} ${v.ms.toFixed(1).padStart(9)} ms/step (min ${v.minMs.toFixed(1)}, first ${v.firstStepMs.toFixed(0)})  ${v.imagesPerSec} img/s  ${v.gflops} GFLOP/s  ${v.gbps} GB/s  ${v.dispatches} dispatches` +
  (v.gpuMs !== undefined ? `  GPU sum ${v.gpuMs} ms` : '');

export async function trainCases(gpu: Gpu, o: TrainBenchOptions): Promise<TrainResults> {
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg().map((l) => round(l, 2));
  const mnistText = readFileSync('examples/mnist.vgg', 'utf8');
  const mnist = checkSource({ name: 'mnist.vgg', text: mnistText });
  log(
    `\ntraining: MNIST net, one SGD step, batch 64 (median of ${o.runs} steps after warm-up; load ${loadBefore.join(' ')}):`,
  );
  const fusedRunner = await ourRunner(gpu, mnist, 64, true, 10, HYPER);
  const unfusedRunner = await ourRunner(gpu, mnist, 64, false, 10, HYPER);
  const [tf, tu] = await interleaved([fusedRunner, unfusedRunner], { min: 3, max: 30 }, o.runs);
  const [fp, up] = await profiled([fusedRunner, unfusedRunner], 5);
  const fused = variant(fusedRunner, tf!, fp!);
  const unfused = variant(unfusedRunner, tu!, up!);
  fusedRunner.trainer.destroy();
  unfusedRunner.trainer.destroy();
  log(line(fused, 'fused'));
  log(line(unfused, 'unfused'));
  const ratio = round(fused.ms / unfused.ms, 3);
  const gpuRatio = round(fused.gpuMs! / unfused.gpuMs!, 3);
  log(
    `  fused / unfused = ${ratio} (wall), ${gpuRatio} (GPU sum); losses ${fused.firstLoss} -> ${fused.lastLoss} (fused)`,
  );
  const rows = kernelRows(
    { plan: fusedRunner.plan, perKernel: fused.perKernel! },
    { plan: unfusedRunner.plan, perKernel: unfused.perKernel! },
  );
  const loadMnist = loadavg().map((l) => round(l, 2));

  // TF.js in a block of its own, after ours: interleaved with its steps, ours ran ~2x slower in
  // a trial (its device's leftover work and garbage land in our steps).
  let tfjs: TrainResults['tfjs'];
  let tfjsError: string | undefined;
  if (o.tfjs) {
    log(
      `  TensorFlow.js 4.22 WebGPU, same step, same adapter (median of ${o.tfjsRuns} steps after warm-up):`,
    );
    let theirs: Awaited<ReturnType<typeof tfjsMnistTrainer>> | undefined;
    try {
      const { images, labels } = batchOf(fusedRunner.plan, 10);
      theirs = await tfjsMnistTrainer(images, labels, HYPER);
      const [t] = await interleaved([theirs], { min: 3, max: 10 }, o.tfjsRuns);
      const ms = median(t!.stepsMs);
      tfjs = {
        ms: round(ms, 1),
        minMs: round(Math.min(...t!.stepsMs), 1),
        firstStepMs: round(t!.firstStepMs, 1),
        warmupSteps: t!.warmup,
        stepsMs: t!.stepsMs.map((v) => round(v, 1)),
        firstLoss: round(t!.firstLoss, 4),
        lastLoss: round(t!.lastLoss, 4),
        imagesPerSec: sig3(64 / (ms / 1e3)),
        ratio: round(fused.ms / ms, 3),
        ratioUnfused: round(unfused.ms / ms, 3),
        load: loadavg().map((l) => round(l, 2)),
      };
      log(
        `  ${'TF.js'.padEnd(18)} ${tfjs.ms.toFixed(1).padStart(9)} ms/step (min ${tfjs.minMs}, first ${tfjs.firstStepMs.toFixed(0)})  ${tfjs.imagesPerSec} img/s; ours (fused) / TF.js = ${tfjs.ratio}, losses ${tfjs.firstLoss} -> ${tfjs.lastLoss}`,
      );
    } catch (e) {
      tfjsError = e instanceof Error ? e.message : String(e);
      log(`  TF.js failed: ${tfjsError}`);
    } finally {
      theirs?.dispose();
    }
  }

  let vggA: TrainResults['vggA'];
  let vggAError: string | undefined;
  if (o.vgg) {
    log(
      `\ntraining: VGG-A at 224x224, batch 8, fused (median of ${o.vggSteps} steps after warm-up, then 1 profile):`,
    );
    try {
      const paper = readFileSync('examples/vgg-paper.vgg', 'utf8');
      const a = checkSource({ name: 'vgg-paper.vgg', text: paper }, { model: 'A' });
      const r = await ourRunner(gpu, a, 8, true, 1000, HYPER_VGG, true);
      let v: TrainVariant;
      try {
        const [t] = await interleaved([r], { min: 2, max: 8 }, o.vggSteps);
        log('    profile (one more step, each dispatch in its own pass):');
        const [p] = await profiled([r], 1);
        v = variant(r, t!, p!);
      } finally {
        r.trainer.destroy();
      }
      const plan = r.plan;
      vggA = { ...v, hyper: HYPER_VGG, categories: categories(plan, v.perKernel!) };
      log(line(v, 'VGG-A fused'));
      for (const c of vggA.categories.slice(0, 6)) {
        log(
          `    ${c.category.padEnd(24)} ${c.ms.toFixed(0).padStart(7)} ms GPU (${c.dispatches} dispatches, ${c.gflops} GFLOP/s)`,
        );
      }
    } catch (e) {
      vggAError = e instanceof Error ? e.message : String(e);
      log(`  VGG-A failed: ${vggAError}`);
    }
  }
  return {
    startedAt,
    fusions: Object.keys(FUSIONS),
    loadBefore,
    loadAfter: loadavg().map((l) => round(l, 2)),
    ...(process.env.LP_NUM_THREADS ? { lpNumThreads: process.env.LP_NUM_THREADS } : {}),
    mnist: { fused, unfused, ratio, gpuRatio, rows, hyper: HYPER, load: loadMnist },
    ...(tfjs ? { tfjs } : {}),
    ...(tfjsError ? { tfjsError } : {}),
    ...(vggA ? { vggA } : {}),
    ...(vggAError ? { vggAError } : {}),
  };
}

/** The SVG chart: fused vs unfused GPU time per kernel row of the MNIST training step. */
export function trainChart(r: TrainResults, slug: string, date: string): string {
  const f = r.mnist.fused;
  return barChart(
    `MNIST net training step, batch 64, ${slug} (${date}): GPU ms per kernel, fused vs unfused`,
    'ms',
    r.mnist.rows.map((row) => ({
      label: row.row,
      fused: row.fusedMs,
      unfused: row.unfusedMs,
    })),
    {
      labelWidth: 240,
      subtitle:
        `${f.profileSource}, median of ${f.profiles} profiles; GPU sum fused ${f.gpuMs} ms, ` +
        `unfused ${r.mnist.unfused.gpuMs} ms; load average ${r.loadBefore[0]} on ${cpus().length} cores`,
    },
  );
}

export const TRAIN_BEGIN = '<!-- bench:train:begin -->';
export const TRAIN_END = '<!-- bench:train:end -->';

/** The training section of bench/results/latest.md, between TRAIN_BEGIN and TRAIN_END. */
export function trainSection(
  r: TrainResults,
  meta: { date: string; commit: string; adapter: string; cores: number },
  svg: string,
): string {
  const { fused, unfused } = r.mnist;
  const vrow = (name: string, v: TrainVariant) =>
    `| ${name} | ${v.ms.toFixed(1)} | ${v.minMs.toFixed(1)} | ${(v.firstStepMs / 1000).toFixed(1)} s | ${v.imagesPerSec} | ${v.gflops} | ${v.gbps} | ${v.dispatches} | ${v.gpuMs ?? '-'} |`;
  const out = [
    TRAIN_BEGIN,
    '## Training',
    '',
    `Measured ${meta.date}, commit ${meta.commit} (working tree), adapter ${meta.adapter}, ` +
      `${meta.cores} cores shared with other work: load average ${r.loadBefore.join(' / ')} ` +
      `(1/5/15 min) at the start, ${r.loadAfter.join(' / ')} at the end. Wall time per step ` +
      '(submit of the whole step, loss read back). Compare only figures from one run.',
    '',
    `### MNIST net (examples/mnist.vgg), one SGD step, batch 64`,
    '',
    `Forward, soft-max cross-entropy, backward and SGD (lr ${r.mnist.hyper.lr}, momentum ` +
      `${r.mnist.hyper.momentum}, weight decay ${r.mnist.hyper.weightDecay}); median of ` +
      `${fused.stepsMs.length} steps of each, alternating, after ${fused.warmupSteps} (fused) and ` +
      `${unfused.warmupSteps} (unfused) warm-up steps. Per step: ` +
      `${fused.gflopPerStep} GFLOP fused (${unfused.gflopPerStep} unfused), ${fused.mbPerStep} MB ` +
      `of kernel traffic fused (${unfused.mbPerStep} MB unfused). Fusion passes of the fused ` +
      `plan: ${r.fusions.join(', ')}.`,
    '',
    '| variant | ms/step | min ms | first step (compiles) | images/s | GFLOP/s | GB/s | dispatches | GPU ms (sum of kernels) |',
    '|---|---|---|---|---|---|---|---|---|',
    vrow('fused', fused),
    vrow('unfused', unfused),
  ];
  if (r.tfjs) {
    const t = r.tfjs;
    out.push(
      `| TF.js 4.22 WebGPU | ${t.ms.toFixed(1)} | ${t.minMs.toFixed(1)} | ${(t.firstStepMs / 1000).toFixed(1)} s | ${t.imagesPerSec} | - | - | - | - |`,
    );
  }
  out.push(
    '',
    `fused / unfused = **${r.mnist.ratio}** in wall time per step, ${r.mnist.gpuRatio} in the ` +
      'sum of kernel GPU times (the steady figure on a loaded machine: wall-time ratios of ' +
      'repeated runs spread far more). Load average when the MNIST steps ended: ' +
      `${r.mnist.load.join(' / ')}.` +
      (r.tfjs
        ? ` Ours / TF.js = **${r.tfjs.ratio}** fused (${r.tfjs.ratioUnfused} unfused): TF.js's ` +
          'WebGPU backend on the same adapter in the same process, timed after ours (interleaving ' +
          'its steps with ours slowed ours ~2x in a trial), same architecture (NHWC, Glorot ' +
          'init, `tf.train.momentum` without weight decay), loss read back each step; load ' +
          `average after its steps ${r.tfjs.load.join(' / ')}.`
        : r.tfjsError
          ? ` TF.js failed: ${r.tfjsError}`
          : ''),
    '',
    `GPU time per kernel (timestamp queries, each dispatch in its own pass, median of ` +
      `${fused.profiles} profiles; kernels doing the same work paired, passes that fusion ` +
      'removes collected in one row; 0 where a variant has no such pass; small kernels read in ' +
      "steps of the timer's resolution):",
    '',
    '| kernel | fused ms | unfused ms | dispatches (unfused -> fused) |',
    '|---|---|---|---|',
    ...r.mnist.rows.map(
      (row) =>
        `| ${row.row} | ${row.fusedMs.toFixed(3)} | ${row.unfusedMs.toFixed(3)} | ${row.unfusedDispatches} -> ${row.fusedDispatches} |`,
    ),
    '',
    `![fused vs unfused per kernel, MNIST training step](${svg})`,
    '',
    '### VGG-A (examples/vgg-paper.vgg, model A), 224x224, batch 8, fused',
    '',
  );
  if (r.vggA) {
    const v = r.vggA;
    out.push(
      `${v.gflopPerStep} GFLOP per step; parameters, gradients and momenta ${v.flatMiB} MiB each, ` +
        `activations and scratch ${v.poolMiB} MiB. Median of ${v.stepsMs.length} steps after ` +
        `${v.warmupSteps} warm-up steps (steps: ${v.stepsMs.map((s) => (s / 1000).toFixed(1)).join(', ')} s). ` +
        `Random images and labels, Kaiming-initialised weights, lr ${v.hyper.lr} (the paper's 0.01 ` +
        `diverged from this initialisation on one repeated batch; same work per step), loss ` +
        `${v.firstLoss} -> ${v.lastLoss}.`,
      '',
      '| ms/step | min ms | first step (compiles) | images/s | GFLOP/s | GB/s | dispatches |',
      '|---|---|---|---|---|---|---|',
      `| ${v.ms.toFixed(0)} | ${v.minMs.toFixed(0)} | ${(v.firstStepMs / 1000).toFixed(1)} s | **${v.imagesPerSec}** | ${v.gflops} | ${v.gbps} | ${v.dispatches} |`,
      '',
      `Where the GPU time goes (one profile, ${v.profileSource}, sum ${(v.gpuMs! / 1000).toFixed(1)} s):`,
      '',
      '| work | dispatches | GPU ms | GFLOP/s |',
      '|---|---|---|---|',
      ...v.categories.map((c) => `| ${c.category} | ${c.dispatches} | ${c.ms} | ${c.gflops} |`),
    );
  } else {
    out.push(r.vggAError ? `Failed: ${r.vggAError}` : 'Not run (BENCH_VGG=0).');
  }
  out.push('', TRAIN_END, '');
  return out.join('\n');
}

const TRAIN_MARKERS = { begin: TRAIN_BEGIN, end: TRAIN_END };

/** The training section of `md`, markers included, if it has one. */
export const trainSectionOf = (md: string): string | undefined => sectionOf(md, TRAIN_MARKERS);

/** Replaces the training section of `md` (or appends one). */
export const mergeTrainSection = (md: string, section: string): string =>
  mergeSection(md, section, TRAIN_MARKERS);

/**
 * First run vs steady state, each measured with an EMPTY Mesa shader cache: every case runs in a
 * child process of its own with `MESA_SHADER_CACHE_DIR` set to a new temporary folder (removed
 * after), so nothing compiled earlier, by this run or another, is reused. A case reports the
 * warm-up (runtime/warmup.ts: every pipeline of its plans created and compiled, and how many),
 * the first pass after it and the steady pass (median of the next runs).
 *
 * Cases (issue 12):
 * - VGG-16 forward at 224, batch 1;
 * - VGG-16 dense evaluation at Q = 256, 384, 512 in one process, in that order (a later scale
 *   compiles only the pipelines an earlier one did not: with run-time sizes, none);
 * - the MNIST net's training (examples/mnist.vgg, batch 64): one warm-up of the training step
 *   and the padded test pass, then `MNIST_STEPS` steps (default 100) and one test pass over
 *   2,000 images, first vs again: a whole epoch (937 steps) is 5-10 minutes here, and its
 *   compile cost is all in the warm-up, which is reported on its own.
 *
 *   node dist/bench/first-run.js                  all cases, prints the markdown section
 *   node dist/bench/run.js --only first-run        the same, merged into bench/results/latest.md
 *   FIRST_RUN_CASES=forward,dense,train            which cases (default all)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileDense, compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { Shape } from '../compiler/ir.js';
import { distinctPipelines, type KernelPlan } from '../compiler/plan.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { median, pseudoImages, round } from '../runtime/bench.js';
import { createExecutor } from '../runtime/executor.js';
import { initWeights } from '../runtime/init.js';
import { PlanCache } from '../runtime/plan-cache.js';
import { createTrainer } from '../runtime/trainer.js';
import { warmUp } from '../runtime/warmup.js';
import { mergeSection, sectionOf } from './sections.js';

/** One measured row: a warm-up, a first pass, the steady pass. */
export interface FirstRunRow {
  readonly case: string;
  /** Distinct pipelines the plans of this row need, and how many its warm-up compiled. */
  readonly pipelines: number;
  readonly compiled: number;
  readonly warmupS: number;
  /** The first pass after the warm-up, and the median of the passes after it (ms). */
  readonly firstMs: number;
  readonly steadyMs: number;
  /** From the child's start (device, model, weights) to the end of the first pass. */
  readonly toFirstS: number;
}

export interface FirstRunResults {
  readonly rows: readonly FirstRunRow[];
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
}

export const FIRST_RUN_BEGIN = '<!-- first-run:begin -->';
export const FIRST_RUN_END = '<!-- first-run:end -->';
const CASES = ['forward', 'dense', 'train'] as const;
type CaseName = (typeof CASES)[number];

const seconds = (t: number) => round((performance.now() - t) / 1000, 1);
const load = () => loadavg().map((v) => round(v, 1));
const model = (file: string) => checkSource({ name: file, text: readFileSync(file, 'utf8') }, {});

/** Runs every case (or those of FIRST_RUN_CASES), each in a child with an empty shader cache. */
export function firstRunCases(): FirstRunResults {
  const wanted = (process.env.FIRST_RUN_CASES ?? CASES.join(',')).split(',').filter(Boolean);
  const loadBefore = load();
  const rows: FirstRunRow[] = [];
  for (const name of wanted) {
    if (!CASES.includes(name as CaseName)) throw new Error(`first-run: no case '${name}'`);
    const cache = mkdtempSync(join(tmpdir(), 'vggc-shader-cache-'));
    try {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', name], {
        env: { ...process.env, MESA_SHADER_CACHE_DIR: cache },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (r.status !== 0) throw new Error(`first-run: case ${name} failed (exit ${r.status})`);
      rows.push(...(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as FirstRunRow[]));
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  return { rows, loadBefore, loadAfter: load() };
}

/** Times `pass` once after a warm-up of `plans`, then `steady` more times. */
async function measure(
  gpu: Gpu,
  name: string,
  started: number,
  plans: readonly KernelPlan[],
  pass: () => Promise<unknown>,
  steady = 3,
): Promise<FirstRunRow> {
  process.stderr.write(`first-run: ${name}: warm-up\n`);
  const w = performance.now();
  const compiled = await warmUp(gpu, plans);
  const warmupS = seconds(w);
  const t = performance.now();
  await pass();
  const firstMs = performance.now() - t;
  const toFirstS = seconds(started);
  const times: number[] = [];
  for (let i = 0; i < steady; i++) {
    const s = performance.now();
    await pass();
    times.push(performance.now() - s);
  }
  const row = {
    case: name,
    pipelines: distinctPipelines(plans),
    compiled,
    warmupS,
    firstMs: round(firstMs, 1),
    steadyMs: round(median(times), 1),
    toFirstS,
  };
  process.stderr.write(`first-run: ${JSON.stringify(row)}\n`);
  return row;
}

async function child(name: CaseName): Promise<FirstRunRow[]> {
  const started = performance.now();
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const rows: FirstRunRow[] = [];
  if (name === 'forward' || name === 'dense') {
    const vgg = model('examples/vgg16.vgg');
    const weights = initWeights(vgg, { scheme: 'kaiming', seed: 1 });
    const sizes: Shape[] =
      name === 'forward' ? [[3, 224, 224]] : [256, 384, 512].map((q) => [3, q, q]);
    const dense = name === 'dense' ? compileDense(vgg) : undefined;
    for (const at of sizes) {
      const plan = dense
        ? dense.plan(at, { target, batch: 1, fuse: true })
        : compileInference(vgg, { target, batch: 1, fuse: true });
      const exe = await createExecutor(gpu, plan, { weights });
      const x = pseudoImages(at[0] * at[1] * at[2]);
      const label = dense ? `VGG-16 dense ${at[1]}x${at[2]}` : 'VGG-16 forward 224';
      rows.push(await measure(gpu, label, started, [plan], () => exe.run({ input: x }), 2));
      exe.destroy();
    }
  } else {
    const mnist = model('examples/mnist.vgg');
    const batch = 64;
    const steps = Number(process.env.MNIST_STEPS ?? 100);
    const plan = compileTraining(mnist, { target, batch, fuse: true });
    const trainer = await createTrainer(
      gpu,
      plan,
      initWeights(mnist, { scheme: 'kaiming', seed: 1 }),
    );
    const tests = new PlanCache(gpu, { params: trainer.executor.locate });
    const compile = (n: number) =>
      compileInference(mnist, { target, batch: n, fuse: true, output: 'logits' });
    const testImages = 2000;
    const testPlans = tests.plansFor('test', compile, testImages, { slice: batch, pad: true });
    const x = pseudoImages(batch * 28 * 28);
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
    let step = 0;
    const hyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, seed: 1 };
    const trainSteps = async () => {
      for (let i = 0; i < steps; i++) await trainer.step(x, labels, { ...hyper, step: step++ });
    };
    const testX = pseudoImages(testImages * 28 * 28, 7);
    const testPass = () =>
      tests.run('test', compile, testImages, testX, { slice: batch, pad: true });
    rows.push(
      await measure(
        gpu,
        `MNIST training, ${steps} steps`,
        started,
        [plan, ...testPlans],
        trainSteps,
        1,
      ),
      await measure(gpu, `MNIST test pass, ${testImages} images`, started, testPlans, testPass, 1),
    );
    tests.destroy();
    trainer.destroy();
  }
  await releaseGpu();
  return rows;
}

/** The latest.md section: one table, the figures of one run. */
export function firstRunSection(
  r: FirstRunResults,
  meta: { date: string; commit: string; adapter: string; cores: number },
): string {
  const rows = r.rows.map(
    (x) =>
      `| ${x.case} | ${x.compiled} of ${x.pipelines} | ${x.warmupS} | ${(x.firstMs / 1000).toFixed(2)} | ${(x.steadyMs / 1000).toFixed(2)} | ${x.toFirstS} |`,
  );
  return [
    FIRST_RUN_BEGIN,
    '## First run (empty shader cache)',
    '',
    `Measured ${meta.date}, commit ${meta.commit} (working tree), adapter ${meta.adapter}, ` +
      `${meta.cores} cores shared with other work: load average ${r.loadBefore.join(' / ')} ` +
      `(1/5/15 min) at the start, ${r.loadAfter.join(' / ')} at the end. Each case in a child ` +
      'process with MESA_SHADER_CACHE_DIR set to a new empty folder (bench/first-run.ts). ' +
      'Warm-up: every pipeline of the case compiled up front (runtime/warmup.ts); "from start": ' +
      'the child process from its start to the end of the first pass. MNIST: a fixed number of ' +
      'steps and one test pass, first after the warm-up vs again (docs/first-run.md).',
    '',
    '| case | pipelines compiled | warm-up s | first pass s | steady pass s | from start to first pass done, s |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    FIRST_RUN_END,
    '',
  ].join('\n');
}

const MARKERS = { begin: FIRST_RUN_BEGIN, end: FIRST_RUN_END };

/** Replaces the first-run section of `md` (or appends one). */
export const mergeFirstRunSection = (md: string, section: string): string =>
  mergeSection(md, section, MARKERS);

/** The first-run section of `md`, markers included, if it has one. */
export const firstRunSectionOf = (md: string): string | undefined => sectionOf(md, MARKERS);

if (process.argv[2] === '--child') {
  const rows = await child(process.argv[3] as CaseName);
  process.stdout.write(JSON.stringify(rows) + '\n');
  process.exit(0);
}

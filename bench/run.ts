/**
 * `npm run bench`: the benchmark suite, fused vs unfused, on the current adapter.
 *
 * - CPU side (benny): parse + check, and compile, of VGG-16.
 * - Every distinct conv layer of VGG-16 at 224 (batch 1: its shape, and whether a max pool
 *   follows it) and FC6, as one- or two-layer models: GPU time of the layer from timestamp
 *   queries (else fenced wall time), fused (conv+bias+ReLU, and the pool where one follows, in
 *   one kernel: cases labelled `+pool`) vs unfused (conv+bias, a ReLU pass, a pool pass), median
 *   of the runs after warm-up.
 * - Networks A-E forward at 224, batch 1: wall time of a whole forward pass (one submit, upload
 *   and readback included), median after a warm-up run that compiles every pipeline.
 * - TensorFlow.js's WebGPU backend on the same adapter, on the same work, measured in the same
 *   run (VGG-16's convolutional part: TF.js binds FC6's 392 MiB weight whole, which the software
 *   adapter's 128 MiB binding limit refuses).
 * - ONNX Runtime (onnxruntime-node) on VGG-16 forward at 224, batch 1, in the same run: its CPU
 *   EP and its WebGPU EP (same adapter), running vggc's own ONNX export of the model.
 *
 * - Training (bench/train.ts): the MNIST net's SGD step at batch 64, fused vs unfused, against
 *   TF.js's WebGPU backend; VGG-A at 224, batch 8.
 *
 * Writes bench/results/<date>-<adapter>.json, a chart (SVG) of fused vs unfused time per layer,
 * and bench/results/latest.md, the table the README shows; the training cases also write
 * <date>-<adapter>-train.json and <date>-<adapter>-train.svg. Compare only figures from one run:
 * the software adapter varies 20-50% between runs.
 *
 *   node dist/bench/run.js --only train   the training cases alone (`npm run bench:train`): they
 *                                         replace only the training section of latest.md
 *   BENCH_RUNS=10 (default)   timed runs per case
 *   BENCH_NETS=A,B,C,D,E      networks to time (default all)
 *   BENCH_TFJS=0              skip TensorFlow.js
 *   BENCH_ORT=0               skip ONNX Runtime (bench/ort.ts: its CPU and WebGPU EPs on VGG-16)
 *   BENCH_ORT_RUNS=3          timed runs per ONNX Runtime EP
 *   BENCH_TRAIN=0             skip the training cases (more switches in bench/train.ts)
 *   BENCH_FIRST_RUN=0         skip the first-run cases (bench/first-run.ts: VGG-16 forward and
 *                             dense, MNIST training, each from an empty shader cache)
 *   node dist/bench/run.js --only first-run   those alone (`npm run bench:first-run`): they
 *                                         replace only the first-run section of latest.md
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import benny from 'benny';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { summarize } from '../compiler/summary.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { benchModel, round, type BenchCase, type BenchVariant } from '../runtime/bench.js';
import { initWeights } from '../runtime/init.js';
import { meta } from './meta.js';
import { barChart } from '../runtime/bar-chart.js';
import { ortRows, vggcForwardMs, type OrtRow } from './ort.js';
import { releaseTfjs, tfjsVgg16FeaturesMs } from './tfjs.js';
import {
  firstRunCases,
  firstRunSection,
  firstRunSectionOf,
  mergeFirstRunSection,
} from './first-run.js';
import {
  mergeTrainSection,
  trainBenchOptions,
  trainSectionOf,
  trainCases,
  trainChart,
  trainSection,
  type TrainResults,
} from './train.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
// ONNX Runtime's WebGPU EP takes minutes per VGG-16 pass on the software adapter.
const ORT_RUNS = Number(process.env.BENCH_ORT_RUNS ?? 3);
const NETS = (process.env.BENCH_NETS ?? 'A,B,C,D,E').split(',').filter(Boolean);
const onlyAt = process.argv.indexOf('--only');
const ONLY = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
if (onlyAt >= 0 && ONLY !== 'train' && ONLY !== 'first-run') {
  process.stderr.write(`bench: --only takes 'train' or 'first-run', got '${ONLY ?? ''}'\n`);
  process.exit(2);
}
const TRAIN = ONLY === 'train' || process.env.BENCH_TRAIN !== '0';
const FIRST_RUN = process.env.BENCH_FIRST_RUN !== '0';
const paperText = readFileSync('examples/vgg-paper.vgg', 'utf8');

const log = (s: string) => process.stdout.write(s + '\n');

interface Variant {
  readonly ms: number;
  readonly dispatches: number;
  readonly gflops: number;
  readonly gbps: number;
}

interface CaseResult {
  readonly case: string;
  readonly fused: Variant;
  readonly unfused: Variant;
  /** fused time / unfused time. */
  readonly ratio: number;
}

const model = (text: string) => checkSource({ name: 'bench.vgg', text });

/** A case of the suite from the library's benchmark (runtime/bench.ts), fused vs unfused. */
function caseOf(
  label: string,
  c: BenchCase,
  ms: (v: BenchVariant) => number,
  d: number,
): CaseResult {
  const variant = (v: BenchVariant): Variant => {
    const t = ms(v);
    return {
      ms: round(t, d),
      dispatches: v.dispatches,
      gflops: round(v.flops / (t / 1e3) / 1e9, 1),
      gbps: round(v.bytes / (t / 1e3) / 1e9, 2),
    };
  };
  const fused = variant(c.fused!);
  const unfused = variant(c.unfused);
  return { case: label, fused, unfused, ratio: round(fused.ms / unfused.ms, 3) };
}

/** GPU time of all dispatches of a small model (sum of kernels, median over RUNS profiles). */
async function layerCase(gpu: Gpu, label: string, graph: TypedGraph): Promise<CaseResult> {
  const weights = initWeights(graph, { scheme: 'kaiming', seed: 7 });
  const { cases } = await benchModel(graph, { gpu, weights, runs: 1, profiles: RUNS });
  const r = caseOf(label, cases[0]!, (v) => v.gpuMs!, 3);
  log(
    `  ${label.padEnd(24)} fused ${r.fused.ms.toFixed(2).padStart(8)} ms (${r.fused.gflops} GFLOP/s)   unfused ${r.unfused.ms.toFixed(2).padStart(8)} ms   ratio ${r.ratio}`,
  );
  return r;
}

/** Wall time of a whole forward pass, median over RUNS after a warm-up. */
async function networkCase(gpu: Gpu, name: string, graph: TypedGraph): Promise<CaseResult> {
  const { cases } = await benchModel(graph, { gpu, runs: RUNS, profiles: 0 });
  const r = caseOf(name, cases[0]!, (v) => v.medianMs, 1);
  const { fused, unfused } = r;
  log(
    `  ${name.padEnd(24)} fused ${fused.ms.toFixed(0).padStart(6)} ms (${fused.gflops} GFLOP/s, ${fused.dispatches} dispatches)   unfused ${unfused.ms.toFixed(0).padStart(6)} ms (${unfused.dispatches} dispatches)   ratio ${r.ratio}`,
  );
  return r;
}

async function cpuSide(): Promise<{ name: string; opsPerSec: number; msPerOp: number }[]> {
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const source = { name: 'vgg-paper.vgg', text: paperText };
  const graph = checkSource(source, { model: 'D' });
  const out: { name: string; opsPerSec: number; msPerOp: number }[] = [];
  await benny.suite(
    'CPU side, VGG-16',
    benny.add('parse + check', () => {
      checkSource(source, { model: 'D' });
    }),
    benny.add('compile (passes, schedule, WGSL)', () => {
      compileInference(graph, { target, batch: 1 });
    }),
    benny.cycle(),
    benny.complete((summary) => {
      for (const r of summary.results)
        out.push({ name: r.name, opsPerSec: round(r.ops, 1), msPerOp: round(1000 / r.ops, 3) });
    }),
  );
  return out;
}

/** VGG-16's distinct conv layers: shape, and whether a 2x2 max pool follows (conv-relu-pool). */
const VGG16_CONVS: [cin: number, cout: number, side: number, pool: boolean][] = [
  [3, 64, 224, false],
  [64, 64, 224, true],
  [64, 128, 112, false],
  [128, 128, 112, true],
  [128, 256, 56, false],
  [256, 256, 56, false],
  [256, 256, 56, true],
  [256, 512, 28, false],
  [512, 512, 28, false],
  [512, 512, 28, true],
  [512, 512, 14, false],
  [512, 512, 14, true],
];

/** Writes <date>-<slug>-train.json and -train.svg; returns the latest.md section. */
function writeTrain(gpu: Gpu, train: TrainResults): string {
  const { date, commit, slug } = meta(gpu);
  mkdirSync('bench/results', { recursive: true });
  const base = `bench/results/${date}-${slug}-train`;
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      { date, commit, adapter: gpu.adapter, cores: cpus().length, ...train },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(`${base}.svg`, trainChart(train, slug, date));
  log(`wrote ${base}.json and ${base}.svg`);
  return trainSection(
    train,
    { date, commit, adapter: gpu.adapter.description, cores: cpus().length },
    `${date}-${slug}-train.svg`,
  );
}

/** `--only train`: the training cases, merged into latest.md without touching the rest. */
async function trainOnly() {
  const gpu = await acquireGpu();
  log(`adapter: ${gpu.adapter.description}`);
  const train = await trainCases(gpu, trainBenchOptions());
  const section = writeTrain(gpu, train);
  const latest = 'bench/results/latest.md';
  const md = existsSync(latest) ? readFileSync(latest, 'utf8') : '';
  writeFileSync(latest, mergeTrainSection(md, section));
  log(`updated the training section of ${latest}`);
  await releaseTfjs();
  await releaseGpu();
}

/** The first-run cases (bench/first-run.ts, each in a child with an empty shader cache). */
function firstRun(gpu: Gpu): string {
  log('\nfirst run vs steady, empty shader cache (a child process per case):');
  const r = firstRunCases();
  const { date, commit } = meta(gpu);
  const m = { date, commit, adapter: gpu.adapter.description, cores: cpus().length };
  return firstRunSection(r, m);
}

/** `--only first-run`: the first-run cases, merged into latest.md without touching the rest. */
async function firstRunOnly() {
  const gpu = await acquireGpu();
  const section = firstRun(gpu);
  const latest = 'bench/results/latest.md';
  const md = existsSync(latest) ? readFileSync(latest, 'utf8') : '';
  writeFileSync(latest, mergeFirstRunSection(md, section));
  log(`updated the first-run section of ${latest}`);
  await releaseGpu();
}

async function main() {
  const gpu = await acquireGpu();
  log(`adapter: ${gpu.adapter.description}; ${RUNS} timed runs per case\n`);

  log('CPU side (benny):');
  const cpu = await cpuSide();

  log('\nlayers of VGG-16 at 224, batch 1 (GPU time of the layer):');
  const layers: CaseResult[] = [];
  for (const [cin, cout, side, pool] of VGG16_CONVS) {
    const g = model(
      `model l { input ${cin}x${side}x${side}\n conv3-${cout}${pool ? ', maxpool' : ''} }`,
    );
    layers.push(await layerCase(gpu, `conv3 ${cin}->${cout} ${side}${pool ? ' +pool' : ''}`, g));
  }
  layers.push(
    await layerCase(gpu, 'FC6 25088->4096', model('model f { input 512x7x7\n FC-4096, FC-10 }')),
  );

  log('\nnetworks, forward at 224, batch 1 (wall time of one pass):');
  const networks: CaseResult[] = [];
  for (const name of NETS) {
    const g = checkSource({ name: 'vgg-paper.vgg', text: paperText }, { model: name });
    networks.push(await networkCase(gpu, `${name} forward`, g));
  }

  let tfjs: { ourMs: number; tfjsMs: number; ratio: number } | undefined;
  if (process.env.BENCH_TFJS !== '0') {
    log(
      '\nVGG-16 convolutional part (13 convs + 5 pools) at 224, batch 1, vs TensorFlow.js WebGPU:',
    );
    const features = model(
      'model f { input 3x224x224\n conv3-64 x2, maxpool\n conv3-128 x2, maxpool\n conv3-256 x3, maxpool\n (conv3-512 x3, maxpool) x2 }',
    );
    const ours = await networkCase(gpu, 'ours', features);
    const theirs = await tfjsVgg16FeaturesMs(RUNS);
    tfjs = {
      ourMs: ours.fused.ms,
      tfjsMs: round(theirs, 1),
      ratio: round(ours.fused.ms / theirs, 3),
    };
    log(`  TF.js ${tfjs.tfjsMs} ms; ours / TF.js = ${tfjs.ratio}`);
  }

  let onnxRuntime: OnnxRuntimeResult | undefined;
  if (process.env.BENCH_ORT !== '0') {
    log('\nVGG-16 forward at 224, batch 1, vs ONNX Runtime (running vggc export of the model):');
    const d = checkSource({ name: 'vgg-paper.vgg', text: paperText }, { model: 'D' });
    const weights = initWeights(d, { scheme: 'kaiming', seed: 1 });
    const measured = networks.find((n) => n.case === 'D forward')?.fused.ms;
    const vggcMs = measured ?? round(await vggcForwardMs(gpu, d, weights, RUNS), 1);
    log(`  vggc (fused)        ${vggcMs} ms`);
    onnxRuntime = { vggcMs, rows: await ortRows(d, weights, ORT_RUNS, log) };
  }

  const train = TRAIN ? await trainCases(gpu, trainBenchOptions()) : undefined;

  const { date, commit, slug } = meta(gpu);
  mkdirSync('bench/results', { recursive: true });
  const base = `bench/results/${date}-${slug}`;
  const vgg16 = checkSource({ name: 'vgg-paper.vgg', text: paperText }, { model: 'D' });
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        date,
        commit,
        adapter: gpu.adapter,
        cores: cpus().length,
        runs: RUNS,
        vgg16Macs: summarize(vgg16).macs,
        cpu,
        layers,
        networks,
        tfjs,
        onnxRuntime,
        train,
      },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(
    `${base}-layers.svg`,
    barChart(
      `VGG-16 layers at 224, batch 1, ${slug} (${date}): GPU ms, fused vs unfused`,
      'ms',
      layers.map((l) => ({ label: l.case, fused: l.fused.ms, unfused: l.unfused.ms })),
    ),
  );
  const md = table(
    date,
    commit,
    gpu.adapter.description,
    cpu,
    layers,
    networks,
    tfjs,
    onnxRuntime,
    `${date}-${slug}-layers.svg`,
  );
  log('');
  // Without training cases this run, the training section of the last run stays (dated).
  const latest = 'bench/results/latest.md';
  const kept = existsSync(latest) ? trainSectionOf(readFileSync(latest, 'utf8')) : undefined;
  const section = train ? writeTrain(gpu, train) : kept;
  const withTrain = section ? mergeTrainSection(md, section) : md;
  // The same for the first-run section (BENCH_FIRST_RUN=0 keeps the last one).
  const old = existsSync(latest) ? firstRunSectionOf(readFileSync(latest, 'utf8')) : undefined;
  const first = FIRST_RUN ? firstRun(gpu) : old;
  writeFileSync(latest, first ? mergeFirstRunSection(withTrain, first) : withTrain);
  log(`wrote ${base}.json, ${base}-layers.svg and bench/results/latest.md`);
  await releaseTfjs();
  await releaseGpu();
}

function table(
  date: string,
  commit: string,
  adapter: string,
  cpu: { name: string; msPerOp: number }[],
  layers: CaseResult[],
  networks: CaseResult[],
  tfjs: { ourMs: number; tfjsMs: number; ratio: number } | undefined,
  onnxRuntime: OnnxRuntimeResult | undefined,
  svg: string,
): string {
  const rows = (cases: CaseResult[], digits: number) =>
    cases
      .map(
        (c) =>
          `| ${c.case} | ${c.fused.ms.toFixed(digits)} | ${c.unfused.ms.toFixed(digits)} | ${c.ratio} | ${c.fused.gflops} | ${c.fused.gbps} | ${c.unfused.dispatches} -> ${c.fused.dispatches} |`,
      )
      .join('\n');
  const head =
    '| case | fused ms | unfused ms | fused/unfused | GFLOP/s (fused) | GB/s (fused) | dispatches |\n|---|---|---|---|---|---|---|';
  return [
    `# Latest benchmark (${date}, commit ${commit})`,
    '',
    `Adapter: ${adapter}. Median of ${RUNS} runs after warm-up; \`npm run bench\` wrote this file.`,
    '',
    '## Networks, forward at 224x224, batch 1 (wall time of one pass)',
    '',
    head,
    rows(networks, 0),
    '',
    '## VGG-16 layers at 224, batch 1 (GPU time)',
    '',
    head,
    rows(layers, 2),
    '',
    `![fused vs unfused per layer](${svg})`,
    '',
    '## CPU side (benny)',
    '',
    '| work | ms per op |\n|---|---|',
    cpu.map((c) => `| ${c.name} | ${c.msPerOp} |`).join('\n'),
    '',
    tfjs
      ? `## Against TensorFlow.js 4.22 (WebGPU backend, same adapter, same run)\n\nVGG-16's 13 convolutions and 5 pools at 224, batch 1: ours ${tfjs.ourMs} ms, TF.js ${tfjs.tfjsMs} ms, ours / theirs = ${tfjs.ratio}. (TF.js cannot run the whole VGG-16 here: it binds FC6's 392 MiB weight whole, over the adapter's 128 MiB storage binding limit.)\n`
      : '',
    onnxRuntime ? ortSection(onnxRuntime) : '',
  ].join('\n');
}

interface OnnxRuntimeResult {
  readonly vggcMs: number;
  readonly rows: OrtRow[];
}

function ortSection(r: OnnxRuntimeResult): string {
  const rows = r.rows.map((row) =>
    row.ms !== undefined
      ? `| ONNX Runtime, ${row.ep === 'cpu' ? 'CPU EP' : 'WebGPU EP (same adapter)'} | ${row.ms} | ${round(r.vggcMs / row.ms, 3)} | ${row.maxRelDiffToCpu ?? '-'} |`
      : `| ONNX Runtime, ${row.ep} EP | cannot run here: ${row.error} | | |`,
  );
  return [
    '## Against ONNX Runtime (CPU and WebGPU EPs, same run)',
    '',
    `VGG-16 forward at 224, batch 1, ONNX Runtime running vggc's own export of the model (\`vggc export\`, opset 17), median of ${ORT_RUNS} runs after a warm-up.`,
    '',
    '| runner | ms | vggc / runner | outputs vs CPU EP (relative) |\n|---|---|---|---|',
    `| vggc (fused) | ${r.vggcMs} | 1 | |`,
    ...rows,
    '',
  ].join('\n');
}

await (ONLY === 'train' ? trainOnly() : ONLY === 'first-run' ? firstRunOnly() : main());

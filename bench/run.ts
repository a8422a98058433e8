/**
 * `npm run bench`: VGG-16 forward at 224x224, batch 1, on the current adapter, fused and unfused,
 * with GFLOP/s; results to bench/results/<date>-<adapter>.json.
 *
 * Times are wall-clock around one forward pass (upload, one submit, readback of 1000 logits),
 * median of the timed runs after a warm-up run that compiles every pipeline. Compare variants
 * measured in the same run only: lavapipe varies 20-50% between runs.
 *
 *   npm run bench                     # VGG-16, 10 timed runs per variant
 *   BENCH_RUNS=3 npm run bench        # fewer runs
 *   BENCH_MODEL=A npm run bench       # another config of examples/vgg-paper.vgg
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { planStats } from '../compiler/schedule.js';
import { summarize } from '../compiler/summary.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { initWeights } from '../runtime/init.js';

const runs = Number(process.env.BENCH_RUNS ?? 10);
const model = process.env.BENCH_MODEL ?? 'D';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function main() {
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const text = readFileSync('examples/vgg-paper.vgg', 'utf8');
  const graph = checkSource({ name: 'examples/vgg-paper.vgg', text }, { model });
  const macs = summarize(graph).macs;
  console.log(`adapter: ${gpu.adapter.description}`);
  console.log(
    `model ${model}: ${(macs / 1e9).toFixed(2)} GMACs per image; initialising weights...`,
  );
  const weights = initWeights(graph, { scheme: 'kaiming', seed: 1 });
  const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i) * 0.5);

  const results = [];
  for (const fuse of [true, false]) {
    const plan = compileInference(graph, { target, batch: 1, fuse });
    const stats = planStats(plan);
    const t0 = performance.now();
    const exe = await prepare(gpu, plan, weights);
    await exe.run(x); // warm-up: compiles every pipeline on first dispatch
    const warmupMs = performance.now() - t0;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await exe.run(x);
      times.push(performance.now() - t);
    }
    exe.destroy();
    const ms = median(times);
    const r = {
      case: `${model} forward 224 batch 1`,
      fused: fuse,
      dispatches: stats.dispatches,
      medianMs: Math.round(ms * 10) / 10,
      minMs: Math.round(Math.min(...times) * 10) / 10,
      gflops: Math.round(((2 * macs) / (ms / 1000) / 1e9) * 10) / 10,
      firstRunMs: Math.round(warmupMs),
      runs,
    };
    results.push(r);
    console.log(
      `${r.case} ${fuse ? 'fused  ' : 'unfused'}: ${r.medianMs} ms median (min ${r.minMs}), ` +
        `${r.gflops} GFLOP/s, ${r.dispatches} dispatches; first run incl. compile ${r.firstRunMs} ms`,
    );
  }
  const [f, u] = results;
  console.log(`fused / unfused time: ${(f!.medianMs / u!.medianMs).toFixed(3)}`);

  const date = new Date().toISOString().slice(0, 10);
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  const adapterSlug = gpu.adapter.software
    ? 'lavapipe'
    : gpu.adapter.description.replace(/\W+/g, '-').toLowerCase();
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${date}-${adapterSlug}-${model}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        date,
        commit,
        adapter: gpu.adapter,
        cores: (await import('node:os')).cpus().length,
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
  await releaseGpu();
}

await main();

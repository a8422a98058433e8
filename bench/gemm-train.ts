/**
 * The MNIST net's training step (examples/mnist.vgg, batch 64, fused) with every layer on its
 * direct kernel against the same step with the GEMM kernels wherever APPLICABLE.gemm offers one
 * (docs/gemm.md): median step wall time, steps alternating between the two plans, then the GPU
 * time of each kernel whose algorithm differs (median of the profiles, timestamp queries).
 *
 *   npx tsc -p . && node dist/bench/gemm-train.js [--steps 10] [--profiles 5]
 */
import { readFileSync } from 'node:fs';
import { APPLICABLE, directChooser, type Chooser } from '../compiler/algorithms.js';
import { compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { createTrainer, type Trainer } from '../runtime/trainer.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const gemmWherever =
  (target: TargetInfo): Chooser =>
  (layer) => {
    const tunings = APPLICABLE.gemm(layer, target);
    return tunings.length > 0
      ? { algorithm: 'gemm', tuning: tunings[0]!, reason: 'gemm wherever it applies' }
      : directChooser(layer);
  };

async function main(): Promise<void> {
  const steps = Number(arg('steps') ?? 10);
  const profiles = Number(arg('profiles') ?? 5);
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const text = readFileSync(new URL('../../examples/mnist.vgg', import.meta.url), 'utf8');
  const graph = checkSource({ name: 'mnist.vgg', text });
  const n = 64;
  const [c, h, w] = graph.nodes[0]!.out;
  const weights = new Map(
    paramList(graph).map((p) => {
      const count = p.shape.reduce((a, b) => a * b, 1);
      return [p.name, Float32Array.from({ length: count }, (_, i) => Math.sin(i) * 0.05)];
    }),
  );
  const x = Float32Array.from({ length: n * c * h * w }, (_, i) => Math.sin(i * 0.1));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  const plans = {
    direct: compileTraining(graph, { target, batch: n, fuse: true, choose: directChooser }),
    gemm: compileTraining(graph, { target, batch: n, fuse: true, choose: gemmWherever(target) }),
  };
  const trainers: Record<string, Trainer> = {};
  for (const [k, plan] of Object.entries(plans))
    trainers[k] = await createTrainer(gpu, plan, weights);
  const hyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, seed: 1 };
  const wall: Record<string, number[]> = { direct: [], gemm: [] };
  for (let s = 0; s < steps + 3; s++) {
    for (const k of ['direct', 'gemm']) {
      const t0 = performance.now();
      await trainers[k]!.step(x, labels, { ...hyper, step: s });
      if (s >= 3) wall[k]!.push(performance.now() - t0);
    }
  }
  const prof: Record<string, number[][]> = { direct: [], gemm: [] };
  for (let r = 0; r < profiles; r++) {
    for (const k of ['direct', 'gemm']) prof[k]!.push([...(await trainers[k]!.profile()).stepsMs]);
  }
  const stepMs = (k: string, i: number): number => median(prof[k]!.map((p) => p[i]!));
  const total = (k: string): number => prof[k]![0]!.reduce((s, _, i) => s + stepMs(k, i), 0);
  console.log(`MNIST training step, batch ${n}, fused: median of ${steps} steps`);
  console.log(
    `  direct ${median(wall.direct!).toFixed(1)} ms   gemm ${median(wall.gemm!).toFixed(1)} ms`,
  );
  console.log(
    `  summed kernel GPU time: direct ${total('direct').toFixed(1)} ms   gemm ${total('gemm').toFixed(1)} ms`,
  );
  console.log('| step | direct kernel | ms | gemm kernel | ms |');
  console.log('| --- | --- | --- | --- | --- |');
  plans.gemm.steps.forEach((st, i) => {
    const d = plans.direct.steps[i]!;
    if (st.algorithm?.algorithm !== 'gemm') return;
    console.log(
      `| ${st.label} | ${d.kernel.name} | ${stepMs('direct', i).toFixed(2)} | ${st.kernel.name} | ${stepMs('gemm', i).toFixed(2)} |`,
    );
  });
  for (const t of Object.values(trainers)) t.destroy();
  releaseGpu();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});

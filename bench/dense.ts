/**
 * `npm run bench:dense`: VGG-16 (examples/vgg-paper.vgg, config D) dense evaluation (the paper's
 * Section 3.2: FC layers as convolutions, the whole image at once) on square images of side
 * Q = 256, 384 and 512, batch 1, random (Kaiming) weights, on the current adapter.
 *
 * Per scale: the first run (which includes lavapipe's compile of every new kernel shape at its
 * first dispatch, and the weight upload), then the median of the timed runs of the forward pass
 * (upload of the image, all dispatches in one submit, readback of the class score map). The
 * paper's evaluation of one image at three scales with flips is six such passes.
 *
 * Writes bench/results/<date>-<adapter>-dense.json.
 *
 *   BENCH_RUNS=3 (default)            timed runs per scale
 *   BENCH_DENSE_SCALES=256,384,512    the sides Q
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { checkSource } from '../compiler/frontend.js';
import { denseGraph } from '../compiler/passes/fc-to-conv.js';
import { summarize } from '../compiler/summary.js';
import { median, round } from '../runtime/bench.js';
import { createDenseInference } from '../runtime/dense.js';
import { acquireGpu, releaseGpu } from '../runtime/device.js';
import { initWeights } from '../runtime/init.js';
import { meta } from './meta.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALES = (process.env.BENCH_DENSE_SCALES ?? '256,384,512').split(',').map(Number);
const log = (s: string) => process.stdout.write(s + '\n');

export interface DenseCase {
  readonly q: number;
  /** Class score map h x w. */
  readonly map: [number, number];
  readonly gmacs: number;
  readonly firstMs: number;
  readonly medianMs: number;
  readonly minMs: number;
  readonly gflops: number;
}

async function main() {
  const gpu = await acquireGpu();
  const text = readFileSync('examples/vgg-paper.vgg', 'utf8');
  const graph = checkSource({ name: 'vgg-paper.vgg', text }, { model: 'D' });
  log(`adapter: ${gpu.adapter.description}; VGG-16 dense, batch 1, ${RUNS} timed runs per scale`);
  const weights = initWeights(graph, { scheme: 'kaiming', seed: 16 });
  const net = await createDenseInference(graph, weights, { gpu, maxBatch: 1 });
  const cases: DenseCase[] = [];
  try {
    for (const q of SCALES) {
      const input = [3, q, q] as const;
      const g = denseGraph(graph, input);
      const [, oh, ow] = g.nodes.at(-1)!.out;
      const macs = summarize(g).macs;
      const x = new Float32Array(3 * q * q).map((_, i) => Math.sin(i * 0.37));
      let t = performance.now();
      await net.run(x, 1, input);
      const firstMs = performance.now() - t;
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        t = performance.now();
        const { scores } = await net.run(x, 1, input);
        times.push(performance.now() - t);
        if (!scores.every(Number.isFinite)) throw new Error(`non-finite scores at Q=${q}`);
      }
      const ms = median(times);
      const c: DenseCase = {
        q,
        map: [oh, ow],
        gmacs: round(macs / 1e9, 2),
        firstMs: round(firstMs, 0),
        medianMs: round(ms, 0),
        minMs: round(Math.min(...times), 0),
        gflops: round((2 * macs) / (ms * 1e6), 1),
      };
      cases.push(c);
      log(
        `  Q=${q}: ${oh}x${ow} score map, ${c.gmacs} GMAC; first run ${c.firstMs} ms, ` +
          `median ${c.medianMs} ms (min ${c.minMs}), ${c.gflops} GFLOP/s`,
      );
    }
  } finally {
    net.destroy();
  }
  const { date, commit, slug } = meta(gpu);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${date}-${slug}-dense.json`;
  writeFileSync(
    file,
    JSON.stringify(
      { date, commit, adapter: gpu.adapter, cores: cpus().length, runs: RUNS, cases },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${file}`);
  await releaseGpu();
}

await main();

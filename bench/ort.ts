/**
 * ONNX Runtime (onnxruntime-node) as a peer: vggc's own export of a model (compiler/onnx/export.ts)
 * run by ONNX Runtime's CPU execution provider and its WebGPU execution provider. The WebGPU EP
 * carries its own Dawn and picks the default adapter over Vulkan, as vggc does: on these machines
 * the one Vulkan device is Mesa's lavapipe, vggc's adapter (the row says which adapter vggc has).
 * Each WebGPU result is checked against the CPU EP's: a row whose outputs differ says so.
 *
 *   node dist/bench/ort.js [--input 3x64x64] [--runs 3]   VGG-16 (examples/vgg-paper.vgg, D) at
 *                                                          a small size: vggc, ORT CPU, ORT WebGPU
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { compileInference } from '../compiler/compile.js';
import { checkSource, parseShapeArg } from '../compiler/frontend.js';
import type { Shape } from '../compiler/ir.js';
import { exportOnnx } from '../compiler/onnx/export.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { acquireGpu, releaseGpu, targetOf, type Gpu } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { initWeights } from '../runtime/init.js';

export interface OrtRow {
  readonly ep: 'cpu' | 'webgpu';
  /** Median wall time of one forward pass (input upload and output readback included). */
  readonly ms?: number;
  /** Largest |webgpu - cpu| relative to the largest CPU output. */
  readonly maxRelDiffToCpu?: number;
  /** Why there is no time. */
  readonly error?: string;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeEp(
  model: Uint8Array,
  x: Float32Array,
  input: Shape,
  ep: 'cpu' | 'webgpu',
  runs: number,
): Promise<{ ms: number; y: Float32Array }> {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
  });
  try {
    const feeds = { input: new ort.Tensor('float32', x, [1, ...input]) };
    let y = (await session.run(feeds)).output!.data as Float32Array; // warm-up: kernels compile
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      y = (await session.run(feeds)).output!.data as Float32Array;
      times.push(performance.now() - t);
    }
    return { ms: median(times), y };
  } finally {
    await session.release();
  }
}

/** ONNX Runtime's CPU and WebGPU EPs on `graph` (batch 1) with `weights`, `runs` timed runs each. */
export async function ortRows(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  runs: number,
  log: (s: string) => void,
): Promise<OrtRow[]> {
  const input = graph.nodes[0]!.out;
  const x = new Float32Array(input[0] * input[1] * input[2]).map((_, i) => Math.sin(i) * 0.5);
  const model = exportOnnx(graph, weights, { opset: 17 });
  const rows: OrtRow[] = [];
  let cpu: Float32Array | undefined;
  for (const ep of ['cpu', 'webgpu'] as const) {
    try {
      const { ms, y } = await timeEp(model, x, input, ep, runs);
      let maxRelDiffToCpu: number | undefined;
      if (ep === 'cpu') cpu = y;
      else if (cpu) {
        let num = 0;
        let den = 0;
        for (let i = 0; i < cpu.length; i++) {
          num = Math.max(num, Math.abs(y[i]! - cpu[i]!));
          den = Math.max(den, Math.abs(cpu[i]!));
        }
        maxRelDiffToCpu = Number((num / den).toExponential(2));
      }
      const row: OrtRow = {
        ep,
        ms: Math.round(ms * 10) / 10,
        ...(maxRelDiffToCpu !== undefined ? { maxRelDiffToCpu } : {}),
      };
      rows.push(row);
      const wrong = maxRelDiffToCpu !== undefined && !(maxRelDiffToCpu < 1e-3);
      log(
        `  ONNX Runtime ${ep.padEnd(6)} ${row.ms} ms${maxRelDiffToCpu !== undefined ? ` (outputs vs CPU EP: ${maxRelDiffToCpu} relative${wrong ? ': WRONG RESULTS' : ''})` : ''}`,
      );
    } catch (e) {
      const error = (e as Error).message.split('\n')[0]!.slice(0, 300);
      rows.push({ ep, error });
      log(`  ONNX Runtime ${ep}: cannot run here: ${error}`);
    }
  }
  return rows;
}

/** vggc's fused forward pass of `graph` at batch 1: median wall time. */
export async function vggcForwardMs(
  gpu: Gpu,
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  runs: number,
): Promise<number> {
  const [c, h, w] = graph.nodes[0]!.out;
  const x = new Float32Array(c * h * w).map((_, i) => Math.sin(i) * 0.5);
  const exe = await prepare(
    gpu,
    compileInference(graph, { target: targetOf(gpu), batch: 1 }),
    weights,
  );
  try {
    await exe.run(x);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await exe.run(x);
      times.push(performance.now() - t);
    }
    return median(times);
  } finally {
    exe.destroy();
  }
}

async function main() {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const input = parseShapeArg(arg('--input') ?? '3x64x64');
  const runs = Number(arg('--runs') ?? 3);
  const text = readFileSync('examples/vgg-paper.vgg', 'utf8');
  const graph = checkSource({ name: 'vgg-paper.vgg', text }, { model: 'D', input });
  const weights = initWeights(graph, { scheme: 'kaiming', seed: 1 });
  const gpu = await acquireGpu();
  const log = (s: string) => process.stdout.write(s + '\n');
  log(`VGG-16 forward at ${input.join('x')}, batch 1; vggc's adapter: ${gpu.adapter.description}`);
  log(`  vggc         ${(await vggcForwardMs(gpu, graph, weights, runs)).toFixed(1)} ms`);
  await ortRows(graph, weights, runs, log);
  await releaseGpu();
}

if (process.argv[1]?.endsWith('bench/ort.js')) await main();

/**
 * `vggc compile FILE [--model NAME] --out DIR [--no-fuse | --fuse a,b] [--batch N] [--train]
 * [--dump-passes DIR]`
 */
import { mkdirSync, renameSync, rmSync, writeFileSync, mkdtempSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { compileInference, compileTraining, passDumps } from '../compiler/compile.js';
import type { FuseOption } from '../compiler/passes/index.js';
import { planFiles } from '../compiler/plan-json.js';
import { planStats } from '../compiler/plan.js';
import { acquireGpu, targetOf } from '../runtime/device.js';
import { writePassDumps } from '../runtime/pass-dumps.js';
import {
  fuseOption,
  loadModel,
  mib,
  positiveInt,
  type FuseFlags,
  type ModelFlags,
} from './common.js';

export interface CompileFlags extends ModelFlags, FuseFlags {
  readonly out: string;
  readonly batch?: string;
  /** Compile the training step (forward, backward, SGD) instead of inference. */
  readonly train?: boolean;
  /** Write the graph after each pass to this directory. */
  readonly dumpPasses?: string;
}

export async function runCompile(
  file: string,
  flags: CompileFlags,
  out: (s: string) => void,
): Promise<void> {
  const graph = loadModel(file, flags);
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const batch = flags.batch ? positiveInt(flags.batch, '--batch') : 1;
  const fuse = fuseOption(flags);
  const compile = (f: FuseOption) =>
    flags.train
      ? compileTraining(graph, { target, batch, fuse: f })
      : compileInference(graph, { target, batch, fuse: f });
  const plan = compile(fuse);
  const { wgsl, json } = planFiles(plan);

  const dumps = flags.dumpPasses ? passDumps(graph, { train: !!flags.train, fuse }) : [];
  if (flags.dumpPasses) await writePassDumps(flags.dumpPasses, dumps);
  writeDirAtomic(flags.out, (dir) => {
    for (const [name, code] of wgsl) writeFileSync(join(dir, name), code);
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(json, null, 2) + '\n');
  });

  const stats = planStats(plan);
  const other = planStats(compile(fuse === false));
  const [fused, unfused] = fuse === false ? [other, stats] : [stats, other];
  out(
    `${plan.model}${flags.train ? ' training step' : ''}: ${stats.kernels} kernels, ${stats.dispatches} dispatches, batch ${batch}, on ${gpu.adapter.description}`,
  );
  out(
    `  fusion: ${unfused.dispatches} dispatches unfused -> ${fused.dispatches} fused; memory traffic ${mib(unfused.bytes)} -> ${mib(fused.bytes)}`,
  );
  out(
    `  ${(stats.flops / 1e9).toFixed(2)} GFLOP per batch; parameters ${mib(plan.paramBytes)}; activations${flags.train ? ' and their gradients' : ''} peak ${mib(plan.memory.peakBytes)} in ${plan.memory.buffers.length} buffers`,
  );
  out(`  wrote ${wgsl.size} .wgsl files and plan.json to ${flags.out}`);
  if (flags.dumpPasses)
    out(`  wrote the graph after each of ${dumps.length - 1} passes to ${flags.dumpPasses}`);
}

/**
 * Fills a fresh temporary directory next to `target`, then swaps it into place, so an
 * interrupted compile never leaves a half-written output directory.
 */
function writeDirAtomic(target: string, fill: (dir: string) => void): void {
  const abs = resolve(target);
  mkdirSync(dirname(abs), { recursive: true });
  const tmp = mkdtempSync(`${abs}.tmp-`);
  try {
    fill(tmp);
    if (existsSync(abs)) {
      const old = `${tmp}.old`;
      renameSync(abs, old);
      renameSync(tmp, abs);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, abs);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

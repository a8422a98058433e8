/**
 * `vggc compile FILE [--model NAME] --out DIR [--force] [--no-fuse | --fuse a,b] [--batch N]
 * [--train] [--dump-passes DIR] [--conv direct|winograd|auto]`. DIR is written by runtime/outputs.ts `writeOutputDir`: a new or empty directory,
 * or one vggc wrote before; never a file, never a directory of someone else's unless --force.
 */
import { compileInference, compileTraining, passDumps } from '../compiler/compile.js';
import type { FuseOption } from '../compiler/passes/index.js';
import { planFiles } from '../compiler/plan-json.js';
import { distinctPipelines, planStats } from '../compiler/plan.js';
import { acquireGpu, targetOf } from '../runtime/device.js';
import { checkOutputDir, checkOutputs, writeOutputDir } from '../runtime/outputs.js';
import { checkPassDumpsDir, writePassDumps } from '../runtime/pass-dumps.js';
import { convChooser } from '../runtime/tuning.js';
import { layerChoices } from '../compiler/chooser.js';
import {
  convOptions,
  fuseOption,
  loadModel,
  mib,
  type ConvFlags,
  type FuseFlags,
  type ModelFlags,
} from './common.js';
import { renderTable } from './table.js';

export interface CompileFlags extends ModelFlags, FuseFlags, ConvFlags {
  readonly out: string;
  /** Write into a non-empty directory vggc did not write. */
  readonly force?: boolean;
  readonly batch?: number;
  /** Compile the training step (forward, backward, SGD) instead of inference. */
  readonly train?: boolean;
  /** Write the graph after each pass to this directory. */
  readonly dumpPasses?: string;
}

export async function runCompile(
  file: string,
  flags: CompileFlags,
  out: (s: string) => void,
  warn: (s: string) => void = (s) => process.stderr.write(s + '\n'),
): Promise<void> {
  const dirOptions = {
    what: '--out',
    writer: 'vggc compile',
    forceFlag: '--force',
    ...(flags.force ? { force: true } : {}),
  };
  checkOutputs(
    [
      { path: flags.out, what: '--out' },
      ...(flags.dumpPasses ? [{ path: flags.dumpPasses, what: '--dump-passes' }] : []),
    ],
    [{ path: file, what: 'the model file' }],
  );
  checkOutputDir(flags.out, dirOptions);
  if (flags.dumpPasses) checkPassDumpsDir(flags.dumpPasses);
  const graph = loadModel(file, flags);
  const gpu = await acquireGpu();
  const target = targetOf(gpu);
  const batch = flags.batch ?? 1;
  const fuse = fuseOption(flags);
  const choose = convChooser(gpu, await convOptions(flags, warn));
  const compile = (f: FuseOption) =>
    flags.train
      ? compileTraining(graph, { target, batch, fuse: f, choose })
      : compileInference(graph, { target, batch, fuse: f, choose });
  const plan = compile(fuse);
  const { wgsl, json } = planFiles(plan);

  writeOutputDir(
    flags.out,
    new Map([...wgsl, ['plan.json', JSON.stringify(json, null, 2) + '\n']]),
    dirOptions,
  );
  const dumps = flags.dumpPasses ? passDumps(graph, { train: !!flags.train, fuse }) : [];
  if (flags.dumpPasses) await writePassDumps(flags.dumpPasses, dumps);

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
  // What a run compiles (runtime/warmup.ts): `vggc train` also runs the test pass's plan.
  const test = flags.train
    ? compileInference(graph, { target, batch, fuse, output: 'logits', choose })
    : undefined;
  out(
    `  pipelines: ${distinctPipelines([plan])} distinct (WGSL code + entry point)` +
      (test
        ? `; ${distinctPipelines([plan, test])} with the test pass's that \`vggc train\` also runs`
        : ''),
  );
  const layers = layerChoices(plan);
  if (layers.length > 0) {
    out(`  algorithm per layer (--conv ${flags.conv ?? 'auto'}):`);
    const rows = layers.map((l) => [l.layer, l.algorithm, l.reason]);
    const table = renderTable(['layer', 'algorithm', 'reason'], rows, ['left', 'left', 'left']);
    out(table.replace(/^/gm, '    '));
  }
  out(`  wrote ${wgsl.size} .wgsl files and plan.json to ${flags.out}`);
  if (flags.dumpPasses)
    out(`  wrote the graph after each of ${dumps.length - 1} passes to ${flags.dumpPasses}`);
}

/**
 * `vggc bench FILE [--model NAME] [--input CxHxW] [--batch N] [--train] [--dense Q1,Q2,...]
 * [--runs N] [--fuse a,b | --no-fuse] [--conv MODE | --conv A,B] [--weights W] [--json]
 * [--chart OUT.svg]`
 *
 * Flags to runtime/bench.ts `benchModel`, then its result printed: a table (or, with --json, one
 * object on stdout) and, with --chart, the per-kernel fused-vs-unfused bar chart as SVG.
 */
import { formatShape } from '../compiler/ir.js';
import { fail } from '../dsl/diagnostics.js';
import { barChart, type BarRow } from '../runtime/bar-chart.js';
import {
  benchModel,
  type BenchCase,
  type BenchResult,
  type BenchVariant,
  type ConvCase,
} from '../runtime/bench.js';
import type { ConvMode } from '../compiler/algorithms.js';
import { commandConvOptions } from '../runtime/tuning.js';
import { writeFileAtomic } from '../runtime/fsutil.js';
import { checkOutputs } from '../runtime/outputs.js';
import { loadWeights } from '../runtime/weights.js';
import { fuseOption, loadModel, type FuseFlags, type ModelFlags } from './common.js';
import { compileProgress } from './progress.js';
import { renderTable } from './table.js';

export interface BenchFlags extends ModelFlags, FuseFlags {
  readonly batch?: number;
  readonly train?: boolean;
  readonly dense?: number[];
  readonly runs?: number;
  readonly weights?: string;
  readonly json?: boolean;
  readonly chart?: string;
  /** `--conv A` or `--conv A,B` (cli/args.ts convPairOption). */
  readonly conv?: readonly ConvMode[];
}

export async function runBench(
  file: string,
  flags: BenchFlags,
  version: string,
  out: (s: string) => void,
  progress: (s: string) => void,
): Promise<void> {
  const fuse = fuseOption(flags);
  if (flags.chart !== undefined) {
    if (fuse === false && flags.conv?.length !== 2) {
      fail('--chart compares fused with unfused kernels: drop --no-fuse');
    }
    checkOutputs(
      [{ path: flags.chart, what: '--chart' }],
      [
        { path: file, what: 'the model file' },
        ...(flags.weights ? [{ path: flags.weights, what: '--weights' }] : []),
      ],
    );
  }
  const graph = loadModel(file, flags);
  const weights = flags.weights ? await loadWeights(flags.weights, graph) : undefined;
  const date = new Date().toISOString();
  const conv = flags.conv ?? ['auto'];
  const warn = (line: string) => progress(line);
  const tuning = conv.includes('auto')
    ? (await commandConvOptions('auto', { warn })).tuning
    : undefined;
  const result = await benchModel(graph, {
    fuse,
    conv: conv.length === 2 ? [conv[0]!, conv[1]!] : conv[0]!,
    ...(tuning ? { tuning } : {}),
    ...(flags.batch !== undefined ? { batch: flags.batch } : {}),
    ...(flags.runs !== undefined ? { runs: flags.runs } : {}),
    ...(flags.train ? { train: true } : {}),
    ...(flags.dense ? { dense: flags.dense } : {}),
    ...(weights ? { weights } : {}),
    progress: (line) => progress(`vggc bench: ${graph.name}: ${line}`),
    onCompile: compileProgress(progress),
  });
  if (flags.chart !== undefined) {
    await writeFileAtomic(flags.chart, Buffer.from(chart(result, date), 'utf8'));
  }
  if (flags.json) {
    out(JSON.stringify({ vggc: version, date, weights: flags.weights ?? 'random', ...result }));
  } else {
    out(report(result, flags.weights));
    if (flags.chart !== undefined) out(`\nwrote ${flags.chart}`);
  }
}

const label = (c: Pick<BenchCase, 'name' | 'input'>) => `${c.name} ${formatShape(c.input)}`;
const ms = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(3));

function report(r: BenchResult, weights: string | undefined): string {
  const head =
    `${r.model} on ${r.adapter.description}: batch ${(r.cases[0] ?? r.convCases?.[0])!.batch}, ` +
    `${weights ? `weights ${weights}` : 'random weights'}, ` +
    `median of ${r.runs} run${r.runs === 1 ? '' : 's'} after warm-up` +
    (r.profiles > 0 ? `; GPU ms: sum of kernel times, median of ${r.profiles} profiles` : '');
  const rows: string[][] = [];
  const variantRow = (c: BenchCase, name: string, v: BenchVariant) => [
    label(c),
    name,
    ms(v.medianMs),
    ms(v.minMs),
    ms(v.maxMs),
    ms(v.gpuMs),
    String(v.dispatches),
    (v.bytes / 1e6).toFixed(2),
    v.gflops.toFixed(2),
  ];
  for (const c of r.cases) {
    if (c.fused) rows.push(variantRow(c, 'fused', c.fused));
    rows.push(variantRow(c, 'unfused', c.unfused));
    if (c.fused) {
      rows.push([
        '',
        'fused/unfused',
        String(c.ratio),
        '',
        '',
        c.gpuRatio === undefined ? '-' : String(c.gpuRatio),
        `${c.unfused.dispatches} -> ${c.fused.dispatches}`,
        '',
        '',
      ]);
    }
  }
  if (r.convCases) return [head, ...r.convCases.map(convReport)].join('\n');
  const parts = [
    head,
    '',
    renderTable(
      [
        'case',
        'plan',
        'median ms',
        'min ms',
        'max ms',
        'GPU ms',
        'dispatches',
        'MB moved',
        'GFLOP/s',
      ],
      rows,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  ];
  for (const c of r.cases) {
    if (!c.rows) continue;
    parts.push(
      '',
      `${label(c)}: GPU ms per kernel (${c.fused!.profileSource}), fused vs unfused`,
      '',
      renderTable(
        ['kernel', 'fused ms', 'unfused ms', 'dispatches'],
        c.rows.map((k) => [
          k.row,
          k.fusedMs.toFixed(3),
          k.unfusedMs.toFixed(3),
          `${k.unfusedDispatches} -> ${k.fusedDispatches}`,
        ]),
        ['left', 'right', 'right', 'right'],
      ),
    );
  }
  return parts.join('\n');
}

/** A `--conv A,B` case: both plans, their ratio, and per layer both algorithms and times. */
function convReport(c: ConvCase): string {
  const [a, b] = c.conv;
  const row = (mode: string, v: BenchVariant) => [
    label(c),
    `--conv ${mode}`,
    ms(v.medianMs),
    ms(v.minMs),
    ms(v.maxMs),
    ms(v.gpuMs),
    String(v.dispatches),
    (v.flops / 1e9).toFixed(3),
    v.gflops.toFixed(2),
  ];
  const parts = [
    '',
    renderTable(
      ['case', 'plan', 'median ms', 'min ms', 'max ms', 'GPU ms', 'dispatches', 'GFLOP', 'GFLOP/s'],
      [
        row(a, c.variants[0]),
        row(b, c.variants[1]),
        [
          '',
          `${a}/${b}`,
          String(c.ratio),
          '',
          '',
          c.gpuRatio === undefined ? '-' : String(c.gpuRatio),
          '',
          '',
          '',
        ],
      ],
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  ];
  if (c.layers) {
    parts.push(
      '',
      `${label(c)}: GPU ms per layer (${c.variants[0].profileSource}), --conv ${a} vs ${b}`,
      '',
      renderTable(
        ['layer', `${a}: algorithm`, 'ms', `${b}: algorithm`, 'ms'],
        c.layers.map((l) => [
          l.layer,
          l.algorithms[0],
          l.ms[0].toFixed(3),
          l.algorithms[1],
          l.ms[1].toFixed(3),
        ]),
        ['left', 'left', 'right', 'left', 'right'],
      ),
    );
  }
  return parts.join('\n');
}

/** Every case's per-kernel rows (named `case: kernel` when there are several cases). */
function chart(r: BenchResult, date: string): string {
  if (r.convCases) return convChart(r, date);
  const many = r.cases.length > 1;
  const rows: BarRow[] = r.cases.flatMap((c) =>
    (c.rows ?? []).map((k) => ({
      label: many ? `${label(c)}: ${k.row}` : k.row,
      fused: k.fusedMs,
      unfused: k.unfusedMs,
    })),
  );
  const f = r.cases[0]!;
  return barChart(`${r.model}: GPU ms per kernel, fused vs unfused`, 'ms', rows, {
    labelWidth: many ? 300 : 240,
    subtitle:
      `${r.adapter.description}, ${date.slice(0, 10)}, batch ${f.batch}; ` +
      `${f.fused?.profileSource ?? ''}, median of ${r.profiles} profiles`,
  });
}

/** The per-layer `--conv A,B` bar chart. */
function convChart(r: BenchResult, date: string): string {
  const cases = r.convCases!;
  const many = cases.length > 1;
  const rows: BarRow[] = cases.flatMap((c) =>
    (c.layers ?? []).map((l) => ({
      label: many ? `${label(c)}: ${l.layer}` : l.layer,
      fused: l.ms[0],
      unfused: l.ms[1],
    })),
  );
  const [a, b] = cases[0]!.conv;
  return barChart(`${r.model}: GPU ms per layer, --conv ${a} vs ${b}`, 'ms', rows, {
    labelWidth: many ? 320 : 260,
    legend: [`--conv ${a}`, `--conv ${b}`],
    subtitle: `${r.adapter.description}, ${date.slice(0, 10)}, batch ${cases[0]!.batch}`,
  });
}

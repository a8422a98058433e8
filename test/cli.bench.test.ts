/**
 * End to end: `vggc bench` as a user runs it, on a tiny model written here and on
 * examples/mnist.vgg. Checks the JSON's structure, that the fused and unfused plans really differ
 * in dispatches (counted from the model: one dispatch per layer unfused), the per-kernel rows,
 * the chart, --train, --dense, --fuse, --no-fuse, --weights and the refusals. Timings are never
 * asserted, only that they are there and finite.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorLines, root, vggc } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'vggc-bench-'));
const tiny = join(dir, 'tiny.vgg');
// conv (+ReLU) -> maxpool -> FC: unfused 4 dispatches (conv, ReLU, pool, FC); conv-relu-pool
// fuses the first three into one.
const TINY = 'model tiny {\n  input 3x8x8\n  conv3-4, maxpool\n  FC-5\n}\n';
writeFileSync(tiny, TINY);
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
};

interface Variant {
  dispatches: number;
  runsMs: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  gpuMs: number;
  bytes: number;
  flops: number;
  gflops: number;
}
interface Row {
  row: string;
  fusedMs: number;
  unfusedMs: number;
  fusedDispatches: number;
  unfusedDispatches: number;
}
interface Case {
  name: string;
  input: number[];
  batch: number;
  fused?: Variant;
  unfused: Variant;
  ratio?: number;
  rows?: Row[];
}
interface Report {
  vggc: string;
  date: string;
  weights: string;
  model: string;
  runs: number;
  adapter: { description: string };
  cases: Case[];
}

function bench(...args: string[]): Report {
  const r = vggc(['bench', ...args]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Report;
}

const positive = (v: number) => Number.isFinite(v) && v > 0;

function checkVariant(v: Variant, runs: number) {
  expect(v.runsMs).toHaveLength(runs);
  expect(v.runsMs.every(positive)).toBe(true);
  expect(v.minMs).toBe(Math.min(...v.runsMs));
  expect(v.maxMs).toBe(Math.max(...v.runsMs));
  expect(v.medianMs).toBeGreaterThanOrEqual(v.minMs);
  expect(v.medianMs).toBeLessThanOrEqual(v.maxMs);
  expect(Number.isFinite(v.gpuMs) && v.gpuMs >= 0).toBe(true);
  expect(positive(v.bytes) && positive(v.flops) && Number.isFinite(v.gflops)).toBe(true);
}

/** The rows account for every dispatch of both plans. */
function checkRows(c: Case) {
  const rows = c.rows!;
  expect(rows.reduce((a, r) => a + r.fusedDispatches, 0)).toBe(c.fused!.dispatches);
  expect(rows.reduce((a, r) => a + r.unfusedDispatches, 0)).toBe(c.unfused.dispatches);
  // Fusion removed every ReLU pass: their row has unfused dispatches and no fused one.
  const relu = rows.find((r) => r.row === 'ReLU passes')!;
  expect(relu.unfusedDispatches).toBeGreaterThan(0);
  expect(relu.fusedDispatches).toBe(0);
  expect(relu.fusedMs).toBe(0);
}

describe('vggc bench', () => {
  it('a model written here: JSON with forward, training and dense cases, and the chart', () => {
    const svg = join(dir, 'tiny.svg');
    const r = bench(tiny, '--runs', '2', '--train', '--dense', '10', '--json', '--chart', svg);
    expect(r.vggc).toBe(version);
    expect(Number.isNaN(Date.parse(r.date))).toBe(false);
    expect(r.weights).toBe('random');
    expect(r.model).toBe('tiny');
    expect(r.runs).toBe(2);
    expect(r.adapter.description.length).toBeGreaterThan(0);
    expect(r.cases.map((c) => c.name)).toEqual(['forward', 'train', 'dense']);
    const [forward, train, dense] = r.cases as [Case, Case, Case];
    expect(forward.input).toEqual([3, 8, 8]);
    expect(dense.input).toEqual([3, 10, 10]);
    for (const c of r.cases) {
      expect(c.batch).toBe(1);
      checkVariant(c.fused!, 2);
      checkVariant(c.unfused, 2);
      expect(Number.isFinite(c.ratio)).toBe(true);
      checkRows(c);
    }
    expect(forward.unfused.dispatches).toBe(4);
    expect(forward.fused!.dispatches).toBe(2);
    expect(dense.unfused.dispatches).toBe(4);
    // Training: forward, loss, backward and update, fused into fewer dispatches.
    expect(train.unfused.dispatches).toBeGreaterThan(forward.unfused.dispatches);
    expect(train.fused!.dispatches).toBeLessThan(train.unfused.dispatches);
    expect(train.rows!.some((row) => row.row === 'SGD update (all parameters)')).toBe(true);

    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
    expect(text).toContain('forward 3x8x8: ReLU passes');
    expect(text).toContain('train 3x8x8: SGD update (all parameters)');
    expect(readdirSync(dir).sort()).toEqual(['tiny.svg', 'tiny.vgg']); // no temp file left
  }, 300_000);

  it('--fuse names the fused side; --no-fuse times the unfused plan alone; --weights', () => {
    const w = join(dir, 'w.safetensors');
    const init = vggc(['init', tiny, '--out', w, '--scheme', 'kaiming']);
    expect(init.code, init.err).toBe(0);
    const some = bench(tiny, '--runs', '1', '--fuse', 'conv-relu', '--weights', w, '--json');
    expect(some.weights).toBe(w);
    const c = some.cases[0]!;
    expect(c.fused!.dispatches).toBe(3); // conv+ReLU, pool, FC
    expect(c.unfused.dispatches).toBe(4);
    checkRows(c);

    const none = bench(tiny, '--runs', '1', '--no-fuse', '--json');
    expect(none.cases[0]!.fused).toBeUndefined();
    expect(none.cases[0]!.rows).toBeUndefined();
    checkVariant(none.cases[0]!.unfused, 1);
  }, 300_000);

  it('examples/mnist.vgg: the table', () => {
    const r = vggc(['bench', 'examples/mnist.vgg', '--runs', '1', '--batch', '2']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^mnist on .*: batch 2, random weights, median of 1 run/);
    const fused = lines.find((l) => /^forward 1x28x28\s+fused\s/.test(l));
    const unfused = lines.find((l) => /^forward 1x28x28\s+unfused\s/.test(l));
    expect(fused, r.out).toBeDefined();
    expect(unfused, r.out).toBeDefined();
    const ratio = lines.find((l) => /^\s+fused\/unfused\s/.test(l))!;
    const [u, f] = /(\d+) -> (\d+)/.exec(ratio)!.slice(1).map(Number) as [number, number];
    expect(f).toBeLessThan(u);
    expect(r.out).toContain('ReLU passes');
    expect(errorLines(r.err).some((l) => l.startsWith('vggc bench: mnist: forward:'))).toBe(true);
  }, 300_000);

  it('refuses, in one line and before any work, what it cannot do', () => {
    const cases: [string[], RegExp][] = [
      [['--no-fuse', '--chart', join(dir, 'c.svg')], /--chart .*drop --no-fuse/],
      [['--chart', tiny], /--chart '.*tiny.vgg' is the same file as the model file/],
      [['--dense', '4'], /error: /],
      [['--runs', '0'], /--runs must be a positive integer, not '0'/],
      [['--fuse', 'bogus'], /unknown fusion 'bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = vggc(['bench', tiny, ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      const errs = errorLines(r.err);
      expect(errs, args.join(' ')).toHaveLength(1);
      expect(errs[0]).toMatch(message);
      expect(r.out).toBe('');
    }
    expect(readFileSync(tiny, 'utf8')).toBe(TINY);
    expect(existsSync(join(dir, 'c.svg'))).toBe(false);
  }, 120_000);
});

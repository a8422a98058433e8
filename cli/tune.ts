/**
 * `vggc tune FILE [--model NAME] [--input CxHxW] [--batch N] [--train] [--runs N] [--cache FILE]
 * [--conv direct|winograd|auto] [--json]`: times every candidate algorithm of each distinct layer shape on this adapter
 * (runtime/tune.ts `tuneModel`), prints the table and merges the winners into the tuning cache
 * (runtime/tuning.ts), which `--conv auto` reads.
 */
import { SingleBar } from 'cli-progress';
import { layerKey } from '../compiler/algorithms.js';
import { checkOutputs } from '../runtime/outputs.js';
import { cacheEntries, tuneModel, type TuneResult } from '../runtime/tune.js';
import { checkTuningCache, defaultCachePath, saveTuning } from '../runtime/tuning.js';
import { loadModel, type ConvFlags, type ModelFlags } from './common.js';
import { renderTable } from './table.js';

export interface TuneFlags extends ModelFlags, ConvFlags {
  readonly batch?: number;
  readonly train?: boolean;
  readonly runs?: number;
  readonly cache?: string;
  readonly json?: boolean;
}

export async function runTune(
  file: string,
  flags: TuneFlags,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  const cache = flags.cache ?? defaultCachePath();
  checkOutputs([{ path: cache, what: '--cache' }], [{ path: file, what: 'the model file' }]);
  checkTuningCache(cache); // a file vggc may not overwrite: refused before any work
  const graph = loadModel(file, flags);
  const bar = new SingleBar({
    format: `tune {bar} {value}/{total} rounds | {what} | {duration_formatted}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
    hideCursor: true,
  });
  let result: TuneResult;
  let started = false;
  try {
    result = await tuneModel(graph, {
      ...(flags.batch !== undefined ? { batch: flags.batch } : {}),
      ...(flags.runs !== undefined ? { runs: flags.runs } : {}),
      ...(flags.train ? { train: true } : {}),
      ...(flags.conv ? { conv: flags.conv } : {}),
      progress: (done, total, what) => {
        if (!started) bar.start(total, done, { what });
        started = true;
        bar.update(done, { what });
      },
    });
  } finally {
    if (started) bar.stop();
  }
  const date = new Date().toISOString().slice(0, 10);
  const entries = cacheEntries(result, date);
  await saveTuning(cache, result.adapter, entries);
  if (flags.json) {
    out(JSON.stringify({ ...result, cache, date }));
    return;
  }
  out(report(result));
  err(`wrote ${Object.keys(entries).length} layer(s) to the tuning cache ${cache}`);
}

const ms = (v: number) => (Number.isNaN(v) ? 'failed' : v.toFixed(3));

function report(r: TuneResult): string {
  const head =
    `${r.model} on ${r.adapter.description}: batch ${r.batch}` +
    `${r.train ? ', forward and training step' : ', forward'}; ` +
    `GPU ms per layer, median of ${r.runs} profile${r.runs === 1 ? '' : 's'}`;
  const rows = r.layers.map((l) => [
    layerKey(l.layer),
    String(l.count),
    l.candidates.map((c) => `${c.name} ${ms(c.ms)}`).join(', '),
    l.candidates[l.winner]!.name,
    `${l.speedup.toFixed(2)}x`,
  ]);
  return [
    head,
    '',
    renderTable(['layer', 'x', 'candidates (ms)', 'winner', 'vs direct'], rows, [
      'left',
      'right',
      'left',
      'left',
      'right',
    ]),
  ].join('\n');
}

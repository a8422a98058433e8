/**
 * Checks the `train { ... }` and `test { ... }` blocks of a model and turns them into
 * TrainSettings and TestSettings: the defaults that CLI flags later override.
 */
import type { NumberAst, SettingAst, SettingsBlockAst } from '../dsl/ast.js';
import { error, type Diagnostic } from '../dsl/diagnostics.js';
import type { TestSettings, TrainSettings } from './ir.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface KeyRule {
  /** What the value must be, for the message. */
  readonly want: string;
  readonly arity: 'one' | 'none' | 'list' | 'one-or-range';
  readonly ok: (v: number) => boolean;
}

const isInt = (v: number) => Number.isInteger(v);
const positiveInt: KeyRule['ok'] = (v) => isInt(v) && v >= 1 && v <= 1_000_000;
const side: KeyRule['ok'] = (v) => isInt(v) && v >= 1 && v <= 16_384;

const TRAIN_KEYS: Record<string, KeyRule> = {
  batch: { want: 'an integer from 1 to 1000000', arity: 'one', ok: positiveInt },
  lr: { want: 'a number above 0 and at most 10', arity: 'one', ok: (v) => v > 0 && v <= 10 },
  momentum: { want: 'a number in [0, 1)', arity: 'one', ok: (v) => v >= 0 && v < 1 },
  'weight-decay': { want: 'a number in [0, 1)', arity: 'one', ok: (v) => v >= 0 && v < 1 },
  dropout: { want: 'a probability in [0, 1)', arity: 'one', ok: (v) => v >= 0 && v < 1 },
  epochs: { want: 'an integer from 1 to 1000000', arity: 'one', ok: positiveInt },
  scale: {
    want: 'a side length S (an integer from 1 to 16384) or a range Smin..Smax',
    arity: 'one-or-range',
    ok: side,
  },
};

const TEST_KEYS: Record<string, KeyRule> = {
  scales: { want: 'side lengths Q, integers from 1 to 16384', arity: 'list', ok: side },
  flip: { want: 'no value', arity: 'none', ok: () => true },
};

export interface LoweredSettings {
  readonly train: TrainSettings;
  readonly test: TestSettings;
  readonly diagnostics: Diagnostic[];
}

export function lowerSettings(blocks: readonly SettingsBlockAst[]): LoweredSettings {
  const diagnostics: Diagnostic[] = [];
  const train: Mutable<TrainSettings> = {};
  const test: Mutable<TestSettings> = {};
  const seen = new Map<string, SettingAst>();

  for (const block of blocks) {
    const rules = block.kind === 'train' ? TRAIN_KEYS : TEST_KEYS;
    for (const entry of block.entries) {
      const key = entry.key.toLowerCase();
      const rule = rules[key];
      if (!rule) {
        const known = Object.keys(rules).join(', ');
        diagnostics.push(
          error(`unknown ${block.kind} setting '${entry.key}' (known: ${known})`, entry.keySpan),
        );
        continue;
      }
      const id = `${block.kind}.${key}`;
      if (seen.has(id)) {
        diagnostics.push(error(`${block.kind} setting '${key}' is set twice`, entry.keySpan));
        continue;
      }
      seen.set(id, entry);
      const problem = checkArity(entry, rule) ?? entry.values.find((v) => !rule.ok(v.value));
      if (problem) {
        const span = typeof problem === 'string' ? entry.span : problem.span;
        diagnostics.push(error(`'${key}' must be ${rule.want}`, span));
        continue;
      }
      apply(block.kind, key, entry.values, train, test, diagnostics, entry);
    }
  }
  return { train, test, diagnostics };
}

function checkArity(entry: SettingAst, rule: KeyRule): string | undefined {
  const n = entry.values.length;
  switch (rule.arity) {
    case 'none':
      return n === 0 && !entry.range ? undefined : 'arity';
    case 'one':
      return n === 1 && !entry.range ? undefined : 'arity';
    case 'list':
      return n >= 1 && !entry.range ? undefined : 'arity';
    case 'one-or-range':
      return (n === 1 && !entry.range) || (n === 2 && entry.range) ? undefined : 'arity';
  }
}

function apply(
  kind: 'train' | 'test',
  key: string,
  values: readonly NumberAst[],
  train: Mutable<TrainSettings>,
  test: Mutable<TestSettings>,
  diagnostics: Diagnostic[],
  entry: SettingAst,
): void {
  const v = values.map((x) => x.value);
  if (kind === 'test') {
    if (key === 'scales') test.scales = v;
    else test.flip = true;
    return;
  }
  switch (key) {
    case 'batch':
      train.batch = v[0]!;
      break;
    case 'lr':
      train.lr = v[0]!;
      break;
    case 'momentum':
      train.momentum = v[0]!;
      break;
    case 'weight-decay':
      train.weightDecay = v[0]!;
      break;
    case 'dropout':
      train.dropout = v[0]!;
      break;
    case 'epochs':
      train.epochs = v[0]!;
      break;
    case 'scale': {
      const min = v[0]!;
      const max = v[1] ?? min;
      if (max < min) {
        diagnostics.push(error(`scale range ${min}..${max} is empty (Smin > Smax)`, entry.span));
        return;
      }
      train.scale = { min, max };
      break;
    }
  }
}

/**
 * Rules for numeric settings (batch, learning rate, seed, test scales, ...), shared by the
 * library, which checks the values it is given, and the CLI, which builds each numeric flag's
 * parser from the same rule (cli/args.ts), so the two never disagree about what is allowed.
 */
import type { Graph, Shape } from '../compiler/ir.js';
import { fail } from '../dsl/diagnostics.js';

export interface NumberRule {
  /** Whole numbers only. */
  readonly integer?: boolean;
  /** Inclusive lower bound. */
  readonly min?: number;
  /** Exclusive lower bound. */
  readonly above?: number;
  /** Inclusive upper bound. */
  readonly max?: number;
  /** Exclusive upper bound. */
  readonly below?: number;
  /** The rule in words, for messages: `--lr must be <want>, not '0x10'`. */
  readonly want: string;
}

export const POSITIVE_INT: NumberRule = {
  integer: true,
  min: 1,
  max: Number.MAX_SAFE_INTEGER,
  want: 'a positive integer',
};
export const SEED: NumberRule = {
  integer: true,
  min: 0,
  max: 0xffffffff,
  want: 'an integer from 0 to 4294967295',
};
export const POSITIVE: NumberRule = { above: 0, want: 'a positive number' };
export const NON_NEGATIVE: NumberRule = { min: 0, want: 'a number >= 0' };
export const FRACTION: NumberRule = { min: 0, below: 1, want: 'in [0, 1)' };
/** Any finite number (a per-channel mean). */
export const FINITE: NumberRule = { want: 'a number' };

/** True when `v` is a finite number that keeps every bound of `rule`. */
export function satisfies(v: number, rule: NumberRule): boolean {
  return (
    Number.isFinite(v) &&
    (!rule.integer || Number.isSafeInteger(v)) &&
    (rule.min === undefined || v >= rule.min) &&
    (rule.above === undefined || v > rule.above) &&
    (rule.max === undefined || v <= rule.max) &&
    (rule.below === undefined || v < rule.below)
  );
}

/**
 * Names a setting in messages: the library says `lr`, the CLI passes `--lr`; `negated` names
 * the setting turned off (`--no-dense`).
 */
export type SettingNames = (setting: string, negated?: boolean) => string;

/** Returns `v` when it keeps `rule`, else a VggcError `NAME must be WANT, not V`. */
export function checkSetting(name: string, v: number, rule: NumberRule): number {
  if (!satisfies(v, rule)) fail(`${name} must be ${rule.want}, not '${v}'`);
  return v;
}

/** Returns `v` when it is one of `choices`, else a VggcError naming them. */
export function checkChoice<T extends string>(name: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v))
    fail(`${name} must be ${oneOf(choices)}, not '${v}'`);
  return v as T;
}

/** `'paper' or 'none'`; `one of paper, step, cosine, constant`. */
export function oneOf(choices: readonly string[]): string {
  return choices.length === 2
    ? `'${choices[0]}' or '${choices[1]}'`
    : `one of ${choices.join(', ')}`;
}

/** The model's declared input `[C, H, W]`. */
export function declaredInput(graph: Graph): Shape {
  const input = graph.nodes.find((n) => n.op.op === 'input')?.op;
  if (input?.op !== 'input') fail(`model ${graph.name} has no input`);
  return input.shape;
}

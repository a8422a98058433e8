/**
 * Parsers for flag values, given to commander (`Option.argParser`), so a bad value is refused
 * while the arguments are read, before any work. Every numeric flag goes through `parseNumber`:
 * plain decimal notation only (`0.01`, `5e-4`, `32`; integers as digits alone), never hex,
 * binary or octal (`0x10`), `Infinity`, `NaN`, blanks or surrounding spaces, then the flag's
 * rule (runtime/settings.ts), which the library checks too. Failures are one-line VggcErrors
 * naming the flag: `--lr must be a positive number, not '0x10'`.
 */
import { Option } from 'commander';
import { fail } from '../dsl/diagnostics.js';
import { oneOf, satisfies, type NumberRule } from '../runtime/settings.js';

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DIGITS = /^\d+$/;

/** `text` as a number keeping `rule`, else a VggcError naming `flag`. */
export function parseNumber(text: string, flag: string, rule: NumberRule): number {
  const v = (rule.integer ? DIGITS : DECIMAL).test(text) ? Number(text) : NaN;
  if (!satisfies(v, rule)) fail(`${flag} must be ${rule.want}, not '${text}'`);
  return v;
}

/**
 * `a,b,c` (or `[a, b, c]`) as numbers, each keeping `rule`, else a VggcError:
 * `FLAG must be WHAT (e.g. EXAMPLE), not 'TEXT'`.
 */
export function parseNumberList(
  text: string,
  flag: string,
  rule: NumberRule,
  what: string,
  example: string,
): number[] {
  const bracketed = /^\[(.*)\]$/s.exec(text);
  const parts = bracketed ? bracketed[1]!.split(',').map((p) => p.trim()) : text.split(',');
  const syntax = rule.integer ? DIGITS : DECIMAL;
  const values = parts.map((p) => (syntax.test(p) ? Number(p) : NaN));
  if (!values.every((v) => satisfies(v, rule))) {
    fail(`${flag} must be ${what} (e.g. ${example}), not '${text}'`);
  }
  return values;
}

/** The long flag of an option's flags: `--lr <x>` -> `--lr`. */
const longFlag = (flags: string): string => /--[\w-]+/.exec(flags)?.[0] ?? flags;

/** A numeric option: `new Option('--lr <x>', 'learning rate')` parsed by `rule`. */
export function numberOption(flags: string, description: string, rule: NumberRule): Option {
  const flag = longFlag(flags);
  return new Option(flags, description).argParser((t: string) => parseNumber(t, flag, rule));
}

/** A comma-separated numeric list option (`--scales 256,384`). */
export function numberListOption(
  flags: string,
  description: string,
  rule: NumberRule,
  what: string,
  example: string,
): Option {
  const flag = longFlag(flags);
  return new Option(flags, description).argParser((t: string) =>
    parseNumberList(t, flag, rule, what, example),
  );
}

/**
 * An option taking one of `choices` (listed by --help), refused otherwise in vggc's words:
 * `--augment must be 'paper' or 'none', not 'crop'`.
 */
export function choiceOption(
  flags: string,
  description: string,
  choices: readonly string[],
): Option {
  const flag = longFlag(flags);
  return new Option(flags, description).choices(choices).argParser((t: string) => {
    if (!choices.includes(t)) fail(`${flag} must be ${oneOf(choices)}, not '${t}'`);
    return t;
  });
}

/** Names library settings as flags in messages: `weightDecay` -> `--weight-decay`. */
export function flagName(setting: string, negated = false): string {
  const kebab = setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return `--${negated ? 'no-' : ''}${kebab}`;
}

/**
 * One of `choices`, or two of them comma-separated (`direct,auto`): `vggc bench --conv`, which
 * compares two settings as `--fuse` compares fused with unfused. Parsed to a list of one or two.
 */
export function convPairOption(
  flags: string,
  description: string,
  choices: readonly string[],
): Option {
  const flag = longFlag(flags);
  return new Option(flags, description).argParser((t: string) => {
    const parts = t.split(',');
    if (parts.length > 2 || parts.some((p) => !choices.includes(p))) {
      fail(`${flag} must be ${oneOf(choices)}, or two of them separated by a comma, not '${t}'`);
    }
    if (parts.length === 2 && parts[0] === parts[1]) {
      fail(`${flag} compares two different settings, not '${t}'`);
    }
    return parts;
  });
}

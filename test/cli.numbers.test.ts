/**
 * One strict number parser for every numeric flag (cli/args.ts): plain decimal only, each flag's
 * rule (runtime/settings.ts) enforced, and the message names the flag. Properties over the whole
 * space of strings, then every numeric flag of every command through the built CLI.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNumber, parseNumberList } from '../cli/args.js';
import { VggcError } from '../dsl/diagnostics.js';
import {
  FINITE,
  FRACTION,
  NON_NEGATIVE,
  POSITIVE,
  POSITIVE_INT,
  SEED,
  type NumberRule,
} from '../runtime/settings.js';
import { errorLines, vggc } from './cli-harness.js';

const RULES: readonly NumberRule[] = [POSITIVE_INT, SEED, POSITIVE, NON_NEGATIVE, FRACTION, FINITE];

/** The parse, or the VggcError's message. */
function attempt(text: string, rule: NumberRule): number | string {
  try {
    return parseNumber(text, '--x', rule);
  } catch (e) {
    if (e instanceof VggcError) return e.message;
    throw e;
  }
}

/** What the parse must be, decided independently of cli/args.ts: a small decimal grammar. */
function expected(text: string, rule: NumberRule): number | undefined {
  const int = /^[0-9]+$/.test(text);
  const dec = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text);
  if (rule.integer ? !int : !dec) return undefined;
  const v = Number(text);
  if (!Number.isFinite(v)) return undefined;
  if (rule.integer && !Number.isSafeInteger(v)) return undefined;
  if (rule.min !== undefined && v < rule.min) return undefined;
  if (rule.max !== undefined && v > rule.max) return undefined;
  if (rule.above !== undefined && v <= rule.above) return undefined;
  if (rule.below !== undefined && v >= rule.below) return undefined;
  return v;
}

describe('parseNumber', () => {
  it('refuses hex, binary, octal, blanks, spaces, partial exponents, Infinity and NaN', () => {
    for (const rule of RULES) {
      for (const t of [
        '0x10',
        '0b1',
        '0o7',
        '',
        ' ',
        '  3',
        '3 ',
        '1e',
        '1e+',
        'e5',
        '.',
        '-',
        '+',
        'Infinity',
        '-Infinity',
        'NaN',
        '1,5',
        '1_000',
        '١',
        '3px',
        '1e400',
      ]) {
        expect(attempt(t, rule), `${JSON.stringify(t)} as ${rule.want}`).toBe(
          `--x must be ${rule.want}, not '${t}'`,
        );
      }
    }
  });

  it('refuses what breaks the rule: negatives, zero where positive, fractions of integers', () => {
    expect(attempt('-1', POSITIVE)).toBe("--x must be a positive number, not '-1'");
    expect(attempt('0', POSITIVE)).toBe("--x must be a positive number, not '0'");
    expect(attempt('-0.5', NON_NEGATIVE)).toBe("--x must be a number >= 0, not '-0.5'");
    expect(attempt('1', FRACTION)).toBe("--x must be in [0, 1), not '1'");
    expect(attempt('2.5', POSITIVE_INT)).toBe("--x must be a positive integer, not '2.5'");
    expect(attempt('1e3', POSITIVE_INT)).toBe("--x must be a positive integer, not '1e3'");
    expect(attempt('0', POSITIVE_INT)).toBe("--x must be a positive integer, not '0'");
    expect(attempt('4294967296', SEED)).toMatch(/^--x must be an integer from 0 to 4294967295/);
    expect(attempt('9007199254740993', POSITIVE_INT)).toMatch(/must be a positive integer/);
  });

  it('reads plain decimals exactly as Number does', () => {
    expect(attempt('5e-4', NON_NEGATIVE)).toBe(5e-4);
    expect(attempt('.5', FRACTION)).toBe(0.5);
    expect(attempt('0.90', FRACTION)).toBe(0.9);
    expect(attempt('007', POSITIVE_INT)).toBe(7);
    expect(attempt('4294967295', SEED)).toBe(4294967295);
    expect(attempt('-2.5e1', FINITE)).toBe(-25);
  });

  it('property: any string parses exactly when a decimal grammar and the rule accept it', () => {
    const decimalish = fc.stringMatching(/^[+-]?[0-9]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?$/);
    const anything = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), decimalish);
    fc.assert(
      fc.property(anything, fc.constantFrom(...RULES), (text, rule) => {
        const want = expected(text, rule);
        const got = attempt(text, rule);
        if (want === undefined) expect(got).toBe(`--x must be ${rule.want}, not '${text}'`);
        else expect(got).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: every finite number written by toString or toExponential reads back', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        if (Object.is(v, -0)) return; // written as "0"
        for (const text of [String(v), v.toExponential()]) expect(attempt(text, FINITE)).toBe(v);
      }),
    );
  });
});

describe('parseNumberList', () => {
  it('reads a,b,c and [a, b, c]; refuses an empty item, a bad one or a rule broken', () => {
    expect(parseNumberList('256,384,512', '--scales', POSITIVE_INT, 'w', 'e')).toEqual([
      256, 384, 512,
    ]);
    expect(parseNumberList('[0.5, -1e-3]', '--mean', FINITE, 'w', 'e')).toEqual([0.5, -0.001]);
    for (const t of ['', '8,', ',8', '8;12', '8, 12', '0x8', '8,0', '8,Infinity', '[]']) {
      expect(() =>
        parseNumberList(t, '--scales', POSITIVE_INT, 'positive integers', '1,2'),
      ).toThrow(`--scales must be positive integers (e.g. 1,2), not '${t}'`);
    }
  });
});

describe('every numeric flag of the CLI', () => {
  // Each flag with a value that a lax parser (Number) would take, and the rule's words.
  const cases: [string[], string, string][] = [
    [['train', 'm.vgg'], '--lr', '0x10'],
    [['train', 'm.vgg'], '--momentum', 'Infinity'],
    [['train', 'm.vgg'], '--weight-decay', '-1'],
    [['train', 'm.vgg'], '--dropout', '1e'],
    [['train', 'm.vgg'], '--epochs', '2.5'],
    [['train', 'm.vgg'], '--steps', '  3'],
    [['train', 'm.vgg'], '--batch', '0b11'],
    [['train', 'm.vgg'], '--seed', '-1'],
    [['train', 'm.vgg'], '--lr-step', ''],
    [['init', 'm.vgg'], '--seed', '1e3'],
    [['compile', 'm.vgg'], '--batch', '0x8'],
    [['eval', 'm.vgg'], '--batch', 'NaN'],
    [['eval', 'm.vgg'], '--limit', '0'],
    [['eval', 'm.vgg'], '--scales', '0x20'],
    [['eval', 'm.vgg'], '--mean', '0x1'],
    [['classify', 'm.vgg', 'a.png'], '--scales', '32,'],
    [['classify', 'm.vgg', 'a.png'], '--mean', 'Infinity'],
  ].map(([cmd, flag, value]) => [cmd as string[], flag as string, value as string]);

  it('is refused with one line naming the flag and the value, exit 1, before any work', () => {
    for (const [cmd, flag, value] of cases) {
      const r = vggc([...cmd, flag, value]);
      const what = `${cmd[0]} ${flag} ${JSON.stringify(value)}`;
      expect(r.code, what).toBe(1);
      const lines = errorLines(r.err);
      expect(lines, what).toHaveLength(1);
      expect(lines[0], what).toMatch(
        new RegExp(
          `^vggc: error: ${flag} must be .*, not '${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'$`,
        ),
      );
    }
  });
});

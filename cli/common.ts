/** Option handling shared by the commands that compile a model. */
import { checkSource, parseShapeArg } from '../compiler/frontend.js';
import { parseFuseList, type FuseOption } from '../compiler/passes/index.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { VggcError, error } from '../dsl/diagnostics.js';
import { readSource } from './source.js';

export interface ModelFlags {
  readonly model?: string;
  readonly input?: string;
}

export interface FuseFlags {
  /** commander sets `fuse: false` for `--no-fuse`, a string for `--fuse a,b`. */
  readonly fuse?: boolean | string;
}

export function loadModel(file: string, flags: ModelFlags): TypedGraph {
  return checkSource(readSource(file), {
    ...(flags.model !== undefined ? { model: flags.model } : {}),
    ...(flags.input !== undefined ? { input: parseShapeArg(flags.input) } : {}),
  });
}

export function fuseOption(flags: FuseFlags): FuseOption {
  if (flags.fuse === false) return false;
  if (typeof flags.fuse === 'string') return parseFuseList(flags.fuse);
  return true;
}

export function positiveInt(text: string, flag: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1)
    throw new VggcError(error(`${flag} must be a positive integer, not '${text}'`));
  return v;
}

export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `--test-fraction F` (F in [0, 1), a plain decimal) as the folder loader's `testFraction`. */
export function testFractionOption(flags: { readonly testFraction?: string }): {
  testFraction?: number;
} {
  const text = flags.testFraction;
  if (text === undefined) return {};
  const v = Number(text);
  if (!/^\s*(?:0|0?\.\d+|0\.)\s*$/.test(text) || !(v >= 0 && v < 1)) {
    throw new VggcError(
      error(`--test-fraction must be a number in [0, 1) such as 0.2, not '${text}'`),
    );
  }
  return { testFraction: v };
}

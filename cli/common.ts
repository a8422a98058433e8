/** Option handling shared by the commands that compile a model. */
import { checkSource, parseShapeArg } from '../compiler/frontend.js';
import { parseFuseList, type FuseOption } from '../compiler/passes/index.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { checkOutputs } from '../runtime/outputs.js';
import { commandConvOptions, type ConvOptions } from '../runtime/tuning.js';
import type { ConvMode } from '../compiler/algorithms.js';
import type { NumberRule } from '../runtime/settings.js';
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

export interface ConvFlags {
  /** `--conv direct|winograd|auto` (commander checks the choice; default auto). */
  readonly conv?: ConvMode;
}

/** `--conv` as the library takes it: for auto, the user's tuning cache over the shipped defaults. */
export function convOptions(flags: ConvFlags, warn: (line: string) => void): Promise<ConvOptions> {
  return commandConvOptions(flags.conv, { warn });
}

export function fuseOption(flags: FuseFlags): FuseOption {
  if (flags.fuse === false) return false;
  if (typeof flags.fuse === 'string') return parseFuseList(flags.fuse);
  return true;
}

/** `vggc run [--dense]`: --out may be neither the model, the weights nor the images. */
export function checkRunFiles(
  file: string,
  flags: { readonly weights: string; readonly input: string; readonly out: string },
): void {
  checkOutputs(
    [{ path: flags.out, what: '--out' }],
    [
      { path: file, what: 'the model file' },
      { path: flags.weights, what: '--weights' },
      { path: flags.input, what: '--input' },
    ],
  );
}

export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `--test-fraction F`: a share of each class in [0, 1), plain decimal (cli/args.ts). */
export const TEST_FRACTION_RULE: NumberRule = {
  min: 0,
  below: 1,
  want: 'a number in [0, 1) such as 0.2',
};

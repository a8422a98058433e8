/**
 * The pass pipeline. Each pass is its own file with its own test; this file only orders them and
 * applies the user's fusion switches (`--no-fuse`, `--fuse a,b`).
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import type { Graph } from '../ir.js';
import { fusePool } from './fuse-pool.js';
import { fuseRelu } from './fuse-relu.js';
import { removeDropout } from './remove-dropout.js';

/** Fusion passes by the name `--fuse` takes, in the order they run. */
export const FUSIONS = {
  'conv-relu': fuseRelu,
  'conv-relu-pool': fusePool,
} as const satisfies Record<string, <G extends Graph>(g: G) => G>;

export type FusionName = keyof typeof FUSIONS;

/** `true`: every fusion; `false`: none; a list: those named. */
export type FuseOption = boolean | readonly string[];

export function parseFuseList(text: string): FusionName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(n in FUSIONS)) {
      throw new VggcError(
        error(`unknown fusion '${n}' (known: ${Object.keys(FUSIONS).join(', ')})`),
      );
    }
  }
  return names as FusionName[];
}

/** The inference pipeline: dropout removal, then the selected fusions. */
export function optimizeForInference<G extends Graph>(g: G, fuse: FuseOption = true): G {
  let out = removeDropout(g);
  for (const [name, pass] of Object.entries(FUSIONS)) {
    const on = fuse === true || (Array.isArray(fuse) && fuse.includes(name));
    if (on) out = pass(out);
  }
  return out;
}

/**
 * The pass pipeline. Each pass is its own file with its own test; this file only orders them and
 * applies the user's fusion switches (`--no-fuse`, `--fuse a,b`).
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import type { Graph } from '../ir.js';
import { fuseDropout } from './fuse-dropout.js';
import { fusePool } from './fuse-pool.js';
import { fuseRelu } from './fuse-relu.js';
import { fuseReluGrad } from './fuse-relu-grad.js';
import { fuseSgd } from './fuse-sgd.js';
import { fuseSoftmaxXent } from './fuse-softmax-xent.js';
import { removeDropout } from './remove-dropout.js';

/**
 * Fusion passes by the name `--fuse` takes, in the order they run. The training fusions
 * (dropout into the FC epilogue, soft-max + cross-entropy, the ReLU mask in the backward
 * convolution, one optimiser dispatch) find nothing to fuse in an inference graph;
 * conv-relu-pool fuses nothing in a training graph (the backward pass reads every pre-pool
 * tensor).
 */
export const FUSIONS = {
  'conv-relu': fuseRelu,
  'fc-dropout': fuseDropout,
  'conv-relu-pool': fusePool,
  'softmax-xent': fuseSoftmaxXent,
  'relu-grad-mask': fuseReluGrad,
  'sgd-one-dispatch': fuseSgd,
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
  return applyFusions(removeDropout(g), fuse);
}

/** The training pipeline (after autodiff): the selected fusions; dropout stays. */
export function optimizeForTraining<G extends Graph>(g: G, fuse: FuseOption = true): G {
  return applyFusions(g, fuse);
}

function applyFusions<G extends Graph>(g: G, fuse: FuseOption): G {
  let out = g;
  for (const [name, pass] of Object.entries(FUSIONS)) {
    const on = fuse === true || (Array.isArray(fuse) && fuse.includes(name));
    if (on) out = pass(out);
  }
  return out;
}

/**
 * The pass pipeline. Each pass is its own file with its own test; this file only orders them and
 * applies the user's fusion switches (`--no-fuse`, `--fuse a,b`).
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import type { Graph } from '../ir.js';
import { verifyGraph } from '../verify.js';
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

/** A named graph rewrite. */
export interface Pass<G extends Graph = Graph> {
  readonly name: string;
  readonly run: (g: G) => G;
}

/** Called after each pass with its name, its place (1, 2, ...) and the graph it returned. */
export type PassInstrument = (pass: string, index: number, graph: Graph) => void;

/**
 * Runs `passes` in order. After every pass the verifier checks the graph (compiler/verify.ts):
 * a pass that breaks an invariant is an internal error naming it. `instrument` sees each result
 * (`vggc compile --dump-passes`).
 */
export function runPasses<G extends Graph>(
  g: G,
  passes: readonly Pass<G>[],
  instrument?: PassInstrument,
): G {
  let out = g;
  passes.forEach((pass, i) => {
    out = pass.run(out);
    verifyGraph(out, pass.name);
    instrument?.(pass.name, i + 1, out);
  });
  return out;
}

/** The selected fusion passes, in FUSIONS order. */
export function fusionPasses<G extends Graph>(fuse: FuseOption): Pass<G>[] {
  return Object.entries(FUSIONS)
    .filter(([name]) => fuse === true || (Array.isArray(fuse) && fuse.includes(name)))
    .map(([name, run]) => ({ name, run: (g: G) => run(g) }));
}

export const removeDropoutPass = <G extends Graph>(): Pass<G> => ({
  name: 'remove-dropout',
  run: (g: G) => removeDropout(g),
});

/** The inference pipeline: dropout removal, then the selected fusions. */
export function optimizeForInference<G extends Graph>(g: G, fuse: FuseOption = true): G {
  return runPasses(g, [removeDropoutPass<G>(), ...fusionPasses<G>(fuse)]);
}

/** The training pipeline (after autodiff): the selected fusions; dropout stays. */
export function optimizeForTraining<G extends Graph>(g: G, fuse: FuseOption = true): G {
  return runPasses(g, fusionPasses<G>(fuse));
}

/**
 * Which algorithm computes each convolution and matrix product is the compiler's choice, made per
 * layer by a `Chooser` that the scheduler consults through its lowering context
 * (compiler/lowering/rule.ts `choose`). The answer travels with the plan step (PlanStep.algorithm)
 * into plan.json and the header of each kernel file `vggc compile` writes, with its reason.
 *
 * The chooser of a compilation comes from the user's `--conv direct|winograd|auto` and, for
 * `auto`, a rule plus the tuning cache of the adapter (see the chooser module that builds it).
 * A chooser is a pure function of the layer: compiler/ reads no files; the runtime loads the
 * cache and hands its table in.
 */
import { applicableGemm } from './wgsl/gemm.js';
import { directTunings } from './wgsl/conv-select.js';
import type { Applicable, LayerShape, Tuning } from './wgsl/layer.js';

export type { Applicable, LayerShape, Tuning };
import { applicableWinograd } from './wgsl/winograd.js';

/** What `--conv` accepts: the direct kernels only, Winograd wherever it applies, or the choice. */
export const CONV_MODES = ['direct', 'winograd', 'auto'] as const;
export type ConvMode = (typeof CONV_MODES)[number];

/** The algorithms a layer can be computed with. */
export type Algorithm = 'direct' | 'winograd-f2' | 'winograd-f4' | 'gemm';

export interface AlgorithmChoice {
  readonly algorithm: Algorithm;
  /** Tile sizes and design switches handed to the generator as its `tuning` argument. */
  readonly tuning?: Tuning;
  /** Why, in a few words: `--conv direct`, `rule: 3x3 stride 1, 56x56`, `tuned: 1.9x direct`. */
  readonly reason: string;
}

export type Chooser = (layer: LayerShape) => AlgorithmChoice;

/** The chooser of `--conv direct`, and the default: every layer on its direct kernel. */
export const directChooser: Chooser = () => ({ algorithm: 'direct', reason: '--conv direct' });

/** A stable text key of a layer shape, for the tuning cache: `conv n1 c64 k128 112x112 k3 p1`. */
export function layerKey(l: LayerShape): string {
  return `${l.op} n${l.n} c${l.cin} k${l.cout} ${l.h}x${l.w} k${l.kernel} p${l.pad}${l.pool ? ' pool' : ''}`;
}

export const APPLICABLE: Readonly<Record<Algorithm, Applicable>> = {
  direct: (layer) => directTunings(layer),
  'winograd-f2': applicableWinograd(2),
  'winograd-f4': applicableWinograd(4),
  gemm: applicableGemm,
};

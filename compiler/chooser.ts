/**
 * The chooser of a compilation (compiler/algorithms.ts `Chooser`) for `--conv direct|winograd|auto`:
 *
 * - `direct`: every layer on its direct kernel (`directChooser`);
 * - `winograd`: Winograd F(4,3) wherever APPLICABLE lists it for the layer, else F(2,3), else the
 *   direct kernel;
 * - `auto`: the tuning table's winner for the layer (`vggc tune`, runtime/tuning.ts) when it has
 *   the layer and APPLICABLE still lists the winner, else the rule `ruleChoice` below.
 *
 * Whatever the mode, the answer is an algorithm and a tuning that APPLICABLE lists for the layer
 * on this target: an algorithm whose lowering has no kernel for the layer is never answered, so
 * the branches that add kernels (Winograd, GEMM) are picked up through APPLICABLE alone.
 *
 * Pure: the table is handed in (the runtime reads the cache files); nothing here touches a GPU
 * or a file. docs/performance.md says how the rule's constants were set and how to re-measure.
 */
import {
  APPLICABLE,
  layerKey,
  type Algorithm,
  type AlgorithmChoice,
  type Applicable,
  type Chooser,
  type ConvMode,
  type LayerShape,
  type Tuning,
} from './algorithms.js';
import type { KernelPlan } from './plan.js';
import type { TargetInfo } from './wgsl/kernel.js';

/** A tuned winner: what `vggc tune` measured fastest for one layer shape on one adapter. */
export interface TunedEntry {
  readonly algorithm: Algorithm;
  readonly tuning?: Tuning;
  /** The direct kernel's time over the winner's (1.9: the winner takes 1 / 1.9 of the time). */
  readonly speedup: number;
  /** The adapter it was measured on, as the reason names it (`llvmpipe`, ...). */
  readonly on: string;
}

/** Tuned winners by `layerKey`, for one adapter (runtime/tuning.ts builds it from the caches). */
export type TuningTable = ReadonlyMap<string, TunedEntry>;

/** What each algorithm can run, per layer (default: compiler/algorithms.ts APPLICABLE). */
export type ApplicableTable = Readonly<Record<Algorithm, Applicable>>;

/**
 * The rule's thresholds. Set from arithmetic and the direct kernel's measured rates
 * (docs/performance.md); adjust them after measuring the merged Winograd and GEMM kernels.
 */
export const RULE = {
  /**
   * Winograd on a software adapter: off. Measured on lavapipe (docs/winograd.md), F(2,3) and
   * F(4,3) run 1.8-2.5x slower than the direct kernel on VGG-16's layers (each accumulator gets
   * one product per input channel where the direct kernel's gets nine, and an accumulator update
   * costs as much as a multiply there). On hardware it is the multiply count that decides, so
   * the rule below applies there until `vggc tune` says otherwise.
   */
  winogradOnSoftware: false,
  /** Winograd pays when both channel counts are at least this (transforms are per channel). */
  winogradMinChannels: 32,
  /** ... and the image has at least this many pixels (transform and dispatch overheads). */
  winogradMinPixels: 14 * 14,
  /** F(4,3) (4 x 4 output tiles) rather than F(2,3) when both sides are at least this. */
  f4MinSide: 8,
  /** A matrix product for FC layers (and FC gradients) from this batch size on. */
  gemmMinBatch: 8,
  /** ... and at least this many outputs: FC-10's gradients ran 1.0-1.3x the direct kernels' time. */
  gemmMinOutputs: 16,
  /** A matrix product for 1x1 convolutions with at least this many input channels. */
  gemm1x1MinChannels: 64,
} as const;

/** The order `--conv winograd` tries the algorithms in. */
const WINOGRAD_ORDER: readonly Algorithm[] = ['winograd-f4', 'winograd-f2'];

const NAMES: Readonly<Record<Algorithm, string>> = {
  direct: 'direct',
  'winograd-f2': 'Winograd F(2,3)',
  'winograd-f4': 'Winograd F(4,3)',
  gemm: 'GEMM',
};

/** Two tunings with the same keys and values (key order aside). */
export function sameTuning(a: Tuning | undefined, b: Tuning | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a![k] === b![k]);
}

/** `{ algorithm, tuning, reason }`, the tuning left out when it is the generator's default. */
function choice(algorithm: Algorithm, tuning: Tuning | undefined, reason: string): AlgorithmChoice {
  return tuning && Object.keys(tuning).length > 0
    ? { algorithm, tuning, reason }
    : { algorithm, reason };
}

/** Why a layer's shape makes an algorithm worth it, in the words of the reason. */
const shapeText = (l: LayerShape) =>
  `${l.op} ${l.kernel}x${l.kernel}, ${l.cin}->${l.cout} channels, ${l.h}x${l.w}, batch ${l.n}`;

/**
 * The rule of `--conv auto` for a layer the tuning table lacks: the first of its preferences
 * that APPLICABLE lists, with the generator's default tuning (the first APPLICABLE lists).
 */
export function ruleChoice(
  layer: LayerShape,
  target: TargetInfo,
  applicable: ApplicableTable = APPLICABLE,
): AlgorithmChoice {
  const can = (a: Algorithm) => applicable[a](layer, target);
  const pick = (a: Algorithm, why: string): AlgorithmChoice | undefined => {
    const tunings = can(a);
    return tunings.length > 0 ? choice(a, tunings[0], `rule: ${why}`) : undefined;
  };
  const conv3 = layer.kernel === 3 && layer.pad === 1 && layer.op !== 'conv-grad-weight';
  const channels = Math.min(layer.cin, layer.cout);
  const pixels = layer.h * layer.w;
  const winograd = !target.software || RULE.winogradOnSoftware;
  if (
    winograd &&
    conv3 &&
    channels >= RULE.winogradMinChannels &&
    pixels >= RULE.winogradMinPixels
  ) {
    const f4 = Math.min(layer.h, layer.w) >= RULE.f4MinSide;
    const why = `${shapeText(layer)}: Winograd does 2.25-4x fewer multiplies`;
    const hit = (f4 ? pick('winograd-f4', why) : undefined) ?? pick('winograd-f2', why);
    if (hit) return hit;
  }
  const fc = layer.op.startsWith('fc');
  if (fc && layer.n >= RULE.gemmMinBatch && layer.cout >= RULE.gemmMinOutputs) {
    const hit = pick('gemm', `FC at batch ${layer.n} >= ${RULE.gemmMinBatch}: a matrix product`);
    if (hit) return hit;
  }
  if (layer.op === 'conv-grad-weight') {
    const hit = pick('gemm', `${shapeText(layer)}: the weight gradient as an implicit GEMM`);
    if (hit) return hit;
  }
  if (!fc && layer.kernel === 1 && layer.cin >= RULE.gemm1x1MinChannels) {
    const hit = pick('gemm', `${shapeText(layer)}: a 1x1 convolution is a matrix product`);
    if (hit) return hit;
  }
  const direct = can('direct');
  return choice('direct', direct[0], `rule: ${shapeText(layer)}: direct kernel`);
}

/**
 * The chooser of `--conv mode` on `target`; `table`: tuned winners of this adapter (auto only);
 * `applicable`: what each algorithm can run (a parameter so that tests can fake kernels).
 */
export function chooserFor(
  mode: ConvMode,
  target: TargetInfo,
  table?: TuningTable,
  applicable: ApplicableTable = APPLICABLE,
): Chooser {
  const direct = (layer: LayerShape, reason: string) =>
    choice('direct', applicable.direct(layer, target)[0], reason);
  switch (mode) {
    case 'direct':
      return (layer) => direct(layer, '--conv direct');
    case 'winograd':
      return (layer) => {
        for (const a of WINOGRAD_ORDER) {
          const tunings = applicable[a](layer, target);
          if (tunings.length > 0) return choice(a, tunings[0], `--conv winograd: ${NAMES[a]}`);
        }
        return direct(layer, '--conv winograd: no Winograd kernel for this layer');
      };
    case 'auto':
      return (layer) => {
        const tuned = table?.get(layerKey(layer));
        if (
          tuned &&
          applicable[tuned.algorithm](layer, target).some((t) => sameTuning(t, tuned.tuning))
        ) {
          const x = tuned.speedup.toFixed(tuned.speedup < 10 ? 2 : 1);
          return choice(tuned.algorithm, tuned.tuning, `tuned on ${tuned.on}: ${x}x direct`);
        }
        return ruleChoice(layer, target, applicable);
      };
  }
}

/** A chooser that answers `forced` for the layers it names (by layerKey), `rest` elsewhere. */
export function forcingChooser(
  forced: ReadonlyMap<string, AlgorithmChoice>,
  rest: Chooser,
): Chooser {
  return (layer) => forced.get(layerKey(layer)) ?? rest(layer);
}

/** Every (algorithm, tuning) APPLICABLE lists for a layer: what `vggc tune` times. */
export function candidates(
  layer: LayerShape,
  target: TargetInfo,
  applicable: ApplicableTable = APPLICABLE,
): { algorithm: Algorithm; tuning: Tuning }[] {
  return (Object.keys(applicable) as Algorithm[]).flatMap((algorithm) =>
    applicable[algorithm](layer, target).map((tuning) => ({ algorithm, tuning })),
  );
}

/** A candidate as the tables print it: `direct`, `direct rows=4`, `winograd-f4`. */
export function candidateName(c: { algorithm: Algorithm; tuning?: Tuning }): string {
  const t = Object.entries(c.tuning ?? {}).map(([k, v]) => `${k}=${String(v)}`);
  return [c.algorithm, ...t].join(' ');
}

/** One layer of a plan whose algorithm was chosen: what `vggc compile` prints per layer. */
export interface LayerChoice {
  /** `conv3-64+relu (node 2)`. */
  readonly layer: string;
  /** `direct`, `direct rows=4`, `winograd-f4`. */
  readonly algorithm: string;
  readonly reason: string;
}

/** Every layer of `plan` that carries an algorithm choice, in plan order, once per node. */
export function layerChoices(plan: KernelPlan): LayerChoice[] {
  const seen = new Set<number>();
  const out: LayerChoice[] = [];
  for (const { node, label, algorithm } of plan.steps) {
    if (!algorithm || seen.has(node)) continue;
    seen.add(node);
    out.push({
      layer: `${label} (node ${node})`,
      algorithm: candidateName(algorithm),
      reason: algorithm.reason,
    });
  }
  return out;
}

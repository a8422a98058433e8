/**
 * The shape of one layer's work and the tunings a generator takes, as compiler/algorithms.ts (the
 * chooser's vocabulary) and the generators' `applicable*` functions share them. A leaf module:
 * generators import it without importing the chooser, which imports them.
 */
import type { TargetInfo } from './kernel.js';

/** The work of one layer, as the chooser and the tuning cache see it. */
export interface LayerShape {
  /** The IR op: 'conv', 'conv-grad-data', 'conv-grad-weight', 'fc', 'fc-grad-data', 'fc-grad-weight'. */
  readonly op: string;
  /** Batch size. */
  readonly n: number;
  readonly cin: number;
  readonly cout: number;
  /** Input spatial size (1 x 1 for an FC). */
  readonly h: number;
  readonly w: number;
  /** Kernel side (1 for an FC) and zero padding. */
  readonly kernel: number;
  readonly pad: number;
  /** A fused 2x2 max pool in the epilogue. */
  readonly pool?: boolean;
}

/** Tile sizes and design switches a generator takes as its `tuning` argument. */
export type Tuning = Readonly<Record<string, number | boolean>>;

/**
 * For each algorithm: the tunings worth timing for a layer on a target, empty where the lowering
 * rules have no kernel of that algorithm for the layer. The chooser never answers an algorithm
 * whose list is empty, and `vggc tune` times each entry. Each algorithm's generator module
 * supplies its entry.
 */
export type Applicable = (layer: LayerShape, target: TargetInfo) => readonly Tuning[];

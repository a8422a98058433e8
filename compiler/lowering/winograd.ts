/**
 * What the conv rules (forward.ts: 3x3 'conv'; training.ts: 3x3 'conv-grad-data') do with the
 * chooser's answer: run Winograd F(2,3) or F(4,3) (compiler/wgsl/winograd.ts) where the answer
 * names it and it applies, the direct kernel otherwise, and report what ran.
 */
import { APPLICABLE, type AlgorithmChoice, type LayerShape } from '../algorithms.js';
import type { TargetInfo } from '../wgsl/kernel.js';
import type { WinogradM } from '../wgsl/winograd.js';

/** The output tile side of a Winograd algorithm, undefined for any other. */
export function winogradM(algorithm: AlgorithmChoice['algorithm']): WinogradM | undefined {
  return algorithm === 'winograd-f2' ? 2 : algorithm === 'winograd-f4' ? 4 : undefined;
}

/**
 * The choice itself when it is 'direct' or a Winograd algorithm that applies to the layer on
 * this target; otherwise 'direct', with the reason saying why (these rules have no other kernel).
 */
export function winogradOrDirect(
  choice: AlgorithmChoice,
  layer: LayerShape,
  target: TargetInfo,
): AlgorithmChoice {
  const m = winogradM(choice.algorithm);
  if (choice.algorithm === 'direct') return choice;
  if (m && APPLICABLE[choice.algorithm](layer, target).length > 0) return choice;
  return { algorithm: 'direct', reason: `${choice.reason}; ${choice.algorithm} does not apply` };
}

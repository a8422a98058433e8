/** `vggc init FILE [--model NAME] --out W.safetensors [--seed S] [--scheme paper|glorot|kaiming]` */
import { initWeights, type InitScheme } from '../runtime/init.js';
import { checkOutputs } from '../runtime/outputs.js';
import { resolveTrainConfig } from '../runtime/train/config.js';
import { saveWeights } from '../runtime/weights.js';
import { loadModel, mib, type ModelFlags } from './common.js';

/** What commander hands over (the seed parsed, the scheme checked: cli/args.ts). */
export interface InitFlags extends ModelFlags {
  readonly out: string;
  readonly seed?: number;
  readonly scheme?: InitScheme;
}

export async function runInit(
  file: string,
  flags: InitFlags,
  out: (s: string) => void,
): Promise<void> {
  checkOutputs([{ path: flags.out, what: '--out' }], [{ path: file, what: 'the model file' }]);
  const graph = loadModel(file, flags);
  // The defaults of a fresh run's weights are those of training's (runtime/train/config.ts).
  const { init: scheme, seed } = resolveTrainConfig(graph, {
    ...(flags.scheme !== undefined ? { init: flags.scheme } : {}),
    ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
  });
  const weights = initWeights(graph, { scheme, seed });
  await saveWeights(flags.out, graph, weights, { scheme, seed: String(seed), model: graph.name });
  const count = [...weights.values()].reduce((s, t) => s + t.length, 0);
  out(
    `${graph.name}: ${count.toLocaleString('en-US')} parameters (${scheme} init, seed ${seed}), ${mib(count * 4)} -> ${flags.out}`,
  );
}

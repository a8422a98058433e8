/** `vggc init FILE [--model NAME] --out W.safetensors [--seed S] [--scheme paper|glorot|kaiming]` */
import { VggcError, error } from '../dsl/diagnostics.js';
import { INIT_SCHEMES, initWeights, type InitScheme } from '../runtime/init.js';
import { saveWeights } from '../runtime/weights.js';
import { loadModel, mib, type ModelFlags } from './common.js';

export interface InitFlags extends ModelFlags {
  readonly out: string;
  readonly seed?: string;
  readonly scheme?: string;
}

export async function runInit(
  file: string,
  flags: InitFlags,
  out: (s: string) => void,
): Promise<void> {
  const graph = loadModel(file, flags);
  const scheme = (flags.scheme ?? 'paper') as InitScheme;
  if (!INIT_SCHEMES.includes(scheme)) {
    throw new VggcError(
      error(`--scheme must be one of ${INIT_SCHEMES.join(', ')}, not '${flags.scheme}'`),
    );
  }
  const seed = flags.seed === undefined ? 0 : Number(flags.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new VggcError(
      error(`--seed must be an integer from 0 to 4294967295, not '${flags.seed}'`),
    );
  }
  const weights = initWeights(graph, { scheme, seed });
  await saveWeights(flags.out, graph, weights, { scheme, seed: String(seed), model: graph.name });
  const count = [...weights.values()].reduce((s, t) => s + t.length, 0);
  out(
    `${graph.name}: ${count.toLocaleString('en-US')} parameters (${scheme} init, seed ${seed}), ${mib(count * 4)} -> ${flags.out}`,
  );
}

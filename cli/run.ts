/**
 * `vggc run FILE [--model NAME] --weights W.safetensors --input X.npy --out Y.npy [--no-fuse] [--probs]`
 */
import { formatShape } from '../compiler/ir.js';
import { VggcError, error } from '../dsl/diagnostics.js';
import { readNpy, writeNpy } from '../runtime/npy.js';
import { createInference } from '../runtime/infer.js';
import { loadWeights } from '../runtime/weights.js';
import { compileProgress } from './progress.js';
import {
  checkRunFiles,
  convOptions,
  fuseOption,
  loadModel,
  type ConvFlags,
  type FuseFlags,
  type ModelFlags,
} from './common.js';

export interface RunFlags extends ModelFlags, FuseFlags, ConvFlags {
  readonly weights: string;
  readonly input: string;
  readonly out: string;
  readonly probs?: boolean;
}

export async function runRun(
  file: string,
  flags: RunFlags,
  log: (s: string) => void,
): Promise<void> {
  checkRunFiles(file, flags);
  // --input names the .npy here, so the model keeps its declared input shape.
  const graph = loadModel(file, { ...(flags.model !== undefined ? { model: flags.model } : {}) });
  const want = graph.nodes[0]!.out;
  const x = await readNpy(flags.input);
  const [n, ...chw] = x.shape;
  if (x.shape.length !== 4 || chw.some((d, i) => d !== want[i]) || !n) {
    throw new VggcError(
      error(
        `${flags.input}: input has shape [${x.shape.join(', ')}], the model ${graph.name} takes ` +
          `[N, ${want.join(', ')}] (N x ${formatShape(want)}, float32, N >= 1)`,
      ),
    );
  }
  const weights = await loadWeights(flags.weights, graph);
  const started = performance.now();
  const inference = await createInference(graph, weights, {
    fuse: fuseOption(flags),
    output: flags.probs ? 'probs' : 'logits',
    ...(await convOptions(flags, log)),
  });
  try {
    await inference.warmUp(n, compileProgress(log));
    const y = await inference.run(x.data, n, (done) => {
      if (n > inference.batch) log(`  ${done}/${n} images`);
    });
    const classes = inference.outShape.reduce((a, b) => a * b, 1);
    await writeNpy(flags.out, [n, classes], y);
    const ms = performance.now() - started;
    log(
      `${graph.name}: ${n} image${n === 1 ? '' : 's'} -> ${flags.out} [${n}, ${classes}] ${flags.probs ? 'posteriors' : 'logits'} in ${(ms / 1000).toFixed(2)} s`,
    );
  } finally {
    inference.destroy();
  }
}

/**
 * `vggc run FILE [--model NAME] --weights W.safetensors --input X.npy --out Y.npy --dense`
 *
 * Dense evaluation (the paper's Section 3.2): X is float32 N x C x H x W with any H, W at least
 * the model's smallest dense input; Y is the class score map, float32 N x classes x h x w (raw
 * scores; average each map over h x w and apply soft-max for posteriors: runtime/dense.ts
 * `classScores`). The weights are the FC model's, unchanged. On any failure no Y is written.
 */
import { formatShape } from '../compiler/ir.js';
import { denseGraph } from '../compiler/passes/fc-to-conv.js';
import { VggcError, error } from '../dsl/diagnostics.js';
import { createDenseInference } from '../runtime/dense.js';
import { readNpy, writeNpy } from '../runtime/npy.js';
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

export interface DenseFlags extends ModelFlags, FuseFlags, ConvFlags {
  readonly weights: string;
  readonly input: string;
  readonly out: string;
  /** Not supported with --dense (the output is the raw score map); refused when set. */
  readonly probs?: boolean;
}

export async function runDense(
  file: string,
  flags: DenseFlags,
  log: (s: string) => void,
): Promise<void> {
  checkRunFiles(file, flags);
  if (flags.probs) {
    throw new VggcError(
      error(
        '--probs does not apply to --dense: the output is the raw class score map ' +
          '(N x classes x h x w); average it over h x w, then apply soft-max',
      ),
    );
  }
  // --input names the .npy here; the model is typed at its declared input, which fixes the
  // converted FC's kernel size.
  const graph = loadModel(file, { ...(flags.model !== undefined ? { model: flags.model } : {}) });
  const declared = graph.nodes[0]!.out;
  const x = await readNpy(flags.input);
  const [n, c, h, w] = x.shape;
  if (x.shape.length !== 4 || !n || !c || !h || !w) {
    throw new VggcError(
      error(
        `${flags.input}: input has shape [${x.shape.join(', ')}]; dense evaluation of ` +
          `${graph.name} takes [N, ${declared[0]}, H, W] (float32, N >= 1, any H and W large enough)`,
      ),
    );
  }
  const input = [c, h, w] as const;
  try {
    denseGraph(graph, input); // wrong channels, too small: before reading the weights
  } catch (e) {
    if (e instanceof VggcError) {
      throw new VggcError(
        e.diagnostics.map((d) => (d.span ? d : { ...d, message: `${flags.input}: ${d.message}` })),
      );
    }
    throw e;
  }
  const weights = await loadWeights(flags.weights, graph);
  const started = performance.now();
  const inference = await createDenseInference(graph, weights, {
    fuse: fuseOption(flags),
    ...(await convOptions(flags, log)),
  });
  try {
    await inference.warmUp(n, input, {}, compileProgress(log));
    const { scores, shape } = await inference.run(x.data, n, input);
    const [, classes, oh, ow] = shape;
    await writeNpy(flags.out, shape, scores);
    const ms = performance.now() - started;
    log(
      `${graph.name}: ${n} image${n === 1 ? '' : 's'} of ${formatShape(input)} -> ${flags.out} ` +
        `[${n}, ${classes}, ${oh}, ${ow}] class score map${oh * ow > 1 ? 's' : ''} ` +
        `in ${(ms / 1000).toFixed(2)} s`,
    );
  } finally {
    inference.destroy();
  }
}

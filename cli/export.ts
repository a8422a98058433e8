/** `vggc export FILE [--model NAME] --weights W --out MODEL.onnx [--dense] [--opset N]` */
import { DEFAULT_OPSET } from '../compiler/onnx/export.js';
import { exportOnnxFile } from '../runtime/onnx.js';
import { checkOutputs } from '../runtime/outputs.js';
import { loadModel, mib, type ModelFlags } from './common.js';

export interface ExportFlags extends ModelFlags {
  readonly weights: string;
  readonly out: string;
  readonly dense?: boolean;
  readonly opset?: number;
}

export async function runExport(
  file: string,
  flags: ExportFlags,
  out: (s: string) => void,
): Promise<void> {
  checkOutputs(
    [{ path: flags.out, what: '--out' }],
    [
      { path: file, what: 'the model file' },
      { path: flags.weights, what: '--weights' },
    ],
  );
  const graph = loadModel(file, flags);
  const opset = flags.opset ?? DEFAULT_OPSET;
  const size = await exportOnnxFile(graph, flags.weights, flags.out, {
    opset,
    dense: flags.dense ?? false,
  });
  out(
    `${graph.name} -> ${flags.out} (ONNX opset ${opset}${flags.dense ? ', dense: dynamic H and W' : ''}, ${mib(size)})`,
  );
}

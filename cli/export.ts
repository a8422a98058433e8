/** `vggc export FILE [--model NAME] --weights W --out MODEL.onnx [--dense] [--opset N]` */
import { DEFAULT_OPSET } from '../compiler/onnx/export.js';
import { exportOnnxFile } from '../runtime/onnx.js';
import { loadModel, mib, positiveInt, type ModelFlags } from './common.js';

export interface ExportFlags extends ModelFlags {
  readonly weights: string;
  readonly out: string;
  readonly dense?: boolean;
  readonly opset?: string;
}

export async function runExport(
  file: string,
  flags: ExportFlags,
  out: (s: string) => void,
): Promise<void> {
  const graph = loadModel(file, flags);
  const opset = flags.opset === undefined ? DEFAULT_OPSET : positiveInt(flags.opset, '--opset');
  const size = await exportOnnxFile(graph, flags.weights, flags.out, {
    opset,
    dense: flags.dense ?? false,
  });
  out(
    `${graph.name} -> ${flags.out} (ONNX opset ${opset}${flags.dense ? ', dense: dynamic H and W' : ''}, ${mib(size)})`,
  );
}

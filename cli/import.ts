/** `vggc import MODEL.onnx --out MODEL.vgg --weights W.safetensors [--name NAME] [--input CxHxW]` */
import { basename } from 'node:path';
import { parseShapeArg } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import { modelName } from '../compiler/print.js';
import { importOnnxFile } from '../runtime/onnx.js';
import { checkOutputs } from '../runtime/outputs.js';
import { mib } from './common.js';

export interface ImportFlags {
  readonly out: string;
  readonly weights: string;
  readonly name?: string;
  readonly input?: string;
}

export async function runImport(
  file: string,
  flags: ImportFlags,
  out: (s: string) => void,
): Promise<void> {
  checkOutputs(
    [
      { path: flags.out, what: '--out' },
      { path: flags.weights, what: '--weights' },
    ],
    [{ path: file, what: 'the ONNX model' }],
  );
  const name = modelName(flags.name ?? basename(flags.out).replace(/\.vgg$/i, ''));
  const imported = await importOnnxFile(file, {
    out: flags.out,
    weights: flags.weights,
    name,
    ...(flags.input !== undefined ? { input: parseShapeArg(flags.input) } : {}),
  });
  const count = [...imported.weights.values()].reduce((s, t) => s + t.length, 0);
  const layers = paramList(imported.graph).length / 2;
  out(
    `${file} (opset ${imported.opset}) -> ${flags.out} (model ${name}, ${layers} conv/FC layers), ` +
      `${flags.weights} (${count.toLocaleString('en-US')} parameters, ${mib(count * 4)})`,
  );
}

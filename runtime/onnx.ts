/**
 * The file side of ONNX import and export: reads the .onnx bytes, writes the .vgg text, the
 * safetensors weights or the .onnx model, each atomically (temporary file, then rename). The
 * translation itself is compiler/onnx/ and touches no file: a model it refuses writes nothing.
 */
import { exportOnnx, type ExportOptions } from '../compiler/onnx/export.js';
import { importOnnx, type ImportOptions, type Imported } from '../compiler/onnx/import.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { openForRead, readFully, rethrowFsError, writeFileAtomic } from './fsutil.js';
import { loadWeights, saveWeights } from './weights.js';

/** Reads a whole file (an ONNX model). */
export async function readBytes(path: string): Promise<Uint8Array> {
  const { fh, size } = await openForRead(path);
  try {
    const bytes = new Uint8Array(size);
    const got = await readFully(fh, bytes, 0);
    return bytes.subarray(0, got);
  } catch (e) {
    rethrowFsError(path, 'read', e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export interface ImportFiles extends Omit<ImportOptions, 'file'> {
  /** The .vgg file to write. */
  readonly out: string;
  /** The safetensors file to write. */
  readonly weights: string;
}

/**
 * `vggc import`: ONNX file -> .vgg text and safetensors weights. Everything is checked before the
 * first byte is written; the weights are written first, then the model text.
 */
export async function importOnnxFile(path: string, files: ImportFiles): Promise<Imported> {
  const bytes = await readBytes(path);
  const { out, weights, ...options } = files;
  const imported = importOnnx(bytes, { ...options, file: path });
  await saveWeights(weights, imported.graph, imported.weights, {
    source: 'onnx',
    opset: String(imported.opset),
  });
  await writeFileAtomic(out, new TextEncoder().encode(imported.text));
  return imported;
}

/** `vggc export`: a checked model and its weights file -> an .onnx file. Returns its size. */
export async function exportOnnxFile(
  graph: TypedGraph,
  weightsPath: string,
  out: string,
  options: ExportOptions = {},
): Promise<number> {
  const weights = await loadWeights(weightsPath, graph);
  const bytes = exportOnnx(graph, weights, options);
  await writeFileAtomic(out, bytes);
  return bytes.length;
}

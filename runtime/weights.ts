/**
 * A model's parameters: loading and saving them as safetensors, by the parameter layout of
 * compiler/params.ts (names as torchvision's VGG, so PyTorch weights load as they are; shapes
 * as the weight file holds them, so a graph after the FC-to-conv rewrite of dense evaluation
 * loads the FC model's file unchanged).
 */
import { warnNonFinite } from './finite.js';
import { VggcError, error, fail, type Diagnostic } from '../dsl/diagnostics.js';
import type { Graph } from '../compiler/ir.js';
import { paramLayout } from '../compiler/params.js';
import {
  READABLE_DTYPES,
  SafetensorsFile,
  formatDims,
  writeSafetensors,
  type Tensor,
} from './safetensors.js';

export interface ParamSpec {
  /** The conv or fc node that owns the parameter. */
  readonly nodeId: number;
  /** torchvision's name, e.g. `features.0.weight`. */
  readonly name: string;
  /** The shape in the weight file. */
  readonly shape: number[];
  readonly kind: 'weight' | 'bias';
}

/** Every parameter of `graph` in node order (weight, then bias), as weight files hold them. */
export function parameterLayout(graph: Graph): ParamSpec[] {
  return paramLayout(graph).map((p) => ({
    nodeId: p.node,
    name: p.name,
    shape: [...p.fileShape],
    kind: p.kind,
  }));
}

/** The number of values of all parameters. */
export const parameterCount = (layout: readonly ParamSpec[]): number =>
  layout.reduce((a, p) => a + p.shape.reduce((x, d) => x * d, 1), 0);

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Loads every parameter of `graph` from a safetensors file, as float32, in layout order.
 *
 * The whole header is checked before any data is read: a missing tensor, a wrong shape or an
 * unreadable dtype is a one-line diagnostic naming the file and the tensor, and all of them are
 * thrown together in one VggcError. Tensors the model does not use are ignored (a note about
 * them joins the errors when tensors are missing, since that usually means a naming mismatch).
 * F16, BF16 and F64 tensors are converted to float32.
 */
export async function loadWeights(path: string, graph: Graph): Promise<Map<string, Float32Array>> {
  const layout = parameterLayout(graph);
  const file = await SafetensorsFile.open(path);
  try {
    const diags: Diagnostic[] = [];
    for (const p of layout) {
      const e = file.entries.get(p.name);
      if (!e) {
        diags.push(error(`${path}: no tensor '${p.name}'; the model needs ${formatDims(p.shape)}`));
      } else if (!sameShape(e.shape, p.shape)) {
        diags.push(
          error(
            `${path}: tensor '${p.name}' has shape ${formatDims(e.shape)}, the model needs ${formatDims(p.shape)}`,
          ),
        );
      } else if (!READABLE_DTYPES.includes(e.dtype)) {
        diags.push(
          error(
            `${path}: tensor '${p.name}' has dtype ${e.dtype}; weights must be ${READABLE_DTYPES.join(', ')}`,
          ),
        );
      }
    }
    if (diags.length) {
      const wanted = new Set(layout.map((p) => p.name));
      const unused = [...file.entries.keys()].filter((n) => !wanted.has(n));
      if (unused.length && layout.some((p) => !file.has(p.name))) {
        const some = unused
          .slice(0, 3)
          .map((n) => `'${n}'`)
          .join(', ');
        diags.push({
          severity: 'note',
          message: `${path}: it holds ${unused.length} tensor(s) the model does not use: ${some}${unused.length > 3 ? ', ...' : ''}`,
        });
      }
      throw new VggcError(diags);
    }
    const out = new Map<string, Float32Array>();
    for (const p of layout) out.set(p.name, await file.read(p.name));
    warnNonFinite(path, out, 'weights');
    return out;
  } finally {
    await file.close();
  }
}

/**
 * Saves the parameters of `graph` as an F32 safetensors file (atomically). `tensors` must hold
 * exactly the layout's tensors, each with the layout's number of values. The metadata records
 * `format: 'pt'` (the PyTorch layout, which Hugging Face loaders look for) and the model's name
 * under `model`; `metadata` adds to or overrides these.
 */
export async function saveWeights(
  path: string,
  graph: Graph,
  tensors: ReadonlyMap<string, Float32Array>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const layout = parameterLayout(graph);
  const list: [string, Tensor][] = [];
  for (const p of layout) {
    const data = tensors.get(p.name);
    if (!data) fail(`${path}: cannot save: no tensor '${p.name}' was given`);
    const need = p.shape.reduce((a, d) => a * d, 1);
    if (data.length !== need) {
      fail(
        `${path}: cannot save: tensor '${p.name}' holds ${data.length} values, its shape ${formatDims(p.shape)} needs ${need}`,
      );
    }
    list.push([p.name, { shape: p.shape, data }]);
  }
  const names = new Set(layout.map((p) => p.name));
  for (const name of tensors.keys()) {
    if (!names.has(name))
      fail(`${path}: cannot save: tensor '${name}' is not a parameter of ${graph.name}`);
  }
  await writeSafetensors(path, list, { format: 'pt', model: graph.name, ...metadata });
}

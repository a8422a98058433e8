/**
 * A model's parameters: their names and shapes, and loading and saving them as safetensors.
 *
 * Names follow torchvision's VGG, so PyTorch weights load as they are. torchvision builds a VGG
 * as two `nn.Sequential` stacks, and a parameter is named by its module's index in its stack:
 *
 * - `features.i.weight` / `features.i.bias`: from the first layer up to the first FC, every
 *   conv, ReLU, LRN, maxpool (and dropout, should a model put one there) takes one index;
 * - `classifier.j.weight` / `classifier.j.bias`: from the first FC on, every FC, ReLU and
 *   dropout (and any other module) takes one index.
 *
 * The input and softmax are not modules and take none. A fused kernel's epilogue steps (ReLU,
 * maxpool, dropout) count as the modules they replaced, so a graph names its parameters the same
 * before and after fusion. VGG-16's convs are features.0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24,
 * 26, 28 and its FCs classifier.0, 3, 6.
 *
 * Shapes are PyTorch's: conv weight `[cout, cin, k, k]`, FC weight `[out, in]` with `in` the
 * C x H x W flattening of its input, biases `[cout]` / `[out]`. A graph after the FC-to-conv
 * rewrite of dense evaluation (compiler/passes/fc-to-conv.ts) has the same layout as the model
 * as written: a conv made from an FC (`isConvertedFc`) opens the classifier stack and reports the
 * FC's weight `[out, C * k * k]`, whatever input size the rewritten graph was typed at, so the
 * FC model's file loads unchanged (the conv weight `[out, C, k, k]` has the same bytes).
 */
import { warnNonFinite } from './finite.js';
import { VggcError, error, fail, type Diagnostic } from '../dsl/diagnostics.js';
import { nodeById, numel, type Graph, type Node, type Shape } from '../compiler/ir.js';
import { isConvertedFc } from '../compiler/params.js';
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
  readonly shape: number[];
  readonly kind: 'weight' | 'bias';
}

function shapeOf(g: Graph, n: Node): Shape {
  if (!n.out) {
    throw new Error(
      `internal: parameterLayout needs a typed graph, but node ${n.id} (${n.op.op}) of ${g.name} has no shape; run shape inference first`,
    );
  }
  return n.out;
}

/** Every parameter of `graph` in node order (weight, then bias), named as torchvision does. */
export function parameterLayout(graph: Graph): ParamSpec[] {
  const specs: ParamSpec[] = [];
  let stack: 'features' | 'classifier' = 'features';
  let index = 0;
  for (const node of graph.nodes) {
    const op = node.op;
    if (op.op === 'input' || op.op === 'softmax') continue;
    const fromFc = isConvertedFc(node);
    if ((op.op === 'fc' || fromFc) && stack === 'features') {
      stack = 'classifier';
      index = 0;
    }
    if (op.op === 'conv' || op.op === 'fc') {
      shapeOf(graph, node);
      const inputId = node.inputs[0];
      if (inputId === undefined)
        throw new Error(`internal: node ${node.id} (${op.op}) has no input`);
      const input = shapeOf(graph, nodeById(graph, inputId));
      const weight =
        op.op === 'fc'
          ? [op.units, numel(input)]
          : fromFc
            ? [op.cout, input[0] * op.kernel * (op.kernelW ?? op.kernel)]
            : [op.cout, input[0], op.kernel, op.kernelW ?? op.kernel];
      // Lowering fixed the module path (compiler/params.ts); graphs built by hand count here.
      const prefix = node.param ?? `${stack}.${index}`;
      specs.push({ nodeId: node.id, name: `${prefix}.weight`, shape: weight, kind: 'weight' });
      specs.push({ nodeId: node.id, name: `${prefix}.bias`, shape: [weight[0]!], kind: 'bias' });
      // The module itself, then one module per fused epilogue step (relu, maxpool, dropout).
      index += 1 + op.epilogue.length;
    } else {
      index += 1; // relu, maxpool, lrn, dropout
    }
  }
  return specs;
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

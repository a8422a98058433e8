/**
 * A typed forward Graph and its weights -> ONNX ModelProto bytes.
 *
 * Conv (pads (K-1)/2, stride 1) + Relu, MaxPool 2x2/2, LRN, Dropout (an identity at inference),
 * Flatten + Gemm (transB 1, vggc's [out, in] weight as it is) + Relu, Softmax over axis 1. The
 * batch axis is dynamic. With `dense`, the FC layers are exported as the convolutions of the
 * FC-to-conv pass (compiler/passes/fc-to-conv.ts) and the height and width are dynamic too: the
 * output is the N x classes x h x w class score map. Weights are initializers named as vggc
 * names them (`features.0.weight`), their bytes those of the Float32Arrays given.
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import { fcToConv } from '../passes/fc-to-conv.js';
import { paramNames } from '../params.js';
import type { TypedGraph } from '../shapes.js';
import {
  FLOAT,
  floatBytes,
  MAX_OPSET,
  MIN_OPSET,
  onnx,
  type NodeProto,
  type TensorProto,
} from './proto.js';

export interface ExportOptions {
  /** Opset of ONNX's default domain, 7 to 18 (default 13). */
  readonly opset?: number;
  /** The fully convolutional form with dynamic height and width. */
  readonly dense?: boolean;
  readonly producerVersion?: string;
}

export const DEFAULT_OPSET = 13;

/** The IR version each opset came with (onnx/helper.py's VERSION_TABLE). */
const IR_VERSION: Record<number, number> = {
  7: 3,
  8: 3,
  9: 4,
  10: 5,
  11: 6,
  12: 7,
  13: 7,
  14: 7,
  15: 8,
  16: 8,
  17: 8,
  18: 8,
};

const attrInts = (name: string, ints: number[]) => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints,
});
const attrInt = (name: string, i: number) => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
});
const attrFloat = (name: string, f: number) => ({
  name,
  type: onnx.AttributeProto.AttributeType.FLOAT,
  f,
});

export function exportOnnx(
  graph: TypedGraph,
  weights: ReadonlyMap<string, Float32Array>,
  options: ExportOptions = {},
): Uint8Array {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new VggcError(error(`--opset must be ${MIN_OPSET} to ${MAX_OPSET}, not ${opset}`));
  }
  const dense = options.dense ?? false;
  const g = dense ? fcToConv(graph) : graph;
  const params = paramNames(g);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const tensor = (id: number) => (id === 0 ? 'input' : `t${id}`);
  const last = g.nodes.at(-1)!;
  const nameOf = (id: number) => (id === last.id ? 'output' : tensor(id));
  let flat = false;
  for (const node of g.nodes.slice(1)) {
    const op = node.op;
    const x = tensor(node.inputs[0] ?? 0);
    const y = nameOf(node.id);
    const name = node.param ?? `${op.op}.${node.id}`;
    switch (op.op) {
      case 'conv':
      case 'fc': {
        const p = params.get(node.id)!;
        for (const t of [p.weight, p.bias]) {
          const data = weights.get(t.name);
          const need = t.shape.reduce((a, d) => a * d, 1);
          if (!data || data.length !== need) {
            throw new VggcError(
              error(
                `weights: tensor '${t.name}' ${data ? `holds ${data.length} values, needs ${need}` : 'is missing'}`,
              ),
            );
          }
          inits.push({
            name: t.name,
            dims: [...t.shape],
            dataType: FLOAT,
            rawData: floatBytes(data),
          });
        }
        if (op.op === 'conv') {
          nodes.push({
            name,
            opType: 'Conv',
            input: [x, p.weight.name, p.bias.name],
            output: [y],
            attribute: [
              attrInts('kernel_shape', [op.kernel, op.kernel]),
              attrInts('pads', [op.pad, op.pad, op.pad, op.pad]),
              attrInts('strides', [1, 1]),
            ],
          });
        } else {
          let a = x;
          if (!flat) {
            a = `${tensor(node.id)}.flat`;
            nodes.push({
              name: `${name}.flatten`,
              opType: 'Flatten',
              input: [x],
              output: [a],
              attribute: [attrInt('axis', 1)],
            });
            flat = true;
          }
          nodes.push({
            name,
            opType: 'Gemm',
            input: [a, p.weight.name, p.bias.name],
            output: [y],
            attribute: [attrInt('transB', 1)],
          });
        }
        break;
      }
      case 'relu':
        nodes.push({ name: `relu.${node.id}`, opType: 'Relu', input: [x], output: [y] });
        break;
      case 'maxpool':
        nodes.push({
          name: `maxpool.${node.id}`,
          opType: 'MaxPool',
          input: [x],
          output: [y],
          attribute: [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])],
        });
        break;
      case 'lrn':
        // ONNX divides alpha by size; vggc's alpha multiplies the plain sum of squares.
        nodes.push({
          name: `lrn.${node.id}`,
          opType: 'LRN',
          input: [x],
          output: [y],
          attribute: [
            attrInt('size', op.n),
            attrFloat('alpha', op.alpha * op.n),
            attrFloat('beta', op.beta),
            attrFloat('bias', op.k),
          ],
        });
        break;
      case 'dropout': {
        const ratio = `dropout.${node.id}.ratio`;
        if (opset >= 12) {
          inits.push({
            name: ratio,
            dims: [],
            dataType: FLOAT,
            rawData: floatBytes(Float32Array.of(op.p)),
          });
        }
        nodes.push({
          name: `dropout.${node.id}`,
          opType: 'Dropout',
          input: opset >= 12 ? [x, ratio] : [x],
          output: [y],
          attribute: opset >= 12 ? [] : [attrFloat('ratio', op.p)],
        });
        break;
      }
      case 'softmax':
        if (dense && opset < 13) {
          throw new VggcError(
            error(
              `--dense with a soft-max needs --opset 13 or later (Softmax over axis 1 alone), not ${opset}`,
            ),
          );
        }
        nodes.push({
          name: 'softmax',
          opType: 'Softmax',
          input: [x],
          output: [y],
          attribute: [attrInt('axis', 1)],
        });
        break;
      default:
        throw new Error(`internal: '${op.op}' cannot be exported (a training or fused graph?)`);
    }
  }
  const [c, h, w] = g.nodes[0]!.out;
  const dim = (v: number | string) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v });
  const valueInfo = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map(dim) } } },
  });
  const classes = last.out[0];
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION[opset]!,
    producerName: 'vggc',
    producerVersion: options.producerVersion ?? '',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: graph.name,
      node: nodes,
      initializer: inits,
      input: [
        valueInfo('input', dense ? ['batch', c, 'height', 'width'] : ['batch', c, h, w]),
        // Before IR version 4 (opsets 7 and 8) every initializer is also a graph input.
        ...(IR_VERSION[opset]! < 4
          ? inits.map((t) => valueInfo(t.name!, (t.dims ?? []).map(Number)))
          : []),
      ],
      output: [
        valueInfo(
          'output',
          dense ? ['batch', classes, 'map_height', 'map_width'] : ['batch', classes],
        ),
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

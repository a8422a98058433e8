/**
 * ONNX ModelProto bytes -> a VGG Graph, its .vgg text and its weights in vggc's naming.
 *
 * The graph is recognised by its structure, never by tensor names: from the one real input, the
 * nodes must form a chain of Conv (3x3 padding 1, or 1x1 padding 0; stride 1, no dilation, one
 * group) + Relu, MaxPool 2x2 stride 2, LRN, Dropout, identity pools, then Flatten or Reshape to
 * N x (C*H*W), then Gemm (any transB) or MatMul + Add, each but the last followed by Relu, and
 * an optional final Softmax. This covers torch.onnx.export of torchvision-layout VGGs (dynamic
 * batch or not, Dropout kept or not) and the ONNX model zoo's MXNet form (opset 7, initializers
 * also listed as graph inputs). Opsets 7 to 18 of the default domain.
 *
 * Every refusal is one VggcError naming the node, its op and what does not fit. The model
 * is printed (compiler/print.ts) and the text parsed back, so the returned graph is exactly the
 * one `vggc` builds from the written .vgg file; weights are named after that graph
 * (compiler/params.ts). No file is touched here: the caller reads and writes (runtime/onnx.ts).
 */
import { VggcError, error } from '../../dsl/diagnostics.js';
import { checkSource } from '../frontend.js';
import type { Graph, Node, Op, Shape } from '../ir.js';
import { paramList } from '../params.js';
import { modelName, printVgg } from '../print.js';
import type { TypedGraph } from '../shapes.js';
import {
  floatTensor,
  int,
  MAX_OPSET,
  MIN_OPSET,
  onnx,
  tensorValues,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './proto.js';

export interface ImportOptions {
  /** The file the bytes came from, for messages. */
  readonly file: string;
  /** The model's name in the .vgg text (default: from the ONNX graph's name). */
  readonly name?: string;
  /** The input shape, for models whose height or width is dynamic. */
  readonly input?: Shape;
}

export interface Imported {
  readonly graph: TypedGraph;
  /** The .vgg text of `graph`. */
  readonly text: string;
  /** Every parameter of `graph`, float32, by vggc's (torchvision's) names. */
  readonly weights: Map<string, Float32Array>;
  readonly opset: number;
}

/** Decodes the protobuf; an empty, truncated or non-ONNX file is a clear error. */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  if (bytes.length === 0)
    throw new VggcError(error(`${file}: the file is empty, not an ONNX model`));
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new VggcError(
      error(
        `${file}: not a readable ONNX model (truncated or corrupt protobuf: ${(e as Error).message})`,
      ),
    );
  }
  if (!model.graph || !(model.graph.node ?? []).length) {
    throw new VggcError(error(`${file}: not an ONNX model (no graph with nodes in it)`));
  }
  return model;
}

/** One node of the model, for messages: `node 'conv1' (Conv)`. */
const who = (n: NodeProto, index: number): string =>
  `node '${n.name || `#${index}`}' (${n.opType || '?'})`;

interface Layer {
  readonly op: Op;
  readonly weight?: Float32Array;
  readonly bias?: Float32Array;
}

type Value = number | 'N';

class Importer {
  readonly inits = new Map<string, TensorProto>();
  readonly producers = new Map<string, { node: NodeProto; index: number }>();
  readonly consumers = new Map<string, { node: NodeProto; index: number }[]>();
  readonly layers: Layer[] = [];
  opset = 0;

  constructor(
    readonly model: ModelProto,
    readonly file: string,
  ) {}

  fail(message: string): never {
    throw new VggcError(error(`${this.file}: ${message}`));
  }

  failAt(n: NodeProto, index: number, message: string): never {
    this.fail(`${who(n, index)}: ${message}`);
  }

  attr(n: NodeProto, name: string): AttributeProto | undefined {
    return (n.attribute ?? []).find((a) => a.name === name);
  }

  ints(n: NodeProto, name: string): number[] | undefined {
    const a = this.attr(n, name);
    return a ? (a.ints ?? []).map(int) : undefined;
  }

  intAttr(n: NodeProto, name: string, dflt: number): number {
    const a = this.attr(n, name);
    return a ? int(a.i) : dflt;
  }

  floatAttr(n: NodeProto, name: string, dflt: number): number {
    const a = this.attr(n, name);
    return a ? (a.f ?? 0) : dflt;
  }

  /** Refuses any attribute of `n` that is not in `known`. */
  onlyAttrs(n: NodeProto, index: number, known: readonly string[]): void {
    for (const a of n.attribute ?? []) {
      if (!known.includes(a.name ?? '')) {
        this.failAt(n, index, `attribute '${a.name}' is not one vggc can import`);
      }
    }
  }

  /** A constant input: an initializer or a Constant node's value. */
  constant(name: string, depth = 0): TensorProto | undefined {
    const init = this.inits.get(name);
    if (init) return init;
    const p = this.producers.get(name);
    // torch.onnx.export shares equal initializers (zero biases) through Identity nodes.
    if (p?.node.opType === 'Identity' && depth < 32)
      return this.constant(p.node.input?.[0] ?? '', depth + 1);
    if (p?.node.opType === 'Constant') {
      const value = this.attr(p.node, 'value');
      if (value?.t) return value.t;
    }
    return undefined;
  }

  weights(
    n: NodeProto,
    index: number,
    input: number,
    what: string,
  ): { dims: number[]; data: Float32Array } {
    const name = (n.input ?? [])[input] ?? '';
    const t = this.constant(name);
    if (!t) this.failAt(n, index, `its ${what} '${name}' is not an initializer or constant`);
    return floatTensor(t, `${this.file}: ${who(n, index)}: ${what} '${name}'`);
  }

  /** The nodes that read `tensor`, other than Shape nodes (side chains of a Reshape). */
  readers(tensor: string): { node: NodeProto; index: number }[] {
    return (this.consumers.get(tensor) ?? []).filter((c) => c.node.opType !== 'Shape');
  }

  /** The one node that reads `tensor`, or undefined at the end of the chain. */
  next(tensor: string): { node: NodeProto; index: number } | undefined {
    const rs = this.readers(tensor);
    if (rs.length > 1) {
      const list = rs.map((r) => who(r.node, r.index)).join(', ');
      this.fail(
        `tensor '${tensor}' feeds ${rs.length} nodes (${list}); vggc imports a chain of layers`,
      );
    }
    return rs[0];
  }

  /** Evaluates a shape subgraph (Constant, Shape, Gather, Unsqueeze, Concat, ...) to values. */
  evaluate(name: string, shapes: Map<string, Value[]>, depth = 0): Value[] | undefined {
    if (depth > 32) return undefined;
    const c = this.constant(name);
    if (c) return tensorValues(c, `${this.file}: constant '${name}'`).values;
    const p = this.producers.get(name);
    if (!p) return undefined;
    const n = p.node;
    const ins = n.input ?? [];
    const arg = (i: number) => this.evaluate(ins[i] ?? '', shapes, depth + 1);
    switch (n.opType) {
      case 'Shape':
        return shapes.get(ins[0] ?? '');
      case 'Cast':
      case 'Identity':
        return arg(0);
      case 'Gather': {
        const data = arg(0);
        const idx = arg(1);
        if (!data || !idx || this.intAttr(n, 'axis', 0) !== 0) return undefined;
        const out = idx.map((i) =>
          typeof i === 'number' ? data[i < 0 ? data.length + i : i] : undefined,
        );
        return out.every((v) => v !== undefined) ? (out as Value[]) : undefined;
      }
      case 'Unsqueeze':
      case 'Squeeze':
        return arg(0);
      case 'Concat': {
        const parts = ins.map((_, i) => arg(i));
        return parts.every((x) => x) ? (parts.flat() as Value[]) : undefined;
      }
      default:
        return undefined;
    }
  }
}

/** Imports a VGG-style ONNX model. */
export function importOnnx(bytes: Uint8Array, options: ImportOptions): Imported {
  const { file } = options;
  const model = decodeModel(bytes, file);
  const im: Importer = new Importer(model, file);
  const g = model.graph!;

  const opsets = (model.opsetImport ?? []).filter((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = opsets.length ? int(opsets[0]!.version) : 0;
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    im.fail(
      `the model uses opset ${opset || '(none)'} of ONNX's default domain; vggc imports opsets ${MIN_OPSET} to ${MAX_OPSET}`,
    );
  }
  im.opset = opset;

  for (const t of g.initializer ?? []) im.inits.set(t.name ?? '', t);
  (g.node ?? []).forEach((node, index) => {
    for (const o of node.output ?? []) if (o) im.producers.set(o, { node, index });
    for (const i of node.input ?? []) {
      if (!i) continue;
      const list = im.consumers.get(i) ?? [];
      list.push({ node, index });
      im.consumers.set(i, list);
    }
  });

  // The one real input: graph inputs that are not initializers (the zoo lists both).
  const inputs = (g.input ?? []).filter((v) => !im.inits.has(v.name ?? ''));
  if (inputs.length !== 1) {
    im.fail(
      `the model has ${inputs.length} inputs that are not initializers (${inputs.map((v) => `'${v.name}'`).join(', ') || 'none'}); vggc imports models with one image input`,
    );
  }
  const input = inputs[0]!;
  const tt = input.type?.tensorType;
  if (!tt || tt.elemType !== onnx.TensorProto.DataType.FLOAT) {
    im.fail(`input '${input.name}' is not a float tensor`);
  }
  const dims = (tt.shape?.dim ?? []).map((d) =>
    d.dimValue !== null && d.dimValue !== undefined && int(d.dimValue) > 0
      ? int(d.dimValue)
      : undefined,
  );
  if (dims.length !== 4) {
    im.fail(`input '${input.name}' has ${dims.length} dimensions; vggc reads N x C x H x W images`);
  }
  let shape: Shape;
  if (options.input) {
    shape = options.input;
    dims.slice(1).forEach((d, i) => {
      if (d !== undefined && d !== shape[i])
        im.fail(
          `input '${input.name}' has ${['C', 'H', 'W'][i]} = ${d}, but --input says ${shape[i]}`,
        );
    });
  } else {
    if (dims.slice(1).some((d) => d === undefined)) {
      im.fail(
        `input '${input.name}' has a dynamic channel, height or width; give the image size with --input CxHxW`,
      );
    }
    shape = dims.slice(1) as unknown as Shape;
  }
  const fixedBatch = dims[0];

  // Walk the chain from the input.
  let cur = input.name ?? '';
  let c = shape[0];
  let h = shape[1];
  let w = shape[2];
  let flat = false;
  const shapes = new Map<string, Value[]>([[cur, ['N', c, h, w]]]);
  const setShape = (t: string) => shapes.set(t, flat ? ['N', c] : ['N', c, h, w]);
  const fcRelu: { node: NodeProto; index: number; relu: boolean }[] = [];
  const out = (n: NodeProto, index: number, k = 0): string => {
    const name = (n.output ?? [])[k];
    if (!name) im.failAt(n, index, 'has no output');
    // Any further output (Dropout's mask, MaxPool's indices) must be unused.
    (n.output ?? []).forEach((o, i) => {
      if (
        i !== k &&
        o &&
        ((im.consumers.get(o) ?? []).length || (g.output ?? []).some((v) => v.name === o))
      ) {
        im.failAt(n, index, `its output ${i} ('${o}') is used; vggc computes only the first`);
      }
    });
    return name;
  };
  const chainInput = (n: NodeProto, index: number, at = 0) => {
    if ((n.input ?? [])[at] !== cur)
      im.failAt(
        n,
        index,
        `reads the layer output as input ${(n.input ?? []).indexOf(cur)}, not input ${at}`,
      );
  };
  const expectRelu = (from: NodeProto, fromIndex: number, t: string, what: string): string => {
    const r = im.next(t);
    if (!r || r.node.opType !== 'Relu') {
      im.failAt(
        from,
        fromIndex,
        `vggc follows every ${what} with ReLU, but ${r ? `the next node is ${who(r.node, r.index)}` : 'it ends the graph'}`,
      );
    }
    im.onlyAttrs(r.node, r.index, []);
    return out(r.node, r.index);
  };

  let softmax = false;
  for (let step = 0; ; step++) {
    const nx = im.next(cur);
    if (!nx) break;
    const { node: n, index } = nx;
    if (softmax) im.failAt(n, index, 'follows the soft-max, which must be the last layer');
    if (n.domain && n.domain !== 'ai.onnx') {
      im.failAt(n, index, `is in domain '${n.domain}'; vggc imports ops of ONNX's default domain`);
    }
    const op = n.opType ?? '';
    const noSpatialAfterFc = () => {
      if (flat)
        im.failAt(
          n,
          index,
          'comes after the flatten; convolutions, pooling and LRN must come before the first FC',
        );
    };
    switch (op) {
      case 'Conv': {
        noSpatialAfterFc();
        chainInput(n, index);
        im.onlyAttrs(n, index, [
          'kernel_shape',
          'pads',
          'strides',
          'dilations',
          'group',
          'auto_pad',
        ]);
        const wt = im.weights(n, index, 1, 'weight');
        if (wt.dims.length !== 4)
          im.failAt(n, index, `weight has shape [${wt.dims.join(', ')}], not [Cout, Cin, K, K]`);
        const [cout, cin, kh, kw] = wt.dims as [number, number, number, number];
        const ks = im.ints(n, 'kernel_shape') ?? [kh, kw];
        if (ks.length !== 2 || ks[0] !== ks[1] || (ks[0] !== 1 && ks[0] !== 3)) {
          im.failAt(
            n,
            index,
            `kernel_shape [${ks.join(', ')}] does not fit: vggc's convs are 3x3 or 1x1`,
          );
        }
        const k = ks[0]!;
        if (kh !== k || kw !== k)
          im.failAt(n, index, `weight is ${kh}x${kw}, kernel_shape says ${k}x${k}`);
        const strides = im.ints(n, 'strides') ?? [1, 1];
        if (strides.some((s) => s !== 1))
          im.failAt(
            n,
            index,
            `strides [${strides.join(', ')}] does not fit: vggc's convs have stride 1`,
          );
        const dil = im.ints(n, 'dilations') ?? [1, 1];
        if (dil.some((s) => s !== 1))
          im.failAt(
            n,
            index,
            `dilations [${dil.join(', ')}] does not fit: vggc's convs are not dilated`,
          );
        const group = im.intAttr(n, 'group', 1);
        if (group !== 1)
          im.failAt(n, index, `group ${group} does not fit: vggc's convs have one group`);
        const pad = (k - 1) / 2;
        const autoPad = im.attr(n, 'auto_pad');
        const ap = autoPad ? new TextDecoder().decode(autoPad.s ?? new Uint8Array()) : 'NOTSET';
        if (ap === 'NOTSET' || ap === '') {
          const pads = im.ints(n, 'pads') ?? [0, 0, 0, 0];
          if (pads.some((p) => p !== pad)) {
            im.failAt(
              n,
              index,
              `pads [${pads.join(', ')}] does not fit: vggc pads a ${k}x${k} conv by ${pad} on every side`,
            );
          }
        } else if (!(ap === 'SAME_UPPER' || ap === 'SAME_LOWER' || (ap === 'VALID' && k === 1))) {
          im.failAt(
            n,
            index,
            `auto_pad ${ap} does not fit: vggc pads a ${k}x${k} conv by ${pad} on every side`,
          );
        }
        if (cin !== c) im.failAt(n, index, `weight has ${cin} input channels, its input has ${c}`);
        let bias: Float32Array = new Float32Array(cout);
        if ((n.input ?? [])[2]) {
          const b = im.weights(n, index, 2, 'bias');
          if (b.data.length !== cout)
            im.failAt(n, index, `bias has ${b.data.length} values, not ${cout}`);
          bias = b.data;
        }
        im.layers.push({
          op: { op: 'conv', kernel: k, pad, cout, epilogue: [] },
          weight: wt.data,
          bias,
        });
        c = cout;
        cur = expectRelu(n, index, out(n, index), 'conv');
        break;
      }
      case 'MaxPool': {
        noSpatialAfterFc();
        im.onlyAttrs(n, index, [
          'kernel_shape',
          'strides',
          'pads',
          'dilations',
          'ceil_mode',
          'storage_order',
          'auto_pad',
        ]);
        const ks = im.ints(n, 'kernel_shape') ?? [];
        if (ks.length !== 2 || ks.some((x) => x !== 2))
          im.failAt(
            n,
            index,
            `kernel_shape [${ks.join(', ')}] does not fit: vggc's maxpool is 2x2`,
          );
        const st = im.ints(n, 'strides') ?? [1, 1];
        if (st.some((x) => x !== 2))
          im.failAt(
            n,
            index,
            `strides [${st.join(', ')}] does not fit: vggc's maxpool has stride 2`,
          );
        const pads = im.ints(n, 'pads') ?? [0, 0, 0, 0];
        if (pads.some((x) => x !== 0))
          im.failAt(
            n,
            index,
            `pads [${pads.join(', ')}] does not fit: vggc's maxpool does not pad`,
          );
        const dil = im.ints(n, 'dilations') ?? [1, 1];
        if (dil.some((x) => x !== 1))
          im.failAt(
            n,
            index,
            `dilations [${dil.join(', ')}] does not fit: vggc's maxpool is not dilated`,
          );
        if (im.intAttr(n, 'ceil_mode', 0) !== 0)
          im.failAt(
            n,
            index,
            'ceil_mode 1 does not fit: vggc floors odd sides as PyTorch does by default',
          );
        const ap = im.attr(n, 'auto_pad');
        const apv = ap ? new TextDecoder().decode(ap.s ?? new Uint8Array()) : 'NOTSET';
        if (apv !== 'NOTSET' && apv !== 'VALID' && apv !== '')
          im.failAt(n, index, `auto_pad ${apv} does not fit: vggc's maxpool does not pad`);
        if (h < 2 || w < 2) im.failAt(n, index, `pools a ${h}x${w} map; it needs at least 2x2`);
        im.layers.push({ op: { op: 'maxpool' } });
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
        cur = out(n, index);
        break;
      }
      case 'LRN': {
        noSpatialAfterFc();
        im.onlyAttrs(n, index, ['size', 'alpha', 'beta', 'bias']);
        const size = im.intAttr(n, 'size', 0);
        if (size < 1) im.failAt(n, index, `size ${size} does not fit: it must be at least 1`);
        // ONNX divides alpha by size (as PyTorch does); vggc's alpha multiplies the plain sum.
        const alphaOnnx = Math.fround(im.floatAttr(n, 'alpha', 1e-4));
        const alpha = shortest(alphaOnnx / size, (v) => Math.fround(v * size) === alphaOnnx);
        const beta = shortestF32(im.floatAttr(n, 'beta', 0.75));
        const k = shortestF32(im.floatAttr(n, 'bias', 1));
        if (!(k > 0)) im.failAt(n, index, `bias ${k} does not fit: vggc's LRN needs k > 0`);
        im.layers.push({ op: { op: 'lrn', n: size, alpha, beta, k } });
        cur = out(n, index);
        break;
      }
      case 'Dropout': {
        im.onlyAttrs(n, index, ['ratio', 'seed', 'is_test']);
        let p = 0.5;
        if (im.attr(n, 'ratio')) p = im.floatAttr(n, 'ratio', 0.5);
        const ratioName = (n.input ?? [])[1];
        if (ratioName) {
          const t = im.constant(ratioName);
          if (!t) im.failAt(n, index, `ratio '${ratioName}' is not a constant`);
          p = tensorValues(t, `${file}: ${who(n, index)}: ratio`).values[0] ?? 0.5;
        }
        p = shortestF32(p);
        if (!(p >= 0 && p < 1))
          im.failAt(n, index, `ratio ${p} does not fit: it must be in [0, 1)`);
        im.layers.push({ op: { op: 'dropout', p } });
        cur = out(n, index);
        break;
      }
      case 'Identity':
        cur = out(n, index);
        break;
      case 'AveragePool':
      case 'GlobalAveragePool': {
        // torchvision's AdaptiveAvgPool2d((7, 7)) on a 7x7 map exports as an identity pool.
        noSpatialAfterFc();
        const identity =
          op === 'GlobalAveragePool'
            ? h === 1 && w === 1
            : (im.ints(n, 'kernel_shape') ?? []).every((x) => x === 1) &&
              (im.ints(n, 'strides') ?? [1, 1]).every((x) => x === 1) &&
              (im.ints(n, 'pads') ?? [0, 0, 0, 0]).every((x) => x === 0);
        if (!identity) {
          im.failAt(
            n,
            index,
            `averages ${h}x${w} windows; vggc imports only average pools that leave the map as it is (1x1 windows, stride 1, or a global pool of a 1x1 map)`,
          );
        }
        cur = out(n, index);
        break;
      }
      case 'Flatten':
      case 'Reshape': {
        if (flat) {
          // A flatten of an FC output is a no-op only when it keeps N x units.
          if (op === 'Flatten' && im.intAttr(n, 'axis', 1) === 1) {
            cur = out(n, index);
            break;
          }
        }
        if (op === 'Flatten') {
          im.onlyAttrs(n, index, ['axis']);
          const axis = im.intAttr(n, 'axis', 1);
          if (axis !== 1)
            im.failAt(n, index, `axis ${axis} does not fit: vggc flattens to N x (C*H*W), axis 1`);
        } else {
          im.onlyAttrs(n, index, ['allowzero']);
          const target = im.evaluate((n.input ?? [])[1] ?? '', shapes);
          if (!target) im.failAt(n, index, 'its shape input is not a constant vggc can work out');
          const total = flat ? c : c * h * w;
          const first = target[0];
          const okFirst =
            first === 'N' ||
            first === 0 ||
            first === -1 ||
            (fixedBatch !== undefined && first === fixedBatch);
          const second = target[1];
          const okSecond = second === total || (second === -1 && first !== -1);
          if (target.length !== 2 || !okFirst || !okSecond) {
            im.failAt(
              n,
              index,
              `shape [${target.join(', ')}] does not fit: vggc flattens N x ${c}x${h}x${w} to N x ${total}`,
            );
          }
        }
        if (!flat) {
          c = c * h * w;
          h = 1;
          w = 1;
          flat = true;
        }
        cur = out(n, index);
        break;
      }
      case 'Gemm':
      case 'MatMul': {
        if (!flat)
          im.failAt(n, index, `reads a ${c}x${h}x${w} map; flatten it first (Flatten or Reshape)`);
        chainInput(n, index);
        let data: Float32Array;
        let dims: number[];
        let transB = 0;
        let end = n;
        let endIndex = index;
        let bias: Float32Array | undefined;
        if (op === 'Gemm') {
          im.onlyAttrs(n, index, ['alpha', 'beta', 'transA', 'transB', 'broadcast']);
          const transA = im.intAttr(n, 'transA', 0);
          if (transA !== 0)
            im.failAt(n, index, `transA ${transA} does not fit: vggc's FC reads N x inputs`);
          const alpha = im.floatAttr(n, 'alpha', 1);
          if (alpha !== 1)
            im.failAt(
              n,
              index,
              `alpha ${alpha} does not fit: vggc's FC computes 1 * A * B + 1 * C`,
            );
          const beta = im.floatAttr(n, 'beta', 1);
          if (beta !== 1 && (n.input ?? [])[2])
            im.failAt(n, index, `beta ${beta} does not fit: vggc's FC computes 1 * A * B + 1 * C`);
          transB = im.intAttr(n, 'transB', 0);
          ({ data, dims } = im.weights(n, index, 1, 'weight B'));
          if ((n.input ?? [])[2]) bias = im.weights(n, index, 2, 'bias C').data;
        } else {
          im.onlyAttrs(n, index, []);
          ({ data, dims } = im.weights(n, index, 1, 'weight B'));
          const add = im.next(out(n, index));
          if (add?.node.opType === 'Add') {
            const ins = add.node.input ?? [];
            const other = ins[0] === (n.output ?? [])[0] ? 1 : 0;
            bias = im.weights(add.node, add.index, other, 'bias').data;
            end = add.node;
            endIndex = add.index;
          }
        }
        if (dims.length !== 2)
          im.failAt(n, index, `weight B has shape [${dims.join(', ')}], not 2-D`);
        const [inF, units] = transB ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
        if (inF !== c) {
          im.failAt(
            n,
            index,
            `weight B is ${transB ? `[${units}, ${inF}] (transB 1)` : `[${inF}, ${units}]`}: ${inF} inputs, but its input has ${c} values per image`,
          );
        }
        // vggc's FC weight is [out, in]: transpose B unless transB.
        const weight = transB ? data : transpose(data, inF, units);
        bias ??= new Float32Array(units);
        if (bias.length !== units)
          im.failAt(end, endIndex, `bias has ${bias.length} values, not ${units}`);
        im.layers.push({ op: { op: 'fc', units, epilogue: [] }, weight, bias });
        c = units;
        cur = out(end, endIndex);
        const r = im.next(cur);
        const relu = r?.node.opType === 'Relu';
        fcRelu.push({ node: n, index, relu });
        if (relu) cur = out(r!.node, r!.index);
        break;
      }
      case 'Softmax': {
        if (!flat)
          im.failAt(n, index, "comes before the FC layers; vggc's soft-max is the last layer");
        im.onlyAttrs(n, index, ['axis']);
        const axis = im.intAttr(n, 'axis', opset >= 13 ? -1 : 1);
        if (axis !== 1 && axis !== -1)
          im.failAt(
            n,
            index,
            `axis ${axis} does not fit: vggc's soft-max is over the classes (axis 1)`,
          );
        im.layers.push({ op: { op: 'softmax' } });
        softmax = true;
        cur = out(n, index);
        break;
      }
      case 'Relu':
        im.failAt(
          n,
          index,
          `follows ${im.producers.get(cur) ? who(im.producers.get(cur)!.node, im.producers.get(cur)!.index) : 'the input'}; vggc has ReLU only after a conv or an FC`,
        );
        break;
      default:
        im.failAt(
          n,
          index,
          `is not an op vggc can import (it imports Conv, Relu, MaxPool, LRN, Dropout, Flatten, Reshape, Gemm, MatMul + Add, Softmax, Identity and identity AveragePools)`,
        );
    }
    setShape(cur);
  }

  const outputs = g.output ?? [];
  if (outputs.length !== 1 || outputs[0]!.name !== cur) {
    im.fail(
      `the graph's outputs (${outputs.map((o) => `'${o.name}'`).join(', ')}) are not the end of its layer chain ('${cur}'); vggc imports models with one output`,
    );
  }
  if (!fcRelu.length)
    im.fail('the model has no FC layer (Gemm or MatMul); vggc models end in FC layers');
  fcRelu.forEach((f, i) => {
    const last = i === fcRelu.length - 1;
    if (last && f.relu)
      im.failAt(
        f.node,
        f.index,
        "is the last FC but a ReLU follows it; vggc's last FC gives the logits",
      );
    if (!last && !f.relu)
      im.failAt(
        f.node,
        f.index,
        'is followed by another FC without a ReLU between them; vggc puts ReLU after every FC but the last',
      );
  });
  const unused = (g.node ?? []).length;
  void unused;

  // Graph (with vggc's implicit ReLUs) -> text -> the graph vggc reads from that text.
  const name = options.name ?? modelName(g.name || 'imported');
  const nodes: Node[] = [{ id: 0, op: { op: 'input', shape }, inputs: [] }];
  const lastFc = im.layers.map((l) => l.op.op).lastIndexOf('fc');
  im.layers.forEach((l, i) => {
    nodes.push({ id: nodes.length, op: l.op, inputs: [nodes.length - 1] });
    if (l.op.op === 'conv' || (l.op.op === 'fc' && i !== lastFc))
      nodes.push({ id: nodes.length, op: { op: 'relu' }, inputs: [nodes.length - 1] });
  });
  const loose: Graph = { name, nodes, train: {}, test: {} };
  const producer = [model.producerName, model.producerVersion].filter(Boolean).join(' ');
  const text = printVgg(loose, [
    `Imported from ${file} (ONNX opset ${opset}${producer ? `, made by ${producer}` : ''}) by vggc import.`,
  ]);
  const graph = checkSource({ name: `${name}.vgg`, text });
  const weights = nameWeights(graph, im.layers);
  return { graph, text, weights, opset };
}

/** Names the conv and FC weights after the graph's parameter layout (compiler/params.ts). */
function nameWeights(graph: TypedGraph, layers: readonly Layer[]): Map<string, Float32Array> {
  const params = paramList(graph);
  const tensors = layers.flatMap((l) => (l.weight && l.bias ? [l.weight, l.bias] : []));
  if (params.length !== tensors.length) {
    throw new Error(`internal: ${params.length} parameters, ${tensors.length} tensors imported`);
  }
  const out = new Map<string, Float32Array>();
  params.forEach((p, i) => {
    const t = tensors[i]!;
    const need = (p.fileShape ?? p.shape).reduce((a, d) => a * d, 1);
    if (t.length !== need)
      throw new Error(`internal: ${p.name} has ${t.length} values, needs ${need}`);
    out.set(p.name, t);
  });
  return out;
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < cols; k++) out[k * rows + r] = data[r * cols + k]!;
  return out;
}

/** The shortest decimal for which `same` holds (so 0.5 stays 0.5, 1e-4 stays 1e-4). */
function shortest(v: number, same: (x: number) => boolean): number {
  for (let p = 1; p <= 17; p++) {
    const x = Number(v.toPrecision(p));
    if (same(x)) return x;
  }
  return v;
}

/** The shortest decimal with the same float32 value as `v` (attributes are float32). */
export const shortestF32 = (v: number): number => {
  const f = Math.fround(v);
  return shortest(f, (x) => Math.fround(x) === f);
};

/**
 * vggc export (compiler/onnx/export.ts): export then import gives back the model and its
 * weights bit for bit at every opset; the dense form has dynamic H and W and the FC weights as
 * conv weights with the same bytes. ONNX Runtime runs the exports in test/onnx.ort.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../compiler/onnx/export.js';
import { importOnnx } from '../compiler/onnx/import.js';
import { floatTensor, onnx } from '../compiler/onnx/proto.js';
import { VggcError } from '../dsl/diagnostics.js';
import { graphOf, randomWeights, SMALL } from './onnx-helpers.js';

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
const nodesOf = (g: ReturnType<typeof graphOf>) => g.nodes.map(({ span: _s, ...n }) => n);

describe('vggc export', () => {
  const g = graphOf(SMALL);
  const w = randomWeights(g, 7);

  for (const opset of [7, 8, 9, 11, 12, 13, 17, 18]) {
    it(`opset ${opset}: export then import round-trips the model and its weights bit for bit`, () => {
      const bytes = exportOnnx(g, w, { opset });
      const back = importOnnx(bytes, { file: 'x.onnx', name: 'small' });
      expect(back.opset).toBe(opset);
      expect(nodesOf(back.graph)).toEqual(nodesOf(g));
      expect([...back.weights.keys()]).toEqual([...w.keys()]);
      for (const [k, v] of w) expect(same(back.weights.get(k)!, v), k).toBe(true);
    });
  }

  it('writes a standard model: batch axis dynamic, Gemm with transB, initializers named as vggc', () => {
    const m = onnx.ModelProto.decode(exportOnnx(g, w));
    expect(Number(m.opsetImport![0]!.version)).toBe(13);
    expect(Number(m.irVersion)).toBe(7);
    const dims = m.graph!.input![0]!.type!.tensorType!.shape!.dim!;
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch', 3, 16, 16]);
    expect(m.graph!.node!.map((n) => n.opType)).toEqual([
      'Conv',
      'Relu',
      'LRN',
      'MaxPool',
      'Conv',
      'Relu',
      'Conv',
      'Relu',
      'MaxPool',
      'Flatten',
      'Gemm',
      'Relu',
      'Dropout',
      'Gemm',
      'Relu',
      'Dropout',
      'Gemm',
      'Softmax',
    ]);
    const lrn = m.graph!.node!.find((n) => n.opType === 'LRN')!;
    // ONNX divides alpha by size: vggc's alpha 2e-4 with n = 3 is ONNX's 6e-4.
    expect(lrn.attribute!.find((a) => a.name === 'alpha')!.f).toBeCloseTo(6e-4, 9);
    const init = m.graph!.initializer!.find((t) => t.name === 'classifier.3.weight')!;
    expect(init.dims!.map(Number)).toEqual([12, 12]);
    expect(same(floatTensor(init, 'x').data, w.get('classifier.3.weight')!)).toBe(true);
  });

  it('--dense: FCs as convs with the same bytes, dynamic height and width', () => {
    const m = onnx.ModelProto.decode(exportOnnx(g, w, { dense: true }));
    const dims = m.graph!.input![0]!.type!.tensorType!.shape!.dim!;
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual([
      'batch',
      3,
      'height',
      'width',
    ]);
    const ops = m.graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain('Gemm');
    expect(ops).not.toContain('Flatten');
    const fc6 = m.graph!.node!.find((n) => n.name === 'classifier.0')!;
    expect(fc6.opType).toBe('Conv');
    expect(fc6.attribute!.find((a) => a.name === 'kernel_shape')!.ints!.map(Number)).toEqual([
      4, 4,
    ]);
    const init = m.graph!.initializer!.find((t) => t.name === 'classifier.0.weight')!;
    expect(init.dims!.map(Number)).toEqual([12, 8, 4, 4]);
    expect(same(floatTensor(init, 'x').data, w.get('classifier.0.weight')!)).toBe(true);
  });

  it('refuses opsets outside 7 to 18 and a dense soft-max before opset 13', () => {
    expect(() => exportOnnx(g, w, { opset: 6 })).toThrow('--opset must be 7 to 18, not 6');
    expect(() => exportOnnx(g, w, { opset: 19 })).toThrow(VggcError);
    expect(() => exportOnnx(g, w, { dense: true, opset: 12 })).toThrow(
      '--dense with a soft-max needs --opset 13',
    );
  });

  it('refuses a weight of the wrong size', () => {
    const bad = new Map(w);
    bad.set('features.0.weight', new Float32Array(3));
    expect(() => exportOnnx(g, bad)).toThrow("tensor 'features.0.weight' holds 3 values");
  });
});

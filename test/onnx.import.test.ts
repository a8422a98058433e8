/**
 * vggc import (compiler/onnx/import.ts): the fixtures made by torch.onnx and onnx's helper API
 * (scripts/make-onnx-fixtures.py) become the models written below by hand, with their weights
 * bit for bit; everything outside the subset is one error naming the node, its op and the
 * attribute; corrupt, truncated and empty files are clear errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../compiler/onnx/import.js';
import { floatTensor, onnx, type ModelProto } from '../compiler/onnx/proto.js';
import { VggcError } from '../dsl/diagnostics.js';
import { fixtureBytes, graphOf, mutated } from './onnx-helpers.js';

const ops = (text: string) =>
  graphOf(text).nodes.map((n) => ({ op: n.op, out: n.out, param: n.param }));
const importedOps = (bytes: Uint8Array) =>
  importOnnx(bytes, { file: 'm.onnx', name: 'm' }).graph.nodes.map((n) => ({
    op: n.op,
    out: n.out,
    param: n.param,
  }));

/** The models the fixtures hold, written by hand from the fixture script. */
const EXPECTED: Record<string, string> = {
  'tv-static': `model m { input 3x32x32
    conv3-8 x2, maxpool, conv3-16 x2, maxpool, conv3-16, maxpool
    FC-32, FC-32, FC-10 }`,
  'tv-dynamic': `model m { input 1x28x28
    conv3-8, maxpool, conv1-12, conv3-16, maxpool
    FC-24, dropout 0.5, FC-24, dropout 0.5, FC-10, soft-max }`,
  zoo: `model m { input 3x16x16
    conv3-8, LRN(n=5, alpha=1e-4, beta=0.75, k=2), maxpool, conv3-16, maxpool
    FC-32, dropout 0.5, FC-5, soft-max }`,
};
EXPECTED['tv-opset9'] = EXPECTED['tv-static']!;

const initializers = (bytes: Uint8Array) => {
  const m = onnx.ModelProto.decode(bytes);
  return new Map(
    m
      .graph!.initializer!.filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT)
      .map((t) => [t.name!, floatTensor(t, t.name!)]),
  );
};

describe('vggc import: fixtures', () => {
  for (const [name, text] of Object.entries(EXPECTED)) {
    it(`${name} is recognised by structure`, () => {
      expect(importedOps(fixtureBytes(name))).toEqual(ops(text));
    });
  }

  it('torch fixtures keep the bytes of their initializers', () => {
    // tv-dynamic keeps its Dropout nodes, so vggc numbers the classifier as torchvision does;
    // tv-static was exported without them, so its FCs are classifier.0, .2, .4 in vggc.
    const torchName: Record<string, Record<string, string>> = {
      'tv-dynamic': {},
      'tv-static': { 'classifier.2': 'classifier.3', 'classifier.4': 'classifier.6' },
    };
    for (const [name, rename] of Object.entries(torchName)) {
      const bytes = fixtureBytes(name);
      const { weights } = importOnnx(bytes, { file: 'm.onnx' });
      const inits = initializers(bytes);
      expect(weights.size).toBeGreaterThan(0);
      for (const [key, data] of weights) {
        const module = key.replace(/\.(weight|bias)$/, '');
        const t = inits.get(key.replace(module, rename[module] ?? module))!;
        expect(t, key).toBeDefined();
        expect(Buffer.from(data.buffer).equals(Buffer.from(t.data.buffer)), key).toBe(true);
      }
    }
  });

  it('zoo names are not used: weights follow the structure, Gemm/MatMul B transposed to [out, in]', () => {
    const bytes = fixtureBytes('zoo');
    const { weights } = importOnnx(bytes, { file: 'zoo.onnx' });
    const inits = initializers(bytes);
    expect([...weights.keys()]).toEqual([
      'features.0.weight',
      'features.0.bias',
      'features.4.weight',
      'features.4.bias',
      'classifier.0.weight',
      'classifier.0.bias',
      'classifier.3.weight',
      'classifier.3.bias',
    ]);
    expect(weights.get('features.4.weight')).toEqual(inits.get('vgg0_conv1_weight')!.data);
    for (const [ours, theirs, inF, out] of [
      ['classifier.0.weight', 'vgg0_dense0_weight', 256, 32],
      ['classifier.3.weight', 'vgg0_dense1_weight', 32, 5],
    ] as const) {
      const w = weights.get(ours)!;
      const b = inits.get(theirs)!.data;
      expect(w.length).toBe(inF * out);
      for (let o = 0; o < out; o += 3)
        for (let i = 0; i < inF; i += 7) expect(w[o * inF + i]).toBe(b[i * out + o]);
    }
    expect(weights.get('classifier.3.bias')).toEqual(inits.get('vgg0_dense1_bias')!.data);
  });

  it('follows Identity nodes to shared initializers (torch.onnx shares equal zero biases)', () => {
    const bytes = mutated((m) => {
      const g = m.graph!;
      g.initializer = g.initializer!.filter((t) => t.name !== 'features.4.bias');
      const src = g.initializer.find((t) => t.name === 'features.6.bias')!;
      g.node!.unshift({
        name: 'Identity_0',
        opType: 'Identity',
        input: [src.name!],
        output: ['features.4.bias'],
      });
    });
    const { weights } = importOnnx(bytes, { file: 'x.onnx' });
    expect(weights.get('features.4.bias')).toEqual(weights.get('features.6.bias'));
  });

  it('the .vgg text holds the model in the paper notation', () => {
    const { text } = importOnnx(fixtureBytes('zoo'), { file: 'zoo.onnx', name: 'zoo' });
    expect(text).toContain('model zoo {');
    expect(text).toContain('conv3-8, LRN(n=5, alpha=0.0001, beta=0.75, k=2), maxpool');
    expect(text).toContain('FC-32, dropout 0.5');
  });
});

type Edit = (m: ModelProto) => void;
const node = (m: ModelProto, op: string, nth = 0) =>
  m.graph!.node!.filter((n) => n.opType === op)[nth]!;
const setInts = (m: ModelProto, op: string, name: string, ints: number[], nth = 0) => {
  const n = node(m, op, nth);
  const a = n.attribute!.find((x) => x.name === name);
  if (a) a.ints = ints;
  else n.attribute!.push({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
};
const setInt = (m: ModelProto, op: string, name: string, i: number, nth = 0) => {
  const n = node(m, op, nth);
  n.attribute = n.attribute!.filter((x) => x.name !== name);
  n.attribute.push({ name, type: onnx.AttributeProto.AttributeType.INT, i });
};
const setFloat = (m: ModelProto, op: string, name: string, f: number) => {
  const n = node(m, op);
  n.attribute = n.attribute!.filter((x) => x.name !== name);
  n.attribute.push({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
};

const refuse = (edit: Edit, ...parts: (string | RegExp)[]) => {
  let err: unknown;
  try {
    importOnnx(mutated(edit), { file: 'bad.onnx' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VggcError);
  const msg = (err as VggcError).message;
  expect(msg).toMatch(/^bad\.onnx: /);
  for (const p of parts) expect(msg).toMatch(p);
  expect(msg).not.toContain('\n');
};

describe('vggc import: every refusal names the node, its op and what does not fit', () => {
  it('a conv with stride 2', () =>
    refuse(
      (m) => setInts(m, 'Conv', 'strides', [2, 2]),
      "node 'features.0' (Conv)",
      'strides [2, 2]',
    ));
  it('a dilated conv', () =>
    refuse(
      (m) => setInts(m, 'Conv', 'dilations', [2, 2], 1),
      "node 'features.4' (Conv)",
      'dilations [2, 2]',
    ));
  it('a grouped conv', () => refuse((m) => setInt(m, 'Conv', 'group', 2), '(Conv)', 'group 2'));
  it('a 3x3 conv without padding', () =>
    refuse((m) => setInts(m, 'Conv', 'pads', [0, 0, 0, 0]), '(Conv)', 'pads [0, 0, 0, 0]'));
  it('a 1x1 conv with padding', () =>
    refuse(
      (m) => setInts(m, 'Conv', 'pads', [1, 1, 1, 1], 2),
      "node 'features.6' (Conv)",
      'pads [1, 1, 1, 1]',
    ));
  it('a 5x5 conv', () =>
    refuse((m) => setInts(m, 'Conv', 'kernel_shape', [5, 5]), '(Conv)', 'kernel_shape [5, 5]'));
  it('a 3x3 max pool', () =>
    refuse(
      (m) => setInts(m, 'MaxPool', 'kernel_shape', [3, 3]),
      '(MaxPool)',
      'kernel_shape [3, 3]',
    ));
  it('a max pool with stride 1', () =>
    refuse((m) => setInts(m, 'MaxPool', 'strides', [1, 1]), '(MaxPool)', 'strides [1, 1]'));
  it('a padded max pool', () =>
    refuse((m) => setInts(m, 'MaxPool', 'pads', [1, 1, 1, 1]), '(MaxPool)', 'pads [1, 1, 1, 1]'));
  it('a ceil-mode max pool', () =>
    refuse((m) => setInt(m, 'MaxPool', 'ceil_mode', 1), '(MaxPool)', 'ceil_mode'));
  it('Gemm with transA', () =>
    refuse((m) => setInt(m, 'Gemm', 'transA', 1), "node 'classifier.0' (Gemm)", 'transA 1'));
  it('Gemm with alpha 2', () =>
    refuse((m) => setFloat(m, 'Gemm', 'alpha', 2), '(Gemm)', 'alpha 2'));
  it('a flatten at axis 2', () =>
    refuse((m) => setInt(m, 'Flatten', 'axis', 2), '(Flatten)', 'axis 2'));
  it('a soft-max over axis 0', () =>
    refuse((m) => setInt(m, 'Softmax', 'axis', 0), '(Softmax)', 'axis 0'));
  it('an unknown attribute', () =>
    refuse((m) => setInt(m, 'Relu', 'fancy', 1), '(Relu)', "attribute 'fancy'"));
  it('an unsupported op', () =>
    refuse(
      (m) => {
        node(m, 'Relu').opType = 'Sigmoid';
      },
      "node 'features.0' (Conv)",
      'ReLU',
      '(Sigmoid)',
    ));
  it('an unsupported op in the chain', () =>
    refuse(
      (m) => {
        node(m, 'MaxPool').opType = 'BatchNormalization';
      },
      '(BatchNormalization)',
      'not an op vggc can import',
    ));
  it('a ReLU after the last FC', () =>
    refuse(
      (m) => {
        const sm = node(m, 'Softmax');
        sm.opType = 'Relu';
        sm.attribute = [];
      },
      "node 'classifier.6' (Gemm)",
      'last FC',
    ));
  it('two FCs without a ReLU between them', () =>
    refuse(
      (m) => {
        node(m, 'Relu', 3).opType = 'Identity';
      },
      "node 'classifier.0' (Gemm)",
      'without a ReLU',
    ));
  it('a conv after the flatten', () =>
    refuse(
      (m) => {
        const g = m.graph!;
        const flat = node(m, 'Flatten');
        const i = g.node!.indexOf(flat);
        const mp = node(m, 'MaxPool', 1);
        // maxpool -> flatten -> maxpool -> Gemm
        g.node!.splice(i + 1, 0, {
          name: 'late',
          opType: 'MaxPool',
          input: [flat.output![0]!],
          output: ['late'],
          attribute: mp.attribute!,
        });
        node(m, 'Gemm').input![0] = 'late';
      },
      "node 'late' (MaxPool)",
      'after the flatten',
    ));
  it('a tensor that feeds two nodes', () =>
    refuse(
      (m) => {
        m.graph!.node!.push({
          name: 'side',
          opType: 'Relu',
          input: [node(m, 'Relu').output![0]!],
          output: ['side'],
        });
      },
      'feeds 2 nodes',
      "'side' (Relu)",
    ));
  it('opset 6 and opset 19', () => {
    refuse(
      (m) => {
        m.opsetImport![0]!.version = 6;
      },
      'opset 6',
      '7 to 18',
    );
    refuse((m) => {
      m.opsetImport![0]!.version = 19;
    }, 'opset 19');
  });
  it('two image inputs', () =>
    refuse(
      (m) => {
        m.graph!.input!.push({ ...m.graph!.input![0]!, name: 'second' });
      },
      '2 inputs',
      "'second'",
    ));
  it('a dynamic height without --input, accepted with it', () => {
    const edit: Edit = (m) => {
      m.graph!.input![0]!.type!.tensorType!.shape!.dim![2] = { dimParam: 'height' };
    };
    refuse(edit, 'dynamic', '--input CxHxW');
    const g = importOnnx(mutated(edit), { file: 'x.onnx', input: [3, 16, 16] }).graph;
    expect(g.nodes[0]!.out).toEqual([3, 16, 16]);
  });
  it('a weight that does not match its input', () =>
    refuse(
      (m) => {
        const w = m.graph!.initializer!.find((t) => t.name === 'features.4.weight')!;
        w.dims = [8, 8, 3, 3];
        w.rawData = new Uint8Array(8 * 8 * 9 * 4);
      },
      "node 'features.4' (Conv)",
      '8 input channels',
      'has 4',
    ));
  it('a weight with fewer bytes than its shape', () =>
    refuse(
      (m) => {
        const w = m.graph!.initializer!.find((t) => t.name === 'classifier.0.weight')!;
        w.rawData = w.rawData!.subarray(0, 40);
      },
      "'classifier.0.weight'",
      '40 bytes',
    ));
  it('a weight kept in an external file', () =>
    refuse((m) => {
      const w = m.graph!.initializer!.find((t) => t.name === 'features.0.weight')!;
      w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    }, 'external file'));
  it('an output that is not the end of the chain', () =>
    refuse((m) => {
      m.graph!.output![0]!.name = 't3';
    }, "outputs ('t3')"));
});

describe('vggc import: corrupt, truncated and empty files', () => {
  const good = fixtureBytes('zoo');
  const onlyVggcErrors = (bytes: Uint8Array) => {
    try {
      importOnnx(bytes, { file: 'x.onnx' });
    } catch (e) {
      if (!(e instanceof VggcError)) throw e;
      expect(e.message).toMatch(/^x\.onnx: /);
    }
  };
  it('an empty file', () => {
    expect(() => importOnnx(new Uint8Array(), { file: 'e.onnx' })).toThrow(
      'e.onnx: the file is empty, not an ONNX model',
    );
  });
  it('a text file', () => {
    expect(() =>
      importOnnx(new TextEncoder().encode('model a { input 1x2x2 }\n'), { file: 'x.onnx' }),
    ).toThrow(/^x\.onnx: not (a readable )?(an )?ONNX model/);
  });
  it('every truncation is a VggcError, and cut ones are refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), (cut) => {
        expect(() => importOnnx(good.subarray(0, cut), { file: 'x.onnx' })).toThrow(VggcError);
      }),
      { numRuns: 200 },
    );
  });
  it('random bytes never crash the importer', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), onlyVggcErrors), { numRuns: 500 });
  });
  it('random byte flips in a real model never crash the importer', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 })),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        (flips) => {
          const b = good.slice();
          for (const [at, v] of flips) b[at] = v;
          onlyVggcErrors(b);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/**
 * compiler/passes/fc-to-conv.ts: the FC layers as convolutions (dense evaluation), re-typing for
 * other input sizes, the smallest input, and the FC model's weights loading unchanged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import type { Graph } from '../compiler/ir.js';
import { paramNames } from '../compiler/params.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { denseGraph, fcToConv, minDenseInput } from '../compiler/passes/fc-to-conv.js';
import { inferShapes } from '../compiler/shapes.js';
import { loadWeights, parameterLayout, saveWeights } from '../runtime/weights.js';
import { diagnosticsOf, where } from './helpers.js';
import { randomArray } from './reference/random.js';

const root = new URL('..', import.meta.url).pathname;
const vgg16 = checkSource({
  name: 'vgg16.vgg',
  text: readFileSync(join(root, 'examples/vgg16.vgg'), 'utf8'),
});
const model = (text: string) => checkSource({ name: 't.vgg', text });
const small = model(`model s { input 3x16x16
  conv3-8, maxpool
  conv3-12, maxpool
  FC-20, dropout 0.5
  FC-10
  soft-max }`);
const last = (g: { nodes: readonly { out: readonly number[] }[] }) => g.nodes.at(-1)!.out;

describe('fc-to-conv', () => {
  it("turns VGG-16's FCs into conv7-4096, conv1-4096, conv1-1000 with pad 0, names kept", () => {
    const g = fcToConv(vgg16);
    const heads = g.nodes.filter((n) => n.param?.startsWith('classifier.'));
    expect(heads.map((n) => [n.param, n.op])).toEqual([
      ['classifier.0', { op: 'conv', kernel: 7, pad: 0, cout: 4096, epilogue: [] }],
      ['classifier.3', { op: 'conv', kernel: 1, pad: 0, cout: 4096, epilogue: [] }],
      ['classifier.6', { op: 'conv', kernel: 1, pad: 0, cout: 1000, epilogue: [] }],
    ]);
    expect(heads.map((n) => n.out)).toEqual([
      [4096, 1, 1],
      [4096, 1, 1],
      [1000, 1, 1],
    ]);
    expect(g.nodes.filter((n) => n.op.op === 'fc')).toEqual([]);
    // Everything else is untouched.
    expect(g.nodes.length).toBe(vgg16.nodes.length);
    expect(g.nodes.filter((n) => !n.param?.startsWith('classifier.'))).toEqual(
      vgg16.nodes.filter((n) => !n.param?.startsWith('classifier.')),
    );
  });

  it('keeps a fused ReLU in the epilogue', () => {
    const g = fcToConv(fuseRelu(small));
    const epilogues = g.nodes
      .filter((n) => n.param?.startsWith('classifier.'))
      .map((n) => (n.op.op === 'conv' ? n.op.epilogue : null));
    expect(epilogues).toEqual([[{ kind: 'relu' }], []]);
  });

  it('gives the conv weight shape with the same bytes, and the FC shape of the file', () => {
    const before = paramNames(vgg16);
    const after = paramNames(fcToConv(vgg16));
    const fc6 = [...after.values()].find((p) => p.weight.name === 'classifier.0.weight')!;
    expect(fc6.weight.shape).toEqual([4096, 512, 7, 7]);
    expect(fc6.weight.fileShape).toEqual([4096, 25088]);
    const fc8 = [...after.values()].find((p) => p.weight.name === 'classifier.6.weight')!;
    expect(fc8.weight.shape).toEqual([1000, 4096, 1, 1]);
    const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    for (const [id, p] of before) {
      expect(after.get(id)!.weight.name).toBe(p.weight.name);
      expect(count(after.get(id)!.weight.shape)).toBe(count(p.weight.shape));
      expect(after.get(id)!.bias).toEqual(p.bias);
    }
  });

  it("reports the FC model's parameter layout for the rewritten graph at any size", () => {
    const layout = parameterLayout(vgg16);
    expect(parameterLayout(fcToConv(vgg16))).toEqual(layout);
    expect(parameterLayout(denseGraph(vgg16, [3, 384, 448]))).toEqual(layout);
  });

  it('makes a kh x kw conv of an FC reading a non-square map, the smallest input its own', () => {
    const g = model(`model r {\n input 3x16x12\n conv3-4, maxpool, maxpool\n FC-5\n}`);
    const conv = fcToConv(g).nodes.find((n) => n.param === 'classifier.0')!;
    expect(conv.op).toEqual({ op: 'conv', kernel: 4, kernelW: 3, pad: 0, cout: 5, epilogue: [] });
    expect(conv.out).toEqual([5, 1, 1]);
    expect(minDenseInput(fcToConv(g))).toEqual([16, 12]);
    const big = denseGraph(g, [3, 20, 21]);
    expect(big.nodes.at(-1)!.out).toEqual([5, 5 - 4 + 1, 5 - 3 + 1]);
    const weight = [...paramNames(fcToConv(g)).values()][1]!.weight;
    expect([weight.shape, weight.fileShape]).toEqual([
      [5, 4, 4, 3],
      [5, 48],
    ]);
    expect(parameterLayout(big)).toEqual(parameterLayout(g));
    expect(where(diagnosticsOf(() => denseGraph(g, [3, 16, 11])))[0]).toMatch(
      /smallest image is 3x16x12/,
    );
  });

  it('leaves the DSL restricted to conv1 and conv3', () => {
    const diags = diagnosticsOf(() => model(`model k { input 3x16x16\n conv7-4 }`));
    expect(diags[0]!.message).toMatch(/conv kernel must be 1 or 3/);
  });
});

describe('denseGraph', () => {
  it("gives VGG-16's score map sizes at the paper's test scales", () => {
    expect(last(denseGraph(vgg16, [3, 224, 224]))).toEqual([1000, 1, 1]);
    expect(last(denseGraph(vgg16, [3, 256, 256]))).toEqual([1000, 2, 2]);
    expect(last(denseGraph(vgg16, [3, 384, 384]))).toEqual([1000, 6, 6]);
    expect(last(denseGraph(vgg16, [3, 512, 512]))).toEqual([1000, 10, 10]);
    expect(last(denseGraph(vgg16, [3, 256, 341]))).toEqual([1000, 2, 4]);
    // floor in the pools: 255 gives 7 after five pools, like 224
    expect(last(denseGraph(vgg16, [3, 255, 255]))).toEqual([1000, 1, 1]);
  });

  it('ends at the score map: the trailing soft-max goes, dropout stays for the passes', () => {
    const ops = denseGraph(small, [3, 24, 20]).nodes.map((n) => n.op.op);
    expect(ops.at(-1)).toBe('conv');
    expect(ops).toContain('dropout');
    expect(last(denseGraph(small, [3, 24, 20]))).toEqual([10, 3, 2]);
  });

  it('names the smallest input: 224 for VGG-16', () => {
    expect(minDenseInput(fcToConv(vgg16))).toEqual([224, 224]);
    expect(minDenseInput(fcToConv(small))).toEqual([16, 16]);
    const msg = diagnosticsOf(() => denseGraph(vgg16, [3, 223, 300]))[0]!.message;
    expect(msg).toBe(
      'input 3x223x300 is too small for dense evaluation of vgg16: the smallest image is ' +
        '3x224x224 (height >= 224, width >= 224), which gives a 1x1 class score map',
    );
    expect(() => denseGraph(small, [3, 16, 15])).toThrow(/smallest image is 3x16x16/);
  });

  it('refuses a wrong channel count', () => {
    expect(() => denseGraph(vgg16, [1, 224, 224])).toThrow(
      /vgg16 takes 3-channel images, not 1 channels/,
    );
  });

  it('takes an already rewritten graph too', () => {
    expect(denseGraph(fcToConv(small), [3, 24, 20])).toEqual(denseGraph(small, [3, 24, 20]));
  });
});

describe('shape inference of a conv that shrinks', () => {
  it('reports a conv whose input is smaller than its kernel', () => {
    const g = fcToConv(small);
    const untyped: Graph = {
      ...g,
      nodes: g.nodes.map(({ out: _o, ...n }) =>
        n.op.op === 'input' ? { ...n, op: { op: 'input' as const, shape: [3, 12, 12] } } : n,
      ),
    };
    const r = inferShapes(untyped);
    expect(r.graph).toBeUndefined();
    expect(r.diagnostics.map((d) => d.message)).toEqual([
      "'conv4-20' (kernel 4x4, padding 0) needs at least 4x4 input, but gets 12x3x3: use a larger input",
    ]);
  });
});

describe("the FC model's weight file", () => {
  const dir = mkdtemp(join(tmpdir(), 'vggc-fc2conv-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));

  it('loads unchanged for the rewritten graph, at any input size', async () => {
    const path = join(await dir, 'w.safetensors');
    const tensors = new Map<string, Float32Array>();
    parameterLayout(small).forEach((p, i) => {
      tensors.set(
        p.name,
        randomArray(
          p.shape.reduce((a, b) => a * b, 1),
          50 + i,
        ),
      );
    });
    // As torchvision saves it: classifier.0.weight is [20, 192].
    await saveWeights(path, small, tensors);
    const asFc = await loadWeights(path, small);
    expect(parameterLayout(small).find((p) => p.name === 'classifier.0.weight')!.shape).toEqual([
      20, 192,
    ]);
    for (const g of [fcToConv(small), denseGraph(small, [3, 40, 36])]) {
      const asConv = await loadWeights(path, g);
      expect([...asConv.keys()]).toEqual([...asFc.keys()]);
      for (const [name, data] of asFc) expect(asConv.get(name)).toEqual(data);
    }
  });
});

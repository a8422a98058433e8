import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import type { Graph } from '../compiler/ir.js';
import { fusePool } from '../compiler/passes/fuse-pool.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { VggcError } from '../dsl/diagnostics.js';
import { readSafetensors, writeSafetensors } from '../runtime/safetensors.js';
import { loadWeights, parameterCount, parameterLayout, saveWeights } from '../runtime/weights.js';

// ---------------------------------------------------------------------------------------------
// A VGG written in the DSL: lowering fixes the parameter names (compiler/lower.ts), which the
// layout (compiler/params.ts) and so the weight files read

/** A conv3 (or conv1 with `[cout, 1]`), 'M' maxpool, 'LRN'. */
type Layer = number | [cout: number, kernel: number] | 'M' | 'LRN';

interface Opts {
  size?: number;
  channels?: number;
  fcs?: number[];
  classes?: number;
  /** Fold ReLU and maxpool into the producing conv/fc's epilogue (the fusion passes). */
  fused?: boolean;
  /** Leave out the dropout after the hidden FCs. */
  noDropout?: boolean;
}

function buildVgg(name: string, layers: Layer[], opts: Opts = {}): TypedGraph {
  const { size = 224, channels = 3, fcs = [4096, 4096], classes = 1000, fused = false } = opts;
  const body = layers.map((l) =>
    l === 'M'
      ? 'maxpool'
      : l === 'LRN'
        ? 'LRN'
        : typeof l === 'number'
          ? `conv3-${l}`
          : `conv${l[1]}-${l[0]}`,
  );
  for (const units of fcs) body.push(opts.noDropout ? `FC-${units}` : `FC-${units}, dropout 0.5`);
  body.push(`FC-${classes}`, 'soft-max');
  const text = `model ${name} {\n input ${channels}x${size}x${size}\n ${body.join('\n ')}\n}`;
  const g = checkSource({ name: `${name}.vgg`, text });
  return fused ? fusePool(fuseRelu(g)) : g;
}

const A: Layer[] = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'];
const A_LRN: Layer[] = [64, 'LRN', 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'];
const B: Layer[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'];
// prettier-ignore
const C: Layer[] = [
  64, 64, 'M', 128, 128, 'M', 256, 256, [256, 1], 'M',
  512, 512, [512, 1], 'M', 512, 512, [512, 1], 'M',
];
// prettier-ignore
const D: Layer[] = [
  64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M',
];
// prettier-ignore
const E: Layer[] = [
  64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M',
  512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M',
];

const names = (g: Graph) => parameterLayout(g).map((p) => p.name);
const convIndices = (g: Graph) =>
  parameterLayout(g)
    .filter((p) => p.kind === 'weight' && p.name.startsWith('features.'))
    .map((p) => Number(p.name.split('.')[1]));
const fcIndices = (g: Graph) =>
  parameterLayout(g)
    .filter((p) => p.kind === 'weight' && p.name.startsWith('classifier.'))
    .map((p) => Number(p.name.split('.')[1]));

describe('parameterLayout', () => {
  it('names VGG-16 (D) as torchvision does', () => {
    const g = buildVgg('vgg16', D);
    expect(convIndices(g)).toEqual([0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]);
    expect(fcIndices(g)).toEqual([0, 3, 6]);
    const layout = parameterLayout(g);
    expect(layout.length).toBe(32);
    expect(layout.slice(0, 4)).toEqual([
      { nodeId: 1, name: 'features.0.weight', shape: [64, 3, 3, 3], kind: 'weight' },
      { nodeId: 1, name: 'features.0.bias', shape: [64], kind: 'bias' },
      { nodeId: 3, name: 'features.2.weight', shape: [64, 64, 3, 3], kind: 'weight' },
      { nodeId: 3, name: 'features.2.bias', shape: [64], kind: 'bias' },
    ]);
    const byName = new Map(layout.map((p) => [p.name, p.shape]));
    expect(byName.get('features.28.weight')).toEqual([512, 512, 3, 3]);
    expect(byName.get('classifier.0.weight')).toEqual([4096, 25088]);
    expect(byName.get('classifier.0.bias')).toEqual([4096]);
    expect(byName.get('classifier.3.weight')).toEqual([4096, 4096]);
    expect(byName.get('classifier.6.weight')).toEqual([1000, 4096]);
    expect(byName.get('classifier.6.bias')).toEqual([1000]);
    expect(parameterCount(layout)).toBe(138_357_544);
    for (const p of layout) {
      const node = g.nodes.find((n) => n.id === p.nodeId)!;
      expect(['conv', 'fc']).toContain(node.op.op);
    }
  });

  it("matches the paper's parameter counts for A, A-LRN, B, C, E", () => {
    expect(parameterCount(parameterLayout(buildVgg('A', A)))).toBe(132_863_336);
    expect(parameterCount(parameterLayout(buildVgg('A-LRN', A_LRN)))).toBe(132_863_336);
    expect(parameterCount(parameterLayout(buildVgg('B', B)))).toBe(133_047_848);
    expect(parameterCount(parameterLayout(buildVgg('C', C)))).toBe(133_638_952);
    expect(parameterCount(parameterLayout(buildVgg('E', E)))).toBe(143_667_240);
  });

  it('names VGG-11, VGG-13 and VGG-19 as torchvision does', () => {
    expect(convIndices(buildVgg('A', A))).toEqual([0, 3, 6, 8, 11, 13, 16, 18]);
    expect(convIndices(buildVgg('B', B))).toEqual([0, 2, 5, 7, 10, 12, 15, 17, 20, 22]);
    expect(convIndices(buildVgg('E', E))).toEqual([
      0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34,
    ]);
    expect(fcIndices(buildVgg('E', E))).toEqual([0, 3, 6]);
  });

  it('counts LRN as a module, and gives 1x1 convs their shape', () => {
    // conv(0) relu(1) lrn(2) maxpool(3) conv(4)
    expect(convIndices(buildVgg('A-LRN', A_LRN))).toEqual([0, 4, 7, 9, 12, 14, 17, 19]);
    const c = new Map(parameterLayout(buildVgg('C', C)).map((p) => [p.name, p.shape]));
    expect(c.get('features.14.weight')).toEqual([256, 256, 1, 1]);
  });

  it('gives a fused graph the same names and shapes as the unfused one', () => {
    for (const cfg of [A, A_LRN, D, E]) {
      const plain = buildVgg('plain', cfg);
      const fused = buildVgg('fused', cfg, { fused: true });
      expect(fused.nodes.length).toBeLessThan(plain.nodes.length);
      expect(
        parameterLayout(fused).map(({ name, shape, kind }) => ({ name, shape, kind })),
      ).toEqual(parameterLayout(plain).map(({ name, shape, kind }) => ({ name, shape, kind })));
    }
  });

  it('without dropout the classifier indices close up; softmax takes no index', () => {
    expect(fcIndices(buildVgg('nd', D, { noDropout: true }))).toEqual([0, 2, 4]);
    const g = buildVgg('small', [8, 'M'], { size: 8, channels: 1, fcs: [], classes: 10 });
    expect(names(g)).toEqual([
      'features.0.weight',
      'features.0.bias',
      'classifier.0.weight',
      'classifier.0.bias',
    ]);
    expect(parameterLayout(g)[2]!.shape).toEqual([10, 8 * 4 * 4]);
  });

  it('an untyped graph is an internal error', () => {
    const g = buildVgg('t', [8], { size: 4, fcs: [], classes: 2 });
    const untyped: Graph = { ...g, nodes: g.nodes.map(({ out: _out, ...n }) => n) };
    expect(() => parameterLayout(untyped)).toThrow(/^internal: .*no shape/);
    expect(() => parameterLayout(untyped)).not.toThrow(VggcError);
  });
});

// ---------------------------------------------------------------------------------------------

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vggc-weights-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A small VGG on 16x16 inputs: features.0, 2, 5; classifier.0, 3. */
const small = (channels = 3) =>
  buildVgg('tiny', [4, 4, 'M', 8, 'M'], { size: 16, channels, fcs: [32], classes: 10 });

function randomTensors(g: Graph, salt = 0): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let k = salt;
  for (const p of parameterLayout(g)) {
    const n = p.shape.reduce((a, d) => a * d, 1);
    out.set(
      p.name,
      new Float32Array(n).map(() => Math.sin(++k * 12.9898) * 0.5),
    );
  }
  return out;
}

async function failure(p: Promise<unknown>): Promise<VggcError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(VggcError);
    for (const d of (e as VggcError).diagnostics) expect(d.message).not.toContain('\n');
    return e as VggcError;
  }
  throw new Error('expected a VggcError');
}

/** A safetensors file with F32 zeros for the given tensors, or any dtype's bytes. */
function stFile(entries: [string, string, number[]][]): Uint8Array {
  const size: Record<string, number> = { F32: 4, F16: 2, I32: 4 };
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, dtype, shape] of entries) {
    const n = shape.reduce((a, d) => a * d, 1) * size[dtype]!;
    header[name] = { dtype, shape, data_offsets: [at, at + n] };
    at += n;
  }
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + at);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  // F16 ones (0x3C00) so a conversion is visible; F32 and I32 stay zero.
  let off = 8 + json.length;
  for (const [, dtype, shape] of entries) {
    const n = shape.reduce((a, d) => a * d, 1);
    if (dtype === 'F16') for (let i = 0; i < n; i++) out.writeUInt16LE(0x3c00, off + 2 * i);
    off += n * size[dtype]!;
  }
  return out;
}

const layoutEntries = (g: Graph, dtype = 'F32'): [string, string, number[]][] =>
  parameterLayout(g).map((p) => [p.name, dtype, p.shape]);

describe('saveWeights and loadWeights', () => {
  it('round-trip every parameter, in layout order, with metadata', async () => {
    const g = small();
    const tensors = randomTensors(g);
    const path = join(dir, 'tiny.safetensors');
    await saveWeights(path, g, tensors, { epoch: '3' });
    const back = await loadWeights(path, g);
    expect([...back.keys()]).toEqual(names(g));
    expect(names(g)).toEqual([
      'features.0.weight',
      'features.0.bias',
      'features.2.weight',
      'features.2.bias',
      'features.5.weight',
      'features.5.bias',
      'classifier.0.weight',
      'classifier.0.bias',
      'classifier.3.weight',
      'classifier.3.bias',
    ]);
    for (const [name, data] of tensors) expect(back.get(name), name).toEqual(data);
    const raw = await readSafetensors(path);
    expect(raw.metadata).toEqual({ format: 'pt', model: 'tiny', epoch: '3' });
    expect(raw.tensors.get('classifier.0.weight')!.shape).toEqual([32, 8 * 4 * 4]);
  });

  it('loads F16 weights converted to float32 and ignores extra tensors', async () => {
    const g = small();
    const path = join(dir, 'f16.safetensors');
    await writeFile(
      path,
      stFile([...layoutEntries(g, 'F16'), ['num_batches_tracked', 'I32', [1]]]),
    );
    const w = await loadWeights(path, g);
    expect(w.size).toBe(10);
    expect(w.get('features.0.weight')).toEqual(new Float32Array(4 * 3 * 3 * 3).fill(1));
  });

  it('a wrong shape names the tensor and the file', async () => {
    const rgb = small(3);
    const gray = small(1);
    const path = join(dir, 'w.safetensors');
    await saveWeights(path, rgb, randomTensors(rgb));
    const e = await failure(loadWeights(path, gray));
    expect(e.message).toBe(
      `${path}: tensor 'features.0.weight' has shape [4,3,3,3], the model needs [4,1,3,3]`,
    );
  });

  it('a missing tensor, a wrong dtype; all problems at once, with a note on unused tensors', async () => {
    const g = small();
    const entries = layoutEntries(g).filter(([n]) => n !== 'features.2.bias');
    entries[0] = [entries[0]![0], 'I32', entries[0]![2]];
    entries.push(['features.3.bias', 'F32', [4]]);
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, stFile(entries));
    const e = await failure(loadWeights(path, g));
    expect(e.diagnostics.map((d) => [d.severity, d.message])).toEqual([
      [
        'error',
        `${path}: tensor 'features.0.weight' has dtype I32; weights must be F32, F16, BF16, F64`,
      ],
      ['error', `${path}: no tensor 'features.2.bias'; the model needs [4]`],
      ['note', `${path}: it holds 1 tensor(s) the model does not use: 'features.3.bias'`],
    ]);
  });

  it('a file that is not safetensors names the file', async () => {
    const path = join(dir, 'junk.safetensors');
    await writeFile(path, 'this is not a weight file at all');
    const e = await failure(loadWeights(path, small()));
    expect(e.message).toMatch(
      /junk\.safetensors: not a safetensors file: header length \d+ exceeds/,
    );
  });

  it('saveWeights refuses incomplete or foreign tensors and writes nothing', async () => {
    const g = small();
    const path = join(dir, 'refused.safetensors');
    const missing = randomTensors(g);
    missing.delete('classifier.3.bias');
    expect((await failure(saveWeights(path, g, missing))).message).toBe(
      `${path}: cannot save: no tensor 'classifier.3.bias' was given`,
    );
    const short = randomTensors(g);
    short.set('features.2.weight', new Float32Array(3));
    expect((await failure(saveWeights(path, g, short))).message).toBe(
      `${path}: cannot save: tensor 'features.2.weight' holds 3 values, its shape [4,4,3,3] needs 144`,
    );
    const extra = randomTensors(g);
    extra.set('features.1.weight', new Float32Array(1));
    expect((await failure(saveWeights(path, g, extra))).message).toBe(
      `${path}: cannot save: tensor 'features.1.weight' is not a parameter of tiny`,
    );
    expect(
      (await readdir(dir)).filter((f) => f.startsWith('refused') || f.endsWith('.tmp')),
    ).toEqual([]);
  });

  it('a file written by writeSafetensors in any order loads', async () => {
    const g = small();
    const tensors = randomTensors(g, 7);
    const layout = parameterLayout(g);
    const path = join(dir, 'reversed.safetensors');
    await writeSafetensors(
      path,
      [...layout]
        .reverse()
        .map((p) => [p.name, { shape: p.shape, data: tensors.get(p.name)! }] as const),
    );
    const back = await loadWeights(path, g);
    for (const [name, data] of tensors) expect(back.get(name)).toEqual(data);
  });
});

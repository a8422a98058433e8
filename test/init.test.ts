import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import type { Shape } from '../compiler/ir.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { VggcError } from '../dsl/diagnostics.js';
import {
  Xoshiro128,
  fans,
  fillNormal,
  initStd,
  initWeights,
  type InitScheme,
} from '../runtime/init.js';
import { parameterCount, parameterLayout } from '../runtime/weights.js';

/** A model in the DSL: convs (3x3, each followed by ReLU), 'M' maxpools, then FCs (ReLU between). */
function graph(name: string, input: Shape, layers: (number | 'M')[], fcs: number[]): TypedGraph {
  const body = [
    ...layers.map((l) => (l === 'M' ? 'maxpool' : `conv3-${l}`)),
    ...fcs.map((u) => `FC-${u}`),
    'soft-max',
  ];
  const text = `model ${name} {\n input ${input.join('x')}\n ${body.join('\n ')}\n}`;
  return checkSource({ name: `${name}.vgg`, text });
}

function stats(x: Float32Array): { mean: number; std: number; within1: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  const mean = s / x.length;
  let v = 0;
  let within = 0;
  for (let i = 0; i < x.length; i++) v += (x[i]! - mean) ** 2;
  const std = Math.sqrt(v / x.length);
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]! - mean) < std) within++;
  return { mean, std, within1: within / x.length };
}

const small = graph('small', [3, 8, 8], [16, 'M', 32], [64, 10]);
const wide = graph('wide', [2048, 1, 1], [], [2048]); // one FC of 4M weights

describe('initWeights', () => {
  it('gives every parameter of the layout, biases zero, weights non-zero', () => {
    const w = initWeights(small, { scheme: 'glorot', seed: 1 });
    const layout = parameterLayout(small);
    expect([...w.keys()]).toEqual(layout.map((p) => p.name));
    for (const p of layout) {
      const data = w.get(p.name)!;
      expect(data.length).toBe(p.shape.reduce((a, d) => a * d, 1));
      if (p.kind === 'bias') expect(data.every((v) => v === 0)).toBe(true);
      else expect(data.every((v) => v !== 0 && Number.isFinite(v))).toBe(true);
    }
  });

  it('is deterministic by seed; different seeds and different tensors differ', () => {
    const a = initWeights(small, { scheme: 'kaiming', seed: 42 });
    const b = initWeights(small, { scheme: 'kaiming', seed: 42 });
    const c = initWeights(small, { scheme: 'kaiming', seed: 43 });
    const d = initWeights(small, { scheme: 'kaiming', seed: 42 + 2 ** 32 });
    for (const [name, data] of a) {
      expect(b.get(name)).toEqual(data);
      if (name.endsWith('weight')) {
        expect(c.get(name)).not.toEqual(data);
        expect(d.get(name)).not.toEqual(data);
      }
    }
    // Two layers with the same shape do not get the same values.
    const twin = graph('twin', [4, 4, 4], [4, 4], [2]);
    const t = initWeights(twin, { scheme: 'paper', seed: 0 });
    expect(t.get('features.0.weight')).not.toEqual(t.get('features.2.weight'));
  });

  it("a tensor's values depend only on seed, name and shape", () => {
    const g1 = graph('g1', [3, 8, 8], [16], [10]);
    const g2 = graph('g2', [3, 8, 8], [16, 'M', 32], [64, 10]);
    const a = initWeights(g1, { scheme: 'paper', seed: 5 });
    const b = initWeights(g2, { scheme: 'paper', seed: 5 });
    expect(a.get('features.0.weight')).toEqual(b.get('features.0.weight'));
  });

  it('pins the stream: the first values for a fixed seed do not change between versions', () => {
    const w = initWeights(small, { scheme: 'paper', seed: 2024 }).get('features.0.weight')!;
    // Recorded from this implementation; a change here changes every seeded run.
    expect(Array.from(w.subarray(0, 4)).map((v) => Number(v.toPrecision(6)))).toEqual(PINNED);
  });

  const expectations: [InitScheme, number][] = [
    ['paper', 0.01],
    ['glorot', Math.sqrt(2 / (2048 + 2048))],
    ['kaiming', Math.sqrt(2 / 2048)],
  ];
  for (const [scheme, std] of expectations) {
    it(`${scheme}: normal with mean 0 and std ${std.toPrecision(3)}`, () => {
      const w = initWeights(wide, { scheme, seed: 7 }).get('classifier.0.weight')!;
      expect(w.length).toBe(2048 * 2048);
      const s = stats(w);
      expect(Math.abs(s.mean)).toBeLessThan((5 * std) / Math.sqrt(w.length));
      expect(Math.abs(s.std / std - 1)).toBeLessThan(0.01);
      expect(Math.abs(s.within1 - 0.6827)).toBeLessThan(0.002);
    });
  }

  it('follows the normal distribution in the body and in the tails', () => {
    // Normal CDF values; the ziggurat's tail starts at R = 3.4426.
    const cdf: [number, number][] = [
      [-4, 3.167124183311998e-5],
      [-3.442619855899, 2.8805425619582437e-4],
      [-2, 0.02275013194817921],
      [-1, 0.15865525393145707],
      [-0.3, 0.3820885778110474],
      [0, 0.5],
      [0.7, 0.758036347776927],
      [1.5, 0.9331927987311419],
      [3, 0.9986501019683699],
    ];
    const w = new Float32Array(1 << 22);
    fillNormal(w, 1, new Xoshiro128([9, 8, 7, 6]));
    const below = new Array<number>(cdf.length).fill(0);
    let m4 = 0;
    for (let i = 0; i < w.length; i++) {
      const x = w[i]!;
      m4 += x ** 4;
      for (let k = 0; k < cdf.length; k++) if (x < cdf[k]![0]) below[k]!++;
    }
    cdf.forEach(([z, p], k) => {
      const se = Math.sqrt((p * (1 - p)) / w.length);
      expect(Math.abs(below[k]! / w.length - p), `P(x < ${z})`).toBeLessThan(5 * se);
    });
    expect(m4 / w.length).toBeCloseTo(3, 1); // the normal's kurtosis
  });

  it('uses cin*k*k and cout*k*k as the fans of a conv', () => {
    expect(fans([64, 3, 3, 3])).toEqual({ fanIn: 27, fanOut: 576 });
    expect(fans([1000, 4096])).toEqual({ fanIn: 4096, fanOut: 1000 });
    expect(initStd('glorot', [64, 3, 3, 3])).toBeCloseTo(Math.sqrt(2 / 603), 12);
    expect(initStd('kaiming', [512, 256, 3, 3])).toBeCloseTo(Math.sqrt(2 / 2304), 12);
    const g = graph('conv', [256, 16, 16], [512], [2]);
    const w = initWeights(g, { scheme: 'kaiming', seed: 3 }).get('features.0.weight')!;
    expect(Math.abs(stats(w).std / Math.sqrt(2 / 2304) - 1)).toBeLessThan(0.01);
  });

  it('refuses a bad seed or scheme with a VggcError', () => {
    expect(() => initWeights(small, { scheme: 'paper', seed: 1.5 })).toThrow(VggcError);
    expect(() => initWeights(small, { scheme: 'paper', seed: 1.5 })).toThrow(
      'the seed must be an integer, got 1.5',
    );
    expect(() => initWeights(small, { scheme: 'uniform' as InitScheme, seed: 1 })).toThrow(
      "unknown initialisation 'uniform'; expected paper, glorot, kaiming",
    );
  });

  it('initialises all of VGG-16 (138M values) in a few seconds', () => {
    // prettier-ignore
    const layers: (number | 'M')[] = [
      64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M',
    ];
    const vgg16 = graph('vgg16', [3, 224, 224], layers, [4096, 4096, 1000]);
    const t0 = performance.now();
    const w = initWeights(vgg16, { scheme: 'glorot', seed: 0 });
    const seconds = (performance.now() - t0) / 1000;
    let total = 0;
    for (const data of w.values()) total += data.length;
    expect(total).toBe(138_357_544);
    expect(total).toBe(parameterCount(parameterLayout(vgg16)));
    expect(seconds).toBeLessThan(30); // ~2 s on a laptop core; generous for loaded CI machines
  });
});

const PINNED = [0.00560819, -0.00429462, 0.00517708, -0.00799512];

/**
 * `--init-from`: the paper's initialisation of a deeper net from a trained net A (Sec. 3.1),
 * on the paper's own configurations (at a 32x32 input, so the FC layers stay small).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { VggcError } from '../dsl/diagnostics.js';
import { initFromShallower, initWeights } from '../runtime/init.js';
import { parameterLayout } from '../runtime/weights.js';

const root = new URL('..', import.meta.url).pathname;
const source = {
  name: 'vgg-paper.vgg',
  text: readFileSync(`${root}/examples/vgg-paper.vgg`, 'utf8'),
};
const net = (model: string) => checkSource(source, { model, input: [3, 32, 32] });

function trainedA() {
  const a = net('A');
  const w = initWeights(a, { scheme: 'glorot', seed: 9 });
  const shapes = new Map(parameterLayout(a).map((p) => [p.name, p.shape]));
  return new Map([...w].map(([k, data]) => [k, { shape: shapes.get(k)!, data }]));
}

const bytes = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

describe('initFromShallower', () => {
  it("D from A: A's first four convs land on the convs of D with their shapes, the FCs by position", () => {
    const d = net('D');
    const fresh = initWeights(d, { scheme: 'paper', seed: 1 });
    const a = trainedA();
    const { weights, copied } = initFromShallower(d, fresh, a, 'a.safetensors');
    // A: conv3-64 | conv3-128 | conv3-256 x2 ...; D: conv3-64 x2 | conv3-128 x2 | conv3-256 x3.
    // torchvision indices count ReLU and pool modules: A's convs are features.0, 3, 6, 8; the
    // matching D convs (3->64, 64->128, 128->256, 256->256) are features.0, 5, 10, 12.
    expect(copied).toEqual([
      'features.0 <- features.0',
      'features.5 <- features.3',
      'features.10 <- features.6',
      'features.12 <- features.8',
      'classifier.6 <- classifier.6',
      'classifier.3 <- classifier.3',
      'classifier.0 <- classifier.0',
    ]);
    for (const line of copied) {
      const [to, from] = line.split(' <- ') as [string, string];
      for (const part of ['weight', 'bias']) {
        // (A byte comparison: toEqual on 16M-element arrays is far too slow.)
        const got = weights.get(`${to}.${part}`)!;
        const want = a.get(`${from}.${part}`)!.data;
        expect(Buffer.compare(bytes(got), bytes(want)), `${to}.${part}`).toBe(0);
      }
    }
    // Everything else keeps its fresh values (std 0.01, not A's glorot values).
    expect(weights.get('features.2.weight')).toBe(fresh.get('features.2.weight'));
    expect(weights.get('features.7.weight')).toBe(fresh.get('features.7.weight'));
  });

  it('names the layer that finds no match', () => {
    const small = checkSource({
      name: 's.vgg',
      text: 'model s { input 3x32x32\n conv3-32, maxpool, FC-10 }',
    });
    const fresh = initWeights(small, { scheme: 'paper', seed: 1 });
    expect(() => initFromShallower(small, fresh, trainedA(), 'a.safetensors')).toThrow(VggcError);
    expect(() => initFromShallower(small, fresh, trainedA(), 'a.safetensors')).toThrow(
      /a\.safetensors: no conv layer of s .* shape of 'features\.0' \[64x3x3x3\]/,
    );
  });
});

/** Shared by the ONNX tests: fixtures, a small model to export, mutating a ModelProto. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../compiler/frontend.js';
import { exportOnnx } from '../compiler/onnx/export.js';
import { onnx, type ModelProto } from '../compiler/onnx/proto.js';
import { paramList } from '../compiler/params.js';
import type { TypedGraph } from '../compiler/shapes.js';
import { randomArray } from './reference/random.js';

export const root = new URL('..', import.meta.url).pathname;
export const fixture = (name: string) => join(root, 'test/fixtures/onnx', name);
export const FIXTURES = ['tv-static', 'tv-opset9', 'tv-dynamic', 'zoo'] as const;
export const fixtureBytes = (name: string) => new Uint8Array(readFileSync(fixture(`${name}.onnx`)));

/** A small model with every layer kind import and export know. */
export const SMALL = `model small {
  input 3x16x16
  conv3-4, LRN(n=3, alpha=2e-4, beta=0.7, k=1.5), maxpool
  conv3-8, conv1-8, maxpool
  FC-12, dropout 0.1
  FC-12, dropout 0.5
  FC-5
  soft-max
}`;

export const graphOf = (text: string): TypedGraph => checkSource({ name: 'test.vgg', text });

/** Fresh random weights (never zeros) for every parameter of `graph`. */
export function randomWeights(graph: TypedGraph, seed = 1): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  paramList(graph).forEach((p, i) => {
    const n = p.shape.reduce((a, d) => a * d, 1);
    out.set(p.name, randomArray(n, seed * 100 + i, 0.5));
  });
  return out;
}

/** The small model exported, decoded, changed by `edit`, encoded again. */
export function mutated(edit: (m: ModelProto) => void, opset = 13): Uint8Array {
  const g = graphOf(SMALL);
  const m = onnx.ModelProto.decode(exportOnnx(g, randomWeights(g), { opset }));
  edit(m);
  return onnx.ModelProto.encode(m).finish();
}

/**
 * Whole networks on the GPU against the float64 reference: random small VGG-style nets with odd
 * channel counts, non-square inputs, LRN, conv1 and batch > 1, fused and unfused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { paramList } from '../compiler/params.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { relativeError } from './helpers.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

const NETS: [name: string, text: string, batch: number][] = [
  [
    'odd channels, non-square, LRN, conv1, soft-max',
    `model a { input 3x13x10
       conv3-5, LRN, maxpool
       conv1-7, conv3-6, maxpool
       FC-9, dropout 0.5
       FC-4
       soft-max }`,
    3,
  ],
  [
    'grey input, repeated stacks, batch 2',
    `model b { input 1x16x12
       (conv3-8 x2, maxpool) x2
       FC-10 }`,
    2,
  ],
  [
    'fully convolutional head, wide channels',
    `model c { input 4x9x9
       conv3-33, LRN(n=3, alpha=1e-3, beta=0.5, k=1), conv1-17
       maxpool, conv3-12 }`,
    1,
  ],
];

describe('whole networks match the float64 reference', () => {
  for (const [label, text, batch] of NETS) {
    for (const fuse of [true, false]) {
      it(`${label} (${fuse ? 'fused' : 'unfused'})`, async () => {
        const gpu = await acquireGpu();
        const graph = checkSource({ name: 'net.vgg', text });
        const weights = new Map<string, Float32Array>();
        paramList(graph).forEach((p, i) => {
          const count = p.shape.reduce((a, b) => a * b, 1);
          const fanIn = count / p.shape[0]!;
          weights.set(p.name, randomArray(count, 1000 + i, Math.sqrt(3 / fanIn)));
        });
        const [c, h, w] = graph.nodes[0]!.out;
        const x = randomArray(batch * c * h * w, 7 + batch, 1);
        const output = graph.nodes.at(-1)!.op.op === 'softmax' ? 'probs' : 'logits';
        const plan = compileInference(graph, { target: targetOf(gpu), batch, fuse, output });
        const exe = await prepare(gpu, plan, weights);
        try {
          const y = await exe.run(x);
          const ref = networkRef(graph, weights, x, batch);
          expect(y.length).toBe(ref.length);
          expect(relativeError(y, ref)).toBeLessThan(1e-4);
        } finally {
          exe.destroy();
        }
      });
    }
  }
});

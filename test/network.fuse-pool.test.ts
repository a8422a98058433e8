/**
 * Whole networks with the conv-relu-pool fusion (compiler/passes/fuse-pool.ts, the pool in the
 * conv kernel's epilogue): the fused plan has no separate pool dispatch where a conv feeds the
 * pool, and its output equals the unfused plan's (max relative difference < 1e-5) and the float64
 * reference (< 1e-4). Odd sides, batch > 1, a pool after LRN (not fused) and a graph that ends in
 * a pool. Also the scheduler's fallback for a fused pool on a conv the fast kernel does not take.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { compileInference } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { Graph } from '../compiler/ir.js';
import type { FuseOption } from '../compiler/passes/index.js';
import { paramList } from '../compiler/params.js';
import { inferShapes, type TypedGraph } from '../compiler/shapes.js';
import { acquireGpu, releaseGpu, targetOf } from '../runtime/device.js';
import { prepare } from '../runtime/executor.js';
import { relativeError } from './helpers.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';

afterAll(releaseGpu);

function weightsOf(graph: TypedGraph): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  paramList(graph).forEach((p, i) => {
    const count = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = count / p.shape[0]!;
    weights.set(p.name, randomArray(count, 500 + i, Math.sqrt(3 / fanIn)));
  });
  return weights;
}

async function run(graph: TypedGraph, fuse: FuseOption, batch: number, x: Float32Array) {
  const gpu = await acquireGpu();
  const plan = compileInference(graph, { target: targetOf(gpu), batch, fuse });
  const exe = await prepare(gpu, plan, weightsOf(graph));
  try {
    return { y: await exe.run(x), plan };
  } finally {
    exe.destroy();
  }
}

const NETS: [name: string, text: string, batch: number, pools: number, fusedPools: number][] = [
  [
    'odd sides, three fused pools, batch 2',
    `model p { input 3x13x11
       conv3-5, maxpool
       conv3-8 x2, maxpool
       conv1-6, maxpool
       FC-7
       FC-3 }`,
    2,
    3,
    3,
  ],
  [
    'a pool after LRN stays; a graph ending in a fused pool',
    `model q { input 4x10x9
       conv3-6, LRN, maxpool
       conv3-7, maxpool }`,
    1,
    2,
    1,
  ],
];

describe('conv-relu-pool: whole networks, fused == unfused', () => {
  for (const [label, text, batch, pools, fusedPools] of NETS) {
    it(label, async () => {
      const graph = checkSource({ name: 'net.vgg', text });
      const [c, h, w] = graph.nodes[0]!.out;
      const x = randomArray(batch * c * h * w, 40 + batch, 1);
      const fused = await run(graph, true, batch, x);
      const unfused = await run(graph, false, batch, x);
      const reluOnly = await run(graph, ['conv-relu'], batch, x);
      const poolSteps = (p: typeof fused.plan) =>
        p.steps.filter((s) => s.kernel.name.startsWith('maxpool')).length;
      expect(poolSteps(unfused.plan)).toBe(pools);
      expect(poolSteps(reluOnly.plan)).toBe(pools);
      expect(poolSteps(fused.plan)).toBe(pools - fusedPools);
      expect(fused.plan.steps.filter((s) => s.label.endsWith('+relu+maxpool'))).toHaveLength(
        fusedPools,
      );
      expect(fused.plan.steps.length).toBe(reluOnly.plan.steps.length - fusedPools);

      expect(fused.y.length).toBe(unfused.y.length);
      expect(relativeError(fused.y, Float64Array.from(unfused.y))).toBeLessThan(1e-5);
      expect(relativeError(reluOnly.y, Float64Array.from(unfused.y))).toBeLessThan(1e-5);
      const ref = networkRef(graph, weightsOf(graph), x, batch);
      expect(relativeError(fused.y, ref)).toBeLessThan(1e-4);
    });
  }

  it('a fused pool on a conv that takes the valid-conv kernel: conv, then the pool kernel', async () => {
    // A 2x2 conv with padding 0 exists only through passes; the scheduler still must honour
    // a pool in its epilogue (two dispatches through a pre-pool tensor).
    const untyped: Graph = {
      name: 'v',
      train: {},
      test: {},
      nodes: [
        { id: 0, op: { op: 'input', shape: [3, 7, 9] }, inputs: [] },
        {
          id: 1,
          op: {
            op: 'conv',
            kernel: 2,
            pad: 0,
            cout: 5,
            epilogue: [{ kind: 'relu' }, { kind: 'maxpool' }],
          },
          inputs: [0],
          param: 'features.0',
        },
      ],
    };
    const graph = inferShapes(untyped).graph!;
    expect(graph.nodes[1]!.out).toEqual([5, 3, 4]); // 6x8 before the pool
    const x = randomArray(2 * 3 * 7 * 9, 77, 1);
    const { y, plan } = await run(graph, true, 2, x);
    expect(plan.steps.map((s) => s.kernel.name.replace(/_.*/, ''))).toEqual([
      'convvalid2x2',
      'maxpool2x2',
    ]);
    expect(plan.tensors.find((t) => t.name === 'act1.prepool')?.shape).toEqual([2, 5, 6, 8]);
    expect(relativeError(y, networkRef(graph, weightsOf(graph), x, 2))).toBeLessThan(1e-4);
  });
});

/**
 * compiler/verify.ts: each invariant it checks, on a hand-broken graph that it must catch, and
 * the pass runner naming the pass that broke the graph. Every graph the real pipelines make of
 * the example models verifies (compileInference and compileTraining verify after each pass).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { passDumps } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { Graph, Node, Op } from '../compiler/ir.js';
import { autodiff } from '../compiler/passes/autodiff.js';
import { fuseDropout } from '../compiler/passes/fuse-dropout.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { fuseSgd } from '../compiler/passes/fuse-sgd.js';
import { optimizeForInference, runPasses } from '../compiler/passes/index.js';
import { findProblem, verifyGraph } from '../compiler/verify.js';
import { SMALL_NET } from './helpers.js';

const net = checkSource({ name: 'n.vgg', text: SMALL_NET });
const trained = autodiff(net);
const find = (g: Graph, op: string): Node => g.nodes.find((n) => n.op.op === op)!;
/** `g` with node `id` replaced by `f(node)`. */
const edit = (g: Graph, id: number, f: (n: Node) => Node): Graph => ({
  ...g,
  nodes: g.nodes.map((n) => (n.id === id ? f(n) : n)),
});
const withOp = (g: Graph, id: number, op: Partial<Op>): Graph =>
  edit(g, id, (n) => ({ ...n, op: { ...n.op, ...op } as Op }));

describe('verify: a well-formed graph', () => {
  it('passes the frontend, autodiff and fused training graphs', () => {
    expect(findProblem(net)).toBeUndefined();
    expect(findProblem(trained)).toBeUndefined();
    expect(findProblem(fuseSgd(fuseDropout(fuseRelu(trained))))).toBeUndefined();
    expect(findProblem(optimizeForInference(net))).toBeUndefined();
  });

  it('passes every pass of every example model, inference and training', () => {
    const dir = new URL('../examples/', import.meta.url).pathname;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.vgg'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const model of text
        .match(/^\s*model\s+(\S+)/gm)!
        .map((m) => m.trim().split(/\s+/)[1]!)) {
        const g = checkSource({ name: file, text }, { model, input: [3, 32, 32] });
        for (const train of [false, true]) {
          // passDumps runs the whole pipeline, verifying after each pass.
          expect(passDumps(g, { train }).length).toBeGreaterThan(2);
        }
      }
    }
  });
});

describe('verify: each invariant, broken by hand', () => {
  const conv = find(net, 'conv');
  const fc = find(net, 'fc');

  it('unique ids', () => {
    const g = { ...net, nodes: [...net.nodes, { ...net.nodes.at(-1)!, inputs: [fc.id] }] };
    expect(findProblem(g)).toMatch(/the id \d+ is used twice/);
  });

  it('topological order and existing inputs', () => {
    const swapped = {
      ...net,
      nodes: [net.nodes[0]!, net.nodes[2]!, net.nodes[1]!, ...net.nodes.slice(3)],
    };
    expect(findProblem(swapped)).toMatch(/reads node 1, which comes after it/);
    const dangling = edit(net, fc.id, (n) => ({ ...n, inputs: [99] }));
    expect(findProblem(dangling)).toMatch(/reads node 99, which does not exist/);
  });

  it('input arity per op', () => {
    const relu = find(net, 'relu');
    expect(findProblem(edit(net, relu.id, (n) => ({ ...n, inputs: [0, conv.id] })))).toMatch(
      /ReLU|relu.*has 2 input\(s\), its op takes 1/,
    );
    const data = trained.nodes.find(
      (n) => n.op.op === 'conv-grad-data' || n.op.op === 'fc-grad-data',
    )!;
    expect(findProblem(withOp(trained, data.id, { mask: true } as Partial<Op>))).toMatch(
      /has 1 input\(s\), its op takes 2/,
    );
    const sgd = find(trained, 'sgd');
    const two = withOp(trained, sgd.id, { params: ['features.0', 'classifier.0'] } as Partial<Op>);
    expect(findProblem(two)).toMatch(/sgd.*has 1 input\(s\), its op takes 2/);
  });

  it('recorded shapes equal the re-inferred ones, forward and backward', () => {
    expect(findProblem(edit(net, conv.id, (n) => ({ ...n, out: [4, 8, 7] })))).toMatch(
      /records shape 4x8x7, its inputs give 4x8x8/,
    );
    const pool = find(trained, 'maxpool-grad');
    expect(findProblem(edit(trained, pool.id, (n) => ({ ...n, out: [4, 4, 4] })))).toMatch(
      /maxpool-grad.*records shape 4x4x4, its inputs give 4x8x8/,
    );
    const fcData = find(trained, 'fc-grad-data');
    expect(findProblem(edit(trained, fcData.id, (n) => ({ ...n, out: [5, 1, 1] })))).toMatch(
      /fc-grad-data.*records shape 5x1x1, its inputs give 6x1x1/,
    );
    const { out: _out, ...untyped } = conv;
    expect(findProblem(edit(net, conv.id, () => untyped))).toBe(
      'some nodes have shapes and some do not',
    );
  });

  it('legal epilogue order: relu before maxpool, dropout only on an FC in training', () => {
    const epi = (...kinds: string[]) =>
      ({ epilogue: kinds.map((kind) => ({ kind, p: 0.5, stream: fc.id })) }) as Partial<Op>;
    // A pooled conv keeps its pooled shape so that only the epilogue is wrong.
    const pooled = (g: Graph) => edit(g, conv.id, (n) => ({ ...n, out: [4, 4, 4] }));
    expect(findProblem(pooled(withOp(net, conv.id, epi('maxpool', 'relu'))))).toMatch(
      /illegal epilogue \[maxpool,relu\]/,
    );
    expect(findProblem(withOp(net, conv.id, epi('relu', 'relu')))).toMatch(
      /illegal epilogue \[relu,relu\]/,
    );
    expect(findProblem(withOp(net, conv.id, epi('dropout')))).toMatch(
      /illegal epilogue \[dropout\]/,
    );
    expect(findProblem(withOp(net, fc.id, epi('maxpool')))).toMatch(/illegal epilogue \[maxpool\]/);
    expect(findProblem(withOp(net, fc.id, epi('dropout', 'relu')))).toMatch(
      /illegal epilogue \[dropout,relu\]/,
    );
    expect(findProblem(withOp(net, fc.id, epi('relu', 'dropout')))).toBe(
      `node ${fc.id} (FC-6): a dropout epilogue in an inference graph`,
    );
    const tfc = find(trained, 'fc');
    expect(findProblem(withOp(trained, tfc.id, epi('relu', 'dropout')))).toBeUndefined();
  });

  it('parameters present: on every conv and FC, once, and on the gradients that need them', () => {
    const { param: _p, ...nameless } = conv;
    expect(findProblem(edit(net, conv.id, () => nameless))).toMatch(
      /conv3-4.*has no parameter name/,
    );
    expect(findProblem(edit(net, fc.id, (n) => ({ ...n, param: conv.param! })))).toMatch(
      /parameters 'features.0' are named twice/,
    );
    expect(findProblem(edit(net, fc.id, (n) => ({ ...n, fromFc: true })))).toMatch(
      /FC-6.*marked fromFc but not a conv/,
    );
    const wg = find(trained, 'conv-grad-weight');
    expect(findProblem(edit(trained, wg.id, (n) => ({ ...n, param: 'features.9' })))).toMatch(
      /conv-grad-weight.*names no conv layer of the graph \('features.9'\)/,
    );
    const { param: _q, ...orphan } = find(trained, 'fc-grad-data');
    expect(findProblem(edit(trained, orphan.id, () => orphan))).toMatch(/names no fc layer/);
    const sgd = find(trained, 'sgd');
    expect(findProblem(withOp(trained, sgd.id, { params: ['features.7'] } as Partial<Op>))).toMatch(
      /updates 'features.7', which no layer of the graph has/,
    );
    expect(findProblem(edit(trained, sgd.id, (n) => ({ ...n, inputs: [fc.id] })))).toMatch(
      /reads node \d+, not a weight gradient/,
    );
    const dg = find(trained, 'dropout-grad');
    expect(findProblem(withOp(trained, dg.id, { stream: 1 } as Partial<Op>))).toMatch(
      /regenerates the mask of dropout 1, which the graph lacks/,
    );
  });
});

describe('the pass runner', () => {
  it('names the pass that broke the graph', () => {
    const broken = {
      name: 'drop-last-shape',
      run: <G extends Graph>(g: G) => edit(g, conv.id, (n) => ({ ...n, out: [1, 1, 1] })) as G,
    };
    const conv = find(net, 'conv');
    expect(() => runPasses(net, [{ name: 'fine', run: (g) => g }, broken])).toThrow(
      /^internal: after pass 'drop-last-shape', graph n: node \d+ \(conv3-4\) records shape 1x1x1/,
    );
    expect(() => verifyGraph(net, 'x')).not.toThrow();
  });

  it('tells the instrument every pass, in order, with its result', () => {
    const seen: string[] = [];
    const g = runPasses(
      net,
      [
        { name: 'a', run: fuseRelu },
        { name: 'b', run: (x) => x },
      ],
      (p, i, x) => seen.push(`${i}:${p}:${x.nodes.length}`),
    );
    expect(seen).toEqual([`1:a:${g.nodes.length}`, `2:b:${g.nodes.length}`]);
    expect(g.nodes.length).toBeLessThan(net.nodes.length);
  });
});

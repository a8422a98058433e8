/**
 * The fc-dropout training fusion (compiler/passes/fuse-dropout.ts) on graphs from the autodiff
 * pass: what it rewrites (the dropout into the FC's epilogue, with its stream; the ReLU backward's
 * mask source now the dropout output), what it must leave alone (another reader of the
 * pre-dropout tensor, inference graphs), its place in FUSIONS, and how the scheduler binds the
 * seed block. The numbers of a fused training step are checked on the GPU in train.step.test and
 * the kernel in kernels.fc-dropout.test.
 */
import { describe, expect, it } from 'vitest';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import type { EpilogueStep, Graph, Node } from '../compiler/ir.js';
import { autodiff } from '../compiler/passes/autodiff.js';
import { fuseDropout } from '../compiler/passes/fuse-dropout.js';
import { fuseRelu } from '../compiler/passes/fuse-relu.js';
import { FUSIONS, optimizeForInference, optimizeForTraining } from '../compiler/passes/index.js';
import { bypass } from '../compiler/passes/rewrite.js';
import { TEST_TARGET } from './helpers.js';

const forward = checkSource({
  name: 'v.vgg',
  text: `model v { input 3x8x8
    conv3-4, maxpool
    FC-10, dropout 0.5, FC-5, soft-max }`,
});
const trained = autodiff(forward);
const ops = (g: Graph) => g.nodes.map((n) => n.op.op);
const find = (g: Graph, op: string): Node => g.nodes.find((n) => n.op.op === op)!;
const epilogueOf = (n: Node): readonly EpilogueStep[] => ('epilogue' in n.op ? n.op.epilogue : []);
/** Every input names a node of the graph that comes before the reader. */
const wellFormed = (g: Graph) => {
  const seen = new Set<number>();
  for (const n of g.nodes) {
    for (const i of n.inputs) expect(seen.has(i), `node ${n.id} reads ${i}`).toBe(true);
    seen.add(n.id);
  }
};

describe('fc-dropout', () => {
  it('moves the dropout into the FC+ReLU epilogue; the ReLU backward masks by its output', () => {
    const relu = fuseRelu(trained);
    const drop = find(relu, 'dropout');
    const fc = relu.nodes.find((n) => n.id === drop.inputs[0])!;
    expect(epilogueOf(fc)).toEqual([{ kind: 'relu' }]);
    // Before: relu-grad reads the FC+ReLU output (the pre-dropout tensor) as its mask source.
    const reluGrad = find(relu, 'relu-grad');
    expect(reluGrad.inputs[0]).toBe(fc.id);
    const dropGrad = relu.nodes.find((n) => n.id === reluGrad.inputs[1])!;
    expect(dropGrad.op).toEqual({ op: 'dropout-grad', p: 0.5, stream: drop.id });
    const dropReaders = relu.nodes.filter((n) => n.inputs.includes(drop.id)).map((n) => n.id);
    expect(dropReaders.length).toBe(2); // the next FC and its weight gradient

    const g = fuseDropout(relu);
    expect(ops(g)).not.toContain('dropout');
    expect(g.nodes.length).toBe(relu.nodes.length - 1);
    const fused = g.nodes.find((n) => n.id === fc.id)!;
    expect(epilogueOf(fused)).toEqual([
      { kind: 'relu' },
      { kind: 'dropout', p: 0.5, stream: drop.id },
    ]);
    expect(fused.param).toBe(fc.param);
    // The dropout's readers read the fused FC; the mask reader reads it too, now the dropout
    // output; the dropout backward keeps its stream.
    for (const id of dropReaders) expect(g.nodes.find((n) => n.id === id)!.inputs[0]).toBe(fc.id);
    expect(g.nodes.find((n) => n.id === reluGrad.id)!.inputs).toEqual(reluGrad.inputs);
    expect(g.nodes.find((n) => n.id === dropGrad.id)!.op).toEqual(dropGrad.op);
    wellFormed(g);
  });

  it('fuses into an FC without ReLU (epilogue [])', () => {
    // The FC's ReLU removed before autodiff: FC -> dropout, nothing else reads the FC.
    const fc = find(forward, 'fc');
    const fcRelu = forward.nodes.find((n) => n.op.op === 'relu' && n.inputs[0] === fc.id)!;
    const t = autodiff(bypass(forward, fcRelu.id));
    expect(t.nodes.filter((n) => n.inputs.includes(fc.id)).map((n) => n.op.op)).toEqual([
      'dropout',
    ]);
    const drop = find(t, 'dropout');
    const g = fuseDropout(t);
    expect(ops(g)).not.toContain('dropout');
    expect(epilogueOf(g.nodes.find((n) => n.id === drop.inputs[0])!)).toEqual([
      { kind: 'dropout', p: 0.5, stream: drop.id },
    ]);
    wellFormed(g);
  });

  it('leaves the dropout alone when the pre-dropout tensor has another reader', () => {
    const relu = fuseRelu(trained);
    const drop = find(relu, 'dropout');
    const fcId = drop.inputs[0]!;
    const reluGrad = find(relu, 'relu-grad');
    const out = drop.out!;
    const dy = reluGrad.inputs[1]!; // the dropout backward
    const spies: Node[][] = [
      // a forward reader
      [{ id: 900, op: { op: 'relu' }, inputs: [fcId], out }],
      // a ReLU backward reading the FC as dy, not as its mask source
      [{ id: 901, op: { op: 'relu-grad' }, inputs: [dy, fcId], out }],
      // ReLU backwards masking by the FC whose dy is not this dropout's backward
      [{ id: 902, op: { op: 'relu-grad' }, inputs: [fcId, fcId], out }],
      [{ id: 903, op: { op: 'relu-grad' }, inputs: [fcId, reluGrad.id], out }],
      [
        { id: 904, op: { op: 'dropout-grad', p: 0.5, stream: drop.id + 50 }, inputs: [dy], out },
        { id: 905, op: { op: 'relu-grad' }, inputs: [fcId, 904], out },
      ],
    ];
    for (const spy of spies) {
      const g = fuseDropout({ ...relu, nodes: [...relu.nodes, ...spy] });
      expect(ops(g), `reader ${spy.at(-1)!.id}`).toContain('dropout');
      expect(epilogueOf(g.nodes.find((n) => n.id === fcId)!)).toEqual([{ kind: 'relu' }]);
    }
    // Without conv-relu the dropout reads the ReLU node, not the FC: nothing to fuse.
    expect(fuseDropout(trained)).toEqual(trained);
  });

  it('does nothing to inference graphs', () => {
    // The forward graph still holds its dropout; without training ops there is no seed block.
    expect(fuseDropout(forward)).toBe(forward);
    expect(fuseDropout(fuseRelu(forward))).toEqual(fuseRelu(forward));
    const inf = optimizeForInference(forward, true);
    expect(ops(inf)).not.toContain('dropout');
    for (const n of inf.nodes) expect(epilogueOf(n).map((s) => s.kind)).not.toContain('dropout');
    const plan = compileInference(forward, { target: TEST_TARGET });
    expect(plan.steps.map((s) => s.label)).toContain('FC-10+relu');
    expect(plan.steps.some((s) => 'params' in s.bind)).toBe(false);
  });

  it('runs right after conv-relu in FUSIONS and is switched by its name', () => {
    const names = Object.keys(FUSIONS);
    expect(names.indexOf('fc-dropout')).toBe(names.indexOf('conv-relu') + 1);
    // Alone it finds the ReLU node between FC and dropout; after conv-relu it fuses.
    expect(ops(optimizeForTraining(trained, ['fc-dropout']))).toContain('dropout');
    const both = optimizeForTraining(trained, ['conv-relu', 'fc-dropout']);
    expect(ops(both)).not.toContain('dropout');
    expect(ops(optimizeForTraining(trained, ['conv-relu']))).toContain('dropout');
    expect(ops(optimizeForTraining(trained, true))).not.toContain('dropout');
  });

  it('schedules the FC with the seed block its dropout backward reads', () => {
    const drop = find(trained, 'dropout');
    const params = `dropout${drop.id}.params`;
    const plan = compileTraining(forward, { target: TEST_TARGET, batch: 2, fuse: true });
    const fcStep = plan.steps.find((s) => s.label === 'FC-10+relu+dropout')!;
    expect(fcStep.bind.params).toBe(params);
    expect(fcStep.kernel.bindings.map((b) => b.tensor)).toContain('params');
    expect(plan.steps.find((s) => s.label === 'dropout-grad')!.bind.params).toBe(params);
    expect(plan.steps.some((s) => s.label.startsWith('dropout '))).toBe(false);
    expect(plan.training!.dropout).toEqual([{ tensor: params, stream: drop.id }]);
    expect(plan.tensors.find((t) => t.name === params)).toMatchObject({ kind: 'host', bytes: 16 });
    // Unfused: the same seed block, written by the standalone dropout kernel's layer.
    const unfused = compileTraining(forward, { target: TEST_TARGET, batch: 2, fuse: false });
    expect(unfused.training!.dropout).toEqual([{ tensor: params, stream: drop.id }]);
    const dispatches = (fuse: string[]) =>
      compileTraining(forward, { target: TEST_TARGET, batch: 2, fuse }).steps.length;
    expect(dispatches(['conv-relu']) - dispatches(['conv-relu', 'fc-dropout'])).toBe(1);
  });
});

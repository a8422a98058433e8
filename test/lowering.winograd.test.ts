/**
 * The conv rules' use of the chooser (compiler/lowering/forward.ts, training.ts and
 * compiler/lowering/winograd.ts), without a GPU: a Winograd answer gives the two Winograd kernels
 * and their scratch tensor `u`; an answer that does not apply (no subgroups, a 1x1 conv) or the
 * default chooser gives the direct kernel; every 3x3 step says in `algorithm` what ran and why.
 */
import { describe, expect, it } from 'vitest';
import { directChooser, type Chooser, type LayerShape } from '../compiler/algorithms.js';
import { compileInference, compileTraining } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { winogradOrDirect } from '../compiler/lowering/winograd.js';
import { TEST_TARGET } from './helpers.js';

const SG = { ...TEST_TARGET, subgroups: true };
const graph = checkSource({
  name: 'net.vgg',
  text: `model l { input 3x12x12
     conv3-8, conv1-6, maxpool
     conv3-8
     FC-4 }`,
});
const f4: Chooser = () => ({ algorithm: 'winograd-f4', reason: 'test' });

describe('conv lowering with a chooser', () => {
  it('emits the weight transform and the main kernel, with their scratch, for 3x3 convs', () => {
    const plan = compileInference(graph, { target: SG, batch: 2, choose: f4 });
    const conv3 = plan.steps.filter((s) => s.label.startsWith('conv3'));
    expect(conv3.map((s) => s.kernel.name.split('_').slice(0, 3).join('_'))).toEqual([
      'winograd_f4_wtransform',
      'winograd_f4_conv3x3',
      'winograd_f4_wtransform',
      'winograd_f4_conv3x3',
    ]);
    for (const s of conv3) {
      expect(s.algorithm).toEqual({ algorithm: 'winograd-f4', reason: 'test' });
      expect(plan.tensors.find((t) => t.name === s.bind.u)?.kind).toBe('scratch');
    }
    // The 1x1 conv stays direct and has no algorithm of this branch's making.
    const conv1 = plan.steps.find((s) => s.label.startsWith('conv1'))!;
    expect(conv1.kernel.name).toMatch(/^conv1x1/);
  });

  it('falls back to direct, saying why, where Winograd does not apply', () => {
    const plan = compileInference(graph, { target: TEST_TARGET, batch: 1, choose: f4 });
    const conv3 = plan.steps.filter((s) => s.label.startsWith('conv3'));
    expect(conv3.length).toBe(2);
    for (const s of conv3) {
      expect(s.kernel.name).toMatch(/^conv3x3/);
      expect(s.algorithm).toEqual({
        algorithm: 'direct',
        reason: 'test; winograd-f4 does not apply',
      });
    }
    const layer: LayerShape = { op: 'conv', n: 1, cin: 4, cout: 4, h: 8, w: 8, kernel: 1, pad: 0 };
    expect(winogradOrDirect(f4(layer), layer, SG).algorithm).toBe('direct');
    expect(winogradOrDirect({ algorithm: 'gemm', reason: 'r' }, layer, SG)).toEqual({
      algorithm: 'direct',
      reason: 'r; gemm does not apply',
    });
  });

  it('reports direct for 3x3 convs under the default chooser', () => {
    const plan = compileInference(graph, { target: SG, batch: 1 });
    const conv3 = plan.steps.filter((s) => s.label.startsWith('conv3'));
    for (const s of conv3) {
      expect(s.kernel.name).toMatch(/^conv3x3/);
      expect(s.algorithm).toEqual(directChooser({} as LayerShape));
    }
  });

  it('asks for conv-grad-data layers and runs Winograd there, mask included', () => {
    const asked: LayerShape[] = [];
    const choose: Chooser = (l) => (asked.push(l), { algorithm: 'winograd-f2', reason: 'test' });
    const plan = compileTraining(graph, { target: SG, batch: 2, fuse: true, choose });
    const grad = plan.steps.filter((s) => s.label === 'conv-grad-data');
    expect(grad.length).toBeGreaterThan(0);
    expect(grad.some((s) => s.kernel.name.startsWith('winograd_f2_bwd_data_conv3x3'))).toBe(true);
    expect(grad.some((s) => s.kernel.name.endsWith('_relumask'))).toBe(true);
    expect(asked.some((l) => l.op === 'conv-grad-data' && l.kernel === 3 && l.pad === 1)).toBe(
      true,
    );
  });
});

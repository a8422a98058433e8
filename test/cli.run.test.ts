/** End to end: `vggc init`, `vggc compile` and `vggc run` on the MNIST net, as a user runs them. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { readNpy, writeNpy } from '../runtime/npy.js';
import { loadWeights } from '../runtime/weights.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'vggc-run-'));
function vggc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const weights = join(dir, 'w.safetensors');
const mnist = checkSource({
  name: 'mnist',
  text: readFileSync(join(root, 'examples/mnist.vgg'), 'utf8'),
});

describe('vggc init / run / compile', () => {
  it('init writes every parameter with torchvision names', async () => {
    const r = vggc(
      'init',
      'examples/mnist.vgg',
      '--out',
      weights,
      '--seed',
      '3',
      '--scheme',
      'kaiming',
    );
    expect(r.code, r.err).toBe(0);
    const w = await loadWeights(weights, mnist);
    expect([...w.keys()]).toEqual([
      'features.0.weight',
      'features.0.bias',
      'features.2.weight',
      'features.2.bias',
      'features.5.weight',
      'features.5.bias',
      'features.7.weight',
      'features.7.bias',
      'classifier.0.weight',
      'classifier.0.bias',
      'classifier.3.weight',
      'classifier.3.bias',
    ]);
  });

  it('run writes N x classes logits that match the float64 reference, and posteriors with --probs', async () => {
    const n = 3;
    const x = randomArray(n * 28 * 28, 42, 1);
    const xPath = join(dir, 'x.npy');
    await writeNpy(xPath, [n, 1, 28, 28], x);
    const yPath = join(dir, 'y.npy');
    const r = vggc(
      'run',
      'examples/mnist.vgg',
      '--weights',
      weights,
      '--input',
      xPath,
      '--out',
      yPath,
    );
    expect(r.code, r.err).toBe(0);
    const y = await readNpy(yPath);
    expect(y.shape).toEqual([n, 10]);
    // The reference runs the model as written; its soft-max is the last node, so compare the
    // node before it (the logits).
    const w = await loadWeights(weights, mnist);
    const logitsGraph = { ...mnist, nodes: mnist.nodes.slice(0, -1) };
    const ref = networkRef(logitsGraph, w, x, n);
    const scale = Math.max(...ref.map(Math.abs));
    for (let i = 0; i < ref.length; i++)
      expect(Math.abs(y.data[i]! - ref[i]!) / scale).toBeLessThan(1e-4);

    const pPath = join(dir, 'p.npy');
    expect(
      vggc(
        'run',
        'examples/mnist.vgg',
        '--weights',
        weights,
        '--input',
        xPath,
        '--out',
        pPath,
        '--probs',
      ).code,
    ).toBe(0);
    const p = await readNpy(pPath);
    const probs = networkRef(mnist, w, x, n);
    for (let i = 0; i < probs.length; i++)
      expect(Math.abs(p.data[i]! - probs[i]!)).toBeLessThan(1e-5);
  });

  it('refuses a wrong input shape, a bad .npy and unusable weights, writing nothing', async () => {
    const out = join(dir, 'never.npy');
    const wrong = join(dir, 'wrong.npy');
    await writeNpy(wrong, [2, 3, 28, 28], new Float32Array(2 * 3 * 28 * 28).fill(0.5));
    let r = vggc('run', 'examples/mnist.vgg', '--weights', weights, '--input', wrong, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(
      `vggc: error: ${wrong}: input has shape [2, 3, 28, 28], the model mnist takes [N, 1, 28, 28] (N x 1x28x28, float32, N >= 1)`,
    );
    const junk = join(dir, 'junk.npy');
    writeFileSync(junk, 'not numpy at all');
    r = vggc('run', 'examples/mnist.vgg', '--weights', weights, '--input', junk, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/junk\.npy: not a \.npy file/);
    const good = join(dir, 'good.npy');
    await writeNpy(good, [1, 1, 28, 28], randomArray(784, 5, 1));
    const other = join(dir, 'other.safetensors');
    expect(
      vggc('init', 'examples/vgg-paper.vgg', '--model', 'A', '--input', '3x32x32', '--out', other)
        .code,
    ).toBe(0);
    r = vggc('run', 'examples/mnist.vgg', '--weights', other, '--input', good, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/features\.0\.weight/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });

  it('compile writes one .wgsl per kernel with a header and plan.json; --no-fuse dispatches more', () => {
    const fused = join(dir, 'fused');
    const unfused = join(dir, 'unfused');
    expect(vggc('compile', 'examples/mnist.vgg', '--out', fused).code).toBe(0);
    const r = vggc('compile', 'examples/mnist.vgg', '--out', unfused, '--no-fuse');
    expect(r.code).toBe(0);
    const counts = /fusion: (\d+) dispatches unfused -> (\d+) fused/.exec(r.out);
    expect(counts, r.out).not.toBeNull();
    expect(Number(counts![1]) - Number(counts![2])).toBe(7);
    const planF = JSON.parse(readFileSync(join(fused, 'plan.json'), 'utf8'));
    const planU = JSON.parse(readFileSync(join(unfused, 'plan.json'), 'utf8'));
    // mnist: 4 convs and 1 hidden FC each carry a ReLU that fusion folds in, and both pools
    // follow a conv (conv-relu-pool).
    type Dispatch = { layer: string };
    const layers = (p: { dispatches: Dispatch[] }, layer: string) =>
      p.dispatches.filter((d) => d.layer === layer);
    expect(planU.dispatches.length - planF.dispatches.length).toBe(7);
    expect(layers(planU, 'relu')).toHaveLength(5);
    expect(layers(planU, 'maxpool')).toHaveLength(2);
    expect(layers(planF, 'relu')).toHaveLength(0);
    expect(layers(planF, 'maxpool')).toHaveLength(0);
    expect(layers(planF, 'conv3-16+relu+maxpool')).toHaveLength(1);
    expect(layers(planF, 'conv3-32+relu+maxpool')).toHaveLength(1);
    // --fuse picks: only the ReLUs, so the pools stay dispatches of their own.
    const reluOnly = join(dir, 'relu-only');
    const p = vggc('compile', 'examples/mnist.vgg', '--out', reluOnly, '--fuse', 'conv-relu');
    expect(p.code, p.err).toBe(0);
    const planR = JSON.parse(readFileSync(join(reluOnly, 'plan.json'), 'utf8'));
    expect(planU.dispatches.length - planR.dispatches.length).toBe(5);
    expect(layers(planR, 'maxpool')).toHaveLength(2);
    const files = readdirSync(fused).filter((f) => f.endsWith('.wgsl'));
    expect(files.length).toBe(planF.summary.kernels);
    // The count of distinct pipelines: the written modules without their head line, told apart.
    const bodies = new Set(
      files.map((f) => readFileSync(join(fused, f), 'utf8').split('\n').slice(1).join('\n')),
    );
    const said = /pipelines: (\d+) distinct/.exec(
      vggc('compile', 'examples/mnist.vgg', '--out', join(dir, 'again')).out,
    );
    expect(said, 'no pipeline count').not.toBeNull();
    expect(Number(said![1])).toBe(bodies.size);
    expect(bodies.size).toBeGreaterThan(1);
    for (const d of planF.dispatches) expect(files).toContain(d.kernel);
    const conv = files.find((f) => f.startsWith('conv3x3'))!;
    const head = readFileSync(join(fused, conv), 'utf8').split('\n').slice(0, 3).join('\n');
    expect(head).toMatch(/^\/\/ vggc mnist, batch 1: conv3-\d+\+relu(\+maxpool)? \(node \d+\)/);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

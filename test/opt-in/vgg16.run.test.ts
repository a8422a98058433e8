/**
 * Opt-in (`npm run test:opt-in`): VGG-16 at 224x224, batch 1, through the `vggc run` CLI on the
 * current adapter, checked against the float64 reference of the whole network. Too slow for CI
 * on the software adapter (553 MB of weights; the float64 reference alone takes minutes).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/frontend.js';
import { readNpy, writeNpy } from '../../runtime/npy.js';
import { loadWeights } from '../../runtime/weights.js';
import { networkRef } from '../reference/network.js';
import { randomArray } from '../reference/random.js';

const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'vggc-vgg16-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vggc = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });

describe('VGG-16 through vggc run', () => {
  it('matches the float64 reference at 224x224, batch 1', { timeout: 1_800_000 }, async () => {
    const w = join(dir, 'vgg16.safetensors');
    // Kaiming init keeps activations at a useful scale through 16 layers (std 0.01 would shrink
    // them towards zero and make the comparison weak).
    let r = vggc('init', 'examples/vgg16.vgg', '--out', w, '--scheme', 'kaiming', '--seed', '16');
    expect(r.status, r.stderr).toBe(0);
    const x = randomArray(3 * 224 * 224, 2024, 1);
    await writeNpy(join(dir, 'x.npy'), [1, 3, 224, 224], x);
    const started = performance.now();
    r = vggc(
      'run',
      'examples/vgg16.vgg',
      '--weights',
      w,
      '--input',
      join(dir, 'x.npy'),
      '--out',
      join(dir, 'y.npy'),
    );
    const seconds = (performance.now() - started) / 1000;
    expect(r.status, r.stderr).toBe(0);
    console.log(
      `vggc run, VGG-16, 224, batch 1: ${seconds.toFixed(1)} s wall, including process start, weight load and compile; ${r.stderr.trim().split('\n').at(-1)}`,
    );
    const y = await readNpy(join(dir, 'y.npy'));
    expect(y.shape).toEqual([1, 1000]);

    const graph = checkSource({
      name: 'vgg16',
      text: readFileSync(join(root, 'examples/vgg16.vgg'), 'utf8'),
    });
    const weights = await loadWeights(w, graph);
    const logits = { ...graph, nodes: graph.nodes.slice(0, -1) };
    const ref = networkRef(logits, weights, x, 1);
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num = Math.max(num, Math.abs(y.data[i]! - ref[i]!));
      den = Math.max(den, Math.abs(ref[i]!));
    }
    expect(num / den).toBeLessThan(1e-4);
  });
});

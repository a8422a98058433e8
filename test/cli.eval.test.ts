/**
 * End to end: `vggc eval` (JSON and table) and `vggc classify` on a tiny model with `vggc init`
 * weights, checked against the float64 reference of test/reference/eval.ts; the bundled MNIST
 * digits through `eval --data mnist`; one-line errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { channelMean } from '../runtime/data/augment.js';
import { loadMnist } from '../runtime/data/mnist.js';
import { writeNpy } from '../runtime/npy.js';
import { loadWeights, saveWeights } from '../runtime/weights.js';
import { evalRef, type Chw } from './reference/eval.js';
import { networkRef } from './reference/network.js';
import { randomArray } from './reference/random.js';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'vggc-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vggc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
/** stderr without Dawn's two start-up warnings and the progress lines (compiling, eval). */
const errors = (err: string) =>
  err
    .split('\n')
    .filter(
      (l) =>
        l &&
        !l.startsWith('Warning: ') &&
        !l.startsWith('eval ') &&
        !/^compil(ing|ed) \d+ kernels?\b/.test(l),
    )
    .join('\n');

const TEXT = `model t {
  input 3x8x8
  test { scales 8, 12 }
  conv3-4, maxpool
  conv3-6, maxpool
  FC-12
  FC-7
  soft-max
}
`;
const model = join(dir, 't.vgg');
writeFileSync(model, TEXT);
const graph = checkSource({ name: model, text: TEXT });
const weightsPath = join(dir, 'w.safetensors');
const NAMES = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox', 'gnu'];

/** Rank of `label` in `p`, counting ties against it (0 = best). */
const rankOf = (p: readonly number[], label: number) =>
  p.filter((v, c) => c !== label && v >= p[label]!).length;
const order = (p: readonly number[]) =>
  p.map((v, c) => [v, c] as const).sort((a, b) => b[0] - a[0]);
/** The smallest gap between neighbours in the order of `p`: the reference's margin. */
const margin = (p: readonly number[], upTo = p.length) => {
  const o = order(p);
  let m = Infinity;
  for (let i = 1; i < Math.min(upTo + 1, o.length); i++) m = Math.min(m, o[i - 1]![0] - o[i]![0]);
  return m;
};

let weights: Map<string, Float32Array>;
beforeAll(async () => {
  const r = vggc('init', model, '--out', weightsPath, '--scheme', 'kaiming', '--seed', '5');
  expect(r.code, r.err).toBe(0);
  weights = await loadWeights(weightsPath, graph);
});

describe('vggc eval', () => {
  const SHAPE: Chw = [3, 9, 11];
  const per = 3 * 9 * 11;
  const n = 6;
  const data = join(dir, 'npy');
  const x = randomArray(n * per, 61, 1);
  const scales = [8, 12];
  let refs: { perScale: number[][]; combined: number[] }[];
  let labels: Int32Array;
  // Labels at the reference's ranks 0, 0, 1, 2, 5, 6 of 7: top-1 misses 4, top-5 misses 2.
  const RANKS = [0, 0, 1, 2, 5, 6];

  beforeAll(async () => {
    refs = Array.from({ length: n }, (_, i) =>
      evalRef(graph, weights, x.subarray(i * per, (i + 1) * per), SHAPE, {
        scales,
        flip: true,
        dense: true,
      }),
    );
    for (const r of refs) expect(margin(r.combined)).toBeGreaterThan(1e-4);
    labels = Int32Array.from(RANKS, (k, i) => order(refs[i]!.combined)[k]![1]);
    mkdirSync(join(data, 'train'), { recursive: true });
    mkdirSync(join(data, 'test'), { recursive: true });
    await writeNpy(join(data, 'train/images.npy'), [2, ...SHAPE], randomArray(2 * per, 3, 1));
    await writeNpy(join(data, 'train/labels.npy'), [2], Int32Array.from([0, 6]));
    await writeNpy(join(data, 'test/images.npy'), [n, ...SHAPE], x);
    await writeNpy(join(data, 'test/labels.npy'), [n], labels);
    writeFileSync(join(data, 'classes.txt'), NAMES.join('\n') + '\n');
  });

  it('--json prints images, the combined and the per-scale top-1/top-5 errors', () => {
    const r = vggc('eval', model, '--weights', weightsPath, '--data', data, '--flip', '--json');
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out);
    expect(Object.keys(got)).toEqual(['images', 'top1_error', 'top5_error', 'per_scale']);
    expect(got.images).toBe(n);
    expect(got.top1_error).toBeCloseTo(4 / 6, 12);
    expect(got.top5_error).toBeCloseTo(2 / 6, 12);
    expect(got.per_scale.map((s: { scale: number }) => s.scale)).toEqual(scales);
    scales.forEach((q, s) => {
      const ranks = refs.map((ref, i) => rankOf(ref.perScale[s]!, labels[i]!));
      expect(got.per_scale[s]).toEqual({
        scale: q,
        top1_error: ranks.filter((k) => k >= 1).length / n,
        top5_error: ranks.filter((k) => k >= 5).length / n,
      });
    });
  });

  it('prints a table per scale and combined; --limit takes the first images', () => {
    const r = vggc('eval', model, '--weights', weightsPath, '--data', data, '--flip');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^t on .*npy, test split: 6 images of 3x9x11, 7 classes$/m);
    expect(r.out).toMatch(/^evaluation: dense, horizontal flips$/m);
    expect(r.out).toMatch(/^test scales: 8, 12 \(from test \{ scales \}\)$/m);
    expect(r.out).toMatch(/^mean subtracted: none \(preprocessed \.npy set\)$/m);
    expect(r.out).toMatch(/^8,12 +66\.67% +33\.33%$/m);
    expect(r.out).toMatch(/^test scale Q +top-1 error +top-5 error$/m);

    const lim = vggc(
      'eval',
      model,
      ...['--weights', weightsPath, '--data', data, '--flip', '--limit', '2', '--json'],
    );
    expect(JSON.parse(lim.out)).toMatchObject({ images: 2, top1_error: 0, top5_error: 0 });
  });

  it('a scale below the minimum, bad flags and a mismatched dataset are one-line errors', () => {
    let r = vggc('eval', model, '--weights', weightsPath, '--data', data, '--scales', '6,8');
    expect(r.code).toBe(1);
    expect(errors(r.err)).toBe(
      'vggc: error: test scale Q=6 (from --scales) is too small for dense evaluation of t: an ' +
        'image of 3x9x11 becomes 3x6x7; the smallest dense input is 3x8x8, so Q must be at least 8',
    );
    r = vggc('eval', model, '--weights', weightsPath, '--data', data, '--scales', '8;12');
    expect(r.code).toBe(1);
    expect(errors(r.err)).toMatch(/^vggc: error: --scales must be positive integers/);
    r = vggc('eval', model, '--weights', weightsPath, '--data', data, '--no-dense');
    expect(errors(r.err)).toBe(
      'vggc: error: --no-dense needs --multi-crop: nothing would be evaluated',
    );
    r = vggc('eval', model, '--weights', weightsPath, '--data', 'mnist', '--limit', '1');
    expect(r.code).toBe(1);
    expect(errors(r.err)).toBe('vggc: error: mnist: images have 1 channel(s), the model t takes 3');
    r = vggc('eval', model, '--weights', weightsPath, '--data', join(dir, 'nowhere'));
    expect(errors(r.err)).toBe(`vggc: error: ${join(dir, 'nowhere')}: no such folder`);
    for (const out of [r.err]) expect(out).not.toMatch(/\n\s+at /);
  });
});

describe('vggc classify', () => {
  const mean = [0.5, 0.4, 0.3];
  const withMean = join(dir, 'wm.safetensors');
  const labelsFile = join(dir, 'labels.txt');
  const files = [join(dir, 'a.png'), join(dir, 'b.png')];
  const sizes: [number, number][] = [
    [10, 13],
    [12, 9],
  ];
  const chw: Float32Array[] = [];

  beforeAll(async () => {
    await saveWeights(withMean, graph, weights, { mean: JSON.stringify(mean) });
    writeFileSync(labelsFile, NAMES.join('\n') + '\n');
    for (const [k, [h, w]] of sizes.entries()) {
      const bytes = Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * 37 + k * 11) % 256);
      await sharp(Buffer.from(bytes), { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toFile(files[k]!);
      const img = new Float32Array(3 * h * w);
      for (let p = 0; p < h * w; p++)
        for (let c = 0; c < 3; c++) img[c * h * w + p] = bytes[p * 3 + c]! / 255;
      chw.push(img);
    }
  });

  it('prints the five most probable classes with their probabilities', () => {
    const r = vggc(
      'classify',
      model,
      ...['--weights', withMean, '--labels', labelsFile, '--scales', '8,10', '--flip'],
      ...files,
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(
      't: dense, horizontal flips; scales 8, 10 (from --scales); mean [0.5000, 0.4000, 0.3000] ' +
        `(from ${withMean} metadata)`,
    );
    files.forEach((f, k) => {
      const [h, w] = sizes[k]!;
      const at = 1 + k * 6;
      expect(lines[at]).toBe(`${f} (3x${h}x${w}):`);
      const ref = evalRef(graph, weights, chw[k]!, [3, h, w], {
        scales: [8, 10],
        flip: true,
        dense: true,
        mean,
      }).combined;
      expect(margin(ref, 5)).toBeGreaterThan(2e-4);
      const want = order(ref).slice(0, 5);
      lines.slice(at + 1, at + 6).forEach((line, i) => {
        const m = /^ {2}(\d\.\d{4}) {2}(\w+)$/.exec(line);
        expect(m, line).not.toBeNull();
        expect(m![2]).toBe(NAMES[want[i]![1]]);
        expect(Math.abs(Number(m![1]) - want[i]![0])).toBeLessThan(1.5e-4);
      });
    });
  });

  it('refuses a scale below the minimum, a wrong label count and an unreadable image', () => {
    let r = vggc('classify', model, '--weights', withMean, '--scales', '7', files[0]!);
    expect(r.code).toBe(1);
    expect(errors(r.err)).toBe(
      'vggc: error: test scale Q=7 (from --scales) is too small for dense evaluation of t; the ' +
        'smallest dense input is 3x8x8, so Q must be at least 8',
    );
    writeFileSync(join(dir, 'six.txt'), NAMES.slice(0, 6).join('\n'));
    r = vggc('classify', model, '--weights', withMean, '--labels', join(dir, 'six.txt'), files[0]!);
    expect(errors(r.err)).toBe(
      `vggc: error: ${join(dir, 'six.txt')}: 6 class names (one per line), the model has 7 classes`,
    );
    writeFileSync(join(dir, 'junk.png'), 'not an image');
    r = vggc('classify', model, '--weights', withMean, join(dir, 'junk.png'));
    expect(r.code).toBe(1);
    expect(errors(r.err)).toMatch(/^vggc: error: .*junk\.png: cannot decode image: [^\n]+$/);
  });
});

describe('vggc eval --data mnist', () => {
  it('evaluates the first test digits with the training split mean subtracted', async () => {
    const mnistFile = join(root, 'examples/mnist.vgg');
    const mnist = checkSource({ name: mnistFile, text: readFileSync(mnistFile, 'utf8') });
    const w = join(dir, 'mnist.safetensors');
    expect(vggc('init', 'examples/mnist.vgg', '--out', w, '--scheme', 'kaiming').code).toBe(0);
    // Q = 28 is the digits' own size: the dense net at 1x1 is the FC net.
    const r = vggc(
      'eval',
      'examples/mnist.vgg',
      ...['--weights', w, '--data', 'mnist', '--scales', '28', '--batch', '3', '--limit', '6'],
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out);
    const ds = loadMnist();
    const mean = (await channelMean(ds.train))[0]!;
    const x = new Float32Array(6 * 784);
    for (let i = 0; i < 6; i++)
      x.set(
        (ds.test.image(i) as Float32Array).map((v) => v - mean),
        i * 784,
      );
    const probs = networkRef(mnist, await loadWeights(w, mnist), x, 6);
    const ranks = Array.from({ length: 6 }, (_, i) =>
      rankOf(Array.from(probs.subarray(i * 10, (i + 1) * 10)), ds.test.label(i)),
    );
    const want = {
      top1_error: ranks.filter((k) => k >= 1).length / 6,
      top5_error: ranks.filter((k) => k >= 5).length / 6,
    };
    expect(got).toEqual({ images: 6, ...want, per_scale: [{ scale: 28, ...want }] });
  });
});

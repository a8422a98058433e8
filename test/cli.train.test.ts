/**
 * `vggc train` end to end on a small learnable data set (.npy folder): it learns, logs, draws its
 * chart, writes loadable weights and checkpoints; a run killed mid-epoch leaves the previous
 * checkpoint loadable, and `--resume` finishes the run with exactly the weights of a run that was
 * never interrupted.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.js';
import { writeNpy } from '../runtime/npy.js';
import { loadCheckpoint } from '../runtime/train/checkpoint.js';
import { loadWeights } from '../runtime/weights.js';
import { randomArray } from './reference/random.js';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'vggc-train-'));
const main = join(root, 'dist/cli/main.js');
function vggc(...args: string[]) {
  const r = spawnSync(process.execPath, [main, ...args], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const MODEL = `model tiny {
  input 1x8x8
  train { batch 8; lr 0.05; momentum 0.9; weight-decay 1e-4; epochs 2 }
  conv3-4, maxpool
  FC-12, dropout 0.5
  FC-3
  soft-max
}
`;
const N = 2048;
const model = join(dir, 'tiny.vgg');
const graph = checkSource({ name: 'tiny.vgg', text: MODEL });
// Three classes: which horizontal band of the image is brightest (learnable by a small conv net).
const images = randomArray(N * 64, 5, 1);
const labels = new Int32Array(N);
for (let i = 0; i < N; i++) {
  const band = (b: number) => {
    let s = 0;
    for (let y = 3 * b; y < Math.min(8, 3 * b + 3); y++) {
      for (let x = 0; x < 8; x++) s += images[i * 64 + y * 8 + x]!;
    }
    return s / (b === 2 ? 16 : 24);
  };
  const sums = [band(0), band(1), band(2)];
  labels[i] = sums.indexOf(Math.max(...sums));
}
const data = join(dir, 'data');
const common = [
  'train',
  'tiny.vgg',
  '--data',
  'data',
  '--augment',
  'none',
  '--no-shuffle',
  '--dropout',
  '0',
  '--init',
  'glorot',
];

/** Waits until the metrics log shows steps of epoch 2 (it is flushed every 50 steps). */
async function waitForEpoch2(log: string): Promise<void> {
  const deadline = Date.now() + 100_000;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    if (text.split('\n').some((l) => l.includes('"type":"step","epoch":2'))) return;
    if (Date.now() > deadline) throw new Error('the run never reached epoch 2');
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeAll(async () => {
  writeFileSync(model, MODEL);
  mkdirSync(data);
  await writeNpy(join(data, 'images.npy'), [N, 1, 8, 8], images);
  await writeNpy(join(data, 'labels.npy'), [N], labels);
  writeFileSync(join(data, 'classes.txt'), 'top\nmiddle\nbottom\n');
});

describe('vggc train', () => {
  it('learns, logs every step and epoch, charts, and writes loadable weights', async () => {
    const r = vggc(...common, '--save', 'w.safetensors', '--log', 'm.jsonl');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/test accuracy \d+\.\d+%/);
    // Every pipeline is compiled before the first step: the compile lines come before epoch 1's.
    const compiling = r.err.search(/compiling \d+ kernels/);
    const compiled = r.err.search(/compiled \d+ kernels in/);
    expect(compiling, r.err).toBeGreaterThanOrEqual(0);
    expect(compiled).toBeGreaterThan(compiling);
    expect(r.err.search(/epoch 1/)).toBeGreaterThan(compiled);
    const lines = readFileSync(join(dir, 'm.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.type === 'step');
    const epochs = lines.filter((l) => l.type === 'epoch');
    const perEpoch = Math.floor((N * 0.8) / 8); // the folder loader holds out a test fraction
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(steps.length).toBe(epochs[1].step);
    expect(steps.at(-1).step).toBe(epochs[1].step);
    expect(Math.abs(epochs[0].step - perEpoch)).toBeLessThanOrEqual(52);
    // It learns: the first steps are at chance, the second epoch is far better.
    const early = steps.slice(0, 20).reduce((s: number, l: { loss: number }) => s + l.loss, 0) / 20;
    expect(early).toBeGreaterThan(0.9);
    expect(epochs[1].train_loss).toBeLessThan(0.75 * early);
    expect(epochs[1].test_accuracy).toBeGreaterThan(0.6);
    expect(readFileSync(join(dir, 'm.svg'), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<path d="M/);
    const w = await loadWeights(join(dir, 'w.safetensors'), graph);
    expect([...w.keys()]).toEqual([
      'features.0.weight',
      'features.0.bias',
      'classifier.0.weight',
      'classifier.0.bias',
      'classifier.3.weight',
      'classifier.3.bias',
    ]);
    // classify names the classes the training data had, without --labels.
    const png = join(dir, 'bright-top.png');
    const pixels = Buffer.from(Array.from({ length: 64 }, (_, i) => (i < 24 ? 250 : 5)));
    await sharp(pixels, { raw: { width: 8, height: 8, channels: 1 } })
      .png()
      .toFile(png);
    const c = vggc('classify', 'tiny.vgg', '--weights', 'w.safetensors', '--scales', '8', png);
    expect(c.code, c.err).toBe(0);
    const top = c.out.split('\n').find((l) => /^\s+\d\.\d{4}\s/.test(l))!;
    expect(top).toMatch(/^\s+\d\.\d{4}\s+top$/);
    const ck = await loadCheckpoint(join(dir, 'w.ckpt.safetensors'), graph);
    expect(ck.state.epoch).toBe(2);
    expect(ck.weights.get('features.0.weight')).toEqual(w.get('features.0.weight'));
    expect(ck.momenta.get('features.0.weight')!.some((v) => v !== 0)).toBe(true);
  });

  it('killed mid-epoch keeps the last checkpoint; --resume ends where an unbroken run ends', async () => {
    const log = join(dir, 'k.jsonl');
    const child = spawn(
      process.execPath,
      [main, ...common, '--save', 'k.safetensors', '--log', 'k.jsonl'],
      { cwd: dir, stdio: 'ignore' },
    );
    const exited = new Promise((r) => child.on('exit', r));
    await waitForEpoch2(log);
    child.kill('SIGKILL');
    await exited;
    const ck = await loadCheckpoint(join(dir, 'k.ckpt.safetensors'), graph);
    expect(ck.state.epoch).toBe(1);
    await loadWeights(join(dir, 'k.safetensors'), graph);
    const logged = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(logged.filter((l) => l.type === 'epoch').length).toBe(1);

    const r = vggc(...common, '--save', 'k.safetensors', '--log', 'k.jsonl', '--resume');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/resuming after epoch 1/);
    const resumed = await loadWeights(join(dir, 'k.safetensors'), graph);
    const straight = await loadWeights(join(dir, 'w.safetensors'), graph);
    for (const [name, v] of straight) expect(resumed.get(name), name).toEqual(v);
    const after = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const steps = after.filter((l) => l.type === 'step').map((l) => l.step);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('a run cut by --steps mid-epoch resumes inside that epoch, to the same weights', async () => {
    // 2 epochs are 2 x 204 steps here; stop at 300 (in epoch 2), then finish the 2 epochs.
    const first = vggc(...common, '--save', 's.safetensors', '--steps', '300');
    expect(first.code, first.err).toBe(0);
    expect((await loadCheckpoint(join(dir, 's.ckpt.safetensors'), graph)).state.step).toBe(300);
    const rest = vggc(...common, '--save', 's.safetensors', '--resume');
    expect(rest.code, rest.err).toBe(0);
    const resumed = await loadWeights(join(dir, 's.safetensors'), graph);
    const straight = await loadWeights(join(dir, 'w.safetensors'), graph);
    for (const [name, v] of straight) expect(resumed.get(name), name).toEqual(v);
    const other = vggc(...common, '--save', 's.safetensors', '--resume', '--batch', '4');
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/trained with batch 8 and seed 0: resume with the same --batch/);
  });

  it('Ctrl-C stops after the step, keeps the checkpoint and says how to resume', async () => {
    const log = join(dir, 'i.jsonl');
    const child = spawn(
      process.execPath,
      [main, ...common, '--save', 'i.safetensors', '--log', 'i.jsonl'],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitForEpoch2(log);
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    const lines = err.split('\n').filter((l) => l.startsWith('vggc'));
    expect(lines).toEqual([
      expect.stringMatching(
        /^vggc: error: interrupted at step \d+ \(epoch 2\); .*i\.ckpt\.safetensors holds epoch 1: continue with --resume$/,
      ),
    ]);
    expect((await loadCheckpoint(join(dir, 'i.ckpt.safetensors'), graph)).state.epoch).toBe(1);
  });

  it('compile --train emits the training step; --no-fuse really dispatches the unfused kernels', () => {
    const fused = vggc('compile', 'tiny.vgg', '--train', '--batch', '8', '--out', 'ct');
    expect(fused.code, fused.err).toBe(0);
    const m = /(\d+) dispatches unfused -> (\d+) fused/.exec(fused.out)!;
    expect(Number(m[1])).toBeGreaterThan(Number(m[2]));
    const plain = vggc(
      'compile',
      'tiny.vgg',
      '--train',
      '--batch',
      '8',
      '--out',
      'cu',
      '--no-fuse',
    );
    expect(plain.code, plain.err).toBe(0);
    const plan = (d: string) => JSON.parse(readFileSync(join(dir, d, 'plan.json'), 'utf8'));
    const names = (d: string) => plan(d).dispatches.map((s: { kernel: string }) => s.kernel);
    expect(names('ct').length).toBe(Number(m[2]));
    expect(names('cu').length).toBe(Number(m[1]));
    // Unfused: separate soft-max and cross-entropy kernels, ReLU kernels, one SGD per tensor.
    expect(names('cu').filter((k: string) => k.startsWith('sgd')).length).toBe(6);
    expect(names('ct').filter((k: string) => k.startsWith('sgd')).length).toBe(1);
    expect(names('cu').some((k: string) => k.startsWith('xent_grad'))).toBe(true);
    expect(names('ct').some((k: string) => k.startsWith('softmax_xent'))).toBe(true);
    expect(readdirSync(join(dir, 'cu')).filter((f) => f.startsWith('relu')).length).toBeGreaterThan(
      1,
    );
  });

  it('reports bad flags and a missing checkpoint in one line, without a stack trace', () => {
    for (const [args, message] of [
      [['--augment', 'crop'], /--augment must be 'paper' or 'none', not 'crop'/],
      [['--epochs', '0'], /--epochs must be a positive integer, not '0'/],
      [['--lr', '-1'], /--lr must be a positive number, not '-1'/],
      [['--epochs', '1', '--steps', '3'], /give --epochs or --steps, not both/],
      [['--save', 'none.safetensors', '--resume'], /none\.ckpt\.safetensors/],
    ] as const) {
      const r = vggc('train', 'tiny.vgg', '--data', 'data', '--save', 'e.safetensors', ...args);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err.split('\n').filter((l) => l && !l.startsWith('Warning:')).length).toBe(1);
      expect(r.err).not.toMatch(/ at .*\.js:\d+/);
    }
  });
});

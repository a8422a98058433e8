/**
 * Hostile input through the built `vggc` (issue 15): huge or binary model files answer fast in
 * a screenful; FIFOs and directories as inputs are refused, not waited on; `train` refuses what
 * would train silently wrong (labels outside the model, no FC layer) before any GPU work; a data
 * folder without test/ says how it was split, and an empty test split is said, never NaN%;
 * Dawn's limit warnings do not reach the user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../runtime/npy.js';
import { writeSafetensors } from '../runtime/safetensors.js';

const root = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'vggc-hostile-cli-'));
function vggc(...args: string[]) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000, // a blocked read shows as a null status, not a hung test run
  });
  return {
    code: r.status,
    out: r.stdout,
    err: r.stderr,
    seconds: (performance.now() - t) / 1000,
  };
}
/** `vggc train tiny.vgg --data DATA --save SAVE ...more`. */
const trainTiny = (data: string, save: string, ...more: string[]) =>
  vggc('train', 'tiny.vgg', '--data', data, '--save', save, ...more);
const lines = (s: string) => s.split('\n').filter((l) => l !== '').length;

const TINY = `model tiny {
  input 1x4x4
  train { batch 2; lr 0.01; epochs 1 }
  conv3-2
  FC-3
}
`;
writeFileSync(join(dir, 'tiny.vgg'), TINY);

async function npyFolder(name: string, labels: number[], classes?: string[]): Promise<string> {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const n = labels.length;
  const x = Float32Array.from({ length: n * 16 }, (_, i) => Math.sin(0.7 * i + 0.3));
  await writeNpy(join(d, 'images.npy'), [n, 1, 4, 4], x);
  await writeNpy(join(d, 'labels.npy'), [n], Int32Array.from(labels));
  if (classes) writeFileSync(join(d, 'classes.txt'), classes.join('\n') + '\n');
  return name;
}

describe('model files that are huge, binary or not files', () => {
  it('5 MB of garbage: one screenful, exit 1, in well under 20 s', () => {
    let s = 7;
    const text = Array.from({ length: 5 * 2 ** 20 }, () => {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      return ' \n$%conv3-64{}()x2=?'.charAt(s % 19);
    }).join('');
    writeFileSync(join(dir, 'garbage.vgg'), text);
    const r = vggc('check', 'garbage.vgg');
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThan(20);
    expect(lines(r.err)).toBeLessThanOrEqual(25);
    expect(r.err).not.toMatch(/at .*\.js:\d+/); // no stack trace
  }, 60_000);

  it('900 KB of bad lines: the first 20 errors and how many more', () => {
    writeFileSync(join(dir, 'bad.vgg'), 'model m { conv3-64 foo ) }\n'.repeat(35_000));
    const r = vggc('check', 'bad.vgg');
    expect(r.code).toBe(1);
    expect(r.seconds).toBeLessThan(20);
    expect(r.err.split('\n').filter((l) => /^bad\.vgg:\d+:\d+: error: /.test(l))).toHaveLength(20);
    expect(r.err).toMatch(/^vggc: note: and \d+ more errors not shown$/m);
    expect(lines(r.err)).toBeLessThanOrEqual(61);
  }, 60_000);

  it('a weight file, random bytes or UTF-16 as the model: one line saying what it is', async () => {
    await writeSafetensors(join(dir, 'w.safetensors'), [
      ['a', { shape: [4], data: new Float32Array([1, 2, 3, 4]) }],
    ]);
    const bytes = Buffer.alloc(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >> 3)) & 0xff;
    writeFileSync(join(dir, 'random.bin'), bytes);
    writeFileSync(join(dir, 'u16.vgg'), Buffer.from('\ufeff' + TINY, 'utf16le'));
    for (const [file, what] of [
      ['w.safetensors', 'a safetensors weight file'],
      ['random.bin', 'binary data'],
      ['u16.vgg', 'UTF-16 text'],
    ]) {
      const r = vggc('check', file!);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        new RegExp(`^vggc: error: ${file}: not a \\.vgg model file: it looks like ${what}`),
      );
      expect(lines(r.err)).toBe(1);
    }
  });

  it('a FIFO, a directory or a device as the model, --weights or --input: refused at once', async () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    await writeNpy(join(dir, 'x.npy'), [1, 1, 4, 4], new Float32Array(16).fill(0.5));
    const run = (model: string, weights: string, input: string) =>
      vggc('run', model, '--weights', weights, '--input', input, '--out', 'y.npy');
    for (const bad of ['fifo', '.', '/dev/zero']) {
      for (const r of [
        vggc('check', bad),
        run('tiny.vgg', 'w.safetensors', bad),
        run('tiny.vgg', bad, 'x.npy'),
      ]) {
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/cannot read: (is a named pipe|is a directory|is a device)/);
        expect(lines(r.err)).toBe(1);
      }
    }
  }, 120_000);
});

describe('vggc train refuses what would train silently wrong, before any GPU work', () => {
  it('labels outside the model classes (labels up to 199 into FC-3)', async () => {
    const data = await npyFolder('wide-labels', [0, 1, 2, 199, 5, 6, 7, 8]);
    const r = trainTiny(data, 'out.safetensors');
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${data} has 200 classes (labels 0 to 199), the model tiny 3 (its last layer is FC-3)`,
    );
  });

  it('a folder of more classes than the model has outputs', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `class${i}`);
    const data = await npyFolder('twelve', [0, 1, 2, 0, 1, 2, 0, 1], names);
    const r = trainTiny(data, 'out.safetensors');
    expect(r.code).toBe(1);
    expect(r.err).toContain('has 12 classes (labels 0 to 11), the model tiny 3');
  });

  it('a model without an FC layer, at its last convolution', async () => {
    writeFileSync(join(dir, 'nofc.vgg'), 'model nofc {\n  input 1x4x4\n  conv3-2\n  conv3-3\n}\n');
    const data = await npyFolder('three', [0, 1, 2, 0, 1, 2, 0, 1]);
    const r = vggc('train', 'nofc.vgg', '--data', data, '--save', 'out.safetensors');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^nofc\.vgg:4:3: error: model 'nofc' ends in 'conv3-3', not an FC layer/);
  });

  it('init refuses a model with no layers', () => {
    writeFileSync(join(dir, 'empty.vgg'), 'model e {\n  input 1x4x4\n}\n');
    const r = vggc('init', 'empty.vgg', '--out', 'e.safetensors');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^empty\.vgg:1:7: error: model 'e' has no layers/);
  });

  it('--test-fraction must be a plain number in [0, 1)', async () => {
    const data = await npyFolder('frac', [0, 1, 2, 0, 1, 2, 0, 1]);
    for (const bad of ['1', '-0.1', '0x1', 'abc', '']) {
      const r = trainTiny(data, 'o.safetensors', '--test-fraction', bad);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/--test-fraction/);
    }
  });
});

describe('NaN and Inf in training (GPU)', () => {
  it('NaN and Inf images: one warning with the count, on load', async () => {
    const d = join(dir, 'nan-data');
    mkdirSync(d, { recursive: true });
    const x = Float32Array.from({ length: 8 * 16 }, (_, i) => Math.cos(i));
    x[3] = NaN;
    x[40] = Infinity;
    await writeNpy(join(d, 'images.npy'), [8, 1, 4, 4], x);
    await writeNpy(join(d, 'labels.npy'), [8], Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]));
    const r = trainTiny('nan-data', 'nan.safetensors', '--augment', 'none', '--test-fraction', '0');
    const warnings = r.err.split('\n').filter((l) => l.startsWith('vggc: warning:'));
    expect(warnings).toEqual([
      `vggc: warning: ${join('nan-data', 'images.npy')}: 1 NaN and 1 infinite of 128 values; ` +
        'results computed from them will be NaN or Inf',
    ]);
  }, 300_000);

  it('a step whose loss turns NaN or Inf stops the run, naming the step', async () => {
    const data = await npyFolder('blowup', [0, 1, 2, 0, 1, 2, 0, 1]);
    const r = trainTiny(
      data,
      'blow.safetensors',
      '--augment',
      'none',
      '--test-fraction',
      '0',
      '--lr',
      '1e30',
      '--epochs',
      '50',
    );
    expect(r.code).toBe(1);
    const m =
      /^vggc: error: the loss became (NaN|-?Infinity) at step (\d+) \(epoch (\d+)\): stopped; (.*)$/m.exec(
        r.err,
      );
    expect(m, r.err).not.toBeNull();
    const epoch = Number(m![3]);
    expect(Number(m![2])).toBeGreaterThan(4 * (epoch - 1)); // 4 steps per epoch
    expect(m![4]).toMatch(
      epoch > 1
        ? new RegExp(`^blow\\.ckpt\\.safetensors keeps epoch ${epoch - 1}, the last good one`)
        : /^no epoch was complete, nothing was saved/,
    );
    expect(
      lines(
        r.err
          .split('\n')
          .filter((l) => !l.startsWith('Warning:'))
          .join('\n'),
      ),
    ).toBeLessThan(6);
  }, 300_000);
});

describe('vggc train on a folder without test/ (GPU)', () => {
  it('says how it split, says there is no test split instead of NaN%, and Dawn stays quiet', async () => {
    // 2 images per class: 20% held out rounds to none.
    const data = await npyFolder('two-each', [0, 0, 1, 1, 2, 2]);
    const r = trainTiny(data, 'two.safetensors', '--steps', '1', '--augment', 'none');
    expect(r.code).toBe(0);
    const first = r.err.split('\n').find((l) => !l.startsWith('Warning:'));
    expect(first).toBe(
      `${data}: no test/ folder: 20% of each class held out for testing (6 training, 0 test ` +
        'images); --test-fraction F to change it, 0 to train on all',
    );
    expect(r.err + r.out).not.toMatch(/NaN/);
    expect(r.err).toMatch(/no test split/);
    expect(r.out).toMatch(/no test split in two-each, nothing evaluated/);

    // Dawn's lines are routed when stderr is a terminal, a pipe or a file (what a shell gives;
    // see runtime/dawn-log.ts): here a file, through the shell.
    const cmd = `"${process.execPath}" "${join(root, 'dist/cli/main.js')}" train tiny.vgg --data ${data} --save sh.safetensors --steps 1 --augment none 2> sh.err`;
    execFileSync('sh', ['-c', cmd], { cwd: dir });
    const shErr = readFileSync(join(dir, 'sh.err'), 'utf8');
    expect(shErr).toMatch(/^tiny: training on two-each/m);
    expect(shErr).not.toMatch(/artificially reduced/);

    const all = trainTiny(
      data,
      'all.safetensors',
      '--steps',
      '1',
      '--augment',
      'none',
      '--test-fraction',
      '0',
    );
    expect(all.code).toBe(0);
    expect(all.err.split('\n').find((l) => !l.startsWith('Warning:'))).toMatch(
      /training on all \(6 training, 0 test images\)/,
    );
    expect(all.err + all.out).not.toMatch(/NaN/);
  }, 300_000);
});

/**
 * `vggc compile --dump-passes DIR`: compiler/compile.ts `passDumps` (one numbered, readable file
 * per pass) and runtime/pass-dumps.ts, which writes them and refuses a directory vggc did not
 * write; and the flag end to end.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { passDumps } from '../compiler/compile.js';
import { checkSource } from '../compiler/frontend.js';
import { VggcError } from '../dsl/diagnostics.js';
import { DUMP_MARKER, writePassDumps } from '../runtime/pass-dumps.js';
import { SMALL_NET } from './helpers.js';

const net = checkSource({ name: 'n.vgg', text: SMALL_NET });
const temp = () => mkdtempSync(join(tmpdir(), 'vggc-dump-'));

describe('passDumps', () => {
  it('numbers the input and every inference pass, and shows what each did', () => {
    const dumps = passDumps(net);
    expect(dumps.map((d) => d.file)).toEqual([
      '00-input.txt',
      '01-output-head.txt',
      '02-remove-dropout.txt',
      '03-conv-relu.txt',
      '04-fc-dropout.txt',
      '05-conv-relu-pool.txt',
      '06-softmax-xent.txt',
      '07-relu-grad-mask.txt',
      '08-sgd-one-dispatch.txt',
    ]);
    const text = (f: string) => dumps.find((d) => d.file === f)!.text;
    expect(text('00-input.txt')).toMatch(/^graph n \(9 nodes\)\n/);
    expect(text('00-input.txt')).toMatch(/%1 = conv3-4 %0 +@features\.0 +: 4x8x8\n/);
    expect(text('01-output-head.txt')).not.toContain('soft-max');
    expect(text('01-output-head.txt')).toContain('dropout 0.5');
    expect(text('02-remove-dropout.txt')).not.toContain('dropout');
    expect(text('03-conv-relu.txt')).toMatch(/%1 = conv3-4\+relu %0 +@features\.0 +: 4x8x8/);
    expect(text('05-conv-relu-pool.txt')).toMatch(
      /conv3-4\+relu\+maxpool %0 +@features\.0 +: 4x4x4/,
    );
  });

  it('dumps the training pipeline with its attributes, only the selected fusions', () => {
    const dumps = passDumps(net, { train: true, fuse: ['conv-relu', 'fc-dropout'], dropout: 0.25 });
    expect(dumps.map((d) => d.file)).toEqual([
      '00-input.txt',
      '01-set-dropout.txt',
      '02-autodiff.txt',
      '03-conv-relu.txt',
      '04-fc-dropout.txt',
    ]);
    expect(dumps[2]!.text).toMatch(/dropout-grad\{p=0\.25, stream=6\} %\d+ +: 6x1x1/);
    expect(dumps[2]!.text).toMatch(/sgd\{params=\[features\.0\]\} %\d+\n/);
    expect(dumps[4]!.text).toMatch(/FC-6\+relu\+dropout\{p=0\.25, stream=6\}/);
  });
});

describe('writePassDumps', () => {
  const dumps = passDumps(net);

  it('writes the files and the marker into a new directory, then replaces only its own', async () => {
    const dir = join(temp(), 'passes');
    await writePassDumps(dir, dumps);
    expect(readdirSync(dir).sort()).toEqual([DUMP_MARKER, ...dumps.map((d) => d.file)].sort());
    expect(readFileSync(join(dir, '03-conv-relu.txt'), 'utf8')).toBe(dumps[3]!.text);
    writeFileSync(join(dir, 'notes.md'), 'mine');
    const fewer = passDumps(net, { fuse: false });
    await writePassDumps(dir, fewer);
    expect(readdirSync(dir).sort()).toEqual(
      [DUMP_MARKER, 'notes.md', ...fewer.map((d) => d.file)].sort(),
    );
  });

  it('takes an empty directory', async () => {
    const dir = temp();
    await writePassDumps(dir, dumps);
    expect(readdirSync(dir)).toContain('00-input.txt');
  });

  it('refuses a non-empty directory it did not write, and a file, writing nothing', async () => {
    const dir = temp();
    writeFileSync(join(dir, 'keep.txt'), 'x');
    await expect(writePassDumps(dir, dumps)).rejects.toThrow(VggcError);
    await expect(writePassDumps(dir, dumps)).rejects.toThrow(
      /is a non-empty directory that vggc did not write/,
    );
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    await expect(writePassDumps(join(dir, 'keep.txt'), dumps)).rejects.toThrow(
      /is a file: refusing to replace it with a directory/,
    );
    mkdirSync(join(dir, 'sub'));
    expect(readdirSync(join(dir, 'sub'))).toEqual([]);
  });
});

describe('vggc compile --dump-passes', () => {
  const root = new URL('..', import.meta.url).pathname;
  const vggc = (...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
      cwd: root,
      encoding: 'utf8',
    });

  it('writes the graph after each pass, and refuses a foreign directory in one line', () => {
    const dir = temp();
    const r = vggc(
      'compile',
      'examples/mnist.vgg',
      '--out',
      join(dir, 'out'),
      '--dump-passes',
      join(dir, 'p'),
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/wrote the graph after each of 8 passes to /);
    expect(readdirSync(join(dir, 'p'))).toContain('05-conv-relu-pool.txt');
    writeFileSync(join(dir, 'mine.txt'), 'x');
    const refused = vggc(
      'compile',
      'examples/mnist.vgg',
      '--out',
      join(dir, 'out2'),
      '--dump-passes',
      dir,
    );
    expect(refused.status).not.toBe(0);
    expect(refused.stderr.split('\n').filter((l) => /error/.test(l))).toHaveLength(1);
    expect(refused.stderr).toMatch(/error: --dump-passes .*non-empty directory that vggc did not write/);
    expect(readdirSync(dir).sort()).toEqual(['mine.txt', 'out', 'p']); // no out2 either
  });
});

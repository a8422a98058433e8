/** End to end: the built `vggc` binary, as a user runs it (npm test builds dist/ first). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
function vggc(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vggc-cli-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('vggc check', () => {
  it('reports VGG-16 (config D) with 138,357,544 parameters', () => {
    const r = vggc('check', 'examples/vgg-paper.vgg', '--model', 'D');
    expect(r.code).toBe(0);
    expect(r.out).toContain('138,357,544');
    expect(r.out).toMatch(/conv3-64\s+64x224x224\s+1,792/);
    expect(r.out).toMatch(/FC-4096\s+4096x1x1\s+102,764,544/);
  });

  it('prints the documented JSON', () => {
    const r = vggc('check', 'examples/vgg-paper.vgg', '--model', 'A', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(Object.keys(j).sort()).toEqual(['input', 'layers', 'macs', 'model', 'params']);
    expect(j.model).toBe('A');
    expect(j.input).toEqual([3, 224, 224]);
    expect(j.params).toBe(132_863_336);
    expect(j.layers[0]).toEqual({
      op: 'conv3-64',
      out: [64, 224, 224],
      params: 1792,
      macs: 64 * 224 * 224 * 27,
    });
    for (const l of j.layers)
      expect(Object.keys(l).sort()).toEqual(['macs', 'op', 'out', 'params']);
  });

  it('--input overrides the declared input', () => {
    const j = JSON.parse(vggc('check', 'examples/mnist.vgg', '--input', '1x32x32', '--json').out);
    expect(j.input).toEqual([1, 32, 32]);
    expect(j.layers.find((l: { op: string }) => l.op === 'FC-256').params).toBe(
      32 * 8 * 8 * 256 + 256,
    );
  });

  it('prints compiler-style errors with the line and a caret, exit 1, no stack trace', () => {
    const file = tempFile('bad.vgg', 'model m {\n  input 3x8x8\n  conv5-64\n}\n');
    const r = vggc('check', file);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).toBe(
      `${file}:3:7: error: conv kernel must be 1 or 3 (conv1-C or conv3-C), not 5`,
    );
    expect(lines[1]).toBe('    conv5-64');
    expect(lines[2]).toBe('        ^');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('reports all syntax errors of a file in one run', () => {
    const file = tempFile(
      'syntax.vgg',
      'model m {\n  input 3x8x8\n  conv3-64 $\n  pool\n  FC-10\n}\n',
    );
    const r = vggc('check', file);
    expect(r.code).toBe(1);
    const heads = r.err.split('\n').filter((l) => l.startsWith(file));
    expect(heads.length).toBeGreaterThanOrEqual(2);
    expect(heads.some((l) => l.startsWith(`${file}:3:`))).toBe(true);
    expect(heads.some((l) => l.startsWith(`${file}:4:3: error: unknown layer 'pool'`))).toBe(true);
  });

  it('fails clearly on a missing file, an unknown model and a missing --model', () => {
    let r = vggc('check', 'no/such.vgg');
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe('vggc: error: no/such.vgg: cannot read: no such file or directory');
    r = vggc('check', 'examples/vgg-paper.vgg', '--model', 'Z');
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(
      "vggc: error: examples/vgg-paper.vgg: no model named 'Z' (models: A, A-LRN, B, C, D, E)",
    );
    r = vggc('check', 'examples/vgg-paper.vgg');
    expect(r.code).toBe(1);
    expect(r.err).toContain('choose one with --model NAME');
  });

  it('rejects bad arguments with usage help and a non-zero exit', () => {
    const r = vggc('check');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/missing required argument 'file'/);
    expect(vggc('check', 'examples/mnist.vgg', '--input', '28x28').err.trim()).toMatch(
      /--input must look like CxHxW/,
    );
  });
});

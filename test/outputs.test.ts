/**
 * runtime/outputs.ts: no output may be an input (by any spelling, link or hard link, or inside
 * an input folder), and an output directory is written only where vggc may write, removing
 * only what vggc wrote.
 */
import fc from 'fast-check';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUT_MARKER, checkOutputs, writeOutputDir } from '../runtime/outputs.js';
import { diagnosticsOf } from './helpers.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'vggc-outputs-'));
const message = (fn: () => unknown) =>
  diagnosticsOf(fn)
    .map((d) => d.message)
    .join('\n');

/** Every file under `dir` (relative path -> content), the marker left out. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    const rel = relative(dir, p);
    if (rel !== OUTPUT_MARKER) out[rel] = readFileSync(p, 'utf8');
  }
  return out;
}

const opts = { what: '--out', writer: 'test', forceFlag: '--force' };

describe('checkOutputs', () => {
  const dir = fresh();
  const input = join(dir, 'x.npy');
  writeFileSync(input, 'input');
  mkdirSync(join(dir, 'data', 'cls'), { recursive: true });
  mkdirSync(join(dir, 'data2'));
  symlinkSync(input, join(dir, 'link.npy'));
  linkSync(input, join(dir, 'hard.npy'));
  const inputs = [
    { path: input, what: '--input' },
    { path: join(dir, 'data'), what: '--data', folder: true },
  ];

  it('refuses an output that is an input by any spelling of its path', () => {
    const spellings = fc.constantFrom(
      input,
      join(dir, '.', 'x.npy'),
      join(dir, 'data', '..', 'x.npy'),
      join(dir, 'data', 'cls', '..', '..', 'x.npy'),
      relative(process.cwd(), input),
    );
    fc.assert(
      fc.property(spellings, (out) => {
        expect(message(() => checkOutputs([{ path: out, what: '--out' }], inputs))).toBe(
          `--out '${out}' is the same file as --input '${input}': refusing to overwrite an input`,
        );
      }),
    );
  });

  it('refuses a symbolic link to an input, a hard link to it, and an input behind a link', () => {
    for (const out of [join(dir, 'link.npy'), join(dir, 'hard.npy')]) {
      expect(message(() => checkOutputs([{ path: out, what: '--out' }], inputs))).toMatch(
        /is the same file as --input .*refusing to overwrite an input$/,
      );
    }
    const viaLink = [{ path: join(dir, 'link.npy'), what: '--weights' }];
    expect(message(() => checkOutputs([{ path: input, what: '--out' }], viaLink))).toMatch(
      /^--out '.*x\.npy' is the same file as --weights/,
    );
  });

  it('refuses an output inside an input folder at any depth, or the folder itself', () => {
    for (const out of ['labels.npy', 'cls/w.safetensors', 'new/deeper/w.safetensors']) {
      const path = join(dir, 'data', out);
      expect(message(() => checkOutputs([{ path, what: '--save' }], inputs))).toBe(
        `--save '${path}' is inside --data '${join(dir, 'data')}': refusing to write into an ` +
          'input folder',
      );
    }
    expect(() => checkOutputs([{ path: join(dir, 'data'), what: '--save' }], inputs)).toThrow(
      /is the same file as --data/,
    );
  });

  it('refuses two outputs that are one file', () => {
    const outs = [
      { path: join(dir, 'w.safetensors'), what: '--save' },
      { path: join(dir, '.', 'w.safetensors'), what: '--log' },
    ];
    expect(() => checkOutputs(outs, inputs)).toThrow(
      /--save '.*' and --log '.*' are the same file/,
    );
  });

  it('accepts distinct outputs: new files, neighbours whose names share a prefix, absent inputs', () => {
    expect(() =>
      checkOutputs(
        [
          { path: join(dir, 'y.npy'), what: '--out' },
          { path: join(dir, 'data2', 'w.safetensors'), what: '--save' },
          { path: join(dir, 'x.npy.ckpt'), what: 'the checkpoint' },
          { path: join(dir, 'nowhere', 'y.npy'), what: '--log' },
        ],
        [...inputs, { path: join(dir, 'missing.npy'), what: '--weights' }],
      ),
    ).not.toThrow();
  });
});

describe('writeOutputDir', () => {
  const files = (names: string[], tag: string) => new Map(names.map((n) => [n, `${tag}:${n}`]));

  it('a new directory appears whole, with the marker, and nothing temporary next to it', () => {
    const dir = fresh();
    const out = join(dir, 'a', 'b');
    writeOutputDir(out, files(['k.wgsl', 'plan.json'], 'v1'), opts);
    expect(tree(out)).toEqual({ 'k.wgsl': 'v1:k.wgsl', 'plan.json': 'v1:plan.json' });
    expect(JSON.parse(readFileSync(join(out, OUTPUT_MARKER), 'utf8')).files).toEqual([
      'k.wgsl',
      'plan.json',
    ]);
    expect(readdirSync(join(dir, 'a'))).toEqual(['b']);
  });

  it('refuses a file, keeping it', () => {
    const dir = fresh();
    const out = join(dir, 'plan');
    writeFileSync(out, 'mine');
    expect(message(() => writeOutputDir(out, files(['k.wgsl'], 'v'), opts))).toBe(
      `--out '${out}' is a file: refusing to replace it with a directory; name a new or empty ` +
        'directory',
    );
    expect(readFileSync(out, 'utf8')).toBe('mine');
  });

  it('writes into an empty directory', () => {
    const out = fresh();
    writeOutputDir(out, files(['k.wgsl'], 'v'), opts);
    expect(tree(out)).toEqual({ 'k.wgsl': 'v:k.wgsl' });
  });

  it('property: a non-empty directory vggc did not write is left exactly as it was', () => {
    const name = fc.stringMatching(/^[a-z]{1,6}(\.wgsl|\.json)?$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (mine, theirs, nested) => {
          const out = fresh();
          for (const f of mine) writeFileSync(join(out, f), `user:${f}`);
          if (nested) {
            mkdirSync(join(out, 'sub'));
            writeFileSync(join(out, 'sub', 'deep'), 'user:deep');
          }
          const before = tree(out);
          expect(() => writeOutputDir(out, files(theirs, 'v'), opts)).toThrow(
            /is a non-empty directory that vggc did not write .* or add --force/,
          );
          expect(tree(out)).toEqual(before);
          expect(existsSync(join(out, OUTPUT_MARKER))).toBe(false);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('property: --force adds the files and removes nothing; a rewrite removes only its own', () => {
    const name = fc.stringMatching(/^[a-z]{1,4}$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        (mine, first, second) => {
          const out = fresh();
          for (const f of mine) writeFileSync(join(out, f), `user:${f}`);
          writeOutputDir(out, files(first, 'v1'), { ...opts, force: true });
          const want: Record<string, string> = {};
          for (const f of mine) want[f] = `user:${f}`;
          for (const f of first) want[f] = `v1:${f}`;
          expect(tree(out)).toEqual(want);
          // The marker lists what vggc wrote, the user's files that --force replaced among them
          // (replaced on request); a later write without --force removes only those, and
          // refuses to replace any other file of the user's.
          const untouched = mine.filter((m) => !first.includes(m));
          if (second.some((f) => untouched.includes(f))) {
            expect(() => writeOutputDir(out, files(second, 'v2'), opts)).toThrow(
              /is there and vggc did not write it/,
            );
            expect(tree(out)).toEqual(want);
            return;
          }
          writeOutputDir(out, files(second, 'v2'), opts);
          const after: Record<string, string> = {};
          for (const f of untouched) after[f] = `user:${f}`;
          for (const f of second) after[f] = `v2:${f}`;
          expect(tree(out)).toEqual(after);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("in vggc's directory: keeps what the user added, refuses to replace a user's file", () => {
    const out = join(fresh(), 'out');
    writeOutputDir(out, files(['a.wgsl', 'plan.json'], 'v1'), opts);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    writeOutputDir(out, files(['b.wgsl', 'plan.json'], 'v2'), opts);
    expect(tree(out)).toEqual({
      'b.wgsl': 'v2:b.wgsl',
      'plan.json': 'v2:plan.json',
      'notes.txt': 'mine',
    });
    writeFileSync(join(out, 'c.wgsl'), 'mine too');
    expect(message(() => writeOutputDir(out, files(['c.wgsl'], 'v3'), opts))).toBe(
      `--out '${out}': 'c.wgsl' is there and vggc did not write it: refusing to replace it ` +
        '(add --force to replace it)',
    );
    expect(readFileSync(join(out, 'c.wgsl'), 'utf8')).toBe('mine too');
    expect(readdirSync(out).filter((f) => f.includes('tmp'))).toEqual([]);
  });
});

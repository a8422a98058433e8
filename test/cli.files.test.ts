/**
 * No command deletes or overwrites what it did not create or was not told to write (issue 15,
 * items 1 and 2), through the built CLI: `compile --out` never empties or replaces a directory
 * or file of the user's, and every output that is one of the command's inputs is refused before
 * any work, leaving the input byte for byte as it was.
 */
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
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../runtime/npy.js';
import { OUTPUT_MARKER } from '../runtime/outputs.js';
import { errorLines, vggc } from './cli-harness.js';
import { randomArray } from './reference/random.js';

const MODEL = 'model t {\n  input 1x8x8\n  conv3-4, maxpool\n  FC-3\n  soft-max\n}\n';

/** A fresh folder holding the model, some user files and a subfolder. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'vggc-files-'));
  writeFileSync(join(dir, 't.vgg'), MODEL);
  writeFileSync(join(dir, 'notes.txt'), 'my notes');
  mkdirSync(join(dir, 'photos'));
  writeFileSync(join(dir, 'photos', 'cat.png'), 'not really a png');
  return dir;
}

/** Every file under `dir`, path -> content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name), 'latin1');
  }
  return out;
}

describe('vggc compile --out', () => {
  it('refuses the current directory, the model folder and a file, changing nothing', () => {
    const dir = workspace();
    const before = snapshot(dir);
    for (const [cwd, out] of [
      [dir, '.'],
      [join(dir, 'photos'), '..'],
      [dir, dir],
    ] as const) {
      const r = vggc(['compile', join(dir, 't.vgg'), '--out', out], cwd);
      expect(r.code, r.err).toBe(1);
      const lines = errorLines(r.err);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`vggc: error: --out '${out}' is a non-empty directory that vggc`);
      expect(lines[0]).toMatch(/did not write .*add --force to add the files to it/);
      expect(snapshot(dir)).toEqual(before);
    }
    const r = vggc(['compile', 't.vgg', '--out', 'notes.txt'], dir);
    expect(r.code).toBe(1);
    expect(errorLines(r.err)).toEqual([
      "vggc: error: --out 'notes.txt' is a file: refusing to replace it with a directory; name " +
        'a new or empty directory',
    ]);
    const self = vggc(['compile', 't.vgg', '--out', 't.vgg'], dir);
    expect(self.code).toBe(1);
    expect(errorLines(self.err)).toEqual([
      "vggc: error: --out 't.vgg' is the same file as the model file 't.vgg': refusing to " +
        'overwrite an input',
    ]);
    expect(snapshot(dir)).toEqual(before);
  });

  it("writes a new directory, rewrites its own, keeps the user's files; --force adds to a full one", () => {
    const dir = workspace();
    const r = vggc(['compile', 't.vgg', '--out', 'k'], dir);
    expect(r.code, r.err).toBe(0);
    const first = readdirSync(join(dir, 'k')).sort();
    expect(first).toContain('plan.json');
    expect(first).toContain(OUTPUT_MARKER);
    writeFileSync(join(dir, 'k', 'mine.txt'), 'keep me');
    const again = vggc(['compile', 't.vgg', '--out', 'k', '--no-fuse'], dir);
    expect(again.code, again.err).toBe(0);
    expect(readFileSync(join(dir, 'k', 'mine.txt'), 'utf8')).toBe('keep me');
    const plan = JSON.parse(readFileSync(join(dir, 'k', 'plan.json'), 'utf8'));
    const wgsl = readdirSync(join(dir, 'k')).filter((f) => f.endsWith('.wgsl'));
    // Only this compile's kernels are left: the fused ones it no longer needs are gone.
    expect(wgsl.sort()).toEqual(
      [...new Set(plan.dispatches.map((d: { kernel: string }) => d.kernel))].sort(),
    );

    const before = snapshot(dir);
    const forced = vggc(['compile', '../t.vgg', '--out', '.', '--force'], join(dir, 'photos'));
    expect(forced.code, forced.err).toBe(0);
    const after = snapshot(dir);
    for (const [path, content] of Object.entries(before)) expect(after[path], path).toBe(content);
    expect(existsSync(join(dir, 'photos', 'plan.json'))).toBe(true);
  });
});

describe('an output that is an input is refused before any work', () => {
  const dir = workspace();
  const x = join(dir, 'x.npy');
  const w = join(dir, 'w.safetensors');
  const m = join(dir, 't.vgg');
  // Real images and weights, so that without the check `run` would succeed and overwrite them.
  beforeAll(async () => {
    await writeNpy(x, [2, 1, 8, 8], randomArray(2 * 64, 7, 1));
    expect(vggc(['init', m, '--out', w]).code).toBe(0);
    symlinkSync(x, join(dir, 'x-link.npy'));
    linkSync(w, join(dir, 'w-hard.safetensors'));
    writeFileSync(join(dir, 'w.ckpt.safetensors'), 'a checkpoint');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'labels.npy'), 'labels');
    writeFileSync(join(dir, 'data', 'images.npy'), 'images');
  });

  const cases: [string[], RegExp][] = [
    [
      ['run', m, '--weights', w, '--input', x, '--out', x],
      /--out '.*x\.npy' is the same file as --input/,
    ],
    [
      ['run', m, '--weights', w, '--input', x, '--out', w],
      /--out '.*w\.safetensors' is the same file as --weights/,
    ],
    [
      ['run', m, '--weights', w, '--input', x, '--out', m],
      /--out '.*t\.vgg' is the same file as the model file/,
    ],
    [
      ['run', m, '--weights', w, '--input', x, '--out', join(dir, 'x-link.npy')],
      /x-link\.npy' is the same file as --input/,
    ],
    [
      ['run', m, '--weights', w, '--input', x, '--out', join(dir, 'w-hard.safetensors')],
      /w-hard\.safetensors' is the same file as --weights/,
    ],
    [
      ['run', m, '--dense', '--weights', w, '--input', x, '--out', x],
      /is the same file as --input/,
    ],
    [['init', m, '--out', m], /--out '.*t\.vgg' is the same file as the model file/],
    [
      ['train', m, '--data', 'mnist', '--save', m],
      /--save '.*t\.vgg' is the same file as the model file/,
    ],
    [
      ['train', m, '--data', join(dir, 'data'), '--save', join(dir, 'data', 'labels.npy')],
      /--save '.*labels\.npy' is inside --data/,
    ],
    [
      ['train', m, '--data', join(dir, 'data'), '--save', join(dir, 'data', 'new.safetensors')],
      /is inside --data/,
    ],
    [
      ['train', m, '--data', 'mnist', '--weights', w, '--save', w],
      /--save '.*' is the same file as --weights/,
    ],
    [
      [
        'train',
        m,
        '--data',
        'mnist',
        '--init-from',
        join(dir, 'w.ckpt.safetensors'),
        '--save',
        join(dir, 'w'),
      ],
      /the checkpoint '.*w\.ckpt\.safetensors' is/,
    ],
    [
      ['train', m, '--data', 'mnist', '--save', join(dir, 'out.safetensors'), '--log', m],
      /--log '.*t\.vgg' is the same file as the model file/,
    ],
    [
      [
        'train',
        m,
        '--data',
        'mnist',
        '--save',
        join(dir, 'a.safetensors'),
        '--log',
        join(dir, 'a.safetensors'),
      ],
      /--save '.*' and --log '.*' are the same file/,
    ],
  ];

  it('run, run --dense, init and train: one line, exit 1, every file as it was', () => {
    // train --init-from DIR/w.ckpt.safetensors --save DIR/w: that is the checkpoint's name.
    const before = snapshot(dir);
    for (const [args, message] of cases) {
      const r = vggc(args);
      const what = args.join(' ');
      expect(r.code, `${what}\n${r.err}`).toBe(1);
      const lines = errorLines(r.err);
      expect(lines, what).toHaveLength(1);
      expect(lines[0], what).toMatch(/^vggc: error: /);
      expect(lines[0], what).toMatch(message);
      expect(snapshot(dir), what).toEqual(before);
    }
  });
});

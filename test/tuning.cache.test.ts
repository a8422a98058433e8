/**
 * The tuning cache (runtime/tuning.ts), without a GPU: where it lives, writes that merge and are
 * atomic, a corrupt or foreign file (ignored with a warning when read, refused when written),
 * entries of another adapter never used, the shipped defaults matched loosely across driver
 * versions and overridden by the user's cache, and the shipped file itself well-formed.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VggcError } from '../dsl/diagnostics.js';
import {
  adapterId,
  checkTuningCache,
  defaultCachePath,
  loadTuningTable,
  readTuningFile,
  sameFamily,
  saveTuning,
  shippedDefaultsPath,
  type AdapterId,
  type CachedLayer,
} from '../runtime/tuning.js';

const LAVAPIPE: AdapterId = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
};
/** The same software adapter after a Mesa and LLVM update. */
const LAVAPIPE_NEXT: AdapterId = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-17-0-2-256-bits-',
  description: 'llvmpipe: Mesa 25.0.9 (LLVM 17.0.2) 0.0.1',
};
const GPU: AdapterId = {
  vendor: 'nvidia',
  architecture: 'hopper',
  device: 'NVIDIA H200',
  description: 'NVIDIA: 560.35.03',
};

const KEY_A = 'conv n1 c64 k64 224x224 k3 p1';
const KEY_B = 'conv n1 c128 k128 112x112 k3 p1';
const layer = (
  algorithm: CachedLayer['algorithm'],
  speedup: number,
  rows?: number,
): CachedLayer => ({
  algorithm,
  ...(rows ? { tuning: { rows } } : {}),
  speedup,
  ms: { direct: 10, 'direct rows=4': 10 / speedup },
  date: '2026-12-02',
});

const fresh = () => mkdtempSync(join(tmpdir(), 'vggc-tuning-'));

function vggcError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof VggcError) return e.diagnostics.map((d) => d.message).join('\n');
    throw e;
  }
  throw new Error('expected a VggcError');
}

describe('where the cache lives', () => {
  it('$XDG_CACHE_HOME/vggc/tuning.json, else ~/.cache/vggc/tuning.json (a relative XDG is ignored)', () => {
    expect(defaultCachePath({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/vggc/tuning.json');
    expect(defaultCachePath({})).toMatch(/\/\.cache\/vggc\/tuning\.json$/);
    expect(defaultCachePath({ XDG_CACHE_HOME: 'rel' })).toBe(defaultCachePath({}));
  });
});

describe('saveTuning and readTuningFile', () => {
  it('creates the file and its directory, then merges: other layers and adapters kept', async () => {
    const dir = fresh();
    const path = join(dir, 'deep', 'er', 'tuning.json');
    await saveTuning(path, LAVAPIPE, { [KEY_A]: layer('direct', 1.2, 4) });
    await saveTuning(path, GPU, { [KEY_A]: layer('direct', 1) });
    await saveTuning(path, LAVAPIPE, { [KEY_B]: layer('direct', 1.3, 4) });
    // A layer measured again replaces its old entry.
    await saveTuning(path, LAVAPIPE, { [KEY_A]: layer('direct', 1) });
    const file = readTuningFile(path)!;
    expect(file['vggc-tuning']).toBe(1);
    expect(file.adapters.map((a) => a.adapter.vendor)).toEqual(['mesa', 'nvidia']);
    const mesa = file.adapters[0]!.layers;
    expect(Object.keys(mesa).sort()).toEqual([KEY_A, KEY_B].sort());
    expect(mesa[KEY_A]!.speedup).toBe(1);
    expect(mesa[KEY_A]!.tuning).toBeUndefined();
    expect(mesa[KEY_B]!.tuning).toEqual({ rows: 4 });
    // Atomic: no temporary file is left next to it.
    expect(readdirSync(join(dir, 'deep', 'er'))).toEqual(['tuning.json']);
  });

  it('an absent file reads as none', () => {
    expect(readTuningFile(join(fresh(), 'none.json'))).toBeUndefined();
    expect(checkTuningCache(join(fresh(), 'none.json'))).toBeUndefined();
  });

  it('a corrupt or foreign file: a one-line error when read, and never overwritten', async () => {
    const dir = fresh();
    const cases: [string, string, RegExp][] = [
      ['truncated.json', '{"vggc-tuning": 1, "adap', /not a vggc tuning cache \(not JSON\)/],
      ['other.json', '{"name": "some-package", "version": "1.0.0"}', /not a vggc tuning cache$/],
      ['newer.json', '{"vggc-tuning": 99, "adapters": []}', /format 99, this vggc reads 1/],
      [
        'badalg.json',
        JSON.stringify({
          'vggc-tuning': 1,
          adapters: [
            { adapter: LAVAPIPE, layers: { [KEY_A]: { ...layer('direct', 1), algorithm: 'fft' } } },
          ],
        }),
        /unknown algorithm/,
      ],
      [
        'badadapter.json',
        JSON.stringify({ 'vggc-tuning': 1, adapters: [{ adapter: { vendor: 1 }, layers: {} }] }),
        /adapters\[0\]\.adapter\.vendor is not a string/,
      ],
    ];
    for (const [name, text, why] of cases) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const read = vggcError(() => readTuningFile(path));
      expect(read.split('\n')).toHaveLength(1);
      expect(read).toContain(path);
      expect(read).toMatch(why);
      await expect(saveTuning(path, LAVAPIPE, { [KEY_A]: layer('direct', 1) })).rejects.toThrow(
        /not overwritten/,
      );
      expect(readFileSync(path, 'utf8')).toBe(text);
      expect(vggcError(() => checkTuningCache(path))).toMatch(/not overwritten/);
    }
    expect(readdirSync(dir).sort()).toEqual(cases.map((c) => c[0]).sort());
  });
});

describe('loadTuningTable', () => {
  it("uses only this adapter's entries from the user's cache", async () => {
    const path = join(fresh(), 'tuning.json');
    await saveTuning(path, GPU, { [KEY_A]: layer('direct', 2, 4) });
    await saveTuning(path, LAVAPIPE, { [KEY_B]: layer('direct', 1.5, 4) });
    const table = loadTuningTable(LAVAPIPE, { cache: path, defaults: false });
    expect([...table.keys()]).toEqual([KEY_B]);
    expect(table.get(KEY_B)).toEqual({
      algorithm: 'direct',
      tuning: { rows: 4 },
      speedup: 1.5,
      on: 'llvmpipe',
    });
    // The user's cache matches exactly: after a driver update it no longer applies.
    expect(loadTuningTable(LAVAPIPE_NEXT, { cache: path, defaults: false }).size).toBe(0);
  });

  it('fills in from the shipped defaults, matched across driver versions; the user cache wins', async () => {
    const dir = fresh();
    const defaults = join(dir, 'defaults.json');
    await saveTuning(defaults, LAVAPIPE, {
      [KEY_A]: layer('direct', 1.2, 4),
      [KEY_B]: layer('direct', 1.4, 4),
    });
    const cache = join(dir, 'tuning.json');
    await saveTuning(cache, LAVAPIPE_NEXT, { [KEY_A]: layer('direct', 1) });
    const table = loadTuningTable(LAVAPIPE_NEXT, { cache, defaults });
    expect(table.get(KEY_A)).toEqual({ algorithm: 'direct', speedup: 1, on: 'llvmpipe' });
    expect(table.get(KEY_B)!.on).toBe('llvmpipe (shipped defaults)');
    expect(table.get(KEY_B)!.tuning).toEqual({ rows: 4 });
    // Another kind of adapter gets none of them.
    expect(loadTuningTable(GPU, { cache, defaults }).size).toBe(0);
  });

  it('a broken cache file is skipped with one warning line; the defaults still apply', async () => {
    const dir = fresh();
    const defaults = join(dir, 'defaults.json');
    await saveTuning(defaults, LAVAPIPE, { [KEY_B]: layer('direct', 1.4, 4) });
    const cache = join(dir, 'tuning.json');
    writeFileSync(cache, 'garbage');
    const warnings: string[] = [];
    const table = loadTuningTable(LAVAPIPE, { cache, defaults, warn: (l) => warnings.push(l) });
    expect([...table.keys()]).toEqual([KEY_B]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: ignoring the tuning cache .*tuning\.json: not a vggc/);
    expect(warnings[0]).not.toContain('\n');
  });

  it('the adapter family: vendor, architecture and device name up to its first digit', () => {
    expect(sameFamily(LAVAPIPE, LAVAPIPE_NEXT)).toBe(true);
    expect(sameFamily(LAVAPIPE, GPU)).toBe(false);
    expect(sameFamily(LAVAPIPE, { ...LAVAPIPE, architecture: 'other' })).toBe(false);
    expect(sameFamily(LAVAPIPE, { ...LAVAPIPE, device: 'swiftshader-5' })).toBe(false);
    // No name before the first digit: nothing to match loosely on.
    expect(sameFamily({ ...GPU, device: '0x2330' }, { ...GPU, device: '0x2331' })).toBe(false);
    expect(adapterId({ ...LAVAPIPE, software: true } as never)).toEqual(LAVAPIPE);
  });
});

describe('the shipped defaults', () => {
  it('exist in the repository, read cleanly, and hold lavapipe entries', () => {
    const path = shippedDefaultsPath();
    expect(existsSync(path)).toBe(true);
    const file = readTuningFile(path)!;
    expect(file.adapters.some((a) => sameFamily(a.adapter, LAVAPIPE))).toBe(true);
    expect(loadTuningTable(LAVAPIPE_NEXT, { cache: false }).size).toBeGreaterThan(0);
  });
});

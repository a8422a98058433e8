/**
 * End to end: `vggc tune` on the SMALL_NET of test/helpers.ts on this machine's adapter, writing
 * its cache in a temporary directory (never the user's: XDG_CACHE_HOME points there), and
 * `--conv` on every command that compiles kernels: accepted, refused with a one-line error when
 * wrong, and the choice in plan.json and `vggc compile`'s per-layer table. Timings are never
 * asserted, only that they are there.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorLines, root, type CliResult } from './cli-harness.js';
import { SMALL_NET } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vggc-tune-'));
const xdg = join(dir, 'xdg');
const model = join(dir, 'small.vgg');
writeFileSync(model, SMALL_NET);

/** `vggc ...args` with XDG_CACHE_HOME in the temporary directory. */
function vggc(args: readonly string[]): CliResult {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: xdg },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Tuned {
  model: string;
  batch: number;
  train: boolean;
  cache: string;
  layers: {
    key: string;
    count: number;
    winner: number;
    speedup: number;
    candidates: { algorithm: string; name: string; ms: number }[];
  }[];
}

describe('vggc tune', () => {
  it('times every candidate of each layer (forward and backward), writes the cache, merges', () => {
    const cache = join(dir, 'cache', 'tuning.json');
    const r = vggc(['tune', model, '--train', '--runs', '1', '--cache', cache, '--json']);
    expect(r.code, r.err).toBe(0);
    const t = JSON.parse(r.out) as Tuned;
    expect(t).toMatchObject({ model: 'n', batch: 1, train: true, cache });
    // SMALL_NET's conv (3->4, 8x8): fused with its pool in the forward plan, unpooled in the
    // training step; each with the direct kernel's two tile variants and the Winograd kernels.
    // Its two FCs (64->6, 6->3) and their gradients: at batch 1 only the direct kernels.
    expect(t.layers.map((l) => l.key).sort()).toEqual([
      'conv n1 c3 k4 8x8 k3 p1',
      'conv n1 c3 k4 8x8 k3 p1 pool',
      'fc n1 c6 k3 1x1 k1 p0',
      'fc n1 c64 k6 1x1 k1 p0',
      'fc-grad-data n1 c6 k3 1x1 k1 p0',
      'fc-grad-data n1 c64 k6 1x1 k1 p0',
      'fc-grad-weight n1 c6 k3 1x1 k1 p0',
      'fc-grad-weight n1 c64 k6 1x1 k1 p0',
    ]);
    for (const l of t.layers) {
      const names = l.candidates.map((c) => c.name);
      if (l.key.startsWith('conv')) {
        expect(names.slice(0, 2)).toEqual(['direct', 'direct rows=4']);
        expect(l.candidates.map((c) => c.algorithm)).toContain('winograd-f2');
      } else {
        expect(names).toEqual(['direct']);
      }
      for (const c of l.candidates) expect(c.ms).toBeGreaterThan(0);
      expect(l.count).toBe(1);
      expect(l.speedup).toBeGreaterThan(0);
    }
    expect(r.err).toMatch(/tune .*rounds/); // the progress bar
    const file = JSON.parse(readFileSync(cache, 'utf8'));
    expect(file['vggc-tuning']).toBe(1);
    expect(file.adapters).toHaveLength(1);
    const layers = file.adapters[0].layers;
    expect(Object.keys(layers).sort()).toEqual(t.layers.map((l) => l.key).sort());
    for (const l of t.layers) {
      expect(layers[l.key].algorithm).toBe(l.candidates[l.winner]!.algorithm);
      expect(Object.keys(layers[l.key].ms)).toEqual(l.candidates.map((c) => c.name));
    }
    expect(readdirSync(join(dir, 'cache'))).toEqual(['tuning.json']);

    // Default cache: $XDG_CACHE_HOME/vggc/tuning.json, printed as a table; --conv direct.
    const d = vggc(['tune', model, '--runs', '1', '--conv', 'direct']);
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(/layer\s+x\s+candidates \(ms\)\s+winner\s+vs direct/);
    expect(d.out).toContain('conv n1 c3 k4 8x8 k3 p1 pool');
    const mine = join(xdg, 'vggc', 'tuning.json');
    expect(errorLines(d.err).at(-1)).toBe(`wrote 3 layer(s) to the tuning cache ${mine}`);

    // compile --conv auto now names the tuned layer's source in its reason.
    const c = vggc(['compile', model, '--out', join(dir, 'tuned')]);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toMatch(/conv3-4\+relu\+maxpool \(node \d+\)\s+direct.*tuned on llvmpipe: /);
  }, 600_000);

  it('refuses a cache file that is not its own, before any work, and leaves it alone', () => {
    const foreign = join(dir, 'package.json');
    writeFileSync(foreign, '{"name": "x"}');
    const r = vggc(['tune', model, '--cache', foreign]);
    expect(r.code).toBe(1);
    expect(errorLines(r.err)).toEqual([
      `vggc: error: ${foreign}: not a vggc tuning cache: not overwritten (remove it or give another --cache)`,
    ]);
    expect(readFileSync(foreign, 'utf8')).toBe('{"name": "x"}');
    const self = vggc(['tune', model, '--cache', model]);
    expect(self.code).not.toBe(0);
    expect(readFileSync(model, 'utf8')).toBe(SMALL_NET);
  });
});

describe('--conv', () => {
  it('compile: each mode is accepted; plan.json and the per-layer table carry the choice', () => {
    for (const mode of ['direct', 'winograd', 'auto']) {
      const out = join(dir, `k-${mode}`);
      const r = vggc(['compile', model, '--out', out, '--conv', mode]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`algorithm per layer (--conv ${mode}):`);
      const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8'));
      type Step = { layer: string; algorithm?: { algorithm: string; reason: string } };
      const chosen = (plan.dispatches as Step[]).filter((d) => d.algorithm);
      // SMALL_NET's conv (its Winograd kernels are two dispatches) and its two FCs.
      const convs = chosen.filter((d) => d.layer.startsWith('conv'));
      expect(chosen.filter((d) => d.layer.startsWith('FC'))).toHaveLength(2);
      expect(convs.length).toBe(mode === 'winograd' ? 2 : 1);
      const reason = {
        direct: /^--conv direct$/,
        winograd: /^--conv winograd: /,
        auto: /^(rule: |tuned on llvmpipe: )/,
      };
      for (const d of convs) {
        expect(d.algorithm!.reason).toMatch(reason[mode as keyof typeof reason]);
        // auto: the rule keeps the software adapter on the direct kernel (docs/winograd.md).
        expect(d.algorithm!.algorithm).toMatch(
          mode === 'winograd' ? /^winograd-f[24]$/ : /^direct$/,
        );
      }
    }
  });

  it('auto with a corrupt user cache: one warning line, then the rule', () => {
    const home = join(dir, 'broken');
    mkdirSync(join(home, 'vggc'), { recursive: true });
    writeFileSync(join(home, 'vggc', 'tuning.json'), '{oops');
    const r = spawnSync(
      process.execPath,
      [join(root, 'dist/cli/main.js'), 'compile', model, '--out', join(dir, 'kb')],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: home } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(errorLines(r.stderr)).toEqual([
      `warning: ignoring the tuning cache ${join(home, 'vggc', 'tuning.json')}: not a vggc tuning cache (not JSON)`,
    ]);
    expect(r.stdout).toMatch(/direct\s+rule: /);
  });

  it('every command that compiles takes it, and refuses a wrong one in one line', () => {
    const commands: string[][] = [
      ['compile', model, '--out', join(dir, 'x')],
      ['run', model, '--weights', 'w', '--input', 'i.npy', '--out', 'o.npy'],
      ['run', model, '--dense', '--weights', 'w', '--input', 'i.npy', '--out', 'o.npy'],
      ['train', model, '--data', 'mnist', '--save', 's.safetensors'],
      ['eval', model, '--weights', 'w', '--data', 'mnist'],
      ['classify', model, 'a.png', '--weights', 'w'],
      ['bench', model],
      ['tune', model],
    ];
    for (const args of commands) {
      const help = vggc([args[0]!, '--help']);
      expect(help.out, args[0]).toMatch(/--conv <modes?>/);
      const r = vggc([...args, '--conv', 'fast']);
      expect(r.code, args.join(' ')).toBe(1);
      const lines = errorLines(r.err);
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toMatch(/^vggc: error: --conv must be one of direct, winograd, auto/);
    }
    // bench compares two settings; a pair elsewhere, or a pair of the same, is refused.
    expect(vggc(['bench', model, '--conv', 'direct,direct']).err).toMatch(
      /--conv compares two different settings, not 'direct,direct'/,
    );
    expect(vggc(['bench', model, '--conv', 'direct,auto,winograd']).code).toBe(1);
    expect(vggc(['compile', model, '--out', join(dir, 'y'), '--conv', 'direct,auto']).code).toBe(1);
  });
});

/**
 * The tuning cache: what `vggc tune` (runtime/tune.ts) measured fastest per layer shape and
 * adapter, read back into the `--conv auto` chooser (compiler/chooser.ts). docs/performance.md
 * describes the format.
 *
 * - The user's cache is `$XDG_CACHE_HOME/vggc/tuning.json` (else `~/.cache/vggc/tuning.json`), or
 *   the file `--cache` names. Its entries are used for exactly the adapter they were measured on
 *   (vendor, architecture, device and description, which names the driver and its version).
 * - The shipped defaults, tuning/defaults.json in the package (same format, regenerated with
 *   `npm run tune:defaults`), fill in the layers the user's cache lacks. They match loosely: on
 *   vendor, architecture and the device name up to its first digit (lavapipe's device is
 *   `llvmpipe-llvm-15-0-6-256-bits-`, matched as `llvmpipe-llvm`), so a Mesa or LLVM point
 *   release keeps them.
 * - Reading: a cache that is unreadable, not JSON, not a vggc tuning cache, or of a newer format
 *   is ignored with a one-line warning (compiling still works, on the rule); writing into such a
 *   file is refused with a one-line error (vggc overwrites only files it wrote). Writes merge
 *   with what is there (other adapters and layers kept) and go through a temporary file and a
 *   rename, so a crash never leaves half a cache.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  APPLICABLE,
  type Algorithm,
  type Chooser,
  type ConvMode,
  type Tuning,
} from '../compiler/algorithms.js';
import { chooserFor, type TunedEntry, type TuningTable } from '../compiler/chooser.js';
import { VggcError, error } from '../dsl/diagnostics.js';
import { acquireGpu, targetOf, type AdapterDescription, type Gpu } from './device.js';
import { describeFsError, isFsError, writeFileAtomic } from './fsutil.js';

/** The format version this vggc reads and writes. */
export const TUNING_FORMAT = 1;

/** An adapter as the cache keys it: what `adapter.info` reports (runtime/device.ts). */
export interface AdapterId {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  /** Names the driver and its version on most adapters (`llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`). */
  readonly description: string;
}

/** One layer's measurement: the winner, every candidate's time, the speed-up over direct. */
export interface CachedLayer {
  readonly algorithm: Algorithm;
  readonly tuning?: Tuning;
  /** Direct kernel's time / the winner's (1 when direct won). */
  readonly speedup: number;
  /** Median GPU ms of every candidate timed (`candidateName`: `direct`, `direct rows=4`, ...). */
  readonly ms: Readonly<Record<string, number>>;
  /** When it was measured (ISO date). */
  readonly date: string;
}

export interface CachedAdapter {
  readonly adapter: AdapterId;
  readonly layers: Readonly<Record<string, CachedLayer>>;
}

/** A tuning cache file: `{ "vggc-tuning": 1, "adapters": [...] }`. */
export interface TuningFile {
  readonly 'vggc-tuning': number;
  readonly adapters: readonly CachedAdapter[];
}

/** The user's cache file: `$XDG_CACHE_HOME/vggc/tuning.json`, else `~/.cache/vggc/tuning.json`. */
export function defaultCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'vggc', 'tuning.json');
}

/** The shipped defaults: tuning/defaults.json at the package root (found from this module). */
export function shippedDefaultsPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tuning'))) {
      return join(dir, 'tuning', 'defaults.json');
    }
    const up = dirname(dir);
    if (up === dir) return join(dirname(fileURLToPath(import.meta.url)), 'tuning-defaults.json');
    dir = up;
  }
}

/** The identity the cache keys an adapter by. */
export function adapterId(a: AdapterDescription | AdapterId): AdapterId {
  return {
    vendor: a.vendor,
    architecture: a.architecture,
    device: a.device,
    description: a.description,
  };
}

const sameAdapter = (a: AdapterId, b: AdapterId) =>
  a.vendor === b.vendor &&
  a.architecture === b.architecture &&
  a.device === b.device &&
  a.description === b.description;

/** The device name up to its first digit: `llvmpipe-llvm-15-0-6-256-bits-` -> `llvmpipe-llvm`. */
const deviceFamily = (device: string) => device.replace(/[-_ .(]*\d.*$/s, '');

/** The shipped defaults' loose match: vendor, architecture and device family. */
export function sameFamily(a: AdapterId, b: AdapterId): boolean {
  const fa = deviceFamily(a.device);
  return (
    a.vendor === b.vendor &&
    a.architecture === b.architecture &&
    fa !== '' &&
    fa === deviceFamily(b.device)
  );
}

/** A short adapter name for reasons: `llvmpipe` from `llvmpipe: Mesa 25.0.7 ...`. */
export function adapterName(a: AdapterId): string {
  return a.description.split(/[:(]/)[0]!.trim() || a.device || a.vendor || 'this adapter';
}

// ---------------------------------------------------------------------------------------------
// Reading

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `v` is not a cache file's content, or undefined when it is one. */
function invalid(v: unknown): string | undefined {
  if (!isRecord(v) || !('vggc-tuning' in v)) return 'not a vggc tuning cache';
  const version = v['vggc-tuning'];
  if (typeof version !== 'number' || version > TUNING_FORMAT) {
    return `tuning cache format ${String(version)}, this vggc reads ${TUNING_FORMAT}`;
  }
  if (!Array.isArray(v.adapters)) return "no 'adapters' list";
  for (const [i, a] of v.adapters.entries()) {
    const at = `adapters[${i}]`;
    if (!isRecord(a) || !isRecord(a.adapter) || !isRecord(a.layers)) return `${at} is malformed`;
    for (const k of ['vendor', 'architecture', 'device', 'description']) {
      if (typeof a.adapter[k] !== 'string') return `${at}.adapter.${k} is not a string`;
    }
    for (const [key, l] of Object.entries(a.layers)) {
      const bad = `${at}.layers['${key}']`;
      if (!isRecord(l)) return `${bad} is malformed`;
      if (typeof l.algorithm !== 'string' || !(l.algorithm in APPLICABLE))
        return `${bad}: unknown algorithm`;
      if (typeof l.speedup !== 'number' || !(l.speedup > 0)) return `${bad}: bad speedup`;
      if (l.tuning !== undefined) {
        if (!isRecord(l.tuning)) return `${bad}: bad tuning`;
        for (const t of Object.values(l.tuning)) {
          if (typeof t !== 'number' && typeof t !== 'boolean') return `${bad}: bad tuning`;
        }
      }
      if (!isRecord(l.ms) || Object.values(l.ms).some((m) => typeof m !== 'number')) {
        return `${bad}: bad times`;
      }
      if (typeof l.date !== 'string') return `${bad}: bad date`;
    }
  }
  return undefined;
}

/**
 * The cache file at `path`: undefined when there is none; a one-line VggcError when it cannot be
 * read or is not a vggc tuning cache of a format this vggc reads.
 */
export function readTuningFile(path: string): TuningFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (isFsError(e) && e.code === 'ENOENT') return undefined;
    if (isFsError(e)) throw new VggcError(error(`${path}: ${describeFsError(e)}`));
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new VggcError(error(`${path}: not a vggc tuning cache (not JSON)`));
  }
  const why = invalid(json);
  if (why) throw new VggcError(error(`${path}: ${why}`));
  return json as TuningFile;
}

/** Where the tuning of an adapter comes from. */
export interface TuningSources {
  /** The user's cache (default: `defaultCachePath()`); false: none. */
  readonly cache?: string | false;
  /** The shipped defaults (default: `shippedDefaultsPath()`); false: none. */
  readonly defaults?: string | false;
  /** Told, in one line, about a cache file that was ignored. */
  readonly warn?: (line: string) => void;
}

/**
 * The tuned winners for `adapter`: the user's cache entries measured on exactly this adapter,
 * over the shipped defaults of its family. A broken file is skipped with a warning.
 */
export function loadTuningTable(
  adapter: AdapterDescription | AdapterId,
  sources: TuningSources = {},
): TuningTable {
  const id = adapterId(adapter);
  const table = new Map<string, TunedEntry>();
  const read = (path: string) => {
    try {
      return readTuningFile(path);
    } catch (e) {
      if (!(e instanceof VggcError)) throw e;
      sources.warn?.(`warning: ignoring the tuning cache ${e.diagnostics[0]!.message}`);
      return undefined;
    }
  };
  const add = (file: TuningFile | undefined, match: (a: AdapterId) => boolean, on: string) => {
    for (const a of file?.adapters ?? []) {
      if (!match(a.adapter)) continue;
      for (const [key, l] of Object.entries(a.layers)) {
        table.set(key, {
          algorithm: l.algorithm,
          ...(l.tuning ? { tuning: l.tuning } : {}),
          speedup: l.speedup,
          on,
        });
      }
    }
  };
  const defaults = sources.defaults ?? shippedDefaultsPath();
  if (defaults !== false) {
    add(read(defaults), (a) => sameFamily(a, id), `${adapterName(id)} (shipped defaults)`);
  }
  const cache = sources.cache ?? defaultCachePath();
  if (cache !== false) add(read(cache), (a) => sameAdapter(a, id), adapterName(id));
  return table;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * The cache file at `path` as `saveTuning` would merge into it (undefined: none yet), or a
 * one-line VggcError when it is not one vggc may overwrite: `vggc tune` checks before any work.
 */
export function checkTuningCache(path: string): TuningFile | undefined {
  try {
    return readTuningFile(path);
  } catch (e) {
    if (!(e instanceof VggcError)) throw e;
    throw new VggcError(
      error(`${e.diagnostics[0]!.message}: not overwritten (remove it or give another --cache)`),
    );
  }
}

/**
 * Merges `layers` measured on `adapter` into the cache file at `path` (created with its
 * directory when absent): other adapters and other layers are kept, these layers replaced.
 * Atomic. A file that is not a vggc tuning cache is left alone: a one-line VggcError.
 */
export async function saveTuning(
  path: string,
  adapter: AdapterDescription | AdapterId,
  layers: Readonly<Record<string, CachedLayer>>,
): Promise<TuningFile> {
  const old = checkTuningCache(path);
  const id = adapterId(adapter);
  const adapters = [...(old?.adapters ?? [])];
  const at = adapters.findIndex((a) => sameAdapter(a.adapter, id));
  const merged: CachedAdapter = {
    adapter: id,
    layers: { ...(at >= 0 ? adapters[at]!.layers : {}), ...layers },
  };
  if (at >= 0) adapters[at] = merged;
  else adapters.push(merged);
  const file: TuningFile = { 'vggc-tuning': TUNING_FORMAT, adapters };
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    if (isFsError(e)) throw new VggcError(error(`${dirname(path)}: ${describeFsError(e)}`));
    throw e;
  }
  await writeFileAtomic(path, Buffer.from(JSON.stringify(file, null, 2) + '\n', 'utf8'));
  return file;
}

// ---------------------------------------------------------------------------------------------
// The chooser of a run

/** How the runtime's entries (inference, dense, eval, training, bench) choose each layer's algorithm. */
export interface ConvOptions {
  /** `--conv`: direct kernels only, Winograd wherever it applies, or the choice (default 'auto'). */
  readonly conv?: ConvMode;
  /**
   * The tuned winners `auto` prefers (`loadTuningTable`); default: the shipped defaults of this
   * adapter only (the user's cache is read where the caller asks for it, as the CLI does).
   */
  readonly tuning?: TuningTable;
}

/** The chooser that `options` describe on `gpu`. */
export function convChooser(gpu: Gpu, options: ConvOptions = {}): Chooser {
  const mode = options.conv ?? 'auto';
  const table =
    mode === 'auto'
      ? (options.tuning ?? loadTuningTable(gpu.adapter, { cache: false }))
      : undefined;
  return chooserFor(mode, targetOf(gpu), table);
}

/**
 * The ConvOptions of a command line: `--conv` (default 'auto') and, for auto, the user's cache
 * (`cache`, default `defaultCachePath()`) over the shipped defaults of this adapter; a broken
 * cache file is skipped with a one-line warning through `warn`.
 */
export async function commandConvOptions(
  conv: ConvMode | undefined,
  o: { readonly cache?: string; readonly warn: (line: string) => void; readonly gpu?: Gpu },
): Promise<ConvOptions> {
  const mode = conv ?? 'auto';
  if (mode !== 'auto') return { conv: mode };
  const gpu = o.gpu ?? (await acquireGpu());
  const tuning = loadTuningTable(gpu.adapter, {
    warn: o.warn,
    ...(o.cache !== undefined ? { cache: o.cache } : {}),
  });
  return { conv: mode, tuning };
}

/**
 * Random initial weights, seeded and deterministic.
 *
 * Schemes (weights normal with zero mean, biases zero in all of them):
 * - `paper`: standard deviation 0.01, AlexNet's and the common reading of VGG Section 3.1
 *   (the paper's text says "variance 10^-2", i.e. std 0.1, which multiplies the variance of a deep
 *   net's activations by ~20 per layer; the std 0.01 reading is the one implementations use);
 * - `glorot`: Glorot/Xavier normal, std sqrt(2 / (fan_in + fan_out));
 * - `kaiming`: He normal, std sqrt(2 / fan_in).
 * fan_in = cin*k*k for a conv, `in` for an FC; fan_out = cout*k*k or `out`.
 *
 * Each tensor draws from its own xoshiro128** stream, seeded from the seed and the tensor's name,
 * so a tensor's values depend only on (seed, name, shape): adding a layer elsewhere leaves the
 * other tensors as they were. Normals come from Marsaglia and Tsang's ziggurat. VGG-16's 138M
 * values take one to three seconds on one core.
 */
import { fail } from '../dsl/diagnostics.js';
import type { Graph } from '../compiler/ir.js';
import { paramLayout } from '../compiler/params.js';
import { parameterLayout, type ParamSpec } from './weights.js';

export type InitScheme = 'paper' | 'glorot' | 'kaiming';

export const INIT_SCHEMES: readonly InitScheme[] = ['paper', 'glorot', 'kaiming'];

export interface InitOptions {
  readonly scheme: InitScheme;
  /** An integer; the same seed gives the same weights. */
  readonly seed: number;
}

/** fan_in and fan_out of a weight of shape `[out, in]` or `[cout, cin, k, k]`. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, d) => a * d, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: (shape[0] ?? 1) * receptive };
}

/** The standard deviation a scheme gives a weight of this shape. */
export function initStd(scheme: InitScheme, shape: readonly number[]): number {
  const { fanIn, fanOut } = fans(shape);
  switch (scheme) {
    case 'paper':
      return 0.01;
    case 'glorot':
      return Math.sqrt(2 / (fanIn + fanOut));
    case 'kaiming':
      return Math.sqrt(2 / fanIn);
  }
}

/** Initial values for every parameter of `graph`, keyed and ordered as `parameterLayout`. */
export function initWeights(graph: Graph, options: InitOptions): Map<string, Float32Array> {
  const { scheme, seed } = options;
  if (!INIT_SCHEMES.includes(scheme)) {
    fail(`unknown initialisation '${String(scheme)}'; expected ${INIT_SCHEMES.join(', ')}`);
  }
  if (!Number.isSafeInteger(seed)) fail(`the seed must be an integer, got ${seed}`);
  const out = new Map<string, Float32Array>();
  for (const p of parameterLayout(graph)) out.set(p.name, initTensor(p, scheme, seed));
  return out;
}

/** One parameter's initial values. */
export function initTensor(p: ParamSpec, scheme: InitScheme, seed: number): Float32Array {
  const data = new Float32Array(p.shape.reduce((a, d) => a * d, 1));
  if (p.kind === 'weight') {
    fillNormal(data, initStd(scheme, p.shape), new Xoshiro128(streamSeed(seed, p.name)));
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Random numbers

/** splitmix32's output function: a good 32-bit mixer. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** xoshiro128** state for one tensor, from the seed (up to 2^53) and the tensor's name. */
function streamSeed(seed: number, name: string): Uint32Array {
  let h = 0x811c9dc5; // FNV-1a over the name's UTF-16 units
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  const s = new Uint32Array(4);
  let x = mix32(lo ^ mix32(hi ^ mix32(h)));
  for (let i = 0; i < 4; i++) {
    x = mix32(x + i);
    s[i] = x;
  }
  return s;
}

/** xoshiro128** (Blackman & Vigna): a small, fast generator of 32-bit values. */
export class Xoshiro128 {
  /** The state; `fillNormal` works on copies in local variables and writes them back. */
  s0: number;
  s1: number;
  s2: number;
  s3: number;

  constructor(state: ArrayLike<number>) {
    this.s0 = state[0]! | 0;
    this.s1 = state[1]! | 0;
    this.s2 = state[2]! | 0;
    this.s3 = state[3]! | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the one forbidden state
  }

  /** The next output as a signed 32-bit integer. */
  nextInt32(): number {
    const r = Math.imul(this.s1, 5);
    const out = Math.imul((r << 7) | (r >>> 25), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return out;
  }

  /** Uniform in the open interval (0, 1). */
  nextOpen(): number {
    return ((this.nextInt32() >>> 0) + 0.5) * 2.3283064365386963e-10; // 2^-32
  }
}

// Marsaglia & Tsang's ziggurat ("The Ziggurat Method for Generating Random Variables", 2000)
// with 128 layers: ~98.8% of draws take one 32-bit value, a compare and a multiply; the rest
// fall back to an exact rejection test (and the tail beyond R to Marsaglia's exponential method).
const ZIG_R = 3.442619855899;
const ZIG_V = 9.91256303526217e-3;
const kn = new Float64Array(128);
const wn = new Float64Array(128);
const fn = new Float64Array(128);
{
  const m1 = 2147483648;
  let dn = ZIG_R;
  let tn = dn;
  const q = ZIG_V / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(ZIG_V / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
}

/** The ziggurat's slow path for a draw `hz` in layer `iz` that failed the fast test. */
function zigguratSlow(rng: Xoshiro128, hz: number, iz: number): number {
  for (;;) {
    const x = hz * wn[iz]!;
    if (iz === 0) {
      // The tail beyond R: Marsaglia's method with two exponentials.
      let tx: number;
      let ty: number;
      do {
        tx = -Math.log(rng.nextOpen()) / ZIG_R;
        ty = -Math.log(rng.nextOpen());
      } while (ty + ty < tx * tx);
      return hz > 0 ? ZIG_R + tx : -ZIG_R - tx;
    }
    if (fn[iz]! + rng.nextOpen() * (fn[iz - 1]! - fn[iz]!) < Math.exp(-0.5 * x * x)) return x;
    hz = rng.nextInt32();
    iz = hz & 127;
    if (Math.abs(hz) < kn[iz]!) return hz * wn[iz]!;
  }
}

/**
 * Fills `out` with normal(0, std) values drawn from `rng`. The fast path keeps the generator's
 * state in local variables (the same steps as `nextInt32`), which V8 runs several times faster.
 */
export function fillNormal(out: Float32Array, std: number, rng: Xoshiro128): void {
  let { s0, s1, s2, s3 } = rng;
  for (let i = 0; i < out.length; i++) {
    const r = Math.imul(s1, 5);
    const hz = Math.imul((r << 7) | (r >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const iz = hz & 127;
    if (Math.abs(hz) < kn[iz]!) {
      out[i] = std * hz * wn[iz]!;
    } else {
      Object.assign(rng, { s0, s1, s2, s3 });
      out[i] = std * zigguratSlow(rng, hz, iz);
      ({ s0, s1, s2, s3 } = rng);
    }
  }
  Object.assign(rng, { s0, s1, s2, s3 });
}

/**
 * The paper's initialisation of a deeper net from a trained shallower one (Sec. 3.1): the first
 * four conv layers and the last three FC layers take the shallower net's values, every other
 * layer keeps `fresh`'s (normally `initWeights` with the paper scheme). `trained` holds the
 * shallower net's tensors by torchvision name (a whole safetensors file: its conv layers are the
 * `features.*` weights, its FC layers the `classifier.*` weights, each in index order).
 *
 * The deeper nets add convs inside the blocks, so layers are matched by shape, in order: each of
 * the shallow net's first four convs goes to the next conv of the deep net with the same weight
 * shape (net A's 3->64, 64->128, 128->256, 256->256 land on the first conv of blocks 1 and 2 and
 * the first two of block 3 of net D). The last three FCs pair up by position and must match. A
 * layer that finds no match is an error naming it.
 */
export function initFromShallower(
  graph: Graph,
  fresh: ReadonlyMap<string, Float32Array>,
  trained: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  file: string,
): { weights: Map<string, Float32Array>; copied: string[] } {
  const layers = (names: Iterable<string>, stack: string) =>
    [...names]
      .filter((n) => n.startsWith(`${stack}.`) && n.endsWith('.weight'))
      .map((n) => n.slice(0, -'.weight'.length))
      .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  // Our layers in graph order, conv or FC as the layout says (not by the name's stack).
  const mine = paramLayout(graph).filter((p) => p.kind === 'weight');
  const shapeOf = new Map(mine.map((p) => [p.name, p.fileShape.join('x')]));
  const layerOf = (fc: boolean) =>
    mine.filter((p) => p.fc === fc).map((p) => p.name.slice(0, -'.weight'.length));
  const ours = { conv: layerOf(false), fc: layerOf(true) };
  const theirs = {
    conv: layers(trained.keys(), 'features'),
    fc: layers(trained.keys(), 'classifier'),
  };
  const theirShape = (layer: string) => trained.get(`${layer}.weight`)!.shape.join('x');
  const pairs: [string, string][] = [];
  let next = 0;
  for (const from of theirs.conv.slice(0, 4)) {
    const at = ours.conv.findIndex(
      (l, i) => i >= next && shapeOf.get(`${l}.weight`) === theirShape(from),
    );
    if (at < 0) {
      fail(
        `${file}: no conv layer of ${graph.name} after the ones already matched has the shape of '${from}' [${theirShape(from)}]`,
      );
    }
    pairs.push([ours.conv[at]!, from]);
    next = at + 1;
  }
  const fcs = Math.min(3, ours.fc.length, theirs.fc.length);
  for (let i = 1; i <= fcs; i++) pairs.push([ours.fc.at(-i)!, theirs.fc.at(-i)!]);
  if (!pairs.length) fail(`${file}: no conv or FC layers to initialise from`);
  const weights = new Map(fresh);
  const copied: string[] = [];
  for (const [to, from] of pairs) {
    for (const part of ['weight', 'bias']) {
      const src = trained.get(`${from}.${part}`);
      const dst = weights.get(`${to}.${part}`);
      if (!src || !dst) fail(`${file}: no tensor '${from}.${part}' to initialise '${to}.${part}'`);
      if (src.data.length !== dst.length) {
        fail(
          `${file}: '${from}.${part}' [${src.shape.join(', ')}] does not fit '${to}.${part}' of ${graph.name} (${dst.length} values)`,
        );
      }
      weights.set(`${to}.${part}`, Float32Array.from(src.data));
    }
    copied.push(`${to} <- ${from}`);
  }
  return { weights, copied };
}

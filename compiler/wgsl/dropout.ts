/**
 * Inverted dropout (training only; inference graphs drop the op, see compiler/passes):
 *
 *   forward   y  = x  * keep / (1 - p)
 *   backward  dx = dy * keep / (1 - p)
 *
 * The mask is NOT stored: both kernels regenerate it from a counter-based hash of
 * (seed, step, stream, element index), so the backward needs no mask buffer and the forward
 * writes nothing but y. Bit-exact, integer only:
 *
 *   pcg(v)  = PCG-RXS-M-XS hash of a u32 (Jarzynski & Olano 2020), a bijection on u32
 *   key     = pcg(seed ^ pcg(step ^ pcg(stream)))
 *   h(i)    = pcg(pcg(i ^ key) + key)                   (u32 wrap-around arithmetic)
 *   keep(i) = (h(i) >> 8) >= ceil(p * 2^24)             (u = (h >> 8) / 2^24 uniform in [0, 1); keep = u >= p)
 *
 * test/reference/dropout.ts re-implements it in TypeScript exactly. Within one (seed, step,
 * stream) distinct indices give distinct hashes (both rounds are bijections).
 *
 * seed, step and stream come from the 4-u32 read-only storage binding 'params'
 * ([seed, step, stream, unused], 16 bytes) that the runtime writes before each training step,
 * so a new step needs no recompile. Give every dropout layer its own `stream` (e.g. its layer
 * index) and bump `step` every iteration; forward and backward of one layer in one step must see
 * the same params. `p` is a compile-time constant of the layer.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import {
  elementwiseKernel,
  f32Literal,
  nameTag,
  requireBindingFits,
  requirePositiveIntegers,
} from './template.js';

export interface DropoutSpec {
  /** Elements in the whole batch. */
  readonly count: number;
  /** Probability of dropping an element, 0 <= p < 1 (the VGG paper: 0.5). */
  readonly p: number;
}

/** keep(i) = (h(i) >> 8) >= dropoutThreshold(p). */
export const dropoutThreshold = (p: number): number => Math.ceil(p * 2 ** 24);

/** y = x * keep / (1 - p): bindings 'x', 'params', 'y'. */
export function dropoutForwardKernels(spec: DropoutSpec, target: TargetInfo): Kernel[] {
  return [dropoutKernel(spec, target, 'forward')];
}

/** dx = dy * keep / (1 - p), the same mask as the forward of the same params: 'dy', 'params', 'dx'. */
export function dropoutBackwardKernels(spec: DropoutSpec, target: TargetInfo): Kernel[] {
  return [dropoutKernel(spec, target, 'backward')];
}

/**
 * The mask in WGSL, shared by every kernel that applies it (this file's and the dropout epilogue
 * of the FC forward, compiler/wgsl/fc.ts), so that a fused epilogue draws exactly the standalone
 * kernel's mask: the constants DROPOUT_THRESHOLD and DROPOUT_SCALE of `p`, `pcg`,
 * `dropout_key(params)` (the key of a [seed, step, stream, unused] block) and `kept(i, key)`
 * for element index i of the tensor. Module-scope declarations; the kernel binds 'params'.
 */
export function dropoutMaskWgsl(p: number): string {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p = ${p} is not in [0, 1)`);
  const scale = f32Literal(Math.fround(1 / (1 - p)), 'dropout');
  return `const DROPOUT_THRESHOLD: u32 = ${dropoutThreshold(p)}u; // ceil(p * 2^24), p = ${p}
const DROPOUT_SCALE: f32 = ${scale}; // 1 / (1 - p)

// PCG-RXS-M-XS 32-bit hash (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// key = pcg(seed ^ pcg(step ^ pcg(stream))) of params = [seed, step, stream, unused].
fn dropout_key(prm: vec4<u32>) -> u32 {
  return pcg(prm.x ^ pcg(prm.y ^ pcg(prm.z)));
}

// Whether element i is kept: (h(i) >> 8) >= ceil(p * 2^24), h(i) = pcg(pcg(i ^ key) + key).
fn kept(i: u32, key: u32) -> bool {
  return (pcg(pcg(i ^ key) + key) >> 8u) >= DROPOUT_THRESHOLD;
}`;
}

function dropoutKernel(
  spec: DropoutSpec,
  target: TargetInfo,
  direction: 'forward' | 'backward',
): Kernel {
  const { count, p } = spec;
  requirePositiveIntegers('dropout', { count });
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p = ${p} is not in [0, 1)`);
  requireBindingFits('dropout', count, target);
  const [src, dst] = direction === 'forward' ? ['x', 'y'] : ['dy', 'dx'];
  const name = `dropout_${direction === 'forward' ? 'fwd' : 'bwd'}_p${nameTag(p)}_${count}`;
  return elementwiseKernel(count, target, ({ T }) => ({
    name,
    header: `// dropout_${direction === 'forward' ? 'fwd' : 'bwd'}_p${nameTag(p)}: inverted dropout ${direction}, ${dst} = ${src} * keep / (1 - p), p = ${p}, elementwise over ${T}.
//   keep(i) = (h(i) >> 8) >= ceil(p * 2^24), h(i) = pcg(pcg(i ^ key) + key),
//   key = pcg(seed ^ pcg(step ^ pcg(stream))), params = [seed, step, stream, unused] (u32).
//   The mask is regenerated from params, never stored: forward and backward with the same params
//   use the same mask.`,
    bindings: [
      { tensor: src, access: 'read' },
      { tensor: 'params', access: 'read', type: 'vec4<u32>' },
      { tensor: dst, access: 'read_write' },
    ],
    decls: dropoutMaskWgsl(p),
    body: [
      'let key = dropout_key(params);',
      ...(T === 'f32'
        ? [`${dst}[i] = select(0.0, ${src}[i] * DROPOUT_SCALE, kept(i, key));`]
        : [
            'let e = i * 4u;',
            'let keep = vec4<bool>(kept(e, key), kept(e + 1u, key), kept(e + 2u, key), kept(e + 3u, key));',
            `${dst}[i] = select(vec4<f32>(0.0), ${src}[i] * DROPOUT_SCALE, keep);`,
          ]),
    ],
    // The scale multiply per element (the hash is integer work).
    flops: count,
    bytes: f32Bytes(2 * count) + 16,
  }));
}

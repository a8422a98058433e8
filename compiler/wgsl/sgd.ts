/**
 * The optimiser: PyTorch's torch.optim.SGD with momentum and weight decay (dampening 0, not
 * Nesterov), for ALL parameters of the network at once:
 *
 *   g' = g + wd * w;   v = mu * v + g';   w = w - lr * v
 *
 * With v initialised to zero the first step gives v = g', which is what PyTorch does on its
 * first step (it sets the momentum buffer to g'). Decay applies to every parameter, biases
 * included (PyTorch's default with one parameter group).
 *
 * Layout: the runtime places all parameters contiguously in one flat f32 buffer 'w', their
 * gradients at the same offsets in 'g' and the momenta in 'v' (zero-filled before the first
 * step), so the update is one elementwise pass over [0, count). One binding is limited to
 * `maxStorageBufferBindingSize` (VGG-16 has 553 MB of parameters against lavapipe's 128 MiB), so
 * the range is split into balanced chunks whose element offsets are multiples of
 * lcm(minStorageBufferOffsetAlignment, 256) / 4: one kernel (one dispatch) per chunk, each
 * binding the same byte range of 'w', 'g' and 'v'.
 *
 * lr, momentum and weight decay are read at run time from the 16-byte read-only storage binding
 * 'hyper' = f32 [lr, momentum, weightDecay, unused], so a learning-rate schedule needs no
 * recompile.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import { elementwiseKernel, lcm, partSuffix, requirePositiveIntegers } from './template.js';

export interface SgdSpec {
  /** Total parameter floats (all tensors, laid out contiguously). */
  readonly count: number;
}

/** One chunk of the flat parameter range, in floats. */
export interface SgdChunk {
  readonly offset: number;
  readonly length: number;
}

/** How [0, count) is split so that each chunk's bindings fit and start aligned. */
export function sgdChunks(spec: SgdSpec, target: TargetInfo): SgdChunk[] {
  const { count } = spec;
  if (f32Bytes(count) <= target.maxStorageBufferBindingSize) return [{ offset: 0, length: count }];
  const unit = lcm(target.minStorageBufferOffsetAlignment, 256) / 4; // floats per aligned step
  const fit = Math.floor(target.maxStorageBufferBindingSize / 4);
  const maxLen = fit - (fit % unit);
  if (maxLen < 1) throw new Error('sgd: maxStorageBufferBindingSize is below the alignment');
  const chunks = Math.ceil(count / maxLen);
  const per = Math.ceil(Math.ceil(count / chunks) / unit) * unit;
  const out: SgdChunk[] = [];
  for (let offset = 0; offset < count; offset += per) {
    out.push({ offset, length: Math.min(per, count - offset) });
  }
  return out;
}

/** One kernel per chunk of the flat parameter range, dispatched in any order (they are disjoint). */
export function sgdKernels(spec: SgdSpec, target: TargetInfo): Kernel[] {
  requirePositiveIntegers('sgd', { count: spec.count });
  const chunks = sgdChunks(spec, target);
  return chunks.map((c, i) => sgdKernel(spec, target, c, i, chunks.length));
}

function sgdKernel(
  spec: SgdSpec,
  target: TargetInfo,
  chunk: SgdChunk,
  index: number,
  count: number,
): Kernel {
  const name = `sgd_${spec.count}${partSuffix(index, count)}`;
  const bytes = { offsetBytes: f32Bytes(chunk.offset), sizeBytes: f32Bytes(chunk.length) };
  const range = count > 1 ? bytes : undefined;
  return elementwiseKernel(chunk.length, target, ({ T }) => ({
    name,
    // The chunk's place and length are in the name, the bindings and the uniforms, not in the
    // code: every chunk of every network shares one pipeline (one for vec4s, one for scalars).
    header: `// sgd: SGD with momentum and weight decay (PyTorch semantics, dampening 0), in place:
//   g' = g + wd * w;  v = mu * v + g';  w = w - lr * v     hyper = [lr, mu, wd, unused] (f32)
//   One ${T} of the parameters per invocation${count > 1 ? "; 'w', 'g', 'v' are bound to one chunk of the flat range" : ''}.`,
    bindings: [
      { tensor: 'w', access: 'read_write', range },
      { tensor: 'g', access: 'read', range },
      { tensor: 'v', access: 'read_write', range },
      { tensor: 'hyper', access: 'read', type: 'vec4<f32>' },
    ],
    body: [
      'let h = hyper;',
      'let wv = w[i];',
      'let vv = h.y * v[i] + (g[i] + h.z * wv);',
      'v[i] = vv;',
      'w[i] = wv - h.x * vv;',
    ],
    flops: 6 * chunk.length,
    bytes: f32Bytes(5 * chunk.length + 4),
  }));
}

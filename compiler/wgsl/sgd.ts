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
import { f32Bytes, type Kernel, type KernelBinding, type TargetInfo, foldGrid } from './kernel.js';
import { lcm } from './template.js';

export interface SgdSpec {
  /** Total parameter floats (all tensors, laid out contiguously). */
  readonly count: number;
}

/** One chunk of the flat parameter range, in floats. */
export interface SgdChunk {
  readonly offset: number;
  readonly length: number;
}

const WORKGROUP = 256;

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
  if (!Number.isInteger(spec.count) || spec.count < 1) {
    throw new Error('sgd: count must be a positive integer');
  }
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
  const V = chunk.length % 4 === 0 ? 4 : 1;
  const T = V === 4 ? 'vec4<f32>' : 'f32';
  const items = chunk.length / V;
  const [gx, gy] = foldGrid(Math.ceil(items / WORKGROUP), target.maxComputeWorkgroupsPerDimension);
  const name = `sgd_${spec.count}` + (count > 1 ? `_part${index}of${count}` : '');
  const range =
    count > 1 ? { offsetBytes: f32Bytes(chunk.offset), sizeBytes: f32Bytes(chunk.length) } : {};
  const bindings: KernelBinding[] = [
    { binding: 0, tensor: 'w', access: 'read_write', ...range },
    { binding: 1, tensor: 'g', access: 'read', ...range },
    { binding: 2, tensor: 'v', access: 'read_write', ...range },
    { binding: 3, tensor: 'hyper', access: 'read' },
  ];
  const code = `// ${name}: SGD with momentum and weight decay (PyTorch semantics, dampening 0), in place:
//   g' = g + wd * w;  v = mu * v + g';  w = w - lr * v     hyper = [lr, mu, wd, unused] (f32)
//   Parameters ${chunk.offset}..${chunk.offset + chunk.length - 1} of ${spec.count} (chunk ${index + 1} of ${count})${count > 1 ? `; 'w', 'g', 'v' bound from byte ${f32Bytes(chunk.offset)}, ${f32Bytes(chunk.length)} bytes` : ''}.
//   Workgroup size ${WORKGROUP}; dispatch (${gx}, ${gy}, 1), one ${T} per invocation.

const ITEMS: u32 = ${items}u;
const ROW: u32 = ${gx * WORKGROUP}u; // invocations per grid row

@group(0) @binding(0) var<storage, read_write> w: array<${T}>;
@group(0) @binding(1) var<storage, read> g: array<${T}>;
@group(0) @binding(2) var<storage, read_write> v: array<${T}>;
@group(0) @binding(3) var<storage, read> hyper: vec4<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * ROW;
  if (i >= ITEMS) { return; }
  let h = hyper;
  let wv = w[i];
  let vv = h.y * v[i] + (g[i] + h.z * wv);
  v[i] = vv;
  w[i] = wv - h.x * vv;
}
`;
  return {
    name,
    code,
    entryPoint: 'main',
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch: [gx, gy, 1],
    bindings,
    flops: 6 * chunk.length,
    bytes: f32Bytes(5 * chunk.length + 4),
  };
}

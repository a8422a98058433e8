/**
 * Standalone ReLU backward, dx = dy * (x > 0), for graphs compiled without fusion (`--no-fuse`).
 * 'x' may be the ReLU's input or its output: both are > 0 exactly where the input is. (A NaN in
 * 'x' gives dx = 0; WGSL lets implementations assume there are no NaNs, so that is not relied on.)
 *
 * Elementwise and load-bound: vec4 loads and stores when the count is a multiple of 4, one scalar
 * element per invocation otherwise.
 */
import { f32Bytes, type Kernel, type TargetInfo, foldGrid } from './kernel.js';

export interface ReluBackwardSpec {
  /** Elements in the whole batch. */
  readonly count: number;
}

const WORKGROUP = 256;

export function reluBackwardKernels(spec: ReluBackwardSpec, target: TargetInfo): Kernel[] {
  const { count } = spec;
  if (!Number.isInteger(count) || count < 1) {
    throw new Error('relu backward: count must be a positive integer');
  }
  if (f32Bytes(count) > target.maxStorageBufferBindingSize) {
    throw new Error(`relu backward: ${f32Bytes(count)} bytes exceed maxStorageBufferBindingSize`);
  }
  const V = count % 4 === 0 ? 4 : 1;
  const T = V === 4 ? 'vec4<f32>' : 'f32';
  const items = count / V;
  const [gx, gy] = foldGrid(Math.ceil(items / WORKGROUP), target.maxComputeWorkgroupsPerDimension);
  const name = `relu_bwd_${count}`;
  const code = `// ${name}: ReLU backward, dx = dy * (x > 0), over ${count} floats (${items} ${T}).
//   x: the ReLU's input or output; dy, dx: same shape.
//   Workgroup size ${WORKGROUP}; dispatch (${gx}, ${gy}, 1), one ${T} per invocation.

const ITEMS: u32 = ${items}u;
const ROW: u32 = ${gx * WORKGROUP}u; // invocations per grid row

@group(0) @binding(0) var<storage, read> x: array<${T}>;
@group(0) @binding(1) var<storage, read> dy: array<${T}>;
@group(0) @binding(2) var<storage, read_write> dx: array<${T}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * ROW;
  if (i >= ITEMS) { return; }
  dx[i] = select(${T}(0.0), dy[i], x[i] > ${T}(0.0));
}
`;
  return [
    {
      name,
      code,
      entryPoint: 'main',
      workgroupSize: [WORKGROUP, 1, 1],
      dispatch: [gx, gy, 1],
      bindings: [
        { binding: 0, tensor: 'x', access: 'read' },
        { binding: 1, tensor: 'dy', access: 'read' },
        { binding: 2, tensor: 'dx', access: 'read_write' },
      ],
      flops: count,
      bytes: f32Bytes(3 * count),
    },
  ];
}

/**
 * Standalone ReLU, y = max(x, 0), for graphs compiled without fusion (`--no-fuse`). With fusion
 * the ReLU runs in the producing conv's or FC's epilogue instead. The element count and the grid
 * width are read at run time from the uniform struct `dims` (Kernel.uniforms), so one pipeline
 * serves every size; whether the count is a multiple of 4 (vec4 loads) stays a code switch.
 */
import type { Kernel, TargetInfo } from './kernel.js';
import { uniformStruct } from './template.js';

export interface ReluSpec {
  /** Elements in the whole batch. */
  readonly count: number;
}

const WORKGROUP = 256;

export function reluKernels(spec: ReluSpec, target: TargetInfo): Kernel[] {
  const vec4s = Math.ceil(spec.count / 4);
  const groups = Math.ceil(vec4s / WORKGROUP);
  const gx = Math.min(groups, target.maxComputeWorkgroupsPerDimension);
  const gy = Math.ceil(groups / gx);
  const whole = spec.count % 4 === 0;
  const dims = uniformStruct(2, { count: spec.count, vec4s, row: gx * WORKGROUP });
  const code = /* wgsl */ `// relu: y = max(x, 0) over dims.count floats (dims.vec4s groups of 4${whole ? ', as vec4s' : ''})
// workgroup ${WORKGROUP}, dispatch (gx, gy, 1); row = gx x ${WORKGROUP} invocations per grid row
${dims.wgsl}

@group(0) @binding(0) var<storage, read> x: array<${whole ? 'vec4f' : 'f32'}>;
@group(0) @binding(1) var<storage, read_write> y: array<${whole ? 'vec4f' : 'f32'}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = id.y * dims.row + id.x;
  if (i >= dims.vec4s) { return; }
${
  whole
    ? '  y[i] = max(x[i], vec4f(0.0));'
    : `  for (var k = i * 4u; k < min(i * 4u + 4u, dims.count); k++) { y[k] = max(x[k], 0.0); }`
}
}
`;
  return [
    {
      name: `relu_${spec.count}`,
      code,
      entryPoint: 'main',
      workgroupSize: [WORKGROUP, 1, 1],
      dispatch: [gx, gy, 1],
      bindings: [
        { binding: 0, tensor: 'x', access: 'read' },
        { binding: 1, tensor: 'y', access: 'read_write' },
      ],
      flops: spec.count,
      bytes: spec.count * 8,
      uniforms: dims.uniforms,
    },
  ];
}

/**
 * Standalone ReLU backward, dx = dy * (x > 0), for graphs compiled without fusion (`--no-fuse`).
 * 'x' may be the ReLU's input or its output: both are > 0 exactly where the input is. (A NaN in
 * 'x' gives dx = 0; WGSL lets implementations assume there are no NaNs, so that is not relied on.)
 *
 * Elementwise and load-bound: vec4 loads and stores when the count is a multiple of 4, one scalar
 * element per invocation otherwise.
 */
import { f32Bytes, type Kernel, type TargetInfo } from './kernel.js';
import { elementwiseKernel, requireBindingFits, requirePositiveIntegers } from './template.js';

export interface ReluBackwardSpec {
  /** Elements in the whole batch. */
  readonly count: number;
}

export function reluBackwardKernels(spec: ReluBackwardSpec, target: TargetInfo): Kernel[] {
  const { count } = spec;
  requirePositiveIntegers('relu backward', { count });
  requireBindingFits('relu backward', count, target);
  const name = `relu_bwd_${count}`;
  return [
    elementwiseKernel(count, target, ({ T }) => ({
      name,
      header: `// relu_bwd: ReLU backward, dx = dy * (x > 0), elementwise over ${T}.
//   x: the ReLU's input or output; dy, dx: same shape.`,
      bindings: [
        { tensor: 'x', access: 'read' },
        { tensor: 'dy', access: 'read' },
        { tensor: 'dx', access: 'read_write' },
      ],
      body: [`dx[i] = select(${T}(0.0), dy[i], x[i] > ${T}(0.0));`],
      flops: count,
      bytes: f32Bytes(3 * count),
    })),
  ];
}

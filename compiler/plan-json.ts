/**
 * `plan.json`, written by `vggc compile`: which kernels run, in what order, on which buffers.
 */
import { planStats, type KernelPlan } from './plan.js';

export interface PlanFiles {
  /** File name -> WGSL text, one per distinct kernel. */
  readonly wgsl: ReadonlyMap<string, string>;
  readonly json: unknown;
}

export function planFiles(plan: KernelPlan): PlanFiles {
  const fileOf = new Map<string, string>();
  const layersOf = new Map<string, string[]>();
  for (const { kernel, label, node, algorithm } of plan.steps) {
    const layers = layersOf.get(kernel.code) ?? [];
    const how = algorithm ? ` [${algorithm.algorithm}: ${algorithm.reason}]` : '';
    layers.push(`${label} (node ${node})${how}`);
    layersOf.set(kernel.code, layers);
    if (fileOf.has(kernel.code)) continue;
    let file = `${kernel.name}.wgsl`;
    for (let i = 2; [...fileOf.values()].includes(file); i++) file = `${kernel.name}_${i}.wgsl`;
    fileOf.set(kernel.code, file);
  }
  const wgsl = new Map<string, string>();
  for (const [code, file] of fileOf) {
    const head = `// vggc ${plan.model}, batch ${plan.batch}: ${layersOf.get(code)!.join(', ')}\n`;
    wgsl.set(file, head + code);
  }
  const stats = planStats(plan);
  const json = {
    model: plan.model,
    batch: plan.batch,
    input: plan.input,
    output: { tensor: plan.output, shape: plan.outputShape },
    summary: {
      dispatches: stats.dispatches,
      kernels: stats.kernels,
      flops: stats.flops,
      bytesMoved: stats.bytes,
      peakActivationBytes: plan.memory.peakBytes,
      paramBytes: plan.paramBytes,
    },
    buffers: plan.memory.buffers.map((bytes, id) => ({
      id,
      bytes,
      tensors: [...plan.memory.assignment].filter(([, b]) => b === id).map(([t]) => t),
    })),
    tensors: plan.tensors.map((t) => ({
      name: t.name,
      kind: t.kind,
      shape: t.shape,
      bytes: t.bytes,
      ...(plan.memory.assignment.has(t.name) ? { buffer: plan.memory.assignment.get(t.name) } : {}),
      ...(t.view ? { view: t.view } : {}),
    })),
    dispatches: plan.steps.map((s) => ({
      layer: s.label,
      node: s.node,
      kernel: fileOf.get(s.kernel.code),
      workgroupSize: s.kernel.workgroupSize,
      workgroups: s.kernel.dispatch,
      bindings: s.kernel.bindings.map((b) => ({
        binding: b.binding,
        tensor: s.bind[b.tensor],
        access: b.access,
        ...(b.offsetBytes !== undefined
          ? { offsetBytes: b.offsetBytes, sizeBytes: b.sizeBytes }
          : {}),
      })),
      flops: s.kernel.flops,
      bytes: s.kernel.bytes,
      ...(s.algorithm ? { algorithm: s.algorithm } : {}),
      ...(s.kernel.uniforms
        ? {
            uniforms: Object.fromEntries(
              s.kernel.uniforms.fields.map((f, i) => [f, s.kernel.uniforms!.values[i]]),
            ),
          }
        : {}),
    })),
  };
  return { wgsl, json };
}

/**
 * What a WGSL generator hands to the scheduler and the runtime: one compute shader specialised on
 * constant shapes and tile sizes, how to dispatch it, and what to bind.
 *
 * compiler/ builds these; runtime/ creates pipelines from `code`, binds buffers by `tensor`,
 * and dispatches. Nothing here touches a GPU.
 */

/** What the target adapter allows, read from `device.limits` and its features (never assumed). */
export interface TargetInfo {
  readonly maxStorageBufferBindingSize: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly minStorageBufferOffsetAlignment: number;
  /** WGSL subgroup built-ins (`enable subgroups;`) are available. */
  readonly subgroups: boolean;
  /** The smallest subgroup the adapter may run (`adapter.info.subgroupMinSize`), when it says. */
  readonly subgroupMinSize?: number;
  /** A CPU adapter (lavapipe): kernels pick the designs measured fastest there. */
  readonly software: boolean;
}

/** A storage binding of (part of) one logical tensor. */
export interface KernelBinding {
  /** `@binding(n)` in `@group(0)`. */
  readonly binding: number;
  /** Which tensor of the op: 'x' input, 'y' output, 'w' weight, 'b' bias, or an op-specific name. */
  readonly tensor: string;
  readonly access: 'read' | 'read_write';
  /** Byte range of the tensor bound here; the whole tensor when absent. */
  readonly offsetBytes?: number;
  readonly sizeBytes?: number;
}

export interface Kernel {
  /** Unique, readable, file-name-safe: `conv3x3_c64_k128_224x224_n1`. */
  readonly name: string;
  /** The WGSL module, starting with a header comment (what it computes, shapes, tiles, dispatch). */
  readonly code: string;
  readonly entryPoint: string;
  readonly workgroupSize: readonly [number, number, number];
  readonly dispatch: readonly [number, number, number];
  readonly bindings: readonly KernelBinding[];
  /** Floating-point operations per dispatch (2 per multiply-add), for GFLOP/s reports. */
  readonly flops: number;
  /** Bytes read and written by one dispatch, counted once per tensor, for GB/s reports. */
  readonly bytes: number;
  /**
   * Sizes the kernel reads at run time instead of as WGSL constants (spatial size, batch,
   * a chunk's offset), so that one pipeline serves every value: the runtime binds a uniform
   * buffer holding `values` as u32, in the order of the WGSL struct that `uniformStruct`
   * (compiler/wgsl/template.ts) declares at `binding`.
   */
  readonly uniforms?: KernelUniforms;
}

/** The values of a kernel's uniform struct (all u32), bound at `@binding(binding)`. */
export interface KernelUniforms {
  readonly binding: number;
  /** Field names, in struct order (for the kernel header and tests). */
  readonly fields: readonly string[];
  readonly values: readonly number[];
}

/** Size in bytes of `n` f32 values. */
export const f32Bytes = (n: number): number => n * 4;

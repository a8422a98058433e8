/**
 * The one place vggc acquires a WebGPU device (Dawn, through the `webgpu` package).
 *
 * Dawn facts this module encodes (docs/dawn-and-lavapipe.md has the measurements):
 * - the object returned by `create()` must stay strongly referenced for the life of the process,
 *   or a garbage collection can crash Dawn; it is kept in a module-level constant;
 * - the device's default limits are lower than the adapter's: request the adapter's own;
 * - Node does not exit while the device is alive: call `releaseGpu()` when the work is done.
 */
import { create, globals } from 'webgpu';
import { VggcError, error } from '../dsl/diagnostics.js';
import type { TargetInfo } from '../compiler/wgsl/kernel.js';
import { withDawnLog } from './dawn-log.js';

Object.assign(globalThis, globals);

let gpuInstance: GPU | undefined;

function gpu(): GPU {
  // Module-level strong reference: see the note above.
  gpuInstance ??= create([]) as GPU;
  return gpuInstance;
}

export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for a CPU implementation such as Mesa's lavapipe (llvmpipe). */
  readonly software: boolean;
}

export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  /** Whether WGSL `subgroupBroadcast` and friends may be used. */
  readonly subgroups: boolean;
  /** The adapter's smallest subgroup size, when it reports one. */
  readonly subgroupMinSize?: number;
  /** Errors reported by Dawn outside any error scope (validation, out-of-memory), oldest first. */
  readonly uncapturedErrors: string[];
}

/** The optional features vggc uses when the adapter offers them. */
const WANTED_FEATURES = ['subgroups', 'timestamp-query', 'shader-f16'] as const;

/** Limits copied from the adapter to the device request, so kernels see the real maxima. */
const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxBindingsPerBindGroup',
  'maxTextureDimension2D',
  'maxTextureArrayLayers',
  'maxUniformBufferBindingSize',
] as const;

let current: Promise<Gpu> | undefined;

/**
 * Returns the process-wide GPU, acquiring it on first use. Fails with a VggcError, never a hang,
 * when there is no adapter.
 */
export function acquireGpu(): Promise<Gpu> {
  current ??= openGpu().catch((e: unknown) => {
    current = undefined;
    throw e;
  });
  return current;
}

/**
 * A second device on the process's adapter, for runtime/warmup.ts to compile pipelines on a
 * second lavapipe queue thread; the caller destroys it. Not the process-wide GPU.
 */
export const openExtraGpu = (): Promise<Gpu> => openGpu();

async function openGpu(): Promise<Gpu> {
  // Dawn prints two harmless limit warnings on lavapipe while it looks for adapters: routed.
  const adapter = await withDawnLog(() =>
    gpu().requestAdapter({ powerPreference: 'high-performance' }),
  );
  if (!adapter) {
    throw new VggcError(
      error(
        'no WebGPU adapter found: run `npm run gpu-setup` (installs Mesa lavapipe on Debian 12) ' +
          'or install a Vulkan driver for your GPU',
      ),
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({
    requiredFeatures: requiredFeatures as GPUFeatureName[],
    requiredLimits,
  });
  const info = adapter.info;
  const description = info.description || info.device || info.vendor || 'unknown adapter';
  const uncapturedErrors: string[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    uncapturedErrors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  return {
    device,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description,
      software: /llvmpipe|lavapipe|swiftshader|software/i.test(
        `${description} ${info.architecture} ${info.device}`,
      ),
    },
    limits: device.limits,
    features: new Set(requiredFeatures),
    subgroups: device.features.has('subgroups'),
    ...(info.subgroupMinSize ? { subgroupMinSize: info.subgroupMinSize } : {}),
    uncapturedErrors,
  };
}

/**
 * Runs `body` inside validation and out-of-memory error scopes and turns anything Dawn reports
 * into a VggcError, so a bad binding or an oversized buffer is a clear failure, not silent zeros.
 */
export async function checked<T>(g: Gpu, what: string, body: () => T | Promise<T>): Promise<T> {
  g.device.pushErrorScope('out-of-memory');
  g.device.pushErrorScope('validation');
  let result: T;
  try {
    result = await body();
  } finally {
    const validation = await g.device.popErrorScope();
    const oom = await g.device.popErrorScope();
    const problem = validation ?? oom;
    if (problem) {
      const kind = oom && !validation ? 'out of GPU memory' : 'GPU validation error';
      // eslint-disable-next-line no-unsafe-finally
      throw new VggcError(error(`${what}: ${kind}: ${firstLine(problem.message)}`));
    }
  }
  return result;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? s
  );
}

/** Destroys the device so that Node can exit. A later `acquireGpu()` opens a new one. */
export async function releaseGpu(): Promise<void> {
  if (!current) return;
  const g = await current.catch(() => undefined);
  current = undefined;
  g?.device.destroy();
}

/** What the compiler may assume about this GPU: read from the device, never guessed. */
export function targetOf(g: Gpu): TargetInfo {
  return {
    maxStorageBufferBindingSize: g.limits.maxStorageBufferBindingSize,
    maxComputeWorkgroupsPerDimension: g.limits.maxComputeWorkgroupsPerDimension,
    maxComputeInvocationsPerWorkgroup: g.limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupStorageSize: g.limits.maxComputeWorkgroupStorageSize,
    minStorageBufferOffsetAlignment: g.limits.minStorageBufferOffsetAlignment,
    subgroups: g.subgroups,
    ...(g.subgroupMinSize ? { subgroupMinSize: g.subgroupMinSize } : {}),
    software: g.adapter.software,
  };
}

// Prints one JSON line describing the WebGPU adapter Dawn finds, or {"adapter":null}.
// Runs in its own process so that a crash or hang inside Dawn cannot take the caller down.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
globalThis.__vggcGpu = gpu; // Dawn needs a strong reference for the life of the process.
const adapter = await gpu.requestAdapter();
const out = adapter
  ? {
      adapter: {
        vendor: adapter.info.vendor,
        architecture: adapter.info.architecture,
        device: adapter.info.device,
        description: adapter.info.description,
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        features: [...adapter.features].sort(),
      },
    }
  : { adapter: null };
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);

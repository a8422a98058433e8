/**
 * TensorFlow.js's WebGPU backend on the same adapter, for comparison: VGG-16's convolutional
 * part at 224, batch 1. TF.js finds the GPU through `navigator.gpu`, which Node 20 lacks: it is
 * given Dawn's GPU object (the one runtime/device.ts also uses, so both run on one adapter).
 */
import { create } from 'webgpu';

export async function tfjsVgg16FeaturesMs(runs: number): Promise<number> {
  const gpu = create([]);
  (globalThis as Record<string, unknown>).__tfjsGpu = gpu; // Dawn needs a strong reference
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
  const m = tf.sequential();
  const stacks: [number, number][] = [
    [64, 2],
    [128, 2],
    [256, 3],
    [512, 3],
    [512, 3],
  ];
  let first = true;
  for (const [filters, n] of stacks) {
    for (let i = 0; i < n; i++) {
      m.add(
        tf.layers.conv2d({
          filters,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          ...(first ? { inputShape: [224, 224, 3] } : {}),
        }),
      );
      first = false;
    }
    m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
  }
  const x = tf.randomNormal([1, 224, 224, 3]);
  const once = async () => {
    const t = performance.now();
    const y = m.predict(x) as import('@tensorflow/tfjs').Tensor;
    await y.data();
    y.dispose();
    return performance.now() - t;
  };
  await once(); // warm-up: shader compiles
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  x.dispose();
  m.dispose();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

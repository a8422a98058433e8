/**
 * TensorFlow.js's WebGPU backend on the same adapter, for comparison: VGG-16's convolutional
 * part at 224, batch 1, and a training step of the MNIST net (examples/mnist.vgg). TF.js finds
 * the GPU through `navigator.gpu`, which Node 20 lacks: it is given a Dawn GPU object of its own
 * (`create()` again; Dawn picks the same adapter that runtime/device.ts uses).
 */
import { create, globals } from 'webgpu';

type Tf = typeof import('@tensorflow/tfjs');

let loaded: Promise<Tf> | undefined;

/** Loads TF.js with its WebGPU backend once per process. */
function tfjs(): Promise<Tf> {
  loaded ??= (async () => {
    Object.assign(globalThis, globals); // GPUBufferUsage & co., which TF.js reads as globals
    const gpu = create([]);
    (globalThis as Record<string, unknown>).__tfjsGpu = gpu; // Dawn needs a strong reference
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    await tf.ready();
    return tf;
  })();
  return loaded;
}

/** Destroys TF.js's WebGPU device (Node does not exit while a Dawn device is alive). */
export async function releaseTfjs(): Promise<void> {
  if (!loaded) return;
  const tf = await loaded;
  const backend = tf.backend() as unknown as { device?: GPUDevice };
  backend.device?.destroy();
  loaded = undefined;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function tfjsVgg16FeaturesMs(runs: number): Promise<number> {
  const tf = await tfjs();
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
  return median(times);
}

/**
 * The MNIST net of examples/mnist.vgg in TF.js, ready to train: conv3-16 x2, maxpool, conv3-32
 * x2, maxpool, FC-256 (ReLU), dropout 0.25, FC-10, soft-max cross-entropy (mean over the batch),
 * SGD with momentum (`tf.train.momentum`, which has no weight decay). `images` is N x 1 x 28 x 28
 * (with one channel the same floats as NHWC), `labels` N class indices. `step()` runs one SGD
 * step on that batch and reads the loss back, as vggc's trainer does, and returns its wall time.
 */
export async function tfjsMnistTrainer(
  images: Float32Array,
  labels: Int32Array,
  options: { lr: number; momentum: number },
): Promise<{ name: string; step(): Promise<[number, number]>; dispose(): void }> {
  const tf = await tfjs();
  type Tensor = import('@tensorflow/tfjs').Tensor;
  type Scalar = import('@tensorflow/tfjs').Scalar;
  const n = labels.length;
  const conv = (filters: number, first = false) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      ...(first ? { inputShape: [28, 28, 1] } : {}),
    });
  const m = tf.sequential({
    layers: [
      conv(16, true),
      conv(16),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      conv(32),
      conv(32),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 256, activation: 'relu' }),
      tf.layers.dropout({ rate: 0.25 }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  const optimizer = tf.train.momentum(options.lr, options.momentum);
  const x = tf.tensor4d(images, [n, 28, 28, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10));
  return {
    name: 'TF.js',
    async step() {
      const t = performance.now();
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true }) as Tensor) as Scalar,
        true,
      )!;
      const value = (await loss.data())[0]!;
      loss.dispose();
      return [performance.now() - t, value];
    },
    dispose() {
      x.dispose();
      y.dispose();
      optimizer.dispose();
      m.dispose();
    },
  };
}

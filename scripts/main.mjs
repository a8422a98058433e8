#!/usr/bin/env node
// The README's main job: train the MNIST net of examples/mnist.vgg on the bundled digits on the
// GPU (the software adapter on a machine without one), report its test accuracy, then evaluate
// it as the paper does (dense, horizontal flips, several scales) and print the table.
// Weights, checkpoint, metrics log and chart land in runs/mnist/.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const out = 'runs/mnist';
mkdirSync(out, { recursive: true });
const weights = `${out}/mnist.safetensors`;
const started = performance.now();

function vggc(args, capture = false) {
  console.log(`\n$ vggc ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['dist/cli/main.js', ...args], {
    stdio: ['inherit', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
  });
  if (capture && r.stdout) process.stdout.write(r.stdout);
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout ?? '';
}

vggc(['check', 'examples/mnist.vgg']);
// Digits are not mirror-symmetric: the paper's random flips are off for training here (the
// rest of its augmentation stays: scale jittering in the model's train { scale } and crops).
// The paper's std-0.01 init does not start this net moving within an epoch (the paper trained
// its deep nets from a shallower one); Kaiming init and a cosine schedule reach 98% in time.
const trained = vggc(
  [
    'train',
    'examples/mnist.vgg',
    '--data',
    'mnist',
    '--init',
    'kaiming',
    '--lr-schedule',
    'cosine',
    '--no-flip',
    '--save',
    weights,
    '--log',
    `${out}/metrics.jsonl`,
  ],
  true,
);
// The paper's test protocol (Sec. 3.2): dense evaluation at the model's test scales, with the
// horizontal flips averaged in (which digits, unlike natural images, do not like).
vggc(['eval', 'examples/mnist.vgg', '--weights', weights, '--data', 'mnist', '--flip']);

const minutes = (performance.now() - started) / 60000;
const accuracy = Number(/test accuracy ([\d.]+)%/.exec(trained)?.[1] ?? NaN);
console.log(`\nmain job: test accuracy ${accuracy.toFixed(2)}%, ${minutes.toFixed(1)} min in all`);
if (!(accuracy >= 98)) {
  console.error(`main job: the MNIST net reached ${accuracy}%, below the 98% it must reach`);
  process.exit(1);
}

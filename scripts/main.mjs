#!/usr/bin/env node
// The README's main job. For now: check the paper's six networks and the MNIST net, printing
// each one's layer table. (Later issues make this train the MNIST net and evaluate it.)
import { spawnSync } from 'node:child_process';

const vggc = ['dist/cli/main.js'];
const jobs = [
  ...['A', 'A-LRN', 'B', 'C', 'D', 'E'].map((m) => [
    'check',
    'examples/vgg-paper.vgg',
    '--model',
    m,
  ]),
  ['check', 'examples/mnist.vgg'],
];
for (const args of jobs) {
  console.log(`\n$ vggc ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [...vggc, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

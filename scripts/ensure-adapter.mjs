#!/usr/bin/env node
// Makes sure Dawn (the `webgpu` package) finds a WebGPU adapter on this machine.
//
// - A machine that already has an adapter (a real GPU, or lavapipe installed before) is left alone.
// - On Debian 12 as root with none, it installs Mesa's software Vulkan driver (lavapipe) from
//   bookworm-backports: Mesa 25. Plain bookworm's Mesa 22 lacks a Vulkan feature Dawn needs.
// - Anywhere else it prints one message saying what to install, and exits 1.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const quiet = process.argv.includes('--quiet');
const log = (msg) => quiet || process.stderr.write(`gpu-setup: ${msg}\n`);

function probe() {
  const r = spawnSync(process.execPath, [join(here, 'probe-adapter.mjs')], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = (r.stdout || '').trim().split('\n').pop();
  try {
    return JSON.parse(line).adapter;
  } catch {
    return null;
  }
}

function fail(msg) {
  process.stderr.write(`gpu-setup: error: ${msg}\n`);
  process.exit(1);
}

function describe(a) {
  return `${a.description || a.device || a.vendor || 'unknown adapter'} (${a.architecture || a.vendor})`;
}

let adapter = probe();
if (adapter) {
  log(`WebGPU adapter found: ${describe(adapter)}`);
  process.exit(0);
}

const howTo =
  'no WebGPU adapter found. Install a Vulkan driver: on Debian 12, add the bookworm-backports ' +
  'suite to apt and run `apt-get install -t bookworm-backports libvulkan1 mesa-vulkan-drivers` ' +
  '(Mesa 25; Mesa 22 from plain bookworm is too old for Dawn), or a GPU vendor driver with Vulkan.';

const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
const isBookworm = /VERSION_CODENAME=bookworm/.test(osRelease);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (process.platform !== 'linux' || !isBookworm || !isRoot) {
  fail(howTo + (isBookworm && !isRoot ? ' (run this setup as root to have it done for you)' : ''));
}

const sourcesFile = '/etc/apt/sources.list.d/vggc-bookworm-backports.sources';
const hasBackports = () => {
  const r = spawnSync(
    'grep',
    ['-rqs', 'bookworm-backports', '/etc/apt/sources.list', '/etc/apt/sources.list.d'],
    {
      stdio: 'ignore',
    },
  );
  return r.status === 0;
};
const sh = (cmd, args) => {
  log(`${cmd} ${args.join(' ')}`);
  try {
    execFileSync(cmd, args, {
      stdio: quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    fail(`\`${cmd} ${args.join(' ')}\` failed. ${howTo}`);
  }
};

log('no WebGPU adapter found; installing the software Vulkan driver (lavapipe, Mesa 25)');
if (!hasBackports()) {
  writeFileSync(
    sourcesFile,
    [
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm-backports',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n'),
  );
  log(`added ${sourcesFile}`);
}
sh('apt-get', ['update', '-q']);
sh('apt-get', [
  'install',
  '-y',
  '-q',
  '-t',
  'bookworm-backports',
  'libvulkan1',
  'mesa-vulkan-drivers',
]);

adapter = probe();
if (!adapter) fail(`installed lavapipe, but Dawn still finds no adapter. ${howTo}`);
log(`WebGPU adapter found: ${describe(adapter)}`);

#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine that has no Node and no network
# (docs/gpu.md). Run here, in the repository, before the device call; writes only the ignored
# folders .gpu/ and .gl/:
#
#   .gpu/node.xz           this machine's node binary, xz-compressed (kept while `node --version` holds)
#   .gpu/modules.tar.xz    the node_modules the GPU path needs: the runtime's dependencies (webgpu
#                          with dawn.node for linux-x64 only) and vitest's (kept while
#                          package-lock.json and the list hold)
#   .gpu/dist.tar.xz       the built project (npx tsc -p tsconfig.json), rebuilt every time
#   .gpu/commit.txt        the commit packed (with -dirty when the tree has changes)
#   .gl/*.deb              the Vulkan loader and GL dispatch libraries from Debian, downloaded once
#
# Prints the size of everything that travels: the device tool takes at most 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
export XZ_OPT="${XZ_OPT:--6 -T0}"
mkdir -p .gpu

echo "building dist/ (npx tsc -p tsconfig.json)"
npx tsc -p tsconfig.json

# The Vulkan loader: the GPU machine has the NVIDIA driver but no libvulkan (docs/gpu.md).
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  echo "downloading the Vulkan loader packages into .gl/"
  mkdir -p .gl /tmp/vggc-apt-amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/vggc-apt-amd64'
  # shellcheck disable=SC2086
  apt-get $o update >/dev/null
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

# Node itself.
version=$(node --version)
if [ ! -f .gpu/node.xz ] || [ "$(cat .gpu/node.version 2>/dev/null)" != "$version" ]; then
  echo "compressing node $version ($(command -v node))"
  xz -c "$(command -v node)" >.gpu/node.xz.tmp
  mv .gpu/node.xz.tmp .gpu/node.xz
  echo "$version" >.gpu/node.version
fi

# The packages: the dependency closure of what dist/ and the GPU tests import at run time.
# sharp (image folders) and mnist (the bundled digits) are left out: no GPU case reads them.
node --input-type=module - webgpu chevrotain commander cli-progress vitest >.gpu/modules.list <<'EOF'
import { existsSync, readFileSync } from 'node:fs';
const seen = new Set();
const visit = (name) => {
  const p = `node_modules/${name}/package.json`;
  if (seen.has(name) || !existsSync(p)) return; // an optional dependency of another platform
  seen.add(name);
  const j = JSON.parse(readFileSync(p, 'utf8'));
  for (const d of Object.keys({ ...j.dependencies, ...j.optionalDependencies })) visit(d);
};
process.argv.slice(2).forEach(visit);
console.log([...seen].sort().join('\n'));
EOF
key=$( (cat package-lock.json .gpu/modules.list) | sha256sum | cut -c1-16)
if [ ! -f .gpu/modules.tar.xz ] || [ "$(cat .gpu/modules.key 2>/dev/null)" != "$key" ]; then
  echo "packing $(wc -l <.gpu/modules.list) packages"
  # dawn.node for other platforms is ~100 MB: only linux-x64 travels.
  sed 's|^|node_modules/|' .gpu/modules.list |
    tar -c -h -J -f .gpu/modules.tar.xz.tmp \
      --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
      --exclude='node_modules/webgpu/dist/linux-arm64' -T -
  mv .gpu/modules.tar.xz.tmp .gpu/modules.tar.xz
  echo "$key" >.gpu/modules.key
fi

tar -c -J -f .gpu/dist.tar.xz.tmp --exclude='*.map' --exclude='*.d.ts' dist
mv .gpu/dist.tar.xz.tmp .gpu/dist.tar.xz
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit-dirty"
echo "$commit" >.gpu/commit.txt

# What travels: tracked and untracked-not-ignored files, plus the carried .gpu and .gl.
tree=$(git ls-files -z -c -o --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
carried=$(find .gpu .gl -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
ls -l .gpu/node.xz .gpu/modules.tar.xz .gpu/dist.tar.xz .gl/*.deb | awk '{printf "  %10d  %s\n", $5, $9}'
awk -v t="$tree" -v c="$carried" 'BEGIN {
  printf "working tree %.1f MiB + .gpu and .gl %.1f MiB = %.1f MiB of the 64 MiB the device tool takes\n",
    t / 2^20, c / 2^20, (t + c) / 2^20; exit (t + c > 60 * 2^20) }' || {
  echo "gpu-pack: too large to travel (over 60 MiB)" >&2
  exit 1
}

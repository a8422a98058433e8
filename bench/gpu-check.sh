#!/usr/bin/env bash
# The whole GPU check in one go, on a machine with a GPU, PyTorch and no Node (docs/gpu.md):
#
#   bench/gpu-pack.sh                  here, first: packs node, the packages and dist/ into .gpu/
#   bench/gpu-check.sh [--small] [--tests all|smoke|none]
#                                      there (or here, as a dry run on the software adapter)
#
# 1. the Vulkan loader from .gl/*.deb where the machine has none (as root: unpacked into /),
#    and the NVIDIA driver's ICD file where the loader would not find it;
# 2. node, dist/ and node_modules unpacked from .gpu/ into a fresh folder under /tmp (the working
#    tree is copied there too, so nothing in it is touched);
# 3. which adapter Dawn opens, its info, features and limits; it says so when it is no NVIDIA card
#    and goes on;
# 4. the GPU test files (vitest; `smoke`: gpu.smoke and the GPU-variant kernels only);
# 5. vggc: VGG-16 forward at batch 1 and 32, the MNIST SGD step at batch 64, VGG-A's at batch 32;
# 6. the same work in PyTorch with cuDNN, fp32 (TF32 off) and fp16 (skipped without torch/CUDA);
# 7. one table with the ratios.
#
# Every step has a deadline inside GPU_CHECK_LIMIT_S (default 470 s: the check must end within
# 8 minutes), so a hung step cannot starve the later ones. Results go to $OUT (the device tool
# brings that folder back; default .gpu/out): log.txt, adapter.json, vggc.json, torch.json and
# <date>-gpu-check-<card>.json/.md, which also go to bench/results unless --small.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$PWD
SMALL=
TESTS=
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=--small ;;
    --tests) TESTS=${2:-}; shift ;;
    *) echo "gpu-check: unknown argument '$1' (usage: bench/gpu-check.sh [--small] [--tests all|smoke|none])" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$TESTS" ] || TESTS=$([ -n "$SMALL" ] && echo smoke || echo all)
case "$TESTS" in all | smoke | none) ;; *) echo "gpu-check: --tests takes all, smoke or none" >&2; exit 2 ;; esac
for f in .gpu/node.xz .gpu/modules.tar.xz .gpu/dist.tar.xz; do
  [ -f "$f" ] || { echo "gpu-check: $f is missing: run bench/gpu-pack.sh first (and carry .gpu)" >&2; exit 2; }
done

OUT=${OUT:-$REPO/.gpu/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
T0=$(date +%s)
LIMIT=${GPU_CHECK_LIMIT_S:-470}
elapsed() { echo $(($(date +%s) - T0)); }
# until SECONDS CMD...: runs CMD with a timeout that ends it SECONDS after the start of the check.
until_t() {
  local left=$(($1 - $(elapsed)))
  shift
  if [ "$left" -lt 5 ]; then
    echo "  (skipped: no time left)"
    return 124
  fi
  timeout --kill-after=5 "$left" "$@"
}
section() { echo; echo "== [$(elapsed) s] $*"; }
# Scaled deadlines: tests until 40%, vggc until 70%, PyTorch until 92% of the limit.
D_TESTS=$((LIMIT * 40 / 100))
D_BENCH=$((LIMIT * 70 / 100))
D_TORCH=$((LIMIT * 92 / 100))

section "machine"
echo "$(uname -srm); $(nproc) cores; $(date -u +%FT%TZ)"
WORK=$(mktemp -d /tmp/vggc-gpu-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader | tee "$WORK/nvidia-smi.txt"
  cp "$WORK/nvidia-smi.txt" "$OUT/nvidia-smi.txt" 2>/dev/null || true
else
  echo "no nvidia-smi: no NVIDIA driver on this machine"
fi

section "Vulkan loader"
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo "libvulkan.so.1 is installed"
elif [ "$(id -u)" = 0 ] && ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  echo "unpacked $(ls .gl/*.deb | wc -l) packages from .gl into /"
else
  echo "no libvulkan.so.1 and no .gl/*.deb to unpack as root: Dawn will find no Vulkan adapter"
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] &&
  ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$icd
  egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  echo "VK_DRIVER_FILES=$icd"
fi

section "unpacking node, dist and node_modules into $WORK"
unxz() {
  if command -v xz >/dev/null; then xz -dc "$1"; else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
  fi
}
mkdir -p "$WORK/bin" "$WORK/repo" "$WORK/out"
unxz .gpu/node.xz >"$WORK/bin/node" && chmod +x "$WORK/bin/node" || { echo "gpu-check: could not unpack node"; exit 1; }
tar -c --exclude=./node_modules --exclude=./.gpu --exclude=./.gl --exclude=./dist --exclude=./.git . | tar -x -C "$WORK/repo"
unxz .gpu/modules.tar.xz | tar -x -C "$WORK/repo" || { echo "gpu-check: could not unpack the packages"; exit 1; }
unxz .gpu/dist.tar.xz | tar -x -C "$WORK/repo" || { echo "gpu-check: could not unpack dist"; exit 1; }
cp .gpu/commit.txt "$WORK/out/commit.txt" 2>/dev/null || true
export PATH="$WORK/bin:$PATH"
cd "$WORK/repo" || exit 1
echo "node $(node --version); commit $(cat "$WORK/out/commit.txt" 2>/dev/null || echo unknown)"
W=$WORK/out
keep() { for f in "$@"; do [ -f "$W/$f" ] && cp "$W/$f" "$OUT/$f"; done; }

section "adapter (Dawn)"
until_t $((LIMIT * 10 / 100)) node dist/bench/gpu.js adapter --out "$W"
echo "adapter probe: exit $?"
keep adapter.json

section "GPU tests ($TESTS)"
if [ "$TESTS" = none ]; then
  echo "  (not run: --tests none)"
else
  if [ "$TESTS" = smoke ]; then
    files=$(ls test/gpu.smoke.test.ts test/kernels.gpu-*.test.ts 2>/dev/null)
  else
    files=$(grep -l "acquireGpu\|gpu-harness" test/*.test.ts)
  fi
  # shellcheck disable=SC2086
  until_t "$D_TESTS" node node_modules/vitest/vitest.mjs run --reporter=dot $files
  echo "GPU tests: exit $?"
fi

section "vggc cases"
until_t "$D_BENCH" node dist/bench/gpu.js bench --out "$W" $SMALL
echo "vggc cases: exit $?"
keep vggc.json

section "PyTorch (cuDNN)"
if command -v python3 >/dev/null; then
  PYTHONUNBUFFERED=1 until_t "$D_TORCH" python3 bench/gpu-torch.py --out "$W" --runs "$([ -n "$SMALL" ] && echo 3 || echo 20)"
  echo "PyTorch: exit $?"
else
  echo '{"skipped": "no python3"}' >"$W/torch.json"
  echo "PyTorch: skipped: no python3"
fi
keep torch.json

section "table"
until_t $((LIMIT + 20)) node dist/bench/gpu.js table --out "$W"
for f in "$W"/*-gpu-check-*; do
  [ -f "$f" ] || continue
  cp "$f" "$OUT/"
  if [ -z "$SMALL" ]; then cp "$f" "$REPO/bench/results/" && echo "copied $(basename "$f") to bench/results"; fi
done
echo "gpu-check: done in $(elapsed) s; results in $OUT"

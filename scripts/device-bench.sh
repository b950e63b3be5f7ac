#!/usr/bin/env bash
# Run ON a lent NVIDIA machine (docs/measurements.md), from a tree that carries .gl and .node as
# made by scripts/device-prepare.sh: install the Vulkan/EGL loaders, point the loader at NVIDIA's
# driver if it finds none, unpack the carried node and bundles, run `npm run bench:gpu`'s steps
# (bench/run.ts --gpu, arguments passed on, e.g. --no-peers or --dry-run) with that node, and copy
# the results JSON, the rendered README.md and the log to $OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-$PWD/.device-out}
mkdir -p "$out"

if [ ! -f .node/kit.tar.xz ]; then
  echo "device-bench: .node/kit.tar.xz is missing; run scripts/device-prepare.sh here and carry .node (and .gl)." >&2
  exit 2
fi
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  if ! ls .gl/*.deb >/dev/null 2>&1; then
    echo "device-bench: no Vulkan loader here and no .gl/*.deb to unpack; run scripts/device-prepare.sh and carry .gl." >&2
    exit 2
  fi
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if ! ls /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

kit=$(mktemp -d /tmp/hemgpu-kit.XXXXXX)
since=$(mktemp)
trap 'rm -rf "$kit" "$since"' EXIT
tar -xJf .node/kit.tar.xz -C "$kit"
# HEMGPU_ADAPTER=gpu: fail rather than fall back to a CPU driver; the bundles replace scripts/run.mjs.
export HEMGPU_ADAPTER=gpu HEMGPU_BENCH_PREBUILT="$kit/bench" PYTHONUNBUFFERED=1
mkdir -p bench/results
set +e
"$kit/bin/node" "$kit/bench/run.mjs" --gpu "$@" 2>&1 | tee "$out/bench-gpu.log"
rc=${PIPESTATUS[0]}
set -e
find bench/results -name '*.json' -newer "$since" -exec cp {} "$out/" \;
cp README.md "$out/README.md"
echo "device-bench: exit $rc; in $out: $(cd "$out" && ls | tr '\n' ' ')"
exit "$rc"

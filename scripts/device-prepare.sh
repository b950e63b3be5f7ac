#!/usr/bin/env bash
# Run HERE, once, before `npm run bench:gpu` goes to a lent NVIDIA machine (docs/measurements.md):
# that machine is bare (no Vulkan loader, no node, nothing fetched there), and what travels is
# limited to 64 MiB. This makes, in ignored folders of the repository root:
#   .gl/*.deb          the Vulkan/EGL loaders, unpacked there by scripts/device-bench.sh;
#   .node/kit.tar.xz   this machine's node, Dawn's native module (node_modules/webgpu, linux-x64
#                      only) and the benchmark entries bundled with every other package inside
#                      (scripts/bundle-bench.mjs), ~35 MB.
# Then: device run with carry [".gl", ".node"] and the command `bash scripts/device-bench.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(uname -m)" != x86_64 ]; then
  echo "device-prepare: this machine is $(uname -m); the GPU machine is x86-64 and needs an x86-64 node." >&2
  exit 2
fi

if ! ls .gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
webgpu=node_modules/webgpu
mkdir -p "$stage/bin" "$stage/node_modules/webgpu/dist/linux-x64"
cp "$(command -v node)" "$stage/bin/node"
cp "$webgpu/index.js" "$webgpu/package.json" "$stage/node_modules/webgpu/"
cp "$webgpu/dist/linux-x64/dawn.node" "$stage/node_modules/webgpu/dist/linux-x64/"
node scripts/bundle-bench.mjs "$stage/bench"
mkdir -p .node
XZ_OPT='-6 -T0' tar -cJf .node/kit.tar.xz -C "$stage" .
echo "device-prepare: $(du -sh .gl | cut -f1) in .gl, $(du -sh .node/kit.tar.xz | cut -f1) in .node/kit.tar.xz ($(node --version))"

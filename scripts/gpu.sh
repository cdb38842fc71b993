#!/usr/bin/env bash
# Train or run clarity on a lent GPU machine (the `device` tool: offline, x86-64, NVIDIA driver,
# no Rust toolchain, no Vulkan loader) through the Vulkan backend (`--features vulkan`; the
# `cuda` feature cannot be built offline, see the README).
#
#   scripts/gpu.sh pack            here: build, pack binary + loader + training data into .gpu/
#   scripts/gpu.sh run ARGS...     there: set up Vulkan, then `clarity ARGS...`
#
# A device call then looks like (carry [".gpu"], ≤ 10 min per call, so split a long run with
# --stop-after-minutes and carry the checkpoint back in .gpu/run/ for the next call; the same
# command continues the schedule exactly):
#   scripts/gpu.sh run train enhance --device vulkan --data .gpu/data/mri/ --out .gpu/run \
#     --stop-after-minutes 8 ... ;
#   cp -r .gpu/run "$OUT/"
#
# What pack copies into .gpu/ (ignored by git, never committed): the stripped, xz-compressed
# release binary (~13 MB), the Debian Vulkan loader packages (the device tool's README recipe),
# and exactly the files `clarity train enhance --list-data` names from ../shared/data, under
# the same relative paths, so `--data .gpu/data/mri` trains on what a run here would.
# Checked here on Mesa's CPU Vulkan driver (lavapipe): inference equals the CPU path to 1e-7
# (relative RMS) and training steps run; never yet on a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

pack() {
  local shared=../shared/data
  [[ -d "$shared/mri" ]] || { echo "no $shared/mri: the training data is needed" >&2; exit 1; }
  CARGO_TARGET_DIR=target/vulkan cargo build --release -p clarity-cli --features vulkan
  rm -rf .gpu && mkdir -p .gpu/debs .gpu/data
  strip -o .gpu/clarity target/vulkan/release/clarity
  xz -T0 -6 .gpu/clarity
  # Only the Vulkan loader and its GL-vendor neighbours: the NVIDIA driver brings the ICD.
  local debs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  # A fresh machine may have no package lists yet.
  (cd .gpu/debs && apt-get download "${debs[@]}") ||
    { apt-get update -qq && (cd .gpu/debs && apt-get download "${debs[@]}"); }
  local listed
  listed=$(target/vulkan/release/clarity train enhance --data "$shared/mri" --list-data)
  if grep -q '(missing)' <<<"$listed"; then
    echo "some training data is missing:" >&2
    grep '(missing)' <<<"$listed" >&2
    exit 1
  fi
  local root
  root=$(realpath "$shared")
  while read -r path; do
    local rel
    rel=$(realpath --relative-to="$root" "$path")
    mkdir -p ".gpu/data/$(dirname "$rel")"
    cp -r "$path" ".gpu/data/$rel"
  done <<<"$listed"
  du -sh .gpu
  echo "carry [\".gpu\"]; the repo's tracked files travel too (64 MiB in all)"
}

run() {
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  # Where the driver's Vulkan ICD sits on these machines when the loader does not find it.
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [[ -f "$icd" && -z "${VK_DRIVER_FILES:-}" ]]; then
    export VK_DRIVER_FILES="$icd"
  fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
  # Unpacked once per machine (or again after a new pack).
  [[ /tmp/clarity -nt .gpu/clarity.xz ]] || xz -dc .gpu/clarity.xz >/tmp/clarity
  chmod +x /tmp/clarity
  /tmp/clarity "$@"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 pack | run CLARITY-ARGS..." >&2; exit 2 ;;
esac

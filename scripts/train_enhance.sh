#!/usr/bin/env bash
# Retrain the shipped enhancement model (models/enhance) in its two stages, on 2 CPU cores:
#  1. a 32-channel, 8-layer network, 18000 steps from seeded random weights (~72 min);
#  2. that network grown to 48 channels and 12 layers without changing its output
#     (`--init-from`, see crates/clarity-models/src/enhance/grow.rs), trained 9000 more steps
#     at a lower peak learning rate (~85 min).
# Stage 1's result is committed as models/enhance/base_32x8, so stage 2 alone can be rerun with
# `scripts/train_enhance.sh --stage2`. Results go under out/ (never over the shipped model):
# copy out/enhance/{model.safetensors,config.json} to models/enhance to ship a new one. Both
# stages resume from their checkpoints if interrupted; add `--stop-after N` by hand to split a
# stage over several sittings.
set -euo pipefail
cd "$(dirname "$0")/.."
base=models/enhance/base_32x8
if [[ "${1:-}" != "--stage2" ]]; then
  base=out/enhance_base_32x8
  cargo run --release -q -- train enhance --out "$base" --steps 18000 --every 1000 \
    --pe-axis col --seed 0
fi
cargo run --release -q -- train enhance --init-from "$base" --channels 48 --depth 12 \
  --out out/enhance --steps 9000 --every 250 --learning-rate 4e-4 --pe-axis col --seed 0

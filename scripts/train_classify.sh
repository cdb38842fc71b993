#!/usr/bin/env bash
# Retrain the shipped series classifier (models/classify) exactly as it was trained: 1500 steps,
# then resumed to 2500 (the resume restarts the cosine schedule at 35 % of the peak rate).
# Generates 120 training + 16 validation exams at 1.5 T (3 T is held out for the shifted test).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/classify}
# --force: the first run replaces the model in $out (the shipped one by default); the second
# resumes the checkpoint the first left.
cargo run --release -q -- train classify --out "$out" --exams 120 --val-exams 16 --steps 1500 --every 100 --seed 0 --force
cargo run --release -q -- train classify --out "$out" --exams 120 --val-exams 16 --steps 2500 --every 250 --seed 0

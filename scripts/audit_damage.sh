#!/usr/bin/env bash
# Damage every DICOM file under DATA PER_FILE ways (clarity_io::damage, as mutate_corpus does),
# decode each copy with Clarity, and compare with pydicom (+ pylibjpeg's decoders, installed into
# target/audit-venv) decoding the same bytes. Prints how many copies fall in each class.
#   scripts/audit_damage.sh [DATA=../shared/data/dicom] [PER_FILE=20]
set -euo pipefail
data=${1:-../shared/data/dicom}
per_file=${2:-20}
out=target/audit_damage
venv=target/audit-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q pydicom numpy pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg \
        pylibjpeg-rle
fi
rm -rf "$out"
cargo run --release -q -p clarity-io --example audit_damage -- "$data" "$per_file" "$out"
echo "$(ls "$out"/*.f64 | wc -l) damaged copies decoded by Clarity"
# pylibjpeg-rle panics (a Rust panic, caught as an exception) on some damaged streams.
RUST_BACKTRACE=0 "$venv/bin/python" scripts/audit_damage.py "$out" "$data"

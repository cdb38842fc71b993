#!/usr/bin/env bash
# Damage every DICOM and NIfTI file under DATA PER_FILE ways (clarity_io::damage, as
# mutate_corpus does), read each copy with Clarity, and compare with pydicom (+ pylibjpeg's
# decoders) and nibabel reading the same bytes (installed into target/audit-venv). Prints how
# many copies fall in each class, and lists any copy damaged in its header only that Clarity
# read into values other than its source's.
#   scripts/audit_damage.sh [DATA=../shared/data] [PER_FILE=20]
set -euo pipefail
data=${1:-../shared/data}
per_file=${2:-20}
out=target/audit_damage
venv=target/audit-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import pydicom, nibabel, pylibjpeg, libjpeg, openjpeg, rle" 2>/dev/null ||
    "$venv/bin/pip" install -q pydicom nibabel numpy pylibjpeg pylibjpeg-libjpeg \
        pylibjpeg-openjpeg pylibjpeg-rle
rm -rf "$out"
cargo run --release -q -p clarity-io --example audit_damage -- "$data" "$per_file" "$out"
echo "$(ls "$out"/*.f64 | wc -l) damaged copies read by Clarity"
# pylibjpeg-rle panics (a Rust panic, caught as an exception) on some damaged streams.
RUST_BACKTRACE=0 "$venv/bin/python" scripts/audit_damage.py "$out"

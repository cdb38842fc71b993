#!/usr/bin/env python3
"""Reference PSNR / SSIM / NRMSE for clarity-metrics' golden test, made with scikit-image.

Run from the repository root with ../shared/data beside it:
    pip install nibabel numpy scikit-image
    python3 crates/clarity-metrics/tests/golden/make_golden.py > crates/clarity-metrics/tests/golden/skimage.json

Each case compares one slice of a real volume (the reference) with a test image made from the
same data: the neighbouring slice, the slice scaled and offset, or the slice plus a fixed
pattern of pseudo-noise (integer hash of the pixel position); the last two in float32 with the
same arithmetic the Rust test does, so both sides see identical pixels. The mask is the reference
above a fraction of its maximum, less a 5-pixel border, where scikit-image's mirrored edge and
clarity's renormalised window legitimately differ.
"""
import json
import sys

import nibabel as nib
import numpy as np
import skimage
from skimage.metrics import structural_similarity

DATA = "../shared/data/mri"
CASES = [
    # (name, file, reference slice, test, threshold); test: ("slice", k), ("affine", scale,
    # offset) or ("pattern", amplitude)
    ("brain2 slice 12 vs 13", "pyradiomics_brain2/t1.nii.gz", 12, ("slice", 13), 0.1),
    ("brain2 slice 12 scaled 0.8 + 40", "pyradiomics_brain2/t1.nii.gz", 12, ("affine", 0.8, 40.0), 0.1),
    ("brain2 slice 12 + pattern 60", "pyradiomics_brain2/t1.nii.gz", 12, ("pattern", 60.0), 0.1),
    ("prostate slice 9 + pattern 40", "prostatex_0000/t2_tse.nii.gz", 9, ("pattern", 40.0), 0.05),
    ("prostate slice 9 vs 10", "prostatex_0000/t2_tse.nii.gz", 9, ("slice", 10), 0.05),
    ("prostate slice 9 vs 8", "prostatex_0000/t2_tse.nii.gz", 9, ("slice", 8), 0.05),
]
BORDER = 5  # the half-width of the 11 x 11 window


def main():
    out = {"scikit_image": skimage.__version__, "border_px": BORDER, "cases": []}
    for name, path, k, test, threshold in CASES:
        vol = np.asarray(nib.load(f"{DATA}/{path}").dataobj, dtype=np.float32)
        ref = vol[:, :, k]
        if test[0] == "slice":
            img = vol[:, :, test[1]]
        elif test[0] == "affine":
            img = ref * np.float32(test[1]) + np.float32(test[2])
        else:
            x, y = np.meshgrid(np.arange(ref.shape[0]), np.arange(ref.shape[1]), indexing="ij")
            hashed = ((x * 7919 + y * 104729) % 97).astype(np.float32)
            img = ref + (hashed - np.float32(48)) / np.float32(48) * np.float32(test[1])
        mask = ref > np.float32(threshold) * ref.max()
        inner = np.zeros_like(mask)
        inner[BORDER:-BORDER, BORDER:-BORDER] = True
        mask &= inner
        r, t = ref.astype(np.float64), img.astype(np.float64)
        rng = r[mask].max() - r[mask].min()
        _, ssim_map = structural_similarity(
            t, r, data_range=rng, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, full=True)
        mse = np.mean((t[mask] - r[mask]) ** 2)
        out["cases"].append({
            "name": name, "file": path, "slice": k, "test": list(test), "threshold": threshold,
            "mask_pixels": int(mask.sum()),
            "psnr_db": float(10 * np.log10(rng ** 2 / mse)),
            "ssim": float(ssim_map[mask].mean()),
            "nrmse": float(np.sqrt(mse / np.mean(r[mask] ** 2))),
        })
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

"""Compare Clarity's reading of damaged DICOM and NIfTI copies with pydicom's and nibabel's
(see audit_damage.sh).

For every damaged copy Clarity read (`N_SEED_NAME` beside `N_SEED_NAME.f64`, its values, and
for NIfTI `.affine`, its RAS affine), the reference reads the same bytes: equal, within lossy
tolerance (another JPEG decoder), or different. Where the reference fails, Clarity's values are
compared with the reference's reading of the undamaged source. A copy damaged in its header
only whose values differ from the source's is what the audit looks for (a header fault read
into garbage): those are listed in full.
"""
import collections
import glob
import logging
import os
import sys
import warnings

import nibabel
import numpy as np
import pydicom

warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
out = sys.argv[1]
sources = {}
for line in open(os.path.join(out, "sources.txt")):
    n, path = line.rstrip("\n").split(" ", 1)
    sources[n] = path


def source_of(name):
    return sources[name.split("_", 1)[0]]


def is_nifti(name):
    return name.endswith((".nii", ".nii.gz"))


def pixels(path):
    """The reference reading: pydicom's stored values, or nibabel's scaled voxels (i fastest)
    with the affine appended."""
    if is_nifti(path):
        image = nibabel.load(path)
        data = np.asarray(image.get_fdata(), dtype=np.float32).ravel(order="F")
        return np.concatenate([data.astype(float), image.affine[:3].ravel()])
    return np.asarray(pydicom.dcmread(path).pixel_array, dtype=float).ravel()


def ours(copy):
    values = np.fromfile(copy + ".f64", dtype="<f8")
    if is_nifti(copy):
        affine = np.array(open(copy + ".affine").read().split(), dtype=float)
        values = np.concatenate([values, affine[:12]])
    return values


def damage_reaches_pixels(copy, name):
    """Whether the damage of `copy` touches its source's Pixel Data element."""
    a = open(source_of(name), "rb").read()
    b = open(copy, "rb").read()
    # NIfTI: the header is the first 348 (NIfTI-1) or 540 (NIfTI-2) bytes; gzipped, any change
    # reaches the compressed data, so it counts as the data's.
    if copy.endswith(".nii"):
        pixel_tag = 352 if a[:4] == (348).to_bytes(4, "little") else 544
    elif is_nifti(copy):
        pixel_tag = 0
    else:
        pixel_tag = max(a.rfind(b"\xe0\x7f\x10\x00"), a.rfind(b"\x7f\xe0\x00\x10"))  # LE, BE
    if len(a) == len(b):  # bytes overwritten: is any of them in the pixel data?
        changed = [i for i in range(len(a)) if a[i] != b[i]]
        return pixel_tag >= 0 and bool(changed) and changed[-1] >= pixel_tag
    # Cut short, or a run repeated or removed: where does the change start?
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return first >= pixel_tag >= 0


def tolerance(reference, copy):
    """DICOM: the lossy tolerance of the conformance test. NIfTI: float32 rounding."""
    span = max(float(np.nanmax(reference) - np.nanmin(reference)), 1.0)
    return 1e-6 * span + 1e-6 if is_nifti(copy) else 0.02 * span + 2


classes = collections.defaultdict(list)
for values_path in sorted(glob.glob(os.path.join(out, "*.f64"))):
    copy = values_path[: -len(".f64")]
    name = os.path.basename(copy)
    ours_values = ours(copy)
    try:
        theirs = pixels(copy)
    except BaseException as e:  # pylibjpeg's Rust decoders raise PanicException
        source = source_of(name)
        in_pixels = damage_reaches_pixels(copy, name)
        try:
            original = pixels(source)
            # Within the lossy tolerance: JPEG decoders differ by a level here and there.
            same = original.size == ours_values.size and bool(
                (np.abs(original - ours_values) <= tolerance(original, copy)).all()
            )
        except BaseException:
            same = None
        where = "reaching the pixel data" if in_pixels else "in the header only"
        verdict = {True: "values as the source's", False: "values differ from the source's",
                   None: "source not readable by the reference"}[same]
        classes[f"reference fails; damage {where}; {verdict}"].append(f"{name}: {type(e).__name__}")
        continue
    if theirs.size != ours_values.size:
        classes["sizes differ"].append(f"{name}: ours {ours_values.size}, reference {theirs.size}")
    elif np.array_equal(theirs, ours_values):
        classes["equal to the reference's"].append(name)
    else:
        beyond = (np.abs(theirs - ours_values) > tolerance(theirs, copy)).mean()
        key = "within tolerance (lossy DICOM; float32 NIfTI)" if beyond == 0 else "differ from the reference's"
        if beyond > 0:
            where = "reaching the pixel data" if damage_reaches_pixels(copy, name) else "in the header only"
            key += f"; damage {where}"
        classes[key].append(f"{name}: {100 * beyond:.1f}% beyond tolerance")
for key, rows in sorted(classes.items()):
    print(f"{len(rows):5d}  {key}")
    suspicious = key == "sizes differ" or ("header only" in key and "differ" in key)
    for row in rows if suspicious else []:
        print(f"         {row}")

"""Compare Clarity's decodes of damaged DICOM copies with pydicom's (see audit_damage.sh).

For every damaged copy Clarity decoded (`N_SEED_NAME` beside `N_SEED_NAME.f64`, its values),
pydicom decodes the same bytes: equal, within lossy tolerance (another JPEG decoder), or
different. Where pydicom fails, Clarity's values are compared with pydicom's decode of the
undamaged source. A copy whose damage starts before the Pixel Data element and whose values
differ from the source's is what the audit looks for (a header fault decoded into garbage):
those are listed in full.
"""
import collections
import glob
import logging
import os
import sys
import warnings

import numpy as np
import pydicom

warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
out, data = sys.argv[1], sys.argv[2]
sources = {}
for path in glob.glob(os.path.join(data, "**", "*"), recursive=True):
    if os.path.isfile(path):
        sources.setdefault(os.path.basename(path), path)


def pixels(path):
    return np.asarray(pydicom.dcmread(path).pixel_array, dtype=float).ravel()


def damage_reaches_pixels(copy, name):
    """Whether the damage of `copy` touches its source's Pixel Data element."""
    a = open(sources[name.split("_", 2)[2]], "rb").read()
    b = open(copy, "rb").read()
    pixel_tag = a.rfind(b"\xe0\x7f\x10\x00")
    if len(a) == len(b):  # bytes overwritten: is any of them in the pixel data?
        changed = [i for i in range(len(a)) if a[i] != b[i]]
        return pixel_tag >= 0 and bool(changed) and changed[-1] >= pixel_tag
    # Cut short, or a run repeated or removed: where does the change start?
    first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return first >= pixel_tag >= 0


classes = collections.defaultdict(list)
for values_path in sorted(glob.glob(os.path.join(out, "*.f64"))):
    copy = values_path[: -len(".f64")]
    name = os.path.basename(copy)
    ours = np.fromfile(values_path, dtype="<f8")
    try:
        theirs = pixels(copy)
    except BaseException as e:  # pylibjpeg's Rust decoders raise PanicException
        source = sources[name.split("_", 2)[2]]
        in_pixels = damage_reaches_pixels(copy, name)
        try:
            original = pixels(source)
            span = max(original.max() - original.min(), 1)
            # Within the lossy tolerance: JPEG decoders differ by a level here and there.
            same = original.size == ours.size and bool(
                (np.abs(original - ours) <= 0.02 * span + 2).all()
            )
        except BaseException:
            same = None
        where = "reaching the pixel data" if in_pixels else "in the header only"
        verdict = {True: "values as the source's", False: "values differ from the source's",
                   None: "source not decodable by pydicom"}[same]
        classes[f"pydicom fails; damage {where}; {verdict}"].append(f"{name}: {type(e).__name__}")
        continue
    if theirs.size != ours.size:
        classes["sizes differ"].append(f"{name}: ours {ours.size}, pydicom {theirs.size}")
    elif np.array_equal(theirs, ours):
        classes["equal to pydicom's"].append(name)
    else:
        span = max(theirs.max() - theirs.min(), 1)
        beyond = (np.abs(theirs - ours) > 0.02 * span + 2).mean()
        key = "within lossy tolerance" if beyond == 0 else "differ from pydicom's"
        if beyond > 0:
            where = "reaching the pixel data" if damage_reaches_pixels(copy, name) else "in the header only"
            key += f"; damage {where}"
        classes[key].append(f"{name}: {100 * beyond:.1f}% beyond tolerance")
for key, rows in sorted(classes.items()):
    print(f"{len(rows):5d}  {key}")
    suspicious = key == "sizes differ" or ("header only" in key and "differ" in key)
    for row in rows if suspicious else []:
        print(f"         {row}")

"""Writes the broken NIfTI files of this folder (python3 make.py, numpy only).

Each starts from one valid 4x4x2 int16 NIfTI-1 file (sform = identity) and breaks one thing;
tests/it/bad_input.rs lists what reading each must say.
"""
import gzip
import struct

import numpy as np


def valid():
    h = bytearray(348)
    struct.pack_into("<i", h, 0, 348)  # sizeof_hdr
    struct.pack_into("<8h", h, 40, 3, 4, 4, 2, 1, 1, 1, 1)  # dim
    struct.pack_into("<hh", h, 70, 4, 16)  # datatype int16, bitpix
    struct.pack_into("<8f", h, 76, 1, 1, 1, 1, 1, 1, 1, 1)  # pixdim
    struct.pack_into("<f", h, 108, 352.0)  # vox_offset
    struct.pack_into("<f", h, 112, 1.0)  # scl_slope
    struct.pack_into("<hh", h, 252, 0, 1)  # qform_code, sform_code
    struct.pack_into("<12f", h, 280, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)  # srow_x/y/z
    h[344:348] = b"n+1\0"
    return h + bytes(4) + np.arange(32, dtype="<i2").tobytes()


def broken(**patches):
    d = valid()
    for fmt_offset, values in patches.values():
        fmt, offset = fmt_offset
        struct.pack_into(fmt, d, offset, *values)
    return d


files = {
    "valid.nii": valid(),
    "truncated_header.nii": valid()[:200],
    "bad_sizeof_hdr.nii": broken(s=(("<i", 0), (999,))),
    "bad_magic.nii": broken(m=(("<4s", 344), (b"n+9\0",))),
    "ndim_0.nii": broken(d=(("<8h", 40), (0, 4, 4, 2, 1, 1, 1, 1))),
    "ndim_9.nii": broken(d=(("<8h", 40), (9, 4, 4, 2, 1, 1, 1, 1))),
    "negative_dim.nii": broken(d=(("<8h", 40), (3, -4, 4, 2, 1, 1, 1, 1))),
    "zero_dim.nii": broken(d=(("<8h", 40), (3, 0, 4, 2, 1, 1, 1, 1))),
    "huge_dims.nii": broken(d=(("<8h", 40), (3, 32767, 32767, 32767, 1, 1, 1, 1))),
    "overflow_dims.nii": broken(d=(("<8h", 40), (7,) + (32767,) * 7)),
    "short_data.nii": valid()[:362],
    "vox_offset_beyond_file.nii": broken(v=(("<f", 108), (1e9,))),
    "vox_offset_nan.nii": broken(v=(("<f", 108), (float("nan"),))),
    "vox_offset_in_header.nii": broken(v=(("<f", 108), (100.0,))),
    "unknown_datatype.nii": broken(t=(("<h", 70), (1234,))),
    "complex64.nii": broken(t=(("<hh", 70), (32, 64))),
    "sform_nan.nii": broken(s=(("<12f", 280), (float("nan"),) * 12)),
    "qform_nan.nii": broken(
        c=(("<hh", 252), (1, 0)), q=(("<6f", 256), (float("nan"),) * 6)
    ),
    "pixdim_inf_no_form.nii": broken(
        c=(("<hh", 252), (0, 0)), p=(("<4f", 76), (1, float("inf"), 1, 1))
    ),
    "corrupt.nii.gz": gzip.compress(bytes(valid()), mtime=0)[:60],
}
for name, data in files.items():
    with open(name, "wb") as f:
        f.write(bytes(data))

"""Writes the broken DICOM files of this folder (python3 make.py; needs pydicom and numpy).

Each starts from one valid synthetic 8x8 16-bit MR image (`valid.dcm`, made here from nothing)
and breaks one thing; tests/it/bad_input.rs lists what reading each must say.
"""
import copy
import struct

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage


def valid():
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = "2.25.1001"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = "2.25.1001"
    ds.StudyInstanceUID = "2.25.1002"
    ds.SeriesInstanceUID = "2.25.1003"
    ds.Modality = "MR"
    ds.PatientID = "BAD-CORPUS"
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(64, dtype="<u2").tobytes()
    return ds


def broken(**attributes):
    ds = copy.deepcopy(valid())
    for name, value in attributes.items():
        setattr(ds, name, value)
    return ds


datasets = {
    "valid.dcm": valid(),
    "short_pixel_data.dcm": broken(PixelData=bytes(100)),
    "bits_allocated_12.dcm": broken(BitsAllocated=12),
    "bits_allocated_8_for_16_bit_data.dcm": broken(BitsAllocated=8, BitsStored=8, HighBit=7),
    "frames_beyond_file.dcm": broken(NumberOfFrames=1000000000),
    "spacing_not_positive.dcm": broken(PixelSpacing=[-1, 0]),
    "orientation_zero.dcm": broken(ImageOrientationPatient=[0, 0, 0, 0, 0, 0]),
    "orientation_parallel.dcm": broken(ImageOrientationPatient=[1, 0, 0, 1, 0, 0]),
    # Found by damaging the shared corpus: decoded anyway, these gave garbage values.
    "pixel_representation_32768.dcm": broken(PixelRepresentation=32768),
    "bits_stored_beyond_allocated.dcm": broken(BitsStored=33),
    "colour_model_unknown.dcm": broken(
        SamplesPerPixel=3,
        PhotometricInterpretation="XGB",
        PlanarConfiguration=0,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelData=bytes(8 * 8 * 3),
    ),
}
for name, ds in datasets.items():
    ds.save_as(name, enforce_file_format=True)

whole = open("valid.dcm", "rb").read()
raw = {
    "truncated_in_pixel_data.dcm": whole[: len(whole) - 40],
    "preamble_only.dcm": whole[:132],
    "garbage_after_dicm.dcm": whole[:132] + b"\xff" * 64,
}
# Pixel Data (7FE0,0010) OW whose 32-bit length runs far past the end of the file.
at = whole.rfind(b"\xe0\x7f\x10\x00")
huge = bytearray(whole)
struct.pack_into("<I", huge, at + 8, 0xFFFFFFF0)
raw["pixel_length_beyond_file.dcm"] = bytes(huge)
for name, data in raw.items():
    with open(name, "wb") as f:
        f.write(data)

# split_series/: one series UID whose slices split into a group that cannot be stacked (three
# 8x8 slices at z = 0, 1, 5 mm: uneven gaps) and one odd 4x4 slice that can. Reading the folder
# must fail rather than return that one odd slice as "the" series.
import os

os.makedirs("split_series", exist_ok=True)
for n, (z, size) in enumerate([(0, 8), (1, 8), (5, 8), (2, 4)]):
    ds = broken(ImagePositionPatient=[0, 0, z], Rows=size, Columns=size, InstanceNumber=n + 1)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"2.25.20{n}"
    ds.PixelData = np.arange(size * size, dtype="<u2").tobytes()
    ds.save_as(f"split_series/slice_{n + 1}.dcm", enforce_file_format=True)

//! clarity-io integration tests, one binary:
//! - `bad_input`: the `tests/bad` corpus of broken files, each an error that says why;
//! - `common`: locating `../shared/data` (tests skip loudly when it is absent);
//! - `dicom_conformance`: every file of the shared DICOM corpus against pydicom's decode;
//! - `dicom_series`: folder scanning and series geometry against dcm2niix;
//! - `dicom_write`: derived series round trip and dcm2niix on what we write;
//! - `diffusion`: FSL `.bval`/`.bvec` of a DWI series against its files and dcm2niix;
//! - `nifti`: NIfTI-1/2 against nibabel, round trips, `.hdr`/`.img` pairs and bad files;
//! - `rewrite`: files dicom-rs alone cannot parse (UN sequences of undefined length, no meta
//!   group length) against pydicom and the same files without the fault;

mod bad_input;
mod common;
mod dicom_conformance;
mod dicom_series;
mod dicom_write;
mod diffusion;
mod nifti;
mod rewrite;

//! clarity-io integration tests, one binary:
//! - `common`: locating `../shared/data` (tests skip loudly when it is absent);
//! - `dicom_conformance`: every file of the shared DICOM corpus against pydicom's decode;

mod common;
mod dicom_conformance;

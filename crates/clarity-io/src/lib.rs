//! # clarity-io
//!
//! ## Overview
//! Reading and writing the images Clarity works on:
//! - [`dicom`]: single files (single- and multi-frame, Enhanced MR/CT functional groups), whole
//!   folders grouped into series, and derived series written back;
//! - [`nifti`]: NIfTI-1 and NIfTI-2, `.nii` and `.nii.gz`;
//! - [`png`]: window/levelled slices and montages.
//!
//! Everything returns [`clarity_core::Volume`] in the LPS world with voxels `i` fastest; every
//! error is an [`IoError`] that names the file.

pub mod dicom;
mod error;
pub mod nifti;
pub mod png;

pub use error::{IoError, Result};

use std::path::PathBuf;
use thiserror::Error;

/// Errors from reading or writing images. Every variant names the file it is about.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file could not be opened or read from disk.
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The file could not be created or written.
    #[error("{path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    /// The file is not a DICOM file dicom-rs can parse (no preamble/meta, truncated header...).
    #[error("{path}: not a readable DICOM file: {reason}")]
    DicomParse { path: PathBuf, reason: String },
    /// The DICOM object has no pixel data (a report, plan, structure set...).
    #[error("{path}: has no pixel data (SOP class {sop_class})")]
    NoPixelData { path: PathBuf, sop_class: String },
    /// The pixel data exists but cannot be decoded (unsupported or broken compressed stream,
    /// truncated data, inconsistent attributes).
    #[error("{path}: cannot decode pixel data ({transfer_syntax}): {reason}")]
    PixelDecode { path: PathBuf, transfer_syntax: String, reason: String },
    /// A required attribute is missing or malformed.
    #[error("{path}: attribute {attribute} {problem}")]
    Attribute { path: PathBuf, attribute: &'static str, problem: String },
    /// Slices of a series do not form a regular grid.
    #[error("{path}: series {series}: {problem}")]
    Geometry { path: PathBuf, series: String, problem: String },
    /// A NIfTI header or data block is malformed or uses something unsupported.
    #[error("{path}: NIfTI: {reason}")]
    Nifti { path: PathBuf, reason: String },
    /// Writing a DICOM object failed inside dicom-rs.
    #[error("{path}: cannot write DICOM: {reason}")]
    DicomWrite { path: PathBuf, reason: String },
    /// PNG encoding failed.
    #[error("{path}: cannot write PNG: {reason}")]
    Png { path: PathBuf, reason: String },
    /// No DICOM series was found where one was expected.
    #[error("{path}: {reason}")]
    NotFound { path: PathBuf, reason: String },
    /// The volume cannot be built or does not fit what is asked of it.
    #[error("{path}: {source}")]
    Volume { path: PathBuf, source: clarity_core::CoreError },
}

pub type Result<T, E = IoError> = std::result::Result<T, E>;

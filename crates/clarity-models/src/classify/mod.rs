//! Liver mpMRI series classification: classes, the header model (rules over DICOM attributes),
//! and the fused decision.

pub mod classes;
pub mod data;
pub mod gradcam;
pub mod header;
pub mod infer;
pub mod model;
pub mod train;

pub use classes::{Class, N_CLASSES};

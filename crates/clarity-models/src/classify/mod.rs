//! Liver mpMRI series classification: classes, the header model (rules over DICOM attributes),
//! and the fused decision.

pub mod classes;
pub mod header;
pub mod model;

pub use classes::{Class, N_CLASSES};

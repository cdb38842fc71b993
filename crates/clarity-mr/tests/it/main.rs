//! clarity-mr's integration tests, one binary (one link) for the crate:
//! - `brain`: brain phantoms from the real tissue maps have the contrasts radiologists expect;
//! - `exam`: the liver exam generator against the physics it must reproduce, and as DICOM;
//! - `physics`: noise bookkeeping, scan time, acquired matrix and PE detection of shortened scans.

mod brain;
mod exam;
mod physics;

pub use clarity_core::testdata::shared_mri;

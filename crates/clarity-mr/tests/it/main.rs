//! clarity-mr's integration tests, one binary (one link) for the crate:
//! - `brain`: brain phantoms from the real tissue maps have the contrasts radiologists expect;
//! - `exam`: the liver exam generator against the physics it must reproduce, and as DICOM;
//! - `physics`: noise bookkeeping, scan time, acquired matrix and PE detection of shortened scans.

mod brain;
mod exam;
mod physics;

use std::path::PathBuf;

/// `../shared/data/mri/NAME` (the folder itself for an empty name), or None with a loud SKIPPED
/// line when the shared data is absent.
pub fn shared_mri(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mri").join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("\n**** SKIPPED: {} not found (shared data absent) ****\n", p.display());
        None
    }
}

//! clarity-models' integration tests, one binary (one link) for the crate:
//! - `enhance`: training (both engines), resuming, growing and weights IO of the enhancement
//!   network on a tiny model, and the shipped model's data consistency on a real volume;
//! - `classify`: the header rules of the series classifier on generated exams.

mod classify;
mod enhance;

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

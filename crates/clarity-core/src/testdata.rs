//! Where the shared development data lives, for tests and benches of every crate: one rule, so
//! each test binary skips (or runs) for the same reason and says so in the same words.

use std::path::PathBuf;

/// The shared data folder (`../shared/data` beside the checkout, or `$CLARITY_SHARED_DATA`),
/// or None, after printing a loud SKIPPED line, when it is absent (recognised by its README).
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("CLARITY_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("README.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "\n**** SKIPPED: shared test data not found at {} (set CLARITY_SHARED_DATA) ****\n",
            dir.display()
        );
        None
    }
}

/// `mri/NAME` under [`shared_data`] (the `mri` folder itself for an empty name).
pub fn shared_mri(name: &str) -> Option<PathBuf> {
    shared_data().map(|d| d.join("mri").join(name))
}

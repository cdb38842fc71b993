//! End-to-end tests of the `clarity` binary, one module per area (see each module's page):
//! - `files`: info, convert, view, demo, simulate;
//! - `study`: convert on a folder of several series (one of them, or each to its own file);
//! - `enhance`: enhance and train enhance;
//! - `classify`: classify and eval classify;
//! - `bad_input`: errors that name the file and the problem, never panics.

mod bad_input;
mod classify;
mod enhance;
mod files;
mod study;

use std::path::PathBuf;
use std::process::Command;

pub use clarity_core::testdata::shared_data;

pub fn clarity(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clarity")).args(args).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

pub fn sample_series() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/mr_brain_20")
}

/// Run clarity and parse its stdout as JSON (stderr carries progress and notes).
pub fn clarity_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_clarity")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

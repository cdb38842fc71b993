//! clarity-models' integration tests, one binary (one link) for the crate:
//! - `enhance`: training (both engines), resuming, growing and weights IO of the enhancement
//!   network on a tiny model, and the shipped model's data consistency on a real volume;
//! - `classify`: the header rules of the series classifier on generated exams.

mod classify;
mod enhance;

pub use clarity_core::testdata::shared_mri;

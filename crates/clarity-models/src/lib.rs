//! # clarity-models
//!
//! ## Overview
//! Clarity's neural networks on [burn](https://burn.dev) 0.22.1: CPU through the pure-Rust
//! `flex` backend by default, CUDA with `--features cuda`.
//!
//! Convention, stated once: tensors are channel-first, `[batch, channels, h, w]` for slices,
//! with `w` the fastest axis (Clarity's `i`).
//! Volumes are `[batch, channels, d, h, w]` (`d` = slices).

pub mod classify;
pub mod enhance;
pub mod shipped;
pub mod store;

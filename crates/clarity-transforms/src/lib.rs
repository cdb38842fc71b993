//! # clarity-transforms
//!
//! ## Overview
//! Transforms on [`clarity_core::Volume`]s. So far: [`nlm`], the classical non-local means
//! denoiser used as the baseline the enhancement network must beat, and [`resample`], volumes
//! on a fixed grid (the classifier's input).

pub mod nlm;
pub mod resample;

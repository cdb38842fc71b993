//! # clarity-transforms
//!
//! ## Overview
//! Transforms on [`clarity_core::Volume`]s. So far: [`nlm`], the classical non-local means
//! denoiser used as the baseline the enhancement network must beat.

pub mod nlm;

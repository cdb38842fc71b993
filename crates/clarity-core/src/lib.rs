//! # clarity-core
//!
//! ## Overview
//! The types every Clarity crate shares: [`Volume`] (f32 voxels with their place in the patient),
//! [`Metadata`] (what the scanner said about how the image was made) and [`CoreError`].
//!
//! ## Conventions (stated once, used everywhere)
//! - **World** is DICOM's patient coordinate system, **LPS**: +x towards the patient's left, +y
//!   towards posterior, +z towards head. NIfTI's RAS world is converted at the IO boundary
//!   ([`Volume::ras_affine`], [`Volume::set_ras_affine`]).
//! - **Voxel order**: `i` (column, fastest), then `j` (row), then `k` (slice), then `t` (the optional
//!   4th dimension: b-values, phases, echoes). This is the order of pixels in a DICOM frame and of
//!   voxels in a NIfTI file, so neither needs a transpose.
//! - **Geometry**: `world = origin_mm + direction · diag(spacing_mm) · (i, j, k)`; the columns of
//!   `direction` are unit vectors of the `i`, `j` and `k` axes in LPS. `origin_mm` is the centre of
//!   voxel (0, 0, 0).
//!
//! ## Example
//! ```
//! use clarity_core::Volume;
//! let mut v = Volume::new([4, 3, 2], vec![0.0; 24]).unwrap();
//! v.spacing_mm = [0.5, 0.5, 3.0];
//! *v.at_mut(1, 2, 1) = 7.0;
//! let p = v.voxel_to_world([1.0, 2.0, 1.0]);
//! assert_eq!(p, [0.5, 1.0, 3.0]);
//! assert_eq!(v.at(1, 2, 1), 7.0);
//! ```

mod error;
mod geometry;
mod metadata;
mod stats;
pub mod testdata;
mod volume;

pub use error::CoreError;
pub use geometry::{cross, dot, mat3_inverse, mat3_mul_vec, norm, Affine4};
pub use metadata::{
    tm_from_seconds, tm_seconds, FrameAxis, FrameKind, Metadata, PhaseEncodingDirection,
};
pub use stats::percentile;
pub use volume::Volume;

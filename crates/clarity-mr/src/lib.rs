//! # clarity-mr
//!
//! ## Overview
//! MR physics for Clarity: the data engine every model is trained and validated on, and a
//! feature in its own right ("what would this protocol look like with 30 % fewer PE lines?").
//!
//! - [`fft`]: centred unitary 2D FFTs (the k-space convention of the whole crate).
//! - [`acquisition`]: Cartesian sampling, reduced phase resolution, partial Fourier, k-space
//!   noise and its image-domain consequence, motion, ghosting, bias fields.
//! - [`band`]: the acquired PE band of a shortened scan: projection onto it, noise drawn in
//!   it, and detecting it.
//! - [`scan_time`]: protocol timing and the time a shortened scan saves.
//! - [`fastscan`]: (truth, full-length scan, shortened scan) triplets from real images, with
//!   the truth brought to the acquired matrix first.
//!
//! ## Example
//! ```
//! use clarity_core::Volume;
//! use clarity_mr::fastscan::{simulate, FastScanSettings};
//! let mut v = Volume::new([32, 32, 1], vec![0.0; 1024]).unwrap();
//! for j in 8..24 { for i in 8..24 { *v.at_mut(i, j, 0) = 100.0; } }
//! let t = simulate(&v, &FastScanSettings { reduction: 0.3, snr: 20.0, ..Default::default() });
//! assert_eq!(t.lr.dims, t.truth.dims);
//! assert!((t.sigma - 5.0).abs() < 1e-3); // mean foreground 100 / SNR 20
//! ```

pub mod acquisition;
pub mod band;
pub mod dce;
pub mod exam;
pub mod exam_output;
pub mod fastscan;
pub mod fft;
pub mod phantom;
pub mod scan_time;
pub mod sequence;
pub mod tissue;
pub mod vendor;

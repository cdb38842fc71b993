//! NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`; `.hdr` + `.img` pairs read), read and write. The header is parsed here rather than
//! through a crate so that NIfTI-2 and nibabel's exact affine rules (sform, then qform, then the
//! centred fallback) are under our control and tested against nibabel's own numbers.
//!
//! - `read`: the header (both versions, either byte order), the affine as nibabel picks it,
//!   and the voxel bytes;
//! - `write`: NIfTI-1 out, int16 when that is exact, else float32;
//! - `names`: which names are NIfTI, a pair's other half, and the files written beside one.

use std::path::{Path, PathBuf};

use clarity_core::Affine4;

use crate::error::IoError;

mod names;
mod read;
mod write;

pub(crate) use names::beside_nifti;
pub use names::{is_nifti_name, is_single_file_name};
pub use read::{read_nifti, read_nifti_image};
pub use write::write_nifti;

/// On-disk voxel type (NIfTI `datatype` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NiftiType {
    U8 = 2,
    I16 = 4,
    I32 = 8,
    F32 = 16,
    F64 = 64,
    I8 = 256,
    U16 = 512,
    U32 = 768,
    I64 = 1024,
    U64 = 1280,
}

impl NiftiType {
    fn from_code(code: i16) -> Option<Self> {
        use NiftiType::*;
        Some(match code {
            2 => U8,
            4 => I16,
            8 => I32,
            16 => F32,
            64 => F64,
            256 => I8,
            512 => U16,
            768 => U32,
            1024 => I64,
            1280 => U64,
            _ => return None,
        })
    }

    pub fn bytes(self) -> usize {
        use NiftiType::*;
        match self {
            U8 | I8 => 1,
            I16 | U16 => 2,
            I32 | U32 | F32 => 4,
            F64 | I64 | U64 => 8,
        }
    }

    /// numpy's name, as in nibabel's manifest.
    pub fn numpy_name(self) -> &'static str {
        use NiftiType::*;
        match self {
            U8 => "uint8",
            I8 => "int8",
            I16 => "int16",
            U16 => "uint16",
            I32 => "int32",
            U32 => "uint32",
            F32 => "float32",
            F64 => "float64",
            I64 => "int64",
            U64 => "uint64",
        }
    }

    fn decode(self, b: &[u8], big: bool) -> f64 {
        macro_rules! num {
            ($t:ty, $n:expr) => {{
                let a: [u8; $n] = b[..$n].try_into().unwrap();
                (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
            }};
        }
        use NiftiType::*;
        match self {
            U8 => b[0] as f64,
            I8 => b[0] as i8 as f64,
            I16 => num!(i16, 2),
            U16 => num!(u16, 2),
            I32 => num!(i32, 4),
            U32 => num!(u32, 4),
            F32 => num!(f32, 4),
            F64 => num!(f64, 8),
            I64 => num!(i64, 8),
            U64 => num!(u64, 8),
        }
    }
}

/// A NIfTI file as stored: header values and the raw voxel bytes (converted to little-endian).
#[derive(Debug, Clone)]
pub struct NiftiImage {
    pub version: u8,
    /// `dim[1..=ndim]`.
    pub shape: Vec<usize>,
    pub datatype: NiftiType,
    /// `pixdim[1..=ndim]`.
    pub zooms: Vec<f64>,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub qform_code: i32,
    pub sform_code: i32,
    /// The RAS+ affine chosen as nibabel does.
    pub affine: Affine4,
    /// Voxel data, file order (x fastest), little-endian whatever the file's byte order.
    pub raw_le: Vec<u8>,
    /// For a `.hdr`/`.img` pair, its two files (header first); None for a single `.nii`.
    pub pair: Option<(PathBuf, PathBuf)>,
}

impl NiftiImage {
    /// Scaled voxel values (`raw * scl_slope + scl_inter`, unless the slope is 0 or NaN).
    pub fn scaled_values(&self) -> Vec<f64> {
        let n = self.datatype.bytes();
        let (slope, inter) = effective_scaling(self.scl_slope, self.scl_inter);
        self.raw_le
            .chunks_exact(n)
            .map(|c| self.datatype.decode(c, false) * slope + inter)
            .collect()
    }
}

fn effective_scaling(slope: f64, inter: f64) -> (f64, f64) {
    if slope == 0.0 || !slope.is_finite() {
        (1.0, 0.0)
    } else {
        (slope, if inter.is_finite() { inter } else { 0.0 })
    }
}

fn nifti_err(path: &Path, reason: impl Into<String>) -> IoError {
    IoError::Nifti { path: path.to_path_buf(), reason: reason.into() }
}

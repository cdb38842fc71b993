use thiserror::Error;

/// Errors from building or transforming a [`crate::Volume`].
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// The voxel buffer does not hold `nx * ny * nz * frames` values.
    #[error(
        "voxel buffer holds {actual} values but dims {dims:?} x {frames} frames need {expected}"
    )]
    ShapeMismatch { dims: [usize; 3], frames: usize, expected: usize, actual: usize },
    /// A dimension is zero.
    #[error("volume dimension is zero: {0:?}")]
    EmptyDimension([usize; 3]),
    /// The direction matrix or affine cannot be inverted (axes are parallel or zero).
    #[error("geometry is degenerate: {0}")]
    DegenerateGeometry(String),
    /// A frame index is past the 4th dimension.
    #[error("frame {index} is out of range (volume has {frames} frames)")]
    FrameOutOfRange { index: usize, frames: usize },
}

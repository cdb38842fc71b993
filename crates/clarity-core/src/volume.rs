//! [`Volume`]: voxels plus where they are in the patient.

use crate::error::CoreError;
use crate::geometry::{cross, mat3_inverse, mat3_mul_vec, norm, Affine4};
use crate::metadata::{FrameAxis, Metadata};

/// A 3D (optionally 4D) image in patient space. See the crate page for the voxel order and the
/// world convention.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// `[nx, ny, nz]`: columns, rows, slices.
    pub dims: [usize; 3],
    /// Size of the 4th dimension (1 for a plain 3D volume).
    pub frames: usize,
    /// Voxels, `i` fastest, then `j`, `k`, frame. Length `nx * ny * nz * frames`.
    pub data: Vec<f32>,
    /// Distance between voxel centres along `i`, `j`, `k`, in mm.
    pub spacing_mm: [f64; 3],
    /// LPS position of the centre of voxel (0, 0, 0), in mm.
    pub origin_mm: [f64; 3],
    /// Row-major 3×3 matrix whose columns are the LPS unit vectors of the `i`, `j`, `k` axes.
    pub direction: [[f64; 3]; 3],
    /// What the 4th dimension indexes, when there is one.
    pub frame_axis: Option<FrameAxis>,
    pub meta: Metadata,
}

impl Volume {
    /// A 3D volume with unit spacing, origin at zero and identity direction.
    pub fn new(dims: [usize; 3], data: Vec<f32>) -> Result<Self, CoreError> {
        Self::new_4d(dims, 1, data)
    }

    /// A volume with `frames` entries in the 4th dimension.
    pub fn new_4d(dims: [usize; 3], frames: usize, data: Vec<f32>) -> Result<Self, CoreError> {
        if dims.contains(&0) || frames == 0 {
            return Err(CoreError::EmptyDimension(dims));
        }
        let expected = dims[0] * dims[1] * dims[2] * frames;
        if data.len() != expected {
            return Err(CoreError::ShapeMismatch { dims, frames, expected, actual: data.len() });
        }
        Ok(Self {
            dims,
            frames,
            data,
            spacing_mm: [1.0; 3],
            origin_mm: [0.0; 3],
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            frame_axis: None,
            meta: Metadata::default(),
        })
    }

    /// A volume of zeros with the same geometry and metadata as `self` (one frame).
    pub fn zeros_like(&self) -> Self {
        let mut v = self.clone();
        v.frames = 1;
        v.frame_axis = None;
        v.meta.diffusion_directions_lps.truncate(1);
        v.data = vec![0.0; self.voxels_per_frame()];
        v
    }

    /// Number of voxels in one 3D frame.
    pub fn voxels_per_frame(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Linear index of voxel `(i, j, k)` in frame 0.
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Voxel value at `(i, j, k)` of frame 0. Panics when out of bounds, like slice indexing.
    #[inline]
    pub fn at(&self, i: usize, j: usize, k: usize) -> f32 {
        self.data[self.index(i, j, k)]
    }

    /// Mutable voxel at `(i, j, k)` of frame 0.
    #[inline]
    pub fn at_mut(&mut self, i: usize, j: usize, k: usize) -> &mut f32 {
        let idx = self.index(i, j, k);
        &mut self.data[idx]
    }

    /// The voxels of one 3D frame.
    pub fn frame(&self, t: usize) -> Result<&[f32], CoreError> {
        if t >= self.frames {
            return Err(CoreError::FrameOutOfRange { index: t, frames: self.frames });
        }
        let n = self.voxels_per_frame();
        Ok(&self.data[t * n..(t + 1) * n])
    }

    /// One 3D frame as its own volume, sharing geometry and metadata.
    pub fn frame_volume(&self, t: usize) -> Result<Self, CoreError> {
        let data = self.frame(t)?.to_vec();
        let mut v = self.zeros_like();
        v.data = data;
        v.meta.diffusion_directions_lps =
            self.meta.diffusion_directions_lps.get(t).copied().into_iter().collect();
        Ok(v)
    }

    /// Slice `k` of frame 0 as a row-major `nx * ny` image (row `j`, column `i`).
    pub fn slice(&self, k: usize) -> &[f32] {
        let n = self.dims[0] * self.dims[1];
        &self.data[k * n..(k + 1) * n]
    }

    /// `direction · diag(spacing)`: the LPS step taken by one voxel along each axis (columns).
    pub fn scaled_direction(&self) -> [[f64; 3]; 3] {
        let mut m = self.direction;
        for row in m.iter_mut() {
            for (c, v) in row.iter_mut().enumerate() {
                *v *= self.spacing_mm[c];
            }
        }
        m
    }

    /// LPS position (mm) of continuous voxel coordinates `(i, j, k)`.
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        let d = mat3_mul_vec(&self.scaled_direction(), ijk);
        [d[0] + self.origin_mm[0], d[1] + self.origin_mm[1], d[2] + self.origin_mm[2]]
    }

    /// Continuous voxel coordinates of an LPS position (mm).
    pub fn world_to_voxel(&self, lps_mm: [f64; 3]) -> Result<[f64; 3], CoreError> {
        let inv = mat3_inverse(&self.scaled_direction()).ok_or_else(|| {
            CoreError::DegenerateGeometry("direction × spacing is singular".into())
        })?;
        let rel = [
            lps_mm[0] - self.origin_mm[0],
            lps_mm[1] - self.origin_mm[1],
            lps_mm[2] - self.origin_mm[2],
        ];
        Ok(mat3_mul_vec(&inv, rel))
    }

    /// The LPS affine `world = A · (i, j, k, 1)`.
    pub fn lps_affine(&self) -> Affine4 {
        let m = self.scaled_direction();
        [
            [m[0][0], m[0][1], m[0][2], self.origin_mm[0]],
            [m[1][0], m[1][1], m[1][2], self.origin_mm[1]],
            [m[2][0], m[2][1], m[2][2], self.origin_mm[2]],
            [0.0, 0.0, 0.0, 1.0],
        ]
    }

    /// The NIfTI-style RAS+ affine: LPS with x and y negated.
    pub fn ras_affine(&self) -> Affine4 {
        let mut a = self.lps_affine();
        for c in 0..4 {
            a[0][c] = -a[0][c];
            a[1][c] = -a[1][c];
        }
        a
    }

    /// Set spacing, direction and origin from a RAS+ affine (as NIfTI's sform or nibabel's
    /// `affine`). Shear is not representable; the direction columns are normalised.
    pub fn set_ras_affine(&mut self, ras: &Affine4) -> Result<(), CoreError> {
        let mut lps = *ras;
        for c in 0..4 {
            lps[0][c] = -lps[0][c];
            lps[1][c] = -lps[1][c];
        }
        self.set_lps_affine(&lps)
    }

    /// Set spacing, direction and origin from an LPS affine.
    pub fn set_lps_affine(&mut self, lps: &Affine4) -> Result<(), CoreError> {
        let mut dir = [[0.0; 3]; 3];
        let mut spacing = [0.0; 3];
        for c in 0..3 {
            let col = [lps[0][c], lps[1][c], lps[2][c]];
            let len = norm(col);
            if len < 1e-12 || !len.is_finite() {
                return Err(CoreError::DegenerateGeometry(format!(
                    "affine column {c} has zero length"
                )));
            }
            spacing[c] = len;
            for r in 0..3 {
                dir[r][c] = col[r] / len;
            }
        }
        if mat3_inverse(&dir).is_none() {
            return Err(CoreError::DegenerateGeometry("affine axes are parallel".into()));
        }
        self.direction = dir;
        self.spacing_mm = spacing;
        self.origin_mm = [lps[0][3], lps[1][3], lps[2][3]];
        Ok(())
    }

    /// Build direction from DICOM ImageOrientationPatient (row then column cosines) and a slice
    /// direction. When `slice_dir` is `None` the right-handed normal `row × col` is used.
    pub fn direction_from_orientation(
        row_cosines: [f64; 3],
        col_cosines: [f64; 3],
        slice_dir: Option<[f64; 3]>,
    ) -> [[f64; 3]; 3] {
        let n = slice_dir.unwrap_or_else(|| cross(row_cosines, col_cosines));
        let len = norm(n).max(1e-12);
        let n = [n[0] / len, n[1] / len, n[2] / len];
        [
            [row_cosines[0], col_cosines[0], n[0]],
            [row_cosines[1], col_cosines[1], n[1]],
            [row_cosines[2], col_cosines[2], n[2]],
        ]
    }

    /// Minimum and maximum voxel value (NaNs ignored); `(0, 0)` for an all-NaN volume.
    pub fn min_max(&self) -> (f32, f32) {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for &v in &self.data {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if lo > hi {
            (0.0, 0.0)
        } else {
            (lo, hi)
        }
    }

    /// Mean voxel value over all frames, accumulated in f64.
    pub fn mean(&self) -> f64 {
        if self.data.is_empty() {
            return 0.0;
        }
        self.data.iter().map(|&v| v as f64).sum::<f64>() / self.data.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oblique() -> Volume {
        let mut v = Volume::new([3, 4, 5], (0..60).map(|x| x as f32).collect()).unwrap();
        v.spacing_mm = [0.8, 0.9, 3.5];
        v.origin_mm = [-100.0, 20.0, 35.5];
        let a: f64 = 0.3;
        v.direction =
            Volume::direction_from_orientation([1.0, 0.0, 0.0], [0.0, a.cos(), -a.sin()], None);
        v
    }

    #[test]
    fn shape_is_checked() {
        assert!(matches!(
            Volume::new([2, 2, 2], vec![0.0; 7]),
            Err(CoreError::ShapeMismatch { expected: 8, actual: 7, .. })
        ));
        assert!(matches!(Volume::new([0, 2, 2], vec![]), Err(CoreError::EmptyDimension(_))));
        let v = Volume::new_4d([2, 2, 2], 3, vec![1.0; 24]).unwrap();
        assert_eq!(v.frame(2).unwrap().len(), 8);
        assert!(v.frame(3).is_err());
    }

    #[test]
    fn voxel_order_is_i_fastest() {
        let v = oblique();
        assert_eq!(v.index(1, 0, 0), 1);
        assert_eq!(v.index(0, 1, 0), 3);
        assert_eq!(v.index(0, 0, 1), 12);
        assert_eq!(v.at(2, 3, 4), 59.0);
        assert_eq!(v.slice(1)[0], 12.0);
    }

    #[test]
    fn world_round_trip_on_oblique_geometry() {
        let v = oblique();
        for ijk in [[0.0, 0.0, 0.0], [2.0, 3.0, 4.0], [1.25, -0.5, 7.75]] {
            let w = v.voxel_to_world(ijk);
            let back = v.world_to_voxel(w).unwrap();
            for a in 0..3 {
                assert!((back[a] - ijk[a]).abs() < 1e-9, "{ijk:?} -> {w:?} -> {back:?}");
            }
        }
        assert_eq!(v.voxel_to_world([0.0; 3]), v.origin_mm);
        // One step along k moves by slice spacing along the normal.
        let p0 = v.voxel_to_world([0.0, 0.0, 0.0]);
        let p1 = v.voxel_to_world([0.0, 0.0, 1.0]);
        let d =
            ((p1[0] - p0[0]).powi(2) + (p1[1] - p0[1]).powi(2) + (p1[2] - p0[2]).powi(2)).sqrt();
        assert!((d - 3.5).abs() < 1e-12);
    }

    #[test]
    fn ras_affine_negates_x_and_y_and_round_trips() {
        let v = oblique();
        let lps = v.lps_affine();
        let ras = v.ras_affine();
        for c in 0..4 {
            assert_eq!(ras[0][c], -lps[0][c]);
            assert_eq!(ras[1][c], -lps[1][c]);
            assert_eq!(ras[2][c], lps[2][c]);
        }
        let mut w = Volume::new([3, 4, 5], vec![0.0; 60]).unwrap();
        w.set_ras_affine(&ras).unwrap();
        for a in 0..3 {
            assert!((w.spacing_mm[a] - v.spacing_mm[a]).abs() < 1e-12);
            assert!((w.origin_mm[a] - v.origin_mm[a]).abs() < 1e-12);
            for b in 0..3 {
                assert!((w.direction[a][b] - v.direction[a][b]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn degenerate_affine_is_an_error() {
        let mut v = oblique();
        let mut a = v.lps_affine();
        a[0][2] = 0.0;
        a[1][2] = 0.0;
        a[2][2] = 0.0;
        assert!(matches!(v.set_lps_affine(&a), Err(CoreError::DegenerateGeometry(_))));
    }

    #[test]
    fn min_max_ignores_nan() {
        let v = Volume::new([3, 1, 1], vec![f32::NAN, -2.0, 5.0]).unwrap();
        assert_eq!(v.min_max(), (-2.0, 5.0));
    }
}

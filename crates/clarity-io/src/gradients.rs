//! FSL diffusion tables beside a NIfTI converted from a diffusion-weighted series: `NAME.bval`
//! (one b-value per volume, s/mm²) and `NAME.bvec` (three rows: the x, y and z components of
//! each volume's gradient direction), the files dcm2niix writes and BIDS requires for DWI.
//!
//! The directions are in the NIfTI's voxel frame, not the scanner's: component `i` is the
//! gradient's projection on the `i` axis of the image grid. FSL reads images whose affine has a
//! positive determinant (neurological order) with `i` reversed, so for those the x component is
//! negated, as the FSL convention (and MRtrix's reading of it) says.

use std::path::{Path, PathBuf};

use clarity_core::{cross, dot, mat3_inverse, mat3_mul_vec, norm, FrameKind, Volume};

use crate::error::Result;
use crate::nifti::beside_nifti;

/// One b-value per frame, and the gradient directions when the files gave them.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionTable {
    /// s/mm², one per frame.
    pub b_values: Vec<f64>,
    /// Per frame, in the voxel frame FSL expects (see the module page); None when the series
    /// did not say the direction of every diffusion-weighted frame.
    pub fsl_directions: Option<Vec<[f64; 3]>>,
}

/// The diffusion table of `vol`, or None when it is not diffusion-weighted (no b-value above 0
/// is known for its frames).
pub fn diffusion_table(vol: &Volume) -> Option<DiffusionTable> {
    let b_values = match &vol.frame_axis {
        Some(axis) if axis.kind == FrameKind::BValue && axis.values.len() == vol.frames => {
            axis.values.clone()
        }
        _ => vec![vol.meta.b_value_s_per_mm2?; vol.frames],
    };
    if !b_values.iter().all(|b| b.is_finite()) || !b_values.iter().any(|b| *b > 0.0) {
        return None;
    }
    let directions = &vol.meta.diffusion_directions_lps;
    let fsl_directions = (directions.len() == vol.frames)
        .then(|| fsl_voxel_frame(&vol.direction))
        .flatten()
        .map(|to_fsl| directions.iter().map(|g| to_fsl(*g)).collect());
    Some(DiffusionTable { b_values, fsl_directions })
}

/// The map from an LPS gradient direction to the grid's voxel frame, FSL's way (x negated for a
/// positive determinant); None for a singular grid.
fn fsl_voxel_frame(direction: &[[f64; 3]; 3]) -> Option<impl Fn([f64; 3]) -> [f64; 3]> {
    // `direction`'s columns are the axes' LPS unit vectors, so its inverse takes a world vector
    // to grid components (a plain transpose when the grid is not sheared).
    let to_grid = mat3_inverse(direction)?;
    // The RAS affine flips x and y of the LPS one: its determinant has the same sign.
    let flip_x = dot(direction[0], cross(direction[1], direction[2])) > 0.0;
    Some(move |g_lps: [f64; 3]| {
        if norm(g_lps) < 1e-9 {
            return [0.0; 3];
        }
        let v = mat3_mul_vec(&to_grid, g_lps);
        let len = norm(v);
        let mut v = v.map(|c| c / len);
        if flip_x {
            v[0] = -v[0];
        }
        v
    })
}

/// `NAME.bval` and `NAME.bvec` for `NAME.nii` or `NAME.nii.gz`.
pub fn table_paths(nifti: &Path) -> (PathBuf, PathBuf) {
    (beside_nifti(nifti, "bval"), beside_nifti(nifti, "bvec"))
}

/// Write `table` beside the NIfTI at `nifti` (replacing files there): always the `.bval`, the
/// `.bvec` when the directions are known. Returns the paths written.
pub fn write_diffusion_table(table: &DiffusionTable, nifti: &Path) -> Result<Vec<PathBuf>> {
    let (bval, bvec) = table_paths(nifti);
    let mut written = vec![bval.clone()];
    crate::write_text_replacing(&bval, &format!("{}\n", row(table.b_values.iter().copied())))?;
    if let Some(dirs) = &table.fsl_directions {
        let text: String =
            (0..3).map(|c| format!("{}\n", row(dirs.iter().map(|d| d[c])))).collect();
        crate::write_text_replacing(&bvec, &text)?;
        written.push(bvec);
    }
    Ok(written)
}

/// Space-separated numbers to 6 decimals, trailing zeros dropped (`1000`, `-0.701902`, `0`).
fn row(values: impl Iterator<Item = f64>) -> String {
    values
        .map(|v| {
            let s = format!("{v:.6}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" {
                "0".to_string()
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clarity_core::FrameAxis;

    fn dwi(direction: [[f64; 3]; 3], gradients: &[[f64; 3]]) -> Volume {
        let n = gradients.len();
        let mut vol = Volume::new_4d([2, 2, 2], n, vec![0.0; 8 * n]).unwrap();
        vol.direction = direction;
        vol.frame_axis = Some(FrameAxis {
            kind: FrameKind::BValue,
            values: gradients.iter().map(|g| if norm(*g) > 0.0 { 1000.0 } else { 0.0 }).collect(),
        });
        vol.meta.diffusion_directions_lps = gradients.to_vec();
        vol
    }

    #[test]
    fn directions_are_taken_into_the_voxel_frame() {
        // A sagittal grid: i runs posterior (LPS +y), j inferior (−z), k left (+x). Its
        // determinant is −1, so no component is negated.
        let sagittal = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]];
        let vol = dwi(sagittal, &[[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let t = diffusion_table(&vol).unwrap();
        assert_eq!(t.b_values, [0.0, 1000.0, 1000.0, 1000.0]);
        // Left is +k, posterior +i, superior −j.
        assert_eq!(
            t.fsl_directions.unwrap(),
            [[0.0; 3], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
        );
    }

    #[test]
    fn a_positive_determinant_negates_x() {
        // The identity LPS grid: its RAS affine is diag(−1, −1, 1), determinant +1.
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let t = diffusion_table(&dwi(id, &[[0.6, 0.8, 0.0]])).unwrap();
        assert_eq!(t.fsl_directions.unwrap(), [[-0.6, 0.8, 0.0]]);
        // Reversing k makes it −1: x is kept.
        let rev = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]];
        let t = diffusion_table(&dwi(rev, &[[0.6, 0.0, 0.8]])).unwrap();
        assert_eq!(t.fsl_directions.unwrap(), [[0.6, 0.0, -0.8]]);
    }

    #[test]
    fn no_table_without_diffusion_weighting_and_no_bvec_without_every_direction() {
        let mut vol = Volume::new([2, 2, 2], vec![0.0; 8]).unwrap();
        assert_eq!(diffusion_table(&vol), None);
        vol.meta.b_value_s_per_mm2 = Some(0.0);
        assert_eq!(diffusion_table(&vol), None, "b = 0 alone is not diffusion-weighted");
        vol.meta.b_value_s_per_mm2 = Some(800.0);
        let t = diffusion_table(&vol).unwrap();
        assert_eq!((t.b_values, t.fsl_directions), (vec![800.0], None));
    }

    #[test]
    fn tables_are_written_as_fsl_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let nifti = dir.path().join("dwi.nii.gz");
        let table = DiffusionTable {
            b_values: vec![0.0, 1000.0],
            fsl_directions: Some(vec![[0.0; 3], [-0.7019019, 0.5, -1e-9]]),
        };
        let written = write_diffusion_table(&table, &nifti).unwrap();
        assert_eq!(written, [dir.path().join("dwi.bval"), dir.path().join("dwi.bvec")]);
        assert_eq!(std::fs::read_to_string(&written[0]).unwrap(), "0 1000\n");
        assert_eq!(std::fs::read_to_string(&written[1]).unwrap(), "0 -0.701902\n0 0.5\n0 0\n");
    }
}

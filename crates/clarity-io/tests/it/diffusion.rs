//! Diffusion tables: the b-values and gradient directions of a DWI series, written as FSL
//! `.bval`/`.bvec`, against the directions put in the files and against dcm2niix's tables.

use std::path::{Path, PathBuf};

use clarity_core::{cross, dot, mat3_mul_vec, Volume};
use clarity_io::dicom::bench_support::{
    diffusion_copies, diffusion_copies_csa, enhanced_diffusion_copy,
};
use clarity_io::dicom::{scan, write_derived_series, SeriesOptions};
use clarity_io::gradients::{diffusion_table, write_diffusion_table};
use clarity_io::nifti::{read_nifti, write_nifti};

use crate::common::{dcm2niix, shared_data};

/// Three directions that mix the brain series' tilted j and k axes, and a b = 0 volume in
/// between: the volumes stay in this (acquisition) order, as dcm2niix keeps them.
const GRADIENTS: [(f64, [f64; 3]); 4] = [
    (1000.0, [1.0, 0.0, 0.0]),
    (0.0, [0.0, 0.0, 0.0]),
    (1000.0, [0.0, 0.6, 0.8]),
    (500.0, [0.48, -0.6, 0.64]),
];

/// `NAME.bval` and the three rows of `NAME.bvec` in `dir`.
fn read_tables(dir: &Path, name: &str) -> (Vec<f64>, Vec<[f64; 3]>) {
    let numbers = |ext: &str| -> Vec<Vec<f64>> {
        let path = dir.join(format!("{name}.{ext}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
            .collect()
    };
    let bval = numbers("bval").remove(0);
    let rows = numbers("bvec");
    assert_eq!(rows.len(), 3, "{name}.bvec has {} rows", rows.len());
    let bvec = (0..bval.len()).map(|t| [rows[0][t], rows[1][t], rows[2][t]]).collect();
    (bval, bvec)
}

/// Determinant of a volume's grid (the sign of its RAS affine's).
fn det(d: &[[f64; 3]; 3]) -> f64 {
    dot(d[0], cross(d[1], d[2]))
}

/// An FSL bvec entry of the NIfTI whose grid is `direction`, back in LPS: FSL's voxel frame
/// has x reversed for a positive determinant.
fn lps_of(direction: &[[f64; 3]; 3], mut v: [f64; 3]) -> [f64; 3] {
    if det(direction) > 0.0 {
        v[0] = -v[0];
    }
    mat3_mul_vec(direction, v)
}

fn assert_table(
    who: &str,
    nifti: &Path,
    (bval, bvec): (Vec<f64>, Vec<[f64; 3]>),
    expected: &[(f64, [f64; 3])],
) {
    let grid = read_nifti(nifti).unwrap().direction;
    assert_eq!(bval, expected.iter().map(|g| g.0).collect::<Vec<_>>(), "{who}: b-values");
    assert_eq!(bvec.len(), expected.len(), "{who}: bvec columns");
    for (t, (v, (_, g))) in bvec.iter().zip(expected).enumerate() {
        let back = lps_of(&grid, *v);
        let err = (0..3).map(|c| (back[c] - g[c]).abs()).fold(0.0, f64::max);
        // dcm2niix prints 6 decimals.
        assert!(err < 1e-5, "{who}: volume {t}: {v:?} is {back:?} in LPS, the file says {g:?}");
    }
}

/// Our tables for `vol` (beside `out/ours.nii`) and dcm2niix's for the files in `study`
/// (`out/theirs.*`), each checked against [`GRADIENTS`]; the two NIfTI paths, or None when
/// dcm2niix is not installed (after checking ours).
fn check_both_tables(vol: &Volume, study: &Path, out: &Path) -> Option<(PathBuf, PathBuf)> {
    let table = diffusion_table(vol).expect("a diffusion-weighted series");
    let nifti = out.join("ours.nii");
    write_nifti(vol, &nifti).unwrap();
    write_diffusion_table(&table, &nifti).unwrap();
    assert_table("clarity", &nifti, read_tables(out, "ours"), &GRADIENTS);
    let run = dcm2niix(study, out, "theirs")?;
    assert_table("dcm2niix", &run.nifti, read_tables(out, "theirs"), &GRADIENTS);
    Some((nifti, run.nifti))
}

#[test]
fn bval_and_bvec_hold_the_files_directions_as_dcm2niix_writes_them() {
    let Some(data) = shared_data() else { return };
    let study = tempfile::tempdir().unwrap();
    diffusion_copies(&data.join("dicom/series/mr_brain_20"), study.path(), &GRADIENTS).unwrap();
    let report = scan(study.path(), SeriesOptions::default()).unwrap();
    assert_eq!(report.series.len(), 1, "{:?}", report.errors);
    let vol = report.series[0].load().unwrap();
    assert_eq!(vol.frames, 4);
    let out = tempfile::tempdir().unwrap();
    let Some((nifti, theirs)) = check_both_tables(&vol, study.path(), out.path()) else { return };
    // The two grids differ in handedness (dcm2niix stores rows bottom-up), so both of FSL's
    // cases are checked: x negated for ours, kept for dcm2niix's.
    let ours = read_nifti(&nifti).unwrap().direction;
    let theirs = read_nifti(&theirs).unwrap().direction;
    assert!(det(&ours) > 0.0 && det(&theirs) < 0.0, "{ours:?} / {theirs:?}");
}

/// A derived series of a DTI volume says the volume's directions, not its templates': here
/// every direction turned 90° about z, as a registration that rotated the volume would turn
/// them. Read back by us and by dcm2niix.
#[test]
fn a_derived_dti_series_carries_the_volumes_own_directions() {
    let Some(data) = shared_data() else { return };
    let study = tempfile::tempdir().unwrap();
    diffusion_copies(&data.join("dicom/series/mr_brain_20"), study.path(), &GRADIENTS).unwrap();
    let source = scan(study.path(), SeriesOptions::default()).unwrap().series.remove(0);
    let mut vol = source.load().unwrap();
    let turned: Vec<(f64, [f64; 3])> =
        GRADIENTS.iter().map(|(b, g)| (*b, [-g[1], g[0], g[2]])).collect();
    vol.meta.diffusion_directions_lps = turned.iter().map(|t| t.1).collect();

    let out = tempfile::tempdir().unwrap();
    let derived = out.path().join("er");
    write_derived_series(&vol, &source, &derived, " ER").unwrap();
    let back = scan(&derived, SeriesOptions::default()).unwrap().series.remove(0);
    assert_eq!(back.diffusion_directions(), vol.meta.diffusion_directions_lps);
    let Some(run) = dcm2niix(&derived, out.path(), "theirs") else { return };
    assert_table("dcm2niix", &run.nifti, read_tables(out.path(), "theirs"), &turned);
}

/// A Siemens series whose b-values and directions are only in the CSA image header (no standard
/// attributes, no (0019) block) gives the same tables, as dcm2niix reads them from there too.
#[test]
fn directions_only_in_the_siemens_csa_header_are_read() {
    let Some(data) = shared_data() else { return };
    let study = tempfile::tempdir().unwrap();
    diffusion_copies_csa(&data.join("dicom/series/mr_brain_20"), study.path(), &GRADIENTS).unwrap();
    let report = scan(study.path(), SeriesOptions::default()).unwrap();
    assert_eq!(report.series.len(), 1, "{:?}", report.errors);
    let series = &report.series[0];
    let expected: Vec<[f64; 3]> = GRADIENTS.iter().map(|g| g.1).collect();
    assert_eq!(series.diffusion_directions(), expected);
    let out = tempfile::tempdir().unwrap();
    check_both_tables(&series.load().unwrap(), study.path(), out.path());
}

/// One Enhanced MR file holding the whole DWI (as Philips exports it; b-values and directions
/// in the per-frame functional groups) reads as the same series in single-frame files: the same
/// grid, voxels and directions, and tables that dcm2niix agrees with.
#[test]
fn an_enhanced_mr_diffusion_file_reads_as_its_single_frame_twin() {
    let Some(data) = shared_data() else { return };
    let src = data.join("dicom/series/mr_brain_20");
    let dir = tempfile::tempdir().unwrap();
    let enhanced = dir.path().join("enhanced");
    let frames = enhanced_diffusion_copy(&src, &enhanced.join("dwi.dcm"), &GRADIENTS).unwrap();
    assert_eq!(frames, 80);
    let classic = dir.path().join("classic");
    diffusion_copies(&src, &classic, &GRADIENTS).unwrap();
    let only = |path: &Path| {
        let mut report = scan(path, SeriesOptions::default()).unwrap();
        assert_eq!(report.series.len(), 1, "{path:?}: {:?}", report.errors);
        report.series.remove(0)
    };
    let (series, twin) = (only(&enhanced), only(&classic));
    assert_eq!(series.headers.len(), 1, "one file");
    let expected: Vec<[f64; 3]> = GRADIENTS.iter().map(|g| g.1).collect();
    assert_eq!(series.diffusion_directions(), expected);
    let (vol, twin) = (series.load().unwrap(), twin.load().unwrap());
    assert_eq!((vol.dims, vol.frames), (twin.dims, twin.frames));
    assert!(vol.data == twin.data, "voxels differ from the single-frame series'");
    // The functional groups store positions to 6 decimals.
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(close(&vol.spacing_mm, &twin.spacing_mm), "{:?}", vol.spacing_mm);
    assert!(close(&vol.origin_mm, &twin.origin_mm), "{:?}", vol.origin_mm);
    assert!(close(vol.direction.as_flattened(), twin.direction.as_flattened()));
    let out = tempfile::tempdir().unwrap();
    let Some((_, theirs)) = check_both_tables(&vol, &enhanced, out.path()) else { return };
    // dcm2niix orders the frames by the Dimension Index Values into the same four volumes.
    let theirs = read_nifti(&theirs).unwrap();
    assert_eq!((theirs.dims, theirs.frames), (vol.dims, vol.frames), "dcm2niix's volume");
}

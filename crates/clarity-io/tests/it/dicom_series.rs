//! Series assembly against dcm2niix (`dicom/series_dcm2niix.json`): the RAS affine to 1e-3 mm
//! (allowing dcm2niix's axis flips) and identical voxel values at the same world positions
//! (dcm2niix's array rebuilt from ours, hashed, compared with its checksum).

use clarity_core::Volume;
use clarity_io::dicom::{read_series, scan, SeriesOptions};
use serde_json::Value;

use crate::common::{dcm2niix, load_json, sha256_hex, shared_data};

fn affine(v: &Value) -> [[f64; 4]; 4] {
    std::array::from_fn(|r| std::array::from_fn(|c| v[r][c].as_f64().unwrap()))
}

/// Map each of dcm2niix's voxel axes onto ours: returns, for dcm2niix axis a, our axis and the
/// sign, after checking that world positions coincide to 1e-3 mm.
pub fn voxel_map(
    vol: &Volume,
    theirs: &[[f64; 4]; 4],
    shape: [usize; 3],
) -> Result<Vec<(usize, bool, usize)>, String> {
    let to_ours = |ijk: [f64; 3]| -> [f64; 3] {
        let mut ras = [0.0; 3];
        for (r, out) in ras.iter_mut().enumerate() {
            *out = theirs[r][0] * ijk[0]
                + theirs[r][1] * ijk[1]
                + theirs[r][2] * ijk[2]
                + theirs[r][3];
        }
        vol.world_to_voxel([-ras[0], -ras[1], ras[2]]).unwrap()
    };
    let o = to_ours([0.0; 3]);
    let mut map = Vec::new();
    for a in 0..3 {
        let mut e = [0.0; 3];
        e[a] = (shape[a].max(2) - 1) as f64;
        let p = to_ours(e);
        let d: Vec<f64> = (0..3).map(|c| p[c] - o[c]).collect();
        let (axis, len) =
            d.iter().enumerate().max_by(|x, y| x.1.abs().total_cmp(&y.1.abs())).unwrap();
        let expected = (shape[a].max(2) - 1) as f64;
        // The reference affine is printed to 5 decimals, so across 256 voxels it drifts by
        // ~1e-3 voxel; this only finds the axis correspondence, exactness is checked below.
        if shape[a] > 1
            && ((len.abs() - expected).abs() > 1e-2
                || d.iter().enumerate().any(|(c, v)| c != axis && v.abs() > 1e-2))
        {
            return Err(format!("dcm2niix axis {a} maps to {d:?} in our voxels"));
        }
        map.push((axis, *len < 0.0, o[axis].round() as usize));
    }
    for c in 0..3 {
        if (o[c] - o[c].round()).abs() > 1e-2 {
            return Err(format!("dcm2niix voxel 0 is at our {o:?}, not a voxel centre"));
        }
    }
    Ok(map)
}

#[test]
fn series_geometry_matches_dcm2niix() {
    let Some(data) = shared_data() else { return };
    let reference = load_json(&data.join("dicom/series_dcm2niix.json"));
    for s in reference["series"].as_array().unwrap() {
        let folder = s["folder"].as_str().unwrap();
        let vol = read_series(&data.join("dicom").join(folder), SeriesOptions::default())
            .unwrap_or_else(|e| panic!("{folder}: {e}"));
        let shape: Vec<usize> =
            s["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let shape = [shape[0], shape[1], shape[2]];
        let theirs = affine(&s["affine"]);
        let map = voxel_map(&vol, &theirs, shape).unwrap_or_else(|e| panic!("{folder}: {e}"));
        // Same voxel values at the same world positions: rebuild dcm2niix's array from ours.
        let dtype = s["dtype"].as_str().unwrap();
        let mut bytes = Vec::new();
        for k in 0..shape[2] {
            for j in 0..shape[1] {
                for i in 0..shape[0] {
                    let mut ours = [0usize; 3];
                    for (a, &idx) in [i, j, k].iter().enumerate() {
                        let (axis, flip, start) = map[a];
                        ours[axis] = if flip { start - idx } else { start + idx };
                    }
                    let v = vol.at(ours[0], ours[1], ours[2]);
                    match dtype {
                        "int16" => bytes.extend_from_slice(&(v as i16).to_le_bytes()),
                        "uint16" => bytes.extend_from_slice(&(v as u16).to_le_bytes()),
                        "float32" => bytes.extend_from_slice(&v.to_le_bytes()),
                        "float64" => bytes.extend_from_slice(&(v as f64).to_le_bytes()),
                        other => panic!("{folder}: dtype {other} not handled by the test"),
                    }
                }
            }
        }
        let same_values = sha256_hex(&bytes) == s["raw_sha256"].as_str().unwrap();
        let (lo, hi) = vol.min_max();
        let mean = vol.mean();
        if !same_values {
            // float64 output holds slope*stored+intercept in double precision; our voxels are
            // f32, so there compare the statistics instead of the bytes.
            assert_eq!(dtype, "float64", "{folder}: voxel values differ from dcm2niix's");
            assert!((lo as f64 - s["min"].as_f64().unwrap()).abs() < 1e-3, "{folder}: min {lo}");
            assert!((hi as f64 - s["max"].as_f64().unwrap()).abs() < 1e-3, "{folder}: max {hi}");
            assert!((mean - s["mean"].as_f64().unwrap()).abs() < 1e-3, "{folder}: mean {mean}");
        }
        // The affine itself, to 1e-3 mm, once flips are accounted for.
        let ours = vol.ras_affine();
        for r in 0..3 {
            for a in 0..3 {
                let (axis, flip, _) = map[a];
                let v = if flip { -ours[r][axis] } else { ours[r][axis] };
                assert!(
                    (v - theirs[r][a]).abs() < 1e-3,
                    "{folder}: affine[{r}][{a}] {v} vs {}",
                    theirs[r][a]
                );
            }
        }
        eprintln!(
            "{folder}: geometry matches dcm2niix (values {})",
            if same_values { "identical" } else { "within 1e-3" }
        );
    }
}

#[test]
fn corpus_scan_lists_series_and_errors_without_panicking() {
    let Some(data) = shared_data() else { return };
    let report = scan(&data.join("dicom"), SeriesOptions::default()).unwrap();
    assert!(report.series.len() >= 3, "found {} series", report.series.len());
    for e in &report.errors {
        let msg = e.to_string();
        assert!(msg.contains("/dicom/"), "error does not name its file: {msg}");
    }
    let brain = report.series.iter().find(|s| s.description() == "FSE PD AXIAL OBL");
    let names: Vec<String> =
        report.series.iter().map(|s| format!("{} {:?}", s.description(), s.dims)).collect();
    let errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    let brain =
        brain.unwrap_or_else(|| panic!("mr_brain_20 not found in {names:?}; errors {errors:#?}"));
    assert_eq!(brain.dims, [256, 256, 20]);
}

/// Loading a series reads native little-endian pixels straight from the file bytes (no second
/// header parse); every series in the corpus must come out voxel for voxel as the general
/// decoder (the one checked against pydicom) gives it, rescale applied (mosaics tile by tile).
#[test]
fn series_load_matches_general_decoder_on_whole_corpus() {
    let Some(data) = shared_data() else { return };
    let report = scan(&data.join("dicom"), SeriesOptions { allow_nonuniform_spacing: true })
        .expect("scan corpus");
    let mut checked_planes = 0;
    for s in &report.series {
        let Ok(vol) = s.load() else { continue };
        let [nx, ny, nz] = s.dims;
        for (i, sl) in s.slices.iter().enumerate() {
            let px = clarity_io::dicom::decode_file(&s.headers[sl.file].path).unwrap();
            if px.samples_per_pixel != 1 {
                continue;
            }
            let (k, t) = (i / s.frames, i % s.frames);
            let plane = &vol.data[(t * nz + k) * nx * ny..(t * nz + k + 1) * nx * ny];
            let (slope, intercept) = sl.rescale;
            // A mosaic's frames are tiles of its one stored image, cut here independently of
            // the reader: tile f of a g × g grid, row by row.
            let decoded: Vec<f64> = match s.headers[sl.file].mosaic {
                Some(m) => (0..m.tile_rows * m.tile_columns)
                    .map(|p| {
                        let (y, x) = (p / m.tile_columns, p % m.tile_columns);
                        let (gy, gx) = (sl.frame / m.grid, sl.frame % m.grid);
                        px.frame(0)[(gy * m.tile_rows + y) * px.columns + gx * m.tile_columns + x]
                    })
                    .collect(),
                None => px.frame(sl.frame).to_vec(),
            };
            for (j, (ours, v)) in plane.iter().zip(&decoded).enumerate() {
                let want = (v * slope + intercept) as f32;
                assert!(
                    *ours == want,
                    "{}: frame {} voxel {j}: load gave {ours}, decoder {want}",
                    s.headers[sl.file].path.display(),
                    sl.frame
                );
            }
            checked_planes += 1;
        }
    }
    assert!(checked_planes > 100, "only {checked_planes} planes compared");
}

/// An RT Dose grid is one file of planes along the normal (GridFrameOffsetVector) holding doses
/// in units of DoseGridScaling: it reads as a 3D volume in Gy, not as 15 "frames" of one plane
/// in raw units (what it read as before).
#[test]
fn rt_dose_grid_reads_as_a_volume_in_gray() {
    let Some(data) = shared_data() else { return };
    let manifest = load_json(&data.join("dicom/manifest.json"));
    let entry = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == "pydicom/rtdose.dcm")
        .expect("pydicom/rtdose.dcm in the manifest");
    let vol =
        read_series(&data.join("dicom/pydicom/rtdose.dcm"), SeriesOptions::default()).unwrap();
    assert_eq!((vol.dims, vol.frames), ([10, 10, 15], 1));
    // The file's GridFrameOffsetVector runs 0, 5, ..., 70 mm from ImagePositionPatient.
    assert_eq!(vol.spacing_mm, [10.0, 10.0, 5.0]);
    let lps = vol.lps_affine();
    let z_last = lps[2][2] * 14.0 + lps[2][3];
    assert!((lps[2][3] - -761.87).abs() < 1e-6 && (z_last - -691.87).abs() < 1e-6, "{lps:?}");
    // pydicom reads DoseGridScaling 1e-6 from this file; the manifest's samples are raw values
    // in frame-major order, which is the volume's order (x fastest, then y, then z).
    for s in entry["samples"].as_array().unwrap() {
        let (i, raw) = (s[0].as_u64().unwrap() as usize, s[1].as_f64().unwrap());
        let gray = raw * 1e-6;
        assert!(
            (vol.data[i] as f64 - gray).abs() < 1e-6 * gray,
            "voxel {i}: {} vs {gray}",
            vol.data[i]
        );
    }
}

/// An enhanced MR file with no position or orientation at all (`pydicom-data/emri_small*.dcm`:
/// 10 frames, only SpacingBetweenSlices 1.2) stacks its frames 1.2 mm apart, as dcm2niix
/// (v1.0.20220720, run here) writes it: zooms (1, 1, 1.2). Before, the frames were 1 mm apart.
#[test]
fn positionless_frames_are_spacing_between_slices_apart() {
    let Some(data) = shared_data() else { return };
    for file in ["emri_small.dcm", "emri_small_big_endian.dcm", "emri_small_RLE.dcm"] {
        let path = data.join("dicom/pydicom-data").join(file);
        let vol = read_series(&path, SeriesOptions::default()).unwrap();
        assert_eq!(vol.dims, [64, 64, 10], "{file}");
        let off = vol.spacing_mm.iter().zip([1.0, 1.0, 1.2]).map(|(a, b)| (a - b).abs());
        assert!(off.fold(0.0, f64::max) < 1e-9, "{file}: {:?}", vol.spacing_mm);
    }
}

/// Siemens mosaics (`dcm_qa_ts`: one 35-slice EPI volume tiled 6 × 6 into a 384² image, saved
/// in nine transfer syntaxes, SeriesNumbers 1-9 under one UID) come out as 64×64×35 volumes,
/// identical across the nine files, on dcm2niix's grid with dcm2niix's values (dcm2niix run
/// here on a copy of the first file; it is installed by .ci/run).
#[test]
fn siemens_mosaic_matches_dcm2niix() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("dicom/dcm_qa_ts");
    let report = scan(&dir, SeriesOptions::default()).unwrap();
    assert_eq!(report.series.len(), 9, "one series per SeriesNumber");
    let first = read_series(&dir.join("1.dcm"), SeriesOptions::default()).unwrap();
    assert_eq!(first.dims, [64, 64, 35]);
    for k in 2..=9 {
        let vol = read_series(&dir.join(format!("{k}.dcm")), SeriesOptions::default()).unwrap();
        assert_eq!(vol.data, first.data, "{k}.dcm");
        assert_eq!(vol.ras_affine(), first.ras_affine(), "{k}.dcm");
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("1.dcm"), tmp.path().join("1.dcm")).unwrap();
    let out = tmp.path().join("nii");
    std::fs::create_dir(&out).unwrap();
    let Some(run) = dcm2niix(&tmp.path().join("1.dcm"), &out, "mosaic") else { return };
    let nii = run.nifti;
    let theirs = clarity_io::nifti::read_nifti(&nii).unwrap();
    assert_eq!(theirs.dims, [64, 64, 35]);
    let theirs_affine = theirs.ras_affine();
    let map = voxel_map(&first, &theirs_affine, theirs.dims).unwrap();
    let mut compared = 0;
    for k in 0..35 {
        for j in 0..64 {
            for i in 0..64 {
                let mut ours = [0usize; 3];
                for (a, &idx) in [i, j, k].iter().enumerate() {
                    let (axis, flip, start) = map[a];
                    ours[axis] = if flip { start - idx } else { start + idx };
                }
                assert_eq!(
                    first.at(ours[0], ours[1], ours[2]),
                    theirs.at(i, j, k),
                    "({i},{j},{k})"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 64 * 64 * 35);
}

//! NIfTI against nibabel 5.4.2 (`nifti/manifest.json`): shape, dtype, zooms, scaling, the RAS
//! affine nibabel chooses, and the stored array's bytes; plus write → read round trips.

use clarity_core::Volume;
use clarity_io::nifti::{read_nifti, read_nifti_image, write_nifti};

use crate::common::{load_json, sha256_hex, shared_data};

#[test]
fn every_manifest_file_matches_nibabel() {
    let Some(data) = shared_data() else { return };
    let manifest = load_json(&data.join("nifti/manifest.json"));
    let mut checked = 0;
    for e in manifest["files"].as_array().unwrap() {
        let rel = e["file"].as_str().unwrap();
        let path = data.join("nifti").join(rel);
        let path = if path.exists() { path } else { data.join(rel) };
        let img = read_nifti_image(&path).unwrap_or_else(|err| panic!("{rel}: {err}"));
        let shape: Vec<usize> =
            e["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(img.shape, shape, "{rel}: shape");
        let dtype = e["dtype"].as_str().unwrap();
        // nibabel reports the dtype of the scaled array: float64 whenever scl_slope/inter apply.
        let scaled = e["scl_slope"].as_f64().unwrap_or(1.0) != 1.0
            || e["scl_inter"].as_f64().unwrap_or(0.0) != 0.0;
        let want = match dtype.trim_start_matches(['<', '>', '|']) {
            "i2" => "int16",
            "u1" => "uint8",
            "f4" => "float32",
            "f8" => "float64",
            other => other,
        };
        if scaled {
            assert_eq!(want, "float64", "{rel}: scaled data reported as {want}");
        } else {
            assert_eq!(img.datatype.numpy_name(), want, "{rel}: dtype");
        }
        for (a, z) in e["zooms"].as_array().unwrap().iter().enumerate() {
            assert!((img.zooms[a] - z.as_f64().unwrap()).abs() < 1e-5, "{rel}: zoom {a}");
        }
        for r in 0..4 {
            for c in 0..4 {
                let theirs = e["affine"][r][c].as_f64().unwrap();
                assert!(
                    (img.affine[r][c] - theirs).abs() < 1e-5,
                    "{rel}: affine[{r}][{c}] {} vs {theirs}",
                    img.affine[r][c]
                );
            }
        }
        let values = img.scaled_values();
        // For scaled files the manifest's checksum is over nibabel's scaled float64 array (checked
        // with nibabel: the int16 bytes hash differently), so hash ours the same way.
        let hashed = if scaled {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            img.raw_le.clone()
        };
        assert_eq!(sha256_hex(&hashed), e["raw_sha256"].as_str().unwrap(), "{rel}: voxel array");
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let tol = 1e-6 * e["max"].as_f64().unwrap().abs().max(1.0);
        assert!((mean - e["mean"].as_f64().unwrap()).abs() < tol, "{rel}: scaled mean {mean}");
        // The Volume view agrees with the image's affine.
        let vol = read_nifti(&path).unwrap();
        let ras = vol.ras_affine();
        for r in 0..3 {
            for c in 0..4 {
                assert!((ras[r][c] - img.affine[r][c]).abs() < 1e-6, "{rel}: volume affine");
            }
        }
        checked += 1;
    }
    eprintln!("{checked} NIfTI files match nibabel");
    assert!(checked >= 10);
}

fn oblique_volume() -> Volume {
    let mut v =
        Volume::new_4d([5, 4, 3], 2, (0..120).map(|x| x as f32 * 0.5 - 7.0).collect()).unwrap();
    v.spacing_mm = [0.7, 0.8, 3.0];
    v.origin_mm = [-90.5, 12.25, 40.0];
    let a: f64 = 0.2;
    v.direction = Volume::direction_from_orientation(
        [a.cos(), a.sin(), 0.0],
        [-a.sin() * 0.1f64.cos(), a.cos() * 0.1f64.cos(), -0.1f64.sin()],
        None,
    );
    v
}

#[test]
fn write_then_read_round_trips_nii_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let v = oblique_volume();
    for name in ["a.nii", "a.nii.gz"] {
        let p = dir.path().join(name);
        write_nifti(&v, &p).unwrap();
        let back = read_nifti(&p).unwrap();
        assert_eq!(back.dims, v.dims);
        assert_eq!(back.frames, 2);
        assert_eq!(back.data, v.data);
        let (a, b) = (v.ras_affine(), back.ras_affine());
        for r in 0..3 {
            for c in 0..4 {
                assert!((a[r][c] - b[r][c]).abs() < 1e-4, "{name}: affine[{r}][{c}]");
            }
        }
        // qform written too: with sform removed, the qform alone gives the same geometry.
        let img = read_nifti_image(&p).unwrap();
        assert_eq!((img.qform_code, img.sform_code), (1, 1));
    }
}

#[test]
fn bad_nifti_files_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.nii", vec![]),
        ("short.nii", vec![0u8; 100]),
        ("badsize.nii", vec![7u8; 400]),
        ("bad.nii.gz", vec![0x1f, 0x8b, 1, 2, 3]),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = read_nifti(&p).expect_err(name).to_string();
        assert!(err.contains(name), "{err}");
    }
    // Truncated data after a valid header.
    let good = dir.path().join("good.nii");
    write_nifti(&oblique_volume(), &good).unwrap();
    let mut b = std::fs::read(&good).unwrap();
    b.truncate(b.len() - 10);
    let p = dir.path().join("truncated.nii");
    std::fs::write(&p, b).unwrap();
    assert!(read_nifti(&p).unwrap_err().to_string().contains("truncated"));
}

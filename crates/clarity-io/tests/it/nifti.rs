//! NIfTI against nibabel 5.4.2 (`nifti/manifest.json`): shape, dtype, zooms, scaling, the RAS
//! affine nibabel chooses, and the stored array's bytes; write → read round trips; `.hdr`/`.img`
//! pairs and NIfTI-2 (as nibabel writes them) read as their source.

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

#[test]
fn form_codes_outside_the_standard_are_ignored_as_nibabel_ignores_them() {
    // `tests/bad/nifti/valid.nii` (4 × 4 × 2, unit voxels, sform code 1, identity srow) with its
    // sform code damaged to 25601 and srow_x junk, as a damaged copy in the audit had them.
    let valid = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad/nifti/valid.nii");
    let mut bytes = std::fs::read(valid).unwrap();
    bytes[254..256].copy_from_slice(&25601i16.to_le_bytes());
    bytes[280..284].copy_from_slice(&7.0f32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sform_code_25601.nii");
    std::fs::write(&path, &bytes).unwrap();
    let image = read_nifti_image(&path).unwrap();
    assert_eq!((image.qform_code, image.sform_code), (0, 0));
    // nibabel 5 on this file: "sform_code 25601 not valid; setting to 0", then its fallback
    // affine (x flipped, centred on the middle voxel).
    let nibabel = [[-1.0, 0.0, 0.0, 1.5], [0.0, 1.0, 0.0, -1.5], [0.0, 0.0, 1.0, -0.5]];
    for (row, want) in nibabel.iter().enumerate() {
        assert_eq!(&image.affine[row], want, "row {row}: {:?}", image.affine);
    }
}

/// The header and voxels of `image` compared with `want`'s: everything a reader takes from them.
fn assert_same_image(
    got: &clarity_io::nifti::NiftiImage,
    want: &clarity_io::nifti::NiftiImage,
    what: &str,
) {
    assert_eq!(got.shape, want.shape, "{what}: shape");
    assert_eq!(got.datatype, want.datatype, "{what}: datatype");
    assert_eq!(got.zooms, want.zooms, "{what}: zooms");
    assert_eq!((got.scl_slope, got.scl_inter), (want.scl_slope, want.scl_inter), "{what}: scaling");
    for r in 0..4 {
        for c in 0..4 {
            let (a, b) = (got.affine[r][c], want.affine[r][c]);
            assert!((a - b).abs() < 1e-5, "{what}: affine[{r}][{c}] {a} vs {b}");
        }
    }
    assert!(got.raw_le == want.raw_le, "{what}: voxel bytes differ");
}

/// A `.nii` split into a NIfTI-1 pair by hand: the header with magic `ni1` and vox_offset 0 in
/// `stem.hdr`, the voxels in `stem.img` (each gzipped when `gz`).
fn split_into_pair(nii: &std::path::Path, dir: &std::path::Path, stem: &str, gz: bool) {
    let mut bytes = Vec::new();
    let raw = std::fs::read(nii).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut bytes)
            .unwrap();
    } else {
        bytes = raw;
    }
    let big = i32::from_le_bytes(bytes[0..4].try_into().unwrap()) != 348;
    let offset = {
        let b: [u8; 4] = bytes[108..112].try_into().unwrap();
        (if big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) }) as usize
    };
    let mut header = bytes[..348].to_vec();
    header[344..348].copy_from_slice(b"ni1\0");
    header[108..112].copy_from_slice(&[0; 4]);
    let write = |name: String, data: &[u8]| {
        let path = dir.join(if gz { format!("{name}.gz") } else { name });
        if gz {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, data).unwrap();
            std::fs::write(path, enc.finish().unwrap()).unwrap();
        } else {
            std::fs::write(path, data).unwrap();
        }
    };
    write(format!("{stem}.hdr"), &header);
    write(format!("{stem}.img"), &bytes[offset..]);
}

/// NIfTI-1 pairs (`.hdr` + `.img`, gzipped or not, opened by either half) read as the single
/// file they were split from: big-endian int16, float64 4D, gzipped int16. They were read as
/// one file, with the voxels looked for after the header.
#[test]
fn nifti_pairs_read_as_the_single_file() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    for rel in ["nifti/anatomical.nii", "nifti/functional.nii", "mri/prostatex_0000/dwi.nii.gz"] {
        let single = read_nifti_image(&data.join(rel)).unwrap();
        for gz in [false, true] {
            let stem = format!("{}{}", rel.replace(['/', '.'], "_"), if gz { "_gz" } else { "" });
            split_into_pair(&data.join(rel), dir.path(), &stem, gz);
            let ext = if gz { ".gz" } else { "" };
            for half in ["hdr", "img"] {
                let path = dir.path().join(format!("{stem}.{half}{ext}"));
                let pair = read_nifti_image(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_same_image(&pair, &single, &format!("{rel} as {half}{ext}"));
            }
            assert_eq!(
                read_nifti(&dir.path().join(format!("{stem}.hdr{ext}"))).unwrap().data,
                read_nifti(&data.join(rel)).unwrap().data,
                "{rel}: volume"
            );
        }
    }

    // Each half alone, or a mismatch between name and magic, is an error that says so.
    let lone = dir.path().join("lone.hdr");
    std::fs::copy(dir.path().join("nifti_anatomical_nii.hdr"), &lone).unwrap();
    let err = read_nifti_image(&lone).unwrap_err().to_string();
    assert!(
        err.contains("voxel file of this .hdr/.img pair is missing") && err.contains("lone.img"),
        "{err}"
    );
    let misnamed = dir.path().join("pair_header.nii");
    std::fs::copy(dir.path().join("nifti_anatomical_nii.hdr"), &misnamed).unwrap();
    let err = read_nifti_image(&misnamed).unwrap_err().to_string();
    assert!(err.contains("separate .img file"), "{err}");
    let single_as_pair = dir.path().join("single.hdr");
    std::fs::copy(data.join("nifti/anatomical.nii"), &single_as_pair).unwrap();
    std::fs::write(dir.path().join("single.img"), b"").unwrap();
    let err = read_nifti_image(&single_as_pair).unwrap_err().to_string();
    assert!(err.contains("says a single .nii file"), "{err}");
}

/// What nibabel writes as NIfTI-2 (single file and pair) and as a NIfTI-1 pair reads as the
/// NIfTI-1 file it came from (nibabel is installed by .ci/run; skipped loudly without it).
#[test]
fn nibabel_nifti2_and_pairs_read_as_the_source() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = data.join("nifti/functional.nii");
    let script = "import sys, nibabel as nb\n\
        img = nb.load(sys.argv[1]); out = sys.argv[2]\n\
        for cls, name in [(nb.Nifti2Image, 'n2.nii'), (nb.Nifti2Pair, 'n2.hdr'), (nb.Nifti1Pair, 'n1.img')]:\n\
        \x20   cls(img.get_fdata(), img.affine, img.header).to_filename(out + '/' + name)\n";
    let run = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&src)
        .arg(dir.path())
        .output();
    match run {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("\n**** SKIPPED nibabel NIfTI-2 / pair check: python3 with nibabel not found ****\n");
            return;
        }
    }
    // nibabel may store the scaling its own way: compare what the file means, the scaled
    // voxels and the affine.
    let (want, want_img) = (read_nifti(&src).unwrap(), read_nifti_image(&src).unwrap());
    for name in ["n2.nii", "n2.hdr", "n2.img", "n1.hdr", "n1.img"] {
        let path = dir.path().join(name);
        let got = read_nifti_image(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.version, if name.starts_with("n2") { 2 } else { 1 }, "{name}");
        assert_eq!(got.shape, want_img.shape, "{name}");
        let same = |r: usize, c: usize| (got.affine[r][c] - want_img.affine[r][c]).abs() < 1e-5;
        assert!((0..3).all(|r| (0..4).all(|c| same(r, c))), "{name}: affine {:?}", got.affine);
        let vol = read_nifti(&path).unwrap();
        let worst =
            vol.data.iter().zip(&want.data).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-3, "{name}: voxels differ by {worst}");
    }
}

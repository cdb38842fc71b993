//! The `tests/bad` corpus (NIfTI and DICOM): every broken file gives an error naming it and
//! its fault, never a panic; each folder's `valid.*` control reads.

use std::path::PathBuf;

use clarity_io::damage::{read_damaged, Outcome};

fn corpus(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad").join(kind)
}

/// Every data file in `dir` is the control or has an expected error in `cases`.
fn all_listed(dir: &std::path::Path, cases: &[(&str, &str)], exts: &[&str]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let is_data = exts.iter().any(|e| name.ends_with(e));
        let listed = name.starts_with("valid.") || cases.iter().any(|(f, _)| *f == name);
        assert!(!is_data || listed, "{name} has no expected error here");
    }
}

#[test]
fn every_broken_nifti_is_an_error_that_says_why() {
    let dir = corpus("nifti");
    let control = clarity_io::nifti::read_nifti(&dir.join("valid.nii")).expect("valid.nii reads");
    assert_eq!(control.dims, [4, 4, 2]);
    assert_eq!(control.data[..4], [0.0, 1.0, 2.0, 3.0]);
    let cases = [
        ("truncated_header.nii", "file has 200 bytes, a NIfTI header needs 348"),
        ("bad_sizeof_hdr.nii", "sizeof_hdr is 999"),
        ("bad_magic.nii", "magic is not n+1 or ni1"),
        ("ndim_0.nii", "dim[0] is 0, must be 1..7"),
        ("ndim_9.nii", "dim[0] is 9, must be 1..7"),
        ("negative_dim.nii", "dimensions [-4, 4, 2] are not positive"),
        ("zero_dim.nii", "dimensions [0, 4, 2] are not positive"),
        ("huge_dims.nii", "data is truncated"),
        ("overflow_dims.nii", "hold more bytes than can be addressed"),
        ("short_data.nii", "data is truncated: 362 bytes, header needs 416"),
        ("vox_offset_beyond_file.nii", "data is truncated"),
        ("vox_offset_nan.nii", "vox_offset is NaN"),
        ("vox_offset_in_header.nii", "vox_offset 100 lies inside the 348-byte header"),
        ("unknown_datatype.nii", "datatype 1234 is not supported"),
        ("complex64.nii", "datatype 32 (complex64) is not supported: only real-valued"),
        ("sform_nan.nii", "the sform (srow_x/y/z) holds NaN or infinite values"),
        ("qform_nan.nii", "the qform (quatern_b/c/d, qoffset_x/y/z, pixdim) holds NaN"),
        ("pixdim_inf_no_form.nii", "pixdim (no sform or qform) holds NaN or infinite values"),
        ("corrupt.nii.gz", "gzip stream is corrupt"),
    ];
    all_listed(&dir, &cases, &[".nii", ".nii.gz"]);
    for (file, said) in cases {
        let path = dir.join(file);
        let result = std::panic::catch_unwind(|| clarity_io::nifti::read_nifti(&path));
        let Ok(result) = result else { panic!("{file}: the reader panicked") };
        let msg = result.err().unwrap_or_else(|| panic!("{file} was read")).to_string();
        assert!(msg.contains(file) && msg.contains(said), "{file}: {msg}");
    }
}

#[test]
fn every_broken_dicom_is_an_error_that_says_why() {
    let dir = corpus("dicom");
    let read = |file: &str| {
        clarity_io::dicom::read_series(&dir.join(file), clarity_io::dicom::SeriesOptions::default())
    };
    let control = read("valid.dcm").expect("valid.dcm reads");
    assert_eq!((control.dims, control.data[9]), ([8, 8, 1], 9.0));
    let cases = [
        ("preamble_only.dcm", "not a readable DICOM file"),
        ("garbage_after_dicm.dcm", "not a readable DICOM file"),
        ("truncated_in_pixel_data.dcm", "Could not read 128 value bytes"),
        (
            "pixel_length_beyond_file.dcm",
            "(7FE0,0010) at byte 582 claims 4294967280 bytes, but the file ends 128",
        ),
        ("short_pixel_data.dcm", "pixel data holds 100 bytes but 1 frame(s) of 8×8×1 × 2 bytes"),
        ("bits_allocated_12.dcm", "unsupported BitsAllocated 12"),
        ("bits_allocated_8_for_16_bit_data.dcm", "128 bytes, at least twice the 64"),
        ("frames_beyond_file.dcm", "NumberOfFrames is 1000000000, more frames than the file's"),
        ("spacing_not_positive.dcm", "PixelSpacing is [-1.0, 0.0]; both must be above 0"),
        ("orientation_zero.dcm", "not two perpendicular unit direction vectors"),
        ("orientation_parallel.dcm", "not two perpendicular unit direction vectors"),
        ("pixel_representation_32768.dcm", "PixelRepresentation is 32768; 0 (unsigned) or 1"),
        ("bits_stored_beyond_allocated.dcm", "BitsStored is 33; 1 to BitsAllocated (16)"),
        ("colour_model_unknown.dcm", "PhotometricInterpretation is \"XGB\", not a colour model"),
    ];
    all_listed(&dir, &cases, &[".dcm"]);
    for (file, said) in cases {
        let result = std::panic::catch_unwind(|| read(file));
        let Ok(result) = result else { panic!("{file}: the reader panicked") };
        let msg = result.err().unwrap_or_else(|| panic!("{file} was read")).to_string();
        assert!(msg.contains(file) && msg.contains(said), "{file}: {msg}");
    }
    // Before: the one stackable 4×4 slice was returned as the series, the three 8×8 slices
    // that failed the gap check left out unsaid.
    let msg = read("split_series").expect_err("split_series was read").to_string();
    assert!(msg.contains("besides series 2.25.1003") && msg.contains("could not be read"), "{msg}");
    assert!(msg.contains("slice spacing is not uniform"), "{msg}");
}

/// Seeded damage ([`clarity_io::damage::damage`]) to each folder's control, 3000 ways each:
/// a volume or an error that names the file, never a panic. The gzipped NIfTI checks the path
/// through the decompressor too.
#[test]
fn damaged_controls_read_or_fail_with_the_file_named_never_panic() {
    let nifti = std::fs::read(corpus("nifti").join("valid.nii")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &nifti).unwrap();
    let controls = [
        ("valid.nii", nifti.clone()),
        ("valid.nii.gz", gz.finish().unwrap()),
        ("valid.dcm", std::fs::read(corpus("dicom").join("valid.dcm")).unwrap()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in controls {
        let (mut volumes, mut errors) = (0, 0);
        for seed in 0..3000 {
            let path = dir.path().join(format!("s{seed}_{name}"));
            std::fs::write(&path, clarity_io::damage::damage(&bytes, seed)).unwrap();
            match read_damaged(&path) {
                Outcome::Read => volumes += 1,
                Outcome::Error(msg) => {
                    assert!(msg.contains(&format!("s{seed}_{name}")), "seed {seed}: {msg}");
                    errors += 1;
                }
                Outcome::Panic(msg) => {
                    panic!("{name} damaged by seed {seed} made the reader panic: {msg}")
                }
            }
            std::fs::remove_file(&path).unwrap();
        }
        // Both happen: the damage reaches what the reader checks, and some of it (a pixel
        // value, an unused byte) leaves a readable file.
        assert!(volumes > 0 && errors > 0, "{name}: {volumes} volumes, {errors} errors");
        eprintln!("{name}: 3000 damaged copies, {volumes} read, {errors} errors, no panic");
    }
}

/// Two damaged copies of every DICOM and NIfTI file of the shared corpus (the real files, whose
/// encodings, sequences and vendor quirks the `tests/bad` controls do not have): each reads or
/// fails naming the copy, never a panic. `examples/mutate_corpus.rs` runs as many as asked.
#[test]
fn damaged_copies_of_the_shared_corpus_read_or_fail_never_panic() {
    use rayon::prelude::*;
    let Some(root) = crate::common::shared_data() else { return };
    let files = clarity_io::damage::corpus_files(&root);
    assert!(files.len() > 100, "{} files under {}", files.len(), root.display());
    let dir = tempfile::tempdir().unwrap();
    let outcomes: Vec<(String, Outcome)> = files
        .par_iter()
        .enumerate()
        .flat_map_iter(|(n, path)| {
            let bytes = std::fs::read(path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let dir = dir.path().to_path_buf();
            (0..2u64).map(move |seed| {
                let copy = dir.join(format!("{n}_{seed}_{name}"));
                std::fs::write(&copy, clarity_io::damage::corpus_copy(&bytes, n, seed)).unwrap();
                let outcome = read_damaged(&copy);
                std::fs::remove_file(&copy).unwrap();
                (format!("{} (seed {seed}, copy {n}_{seed}_{name})", path.display()), outcome)
            })
        })
        .collect();
    let (mut volumes, mut errors) = (0, 0);
    for (what, outcome) in &outcomes {
        match outcome {
            Outcome::Read => volumes += 1,
            Outcome::Error(msg) => {
                let copy = what.rsplit("copy ").next().unwrap().trim_end_matches(')');
                assert!(msg.contains(copy), "{what}: the error does not name the file: {msg}");
                errors += 1;
            }
            Outcome::Panic(msg) => panic!("{what} made the reader panic: {msg}"),
        }
    }
    assert!(volumes > 0 && errors > 0, "{volumes} volumes, {errors} errors");
    eprintln!(
        "shared corpus: {} damaged copies, {volumes} read, {errors} errors, no panic",
        outcomes.len()
    );
}

/// `bytes` (explicit VR little endian) with the value of the first `(0028,elem)` US element
/// set to `value`, or with its tag renamed to `(0028,renamed)` when `value` is None.
fn patched(bytes: &[u8], elem: u8, value: Option<u16>, renamed: u8) -> Vec<u8> {
    let header = [0x28, 0x00, elem, 0x00, b'U', b'S', 2, 0];
    let at = bytes.windows(8).position(|w| w == header).expect("the element");
    let mut out = bytes.to_vec();
    match value {
        Some(v) => out[at + 8..at + 10].copy_from_slice(&v.to_le_bytes()),
        None => out[at + 2] = renamed,
    }
    out
}

#[test]
fn compressed_frames_that_the_header_does_not_describe_are_errors() {
    let Some(data) = crate::common::shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let decode = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let result = clarity_io::dicom::decode_file(&path).map(|px| px.shape());
        result.expect_err(name).to_string()
    };
    // Rows damaged from 100 to 27748 (a damaged copy the audit found): the decoder filled a
    // 27748-row buffer from one 100-row JPEG.
    let jpeg = std::fs::read(data.join("dicom/pydicom/SC_rgb_dcmtk_+eb+cy+n1.dcm")).unwrap();
    let msg = decode("rows_27748.dcm", patched(&jpeg, 0x10, Some(27748), 0));
    assert!(
        msg.contains("the compressed frame is 100×100 (rows × columns), the header says 27748×100"),
        "{msg}"
    );
    let j2k = std::fs::read(data.join("dicom/pydicom/JPEG2000.dcm")).unwrap();
    let msg = decode("columns_7.dcm", patched(&j2k, 0x11, Some(7), 0));
    assert!(msg.contains("the header says 1024×7"), "{msg}");
    // JPEG-LS without Rows (the tag renamed): the second-try decoder took the frame's own
    // size, and, Pixel Representation lost with it in the damaged copy, -2000 came out 63536.
    let ls = std::fs::read(data.join("dicom/wg04/JLSL/CT1_JLSL")).unwrap();
    let msg = decode("no_rows.dcm", patched(&ls, 0x10, None, 0x0F));
    assert!(msg.contains("no_rows.dcm") && msg.contains("Rows missing"), "{msg}");
}

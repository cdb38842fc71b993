//! The `tests/bad` corpus: every broken file gives an error naming it and its fault.

use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad/nifti")
}

#[test]
fn every_broken_nifti_is_an_error_that_says_why() {
    let dir = corpus();
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
        ("sform_nan.nii", "the sform (srow_x/y/z) holds NaN or infinite values"),
        ("qform_nan.nii", "the qform (quatern_b/c/d, qoffset_x/y/z, pixdim) holds NaN"),
        ("pixdim_inf_no_form.nii", "pixdim (no sform or qform) holds NaN or infinite values"),
        ("corrupt.nii.gz", "gzip stream is corrupt"),
    ];
    let mut listed: Vec<&str> = cases.iter().map(|(f, _)| *f).collect();
    listed.push("valid.nii");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let is_data = name.ends_with(".nii") || name.ends_with(".nii.gz");
        assert!(!is_data || listed.contains(&name.as_str()), "{name} has no expected error here");
    }
    for (file, said) in cases {
        let path = dir.join(file);
        let result = std::panic::catch_unwind(|| clarity_io::nifti::read_nifti(&path));
        let Ok(result) = result else { panic!("{file}: the reader panicked") };
        let msg = result.err().unwrap_or_else(|| panic!("{file} was read")).to_string();
        assert!(msg.contains(file) && msg.contains(said), "{file}: {msg}");
    }
}

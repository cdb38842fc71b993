//! Bad input is an error naming the file and the problem, never a panic or a silent result:
//! broken files, zero counts, non-finite numbers, volumes too small for the fast-scan protocol,
//! NaN or 4D volumes written as DICOM, folders of several series where one is meant, and notes
//! on what the fast-scan protocol leaves out (later frames) or cannot vouch for (non-MR input).

use crate::{clarity, sample_series, shared_data};

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("x.nii");
    std::fs::write(&bogus, b"not nifti").unwrap();
    let (ok, text) = clarity(&["view", bogus.to_str().unwrap(), "--png", "/dev/null"]);
    assert!(!ok);
    assert!(text.contains("x.nii") && !text.contains("panicked"), "{text}");
    let (ok, text) = clarity(&[
        "convert",
        tmp.path().to_str().unwrap(),
        tmp.path().join("o.nii").to_str().unwrap(),
    ]);
    assert!(!ok && !text.contains("panicked"), "{text}");
    // An all-zero volume has no foreground to set the SNR against: an error, not a table of
    // infinite PSNRs.
    let zeros = tmp.path().join("zeros.nii");
    let empty = clarity_core::Volume::new([16, 16, 2], vec![0.0; 16 * 16 * 2]).unwrap();
    clarity_io::nifti::write_nifti(&empty, &zeros).unwrap();
    let out = tmp.path().join("fs");
    for args in [
        vec!["simulate", "fastscan", zeros.to_str().unwrap(), out.to_str().unwrap()],
        vec!["eval", "enhance", zeros.to_str().unwrap(), "--out", out.to_str().unwrap()],
    ] {
        let (ok, text) = clarity(&args);
        assert!(!ok && text.contains("zeros.nii: no voxel is above 0"), "{args:?}: {text}");
    }
    // Before: "no DICOM image series found", as if the file were a broken DICOM.
    let zeros = zeros.to_str().unwrap();
    for (args, why) in [
        (vec!["classify", zeros], "classify reads DICOM series"),
        (vec!["bench", "io", zeros], "bench io times DICOM series"),
    ] {
        let (ok, text) = clarity(&args);
        assert!(!ok && text.contains("zeros.nii: a NIfTI file; ") && text.contains(why), "{text}");
    }
    // The OS says only "File exists" when a file stands where an output folder should go.
    let file = tmp.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    for args in [
        vec!["demo", "--out", file.to_str().unwrap()],
        vec!["simulate", "liver-exam", file.to_str().unwrap()],
    ] {
        let (ok, text) = clarity(&args);
        assert!(!ok && text.contains("afile exists and is not a folder"), "{args:?}: {text}");
    }
    // A mistyped path: the OS's reason once, not again as the "cause" of the same message.
    let typo = tmp.path().join("scna.nii.gz");
    let (ok, text) = clarity(&["view", typo.to_str().unwrap(), "--png", "/dev/null"]);
    assert!(!ok && text.contains("scna.nii.gz: cannot read: "), "{text}");
    assert_eq!(text.matches("(os error 2)").count(), 1, "{text}");
    // Not an empty table and success: the folder holds no DICOM series.
    let (ok, text) = clarity(&["classify", tmp.path().to_str().unwrap()]);
    assert!(!ok && text.contains("no DICOM image series found"), "{text}");
}

#[test]
fn fastscan_and_enhance_refuse_images_too_small_to_shorten() {
    // Before: a 1-voxel volume scored -207 dB PSNR, and a 3-pixel-wide one was "shortened".
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, dims: [usize; 3]| {
        let n = dims.iter().product::<usize>();
        let data = (0..n).map(|i| 10.0 + (i * 7 % 13) as f32).collect();
        let path = tmp.path().join(name);
        let vol = clarity_core::Volume::new(dims, data).unwrap();
        clarity_io::nifti::write_nifti(&vol, &path).unwrap();
        path.to_str().unwrap().to_string()
    };
    let thin = write("thin.nii", [3, 200, 2]);
    let small = write("small.nii", [16, 16, 2]);
    let out = tmp.path().join("fs");
    let out = out.to_str().unwrap();
    for args in [
        vec!["simulate", "fastscan", &thin, out],
        vec!["eval", "enhance", &thin, "--out", out, "--snr", "20", "--reduction", "0.3"],
    ] {
        let (ok, text) = clarity(&args);
        assert!(!ok && text.contains("thin.nii: its in-plane matrix is 3×200"), "{args:?}: {text}");
        assert!(text.contains("at least 8 pixels"), "{text}");
    }
    // Before: enhance "enhanced" a 3-pixel-wide image with a network that sees 25 pixels.
    let enhanced = tmp.path().join("e.nii");
    let args = ["enhance", &thin, enhanced.to_str().unwrap(), "--noise-sigma", "1"];
    let (ok, text) = clarity(&args);
    assert!(!ok && text.contains("thin.nii: its slices are 3×200 pixels"), "{text}");
    assert!(!enhanced.exists());
    // Before: the repeated setting ran twice, and its second strip replaced the first.
    let args = ["eval", "enhance", &small, "--out", out, "--snr", "20,40,20"];
    let (ok, text) = clarity(&args);
    assert!(!ok && text.contains("--snr lists 20 more than once"), "{text}");
    let (ok, text) = clarity(&["eval", "enhance", &small, "--out", out, "--reduction", "0.3,0.3"]);
    assert!(!ok && text.contains("--reduction lists 0.3 more than once"), "{text}");
    // 2 % of 16 lines rounds to no line dropped.
    let (ok, text) = clarity(&["simulate", "fastscan", &small, out, "--reduction", "0.02"]);
    assert!(!ok && text.contains("small.nii: a reduction of 0.02 drops none of the 16"), "{text}");
    // The same image at 0.3 is shortened and written.
    let (ok, text) = clarity(&["simulate", "fastscan", &small, out, "--reduction", "0.3"]);
    assert!(ok && text.contains("of 16 lines kept"), "{text}");
}

#[test]
fn eval_classify_names_what_is_wrong_with_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("scan.nii");
    std::fs::write(&file, [0xffu8, 0xfe, 0x00, 0x81]).unwrap();
    let out = dir.join("o");
    let out = out.to_str().unwrap();
    let file = file.to_str().unwrap();
    let dir = dir.to_str().unwrap();
    // Before: "reading scan.nii/labels.csv: Not a directory", "stream did not contain valid
    // UTF-8" and "reading DIR/labels.csv: No such file or directory".
    for (args, said) in [
        (vec!["eval", "classify", file, "--out", out], "scan.nii is not a folder"),
        (vec!["eval", "classify", dir, "--out", out], "has no labels.csv; pass --labels"),
        (vec!["eval", "classify", dir, "--labels", file, "--out", out], "scan.nii: not a text CSV"),
    ] {
        let (ok, text) = clarity(&args);
        assert!(!ok && text.contains(said), "{args:?}: {text}");
    }
}

#[test]
fn convert_to_dicom_zeroes_nan_and_refuses_to_drop_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 256 * 256 * 20;
    // Before: NaN voxels came back as the volume's minimum (here 3), unsaid.
    let data = (0..n).map(|i| if i % 3 == 0 { f32::NAN } else { 3.0 + (i % 7) as f32 }).collect();
    let with_nan = tmp.path().join("nan.nii");
    let vol = clarity_core::Volume::new([256, 256, 20], data).unwrap();
    clarity_io::nifti::write_nifti(&vol, &with_nan).unwrap();
    let reference = sample_series();
    let out = tmp.path().join("dcm");
    let args = ["convert", with_nan.to_str().unwrap(), out.to_str().unwrap(), "--reference"];
    let (ok, text) = clarity(&[&args[..], &[reference.to_str().unwrap()]].concat());
    assert!(ok && text.contains("nan.nii has 436907 non-finite voxel(s)"), "{text}");
    let back = clarity_io::dicom::read_series(&out, Default::default()).unwrap();
    for (i, v) in back.data.iter().enumerate().step_by(997) {
        let want = if i % 3 == 0 { 0.0 } else { 3.0 + (i % 7) as f32 };
        assert_eq!(*v, want, "voxel {i}");
    }
    // Before: a 4D volume was written as its first frame, unsaid.
    let four_d = tmp.path().join("4d.nii");
    let vol = clarity_core::Volume::new_4d([256, 256, 20], 2, vec![1.0; 2 * n]).unwrap();
    clarity_io::nifti::write_nifti(&vol, &four_d).unwrap();
    let out = tmp.path().join("dcm4");
    let args = ["convert", four_d.to_str().unwrap(), out.to_str().unwrap(), "--reference"];
    let (ok, text) = clarity(&[&args[..], &[reference.to_str().unwrap()]].concat());
    assert!(!ok && text.contains("4d.nii has 2 frames") && !out.exists(), "{text}");
}

#[test]
fn bench_io_refuses_a_folder_of_several_series() {
    let Some(data) = shared_data() else { return };
    // Before: it stacked the first series found (one the user did not name) and then failed
    // with "dcm2niix failed: " and an empty reason.
    let folder = data.join("dicom/series");
    let (ok, text) = clarity(&["bench", "io", folder.to_str().unwrap(), "--repeats", "1"]);
    assert!(!ok && text.contains("series found; pass a folder holding one series"), "{text}");
}

#[test]
fn zero_counts_are_refused_where_typed() {
    // Each of these once either panicked deep in a library (a zero patch or bench size reached
    // a chunking by zero; zero classifier channels a batch-norm assertion) or ran and reported
    // success without doing any work (a zero batch).
    let cases: [&[&str]; 6] = [
        &["train", "enhance", "--patch", "0"],
        &["train", "enhance", "--batch", "0"],
        &["train", "classify", "--channels", "0"],
        &["train", "classify", "--batch", "0"],
        &["bench", "enhance", "--sizes", "256,0"],
        &["enhance", "in.nii", "out.nii", "--batch", "0"],
    ];
    for args in cases {
        let (ok, text) = clarity(args);
        let flag = args[args.len() - 2];
        assert!(!ok, "{args:?} succeeded: {text}");
        assert!(
            text.contains(flag)
                && text.contains("must be at least 1")
                && !text.contains("panicked"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn numbers_that_are_not_finite_or_out_of_range_are_refused() {
    // `nan` parses as a float and slips past `snr <= 0.0`: eval enhance once ran on it and
    // printed a table of -111 dB PSNRs.
    let cases: [(&[&str], &str); 11] = [
        // A field other than the two modelled ones was rounded to one of them, unsaid.
        (&["simulate", "brain", "out", "--field", "7"], "must be 1.5 or 3"),
        (&["simulate", "liver-exam", "out", "--field", "1.5,0.5"], "must be 1.5 or 3"),
        (&["train", "classify", "--field", "2"], "must be 1.5 or 3"),
        (&["eval", "enhance", "in.nii", "--snr", "20,nan"], "above 0"),
        (&["eval", "enhance", "in.nii", "--snr", "inf"], "above 0"),
        (&["eval", "enhance", "in.nii", "--reduction", "0.25,1"], "[0, 1)"),
        (&["simulate", "fastscan", "in.nii", "out", "--snr", "nan"], "above 0"),
        (&["simulate", "brain", "out", "--snr", "nan"], "0 or above"),
        (&["simulate", "liver-exam", "out", "--snr", "40,15"], "need 0 < LOW <= HIGH"),
        (&["train", "enhance", "--learning-rate", "nan"], "above 0"),
        (&["view", "in.nii", "--png", "o.png", "--window", "nan,3"], "not a finite number"),
    ];
    for (args, why) in cases {
        let (ok, text) = clarity(args);
        assert!(!ok, "{args:?} succeeded: {text}");
        assert!(text.contains(why) && !text.contains("panicked"), "{args:?}: {text}");
    }
}

#[test]
fn training_refuses_to_replace_a_model_it_does_not_resume() {
    // Before: `train` into a folder holding someone's model (and no checkpoint) overwrote
    // model.safetensors with a fresh network, unsaid.
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model.safetensors");
    std::fs::write(&model, b"a trained model").unwrap();
    let out = tmp.path().to_str().unwrap();
    let missing = tmp.path().join("no-data");
    let no_data = missing.to_str().unwrap();
    for args in [
        vec!["train", "enhance", "--out", out, "--data", no_data],
        vec!["train", "classify", "--out", out, "--data", no_data],
    ] {
        let (ok, text) = clarity(&args);
        assert!(!ok && text.contains("holds a trained model and no checkpoint"), "{text}");
        assert!(text.contains("--force"), "{text}");
        assert_eq!(std::fs::read(&model).unwrap(), b"a trained model");
    }
    // --force replaces it with the run's network.
    let args = ["train", "classify", "--out", out, "--data", no_data, "--force"];
    let quick = ["--exams", "1", "--val-exams", "1", "--steps", "1", "--channels", "2"];
    let (ok, text) = clarity(&[&args[..], &quick[..]].concat());
    assert!(ok, "{text}");
    assert_ne!(std::fs::read(&model).unwrap(), b"a trained model");
}

#[test]
fn the_fast_scan_protocol_says_what_it_leaves_out_or_cannot_vouch_for() {
    // Before: a 4D volume was simulated from its first frame, and eval enhance scored a CT
    // image with the MR network, both unsaid; then the first frame was the only one it took.
    let tmp = tempfile::tempdir().unwrap();
    let n = 16 * 16 * 2;
    let data = (0..3 * n).map(|i| 10.0 + (i * 7 % 13) as f32).collect();
    let four_d = tmp.path().join("4d.nii");
    let vol = clarity_core::Volume::new_4d([16, 16, 2], 3, data).unwrap();
    clarity_io::nifti::write_nifti(&vol, &four_d).unwrap();
    let out = tmp.path().join("fs");
    let (ok, text) =
        clarity(&["simulate", "fastscan", four_d.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(
        ok && text.contains("4d.nii has 3 frames; the fast-scan protocol uses frame 0"),
        "{text}"
    );
    // --frame picks another: frame 2 simulated from the 4D file is frame 2 simulated alone.
    let simulate = |input: &std::path::Path, name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let args = ["simulate", "fastscan", input.to_str().unwrap(), out.to_str().unwrap()];
        let (ok, text) = clarity(&[&args[..], extra].concat());
        assert!(ok, "{text}");
        clarity_io::nifti::read_nifti(&out.join("truth.nii.gz")).unwrap().data
    };
    let alone = tmp.path().join("frame2.nii");
    clarity_io::nifti::write_nifti(&vol.frame_volume(2).unwrap(), &alone).unwrap();
    let picked = simulate(&four_d, "fs2", &["--frame", "2"]);
    assert_eq!(picked, simulate(&alone, "fs_alone", &[]));
    assert_ne!(picked, simulate(&four_d, "fs0", &[]));
    let past = tmp.path().join("fs3");
    let args = ["simulate", "fastscan", four_d.to_str().unwrap(), past.to_str().unwrap()];
    let (ok, text) = clarity(&[&args[..], &["--frame", "3"]].concat());
    assert!(!ok && text.contains("has 3 frame(s); --frame 3 is past the last"), "{text}");
    let Some(data) = shared_data() else { return };
    let ct = data.join("dicom/pydicom/CT_small.dcm");
    let args = ["eval", "enhance", ct.to_str().unwrap(), "--snr", "20", "--reduction", "0.3"];
    let (ok, text) = clarity(&[&args[..], &["--out", out.join("eval").to_str().unwrap()]].concat());
    assert!(ok && text.contains("CT_small.dcm is CT, not MR"), "{text}");
}

/// A reader that stops early (`clarity info FOLDER | head`) ends the listing quietly; Rust's
/// default (SIGPIPE ignored) made `println!` panic with a backtrace there.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    let Some(data) = shared_data() else { return };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clarity"))
        .args(["info", data.join("dicom").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the scan of the corpus (seconds) ends and the table is printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

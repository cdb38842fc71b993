//! End-to-end tests of the `clarity` binary:
//! - `info` over the whole shared DICOM corpus: every series listed, one error line per broken file;
//! - `convert` of the sample series to NIfTI: geometry equal to dcm2niix's;
//! - `demo`: runs on the bundled sample and writes its outputs;
//! - `simulate`: fast-scan outputs and scan-time report, a liver exam that `info` reads back as
//!   nine series, and refusal to write into a non-empty folder;
//! - `enhance`: a DICOM series in, a derived " ER" series out with the same geometry (with an
//!   untrained, identity network, so the values must also come back unchanged);
//! - `enhance` with the built-in model from any folder, saying a 4D input loses its later frames
//!   and negative voxels are read as 0;
//! - `train enhance --list-data`: the files a run reads, missing ones marked;
//! - bad input (a broken file, a zero count flag) is an error naming it, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.join("README.md").is_file() {
        Some(dir)
    } else {
        eprintln!("\n**** SKIPPED: shared test data not found at {} ****\n", dir.display());
        None
    }
}

fn clarity(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clarity")).args(args).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn info_lists_the_corpus_with_an_error_line_per_broken_file() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("dicom");
    let (ok, text) = clarity(&["info", "--json", dir.to_str().unwrap()]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let series = v["series"].as_array().unwrap();
    assert!(series.iter().any(|s| s["description"] == "FSE PD AXIAL OBL"));
    assert!(series.len() >= 40, "{} series", series.len());
    let errors = v["errors"].as_array().unwrap();
    for name in ["no_meta.dcm", "ExplVR_LitEndNoMeta.dcm", "rtstruct.dcm"] {
        assert!(
            errors.iter().any(|e| e.as_str().unwrap().contains(name)),
            "no error line for {name}"
        );
    }
    let (ok, table) = clarity(&["info", dir.to_str().unwrap()]);
    assert!(ok);
    assert!(table.lines().filter(|l| l.starts_with("error: ")).count() == errors.len());
}

#[test]
fn convert_to_nifti_matches_dcm2niix_geometry() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.nii.gz");
    let src = data.join("dicom/series/mr_brain_20");
    let (ok, text) = clarity(&["convert", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(ok, "{text}");
    // Refuses to overwrite without --force.
    let (ok, text) = clarity(&["convert", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(!ok && text.contains("--force"), "{text}");
    let img = clarity_io::nifti::read_nifti_image(&out).unwrap();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("dicom/series_dcm2niix.json")).unwrap(),
    )
    .unwrap();
    let brain = reference["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["folder"] == "series/mr_brain_20")
        .unwrap();
    assert_eq!(img.shape, vec![256, 256, 20]);
    // dcm2niix flips the row axis, so compare the grids in the world: every corner voxel of
    // dcm2niix's grid must be the centre of one of our voxels, to 1e-3 mm.
    let ours = clarity_io::nifti::read_nifti(&out).unwrap();
    let theirs: Vec<Vec<f64>> =
        (0..3).map(|r| (0..4).map(|c| brain["affine"][r][c].as_f64().unwrap()).collect()).collect();
    for corner in [
        [0.0, 0.0, 0.0],
        [255.0, 0.0, 0.0],
        [0.0, 255.0, 0.0],
        [0.0, 0.0, 19.0],
        [255.0, 255.0, 19.0],
    ] {
        let ras: Vec<f64> = (0..3)
            .map(|r| (0..3).map(|c| theirs[r][c] * corner[c]).sum::<f64>() + theirs[r][3])
            .collect();
        let v = ours.world_to_voxel([-ras[0], -ras[1], ras[2]]).unwrap();
        for a in 0..3 {
            let step = ours.spacing_mm[a];
            assert!(
                (v[a] - v[a].round()).abs() * step < 1e-2,
                "corner {corner:?} falls at our voxel {v:?}"
            );
            assert!(
                v[a].round() >= 0.0 && v[a].round() <= [255.0, 255.0, 19.0][a],
                "corner {corner:?} outside: {v:?}"
            );
        }
    }
    // nibabel, when installed, reads the same affine from our file.
    let py = Command::new("python3")
        .args(["-c", "import sys,nibabel; print(repr(nibabel.load(sys.argv[1]).affine.tolist()))"])
        .arg(&out)
        .output();
    match py {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).replace(['[', ']', ','], " ");
            let nums: Vec<f64> = text.split_whitespace().map(|t| t.parse().unwrap()).collect();
            for r in 0..3 {
                for c in 0..4 {
                    let want = img.affine[r][c];
                    assert!(
                        (nums[r * 4 + c] - want).abs() < 1e-4,
                        "nibabel affine[{r}][{c}] {} vs ours {want}",
                        nums[r * 4 + c]
                    );
                }
            }
        }
        _ => eprintln!("\n**** nibabel not importable: skipped the nibabel read-back ****\n"),
    }
}

#[test]
fn demo_writes_its_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, text) = clarity(&["demo", "--out", tmp.path().to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(tmp.path().join("mr_brain_20.png").is_file());
    let vol = clarity_io::nifti::read_nifti(&tmp.path().join("mr_brain_20.nii.gz")).unwrap();
    assert_eq!(vol.dims, [256, 256, 20]);
}

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
    // Not an empty table and success: the folder holds no DICOM series.
    let (ok, text) = clarity(&["classify", tmp.path().to_str().unwrap()]);
    assert!(!ok && text.contains("no DICOM image series found"), "{text}");
}

#[test]
fn fastscan_refuses_images_too_small_to_shorten() {
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
    let cases: [(&[&str], &str); 10] = [
        // A field other than the two modelled ones was rounded to one of them, unsaid.
        (&["simulate", "brain", "out", "--field", "7"], "must be 1.5 or 3"),
        (&["simulate", "liver-exam", "out", "--field", "1.5,0.5"], "must be 1.5 or 3"),
        (&["train", "classify", "--field", "2"], "must be 1.5 or 3"),
        (&["eval", "enhance", "in.nii", "--snr", "20,nan"], "above 0"),
        (&["eval", "enhance", "in.nii", "--snr", "inf"], "above 0"),
        (&["eval", "enhance", "in.nii", "--reduction", "0.25,1"], "[0, 1)"),
        (&["simulate", "fastscan", "in.nii", "out", "--snr", "nan"], "above 0"),
        (&["simulate", "brain", "out", "--snr", "nan"], "0 or above"),
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
fn view_writes_a_montage_and_keeps_an_existing_one_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("m.png");
    let sample = sample_series();
    let view = |extra: &[&str]| {
        let args = ["view", sample.to_str().unwrap(), "--png", png.to_str().unwrap()];
        clarity(&[&args[..], extra].concat())
    };
    let (ok, text) = view(&[]);
    assert!(ok, "{text}");
    let first = std::fs::read(&png).unwrap();
    assert!(first.starts_with(b"\x89PNG"));
    let (ok, text) = view(&["--max-slices", "4"]);
    assert!(!ok && text.contains("m.png exists"), "{text}");
    assert_eq!(std::fs::read(&png).unwrap(), first, "the existing PNG was touched");
    let (ok, text) = view(&["--max-slices", "4", "--force"]);
    assert!(ok, "{text}");
    assert_ne!(std::fs::read(&png).unwrap(), first);
}

fn sample_series() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/mr_brain_20")
}

#[test]
fn simulate_fastscan_writes_triplet_and_reports_time_saved() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fs");
    let (ok, text) = clarity(&[
        "simulate",
        "fastscan",
        sample_series().to_str().unwrap(),
        out.to_str().unwrap(),
        "--reduction",
        "0.25",
        "--snr",
        "20",
    ]);
    assert!(ok, "{text}");
    for f in ["truth.nii.gz", "hr.nii.gz", "lr.nii.gz", "strip.png", "fastscan.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fastscan.json")).unwrap()).unwrap();
    assert_eq!(report["phase_lines_full"], 256);
    assert_eq!(report["phase_lines_short"], 192);
    let truth = clarity_io::nifti::read_nifti(&out.join("truth.nii.gz")).unwrap();
    let lr = clarity_io::nifti::read_nifti(&out.join("lr.nii.gz")).unwrap();
    assert_eq!(truth.dims, lr.dims);
    // Running again into the same folder must not overwrite silently.
    let (ok, text) = clarity(&[
        "simulate",
        "fastscan",
        sample_series().to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("not empty"), "{text}");
}

#[test]
fn simulate_liver_exam_reads_back_as_nine_series() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exam");
    let (ok, text) = clarity(&[
        "simulate",
        "liver-exam",
        out.to_str().unwrap(),
        "--patients",
        "1",
        "--seed",
        "3",
        "--matrix-scale",
        "0.3",
        "--headers",
        "blank",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = clarity(&["info", "--json", out.to_str().unwrap()]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["series"].as_array().unwrap().len(), 9, "{text}");
    assert!(v["errors"].as_array().unwrap().is_empty(), "{text}");
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert_eq!(labels.lines().count(), 10);
    for id in [
        "t1_in",
        "t1_opp",
        "t2_fs",
        "dwi_high_b",
        "adc",
        "dce_pre",
        "dce_arterial",
        "dce_portal",
        "dce_delayed",
    ] {
        assert!(labels.contains(&format!(",{id},")), "{id} missing from labels.csv");
    }
}

/// A tiny untrained enhancement network (the identity: its tail is zero) saved in `dir/model`;
/// `planes` = (noise plane, reduction plane).
fn identity_enhance_model(
    dir: &std::path::Path,
    pe_axis: Option<clarity_core::PhaseEncodingDirection>,
    planes: (bool, bool),
) -> PathBuf {
    let model_dir = dir.join("model");
    let cfg = clarity_models::enhance::EnhanceNetConfig {
        pe_axis,
        noise_channel: planes.0,
        reduction_channel: planes.1,
        ..clarity_models::enhance::EnhanceNetConfig::new(1, 4, 3)
    };
    let net = cfg.init(&burn::prelude::Device::flex());
    clarity_models::enhance::train::save_model(&net, &cfg, &model_dir).unwrap();
    model_dir
}

/// `clarity enhance INPUT OUT --model MODEL` with the consistency step off: it would re-weigh
/// an untrained network's features, and the tests using this want the identity network's
/// output, i.e. the input, back.
fn enhance_as_is(input: &Path, out: &Path, model: &Path) -> (bool, String) {
    clarity(&[
        "enhance",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--noise-sigma",
        "off",
    ])
}

#[test]
fn enhance_dicom_series_keeps_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = identity_enhance_model(dir.path(), None, (false, false));
    let out = dir.path().join("er");
    let (ok, text) = enhance_as_is(&sample_series(), &out, &model_dir);
    assert!(ok, "{text}");
    let src = clarity_io::dicom::read_series(&sample_series(), Default::default()).unwrap();
    let report = clarity_io::dicom::scan(&out, Default::default()).unwrap();
    assert_eq!(report.series.len(), 1);
    assert!(report.series[0].description().ends_with(" ER"), "{}", report.series[0].description());
    let er = report.series[0].load().unwrap();
    assert_eq!(er.dims, src.dims);
    for r in 0..3 {
        assert!((er.origin_mm[r] - src.origin_mm[r]).abs() < 1e-3);
        assert!((er.spacing_mm[r] - src.spacing_mm[r]).abs() < 1e-4);
        for c in 0..3 {
            assert!((er.direction[r][c] - src.direction[r][c]).abs() < 1e-6);
        }
    }
    // Identity network: values come back up to the 16-bit rescale of the writer.
    let (lo, hi) = src.min_max();
    let step = (hi - lo) / 65535.0;
    for (a, b) in er.data.iter().zip(&src.data) {
        assert!((a - b).abs() <= step + 1e-3 * b.abs().max(1.0), "{a} vs {b}");
    }
    // Into the same folder again: refused before any work (nothing enhanced, nothing touched).
    let (ok, text) = clarity(&[
        "enhance",
        sample_series().to_str().unwrap(),
        out.to_str().unwrap(),
        "--model",
        model_dir.to_str().unwrap(),
    ]);
    assert!(
        !ok && text.contains("IM00001.dcm") && text.contains("refusing to overwrite"),
        "{text}"
    );
    assert!(!text.contains("phase encoding along"), "checked only after the work: {text}");
}

#[test]
fn enhance_finds_the_phase_encoding_axis_of_a_nifti_shortened_scan() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = identity_enhance_model(
        dir.path(),
        Some(clarity_core::PhaseEncodingDirection::Col),
        (false, false),
    );
    let fs = dir.path().join("fs");
    let (ok, text) = clarity(&[
        "simulate",
        "fastscan",
        sample_series().to_str().unwrap(),
        fs.to_str().unwrap(),
        "--pe-axis",
        "row",
    ]);
    assert!(ok, "{text}");
    let lr = fs.join("lr.nii.gz");
    let run = |extra: &[&str]| {
        let out = dir.path().join("er.nii.gz");
        let mut args =
            vec!["enhance", lr.to_str().unwrap(), out.to_str().unwrap(), "--force", "--model"];
        args.push(model_dir.to_str().unwrap());
        args.extend_from_slice(extra);
        clarity(&args)
    };
    // NIfTI has no header field for it: found from the k-space cut-off.
    let (ok, text) = run(&[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("phase encoding along Row (detected from the k-space cut-off)"),
        "{text}"
    );
    let (ok, text) = run(&["--pe-axis", "col"]);
    assert!(ok, "{text}");
    assert!(text.contains("phase encoding along Col (from --pe-axis)"), "{text}");
    // The consistency step finds the lines the simulation kept.
    let fs_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fs.join("fastscan.json")).unwrap()).unwrap();
    let (full, short) = (
        fs_json["phase_lines_full"].as_u64().unwrap(),
        fs_json["phase_lines_short"].as_u64().unwrap(),
    );
    let start = full / 2 - short / 2;
    let (ok, text) = run(&["--noise-sigma", "5"]);
    assert!(ok, "{text}");
    let lines = format!("acquired phase-encoding lines {start}..{} of {full}", start + short);
    assert!(text.contains(&lines), "{lines} not in: {text}");
    assert!(
        text.contains("data consistency: last layer re-weighed in the acquired band"),
        "{text}"
    );
    let (ok, text) = run(&["--noise-sigma", "loud"]);
    assert!(!ok && text.contains("`loud` is not auto, off or a non-negative number"), "{text}");
}

/// Run clarity and parse its stdout as JSON (stderr carries progress and notes).
fn clarity_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_clarity")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn classify_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/classify")
}

#[test]
fn classify_names_every_series_of_a_generated_exam_and_eval_scores_it() {
    let dir = tempfile::tempdir().unwrap();
    let exam = dir.path().join("exam");
    // A patient of a seed never used in training (training: seeds 0 and 1).
    let (ok, text) = clarity(&[
        "simulate",
        "liver-exam",
        exam.to_str().unwrap(),
        "--patients",
        "1",
        "--seed",
        "4242",
        "--field",
        "1.5",
        "--matrix-scale",
        "0.5",
        "--headers",
        "blank",
    ]);
    assert!(ok, "{text}");
    let model = classify_model();
    let rows = clarity_json(&[
        "classify",
        exam.to_str().unwrap(),
        "--json",
        "--model",
        model.to_str().unwrap(),
        "--explain",
        dir.path().join("cam").to_str().unwrap(),
    ]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 9);
    let labels = std::fs::read_to_string(exam.join("labels.csv")).unwrap();
    let mut pixel_right = 0;
    for r in rows {
        for key in ["series_uid", "class", "pixel_class", "pixel_prob", "header_class"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        let uid = r["series_uid"].as_str().unwrap();
        let line = labels.lines().find(|l| l.starts_with(uid)).expect("labelled");
        let truth = line.split(',').nth(1).unwrap();
        assert_eq!(r["class"].as_str().unwrap(), truth, "fused class of {uid}");
        assert_eq!(r["pixel_context_class"].as_str().unwrap(), truth, "pixel + context, {uid}");
        pixel_right += usize::from(r["pixel_class"].as_str().unwrap() == truth);
    }
    // The pixel model alone is measured at ~98 % (portal/delayed swaps; see the model card).
    assert!(pixel_right >= 8, "pixel model right on only {pixel_right} of 9");
    let cams = std::fs::read_dir(dir.path().join("cam")).unwrap().count();
    assert_eq!(cams, 9, "one Grad-CAM montage per series");
    let cam = dir.path().join("cam");
    let again = ["classify", exam.to_str().unwrap(), "--model", model.to_str().unwrap()];
    let (ok, text) = clarity(&[&again[..], &["--explain", cam.to_str().unwrap()]].concat());
    assert!(!ok && text.contains(".png exists") && text.contains("--force"), "{text}");
    let out = dir.path().join("eval");
    let (ok, text) = clarity(&[
        "eval",
        "classify",
        exam.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("## fused: accuracy 1.0000"), "{text}");
    assert!(out.join("confusion_pixel.png").is_file());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval_classify.json")).unwrap())
            .unwrap();
    assert_eq!(report["fused"]["n"], 9);
    // A second run does not replace the first's report unless told to.
    let args = ["eval", "classify", exam.to_str().unwrap(), "--model", model.to_str().unwrap()];
    let (ok, text) = clarity(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert!(!ok && text.contains("confusion_pixel.png") && text.contains("--force"), "{text}");
    let (ok, text) = clarity(&[&args[..], &["--out", out.to_str().unwrap(), "--force"]].concat());
    assert!(ok, "{text}");
}

#[test]
fn classify_calls_brain_and_ct_series_other() {
    let Some(data) = shared_data() else { return };
    let model = classify_model();
    for series in [sample_series(), data.join("dicom/series/ct_abdomen_3")] {
        let rows = clarity_json(&[
            "classify",
            series.to_str().unwrap(),
            "--json",
            "--model",
            model.to_str().unwrap(),
        ]);
        for r in rows.as_array().unwrap() {
            assert_eq!(r["class"], "other", "{}: {r}", series.display());
        }
    }
}

/// NaN and infinite voxels are said and enhanced as 0, not spread through the network.
#[test]
fn enhance_treats_non_finite_voxels_as_zero_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = identity_enhance_model(dir.path(), None, (false, false));
    let n = 32;
    let mut data: Vec<f32> = (0..n * n * 3).map(|i| 100.0 + (i % 7) as f32 * 10.0).collect();
    data[n * n + 5 * n + 5] = f32::NAN;
    data[7] = f32::INFINITY;
    let input = dir.path().join("holes.nii");
    let vol = clarity_core::Volume::new([n, n, 3], data).unwrap();
    clarity_io::nifti::write_nifti(&vol, &input).unwrap();
    let out = dir.path().join("er.nii");
    let (ok, text) = enhance_as_is(&input, &out, &model_dir);
    assert!(ok, "{text}");
    assert!(text.contains("2 non-finite voxel(s)"), "{text}");
    let er = clarity_io::nifti::read_nifti(&out).unwrap();
    assert!(er.data.iter().all(|v| v.is_finite()), "non-finite values in the output");
    // The identity network gives the input back, holes as 0.
    assert!(er.data[n * n + 5 * n + 5].abs() < 1e-3 && er.data[7].abs() < 1e-3);
    assert!((er.data[0] - 100.0).abs() < 1e-2, "{}", er.data[0]);
}

/// A network that takes the noise level and the lines dropped gets both even with the
/// consistency step off (estimated or detected, and said where from); `--reduction` overrides
/// the detection and must be a fraction.
#[test]
fn enhance_gives_a_plane_network_its_sigma_and_reduction() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = identity_enhance_model(dir.path(), None, (true, true));
    let fs = dir.path().join("fs");
    let (ok, text) =
        clarity(&["simulate", "fastscan", sample_series().to_str().unwrap(), fs.to_str().unwrap()]);
    assert!(ok, "{text}");
    let out = dir.path().join("er.nii.gz");
    let (ok, text) = clarity(&[
        "enhance",
        fs.join("lr.nii.gz").to_str().unwrap(),
        out.to_str().unwrap(),
        "--model",
        model_dir.to_str().unwrap(),
        "--noise-sigma",
        "off",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("noise σ") && text.contains("per pixel, from the"), "{text}");
    assert!(text.contains("detected from the k-space cut-off"), "{text}");
    assert!(!text.contains("data consistency: last layer"), "consistency ran while off: {text}");
    let er = clarity_io::nifti::read_nifti(&out).unwrap();
    assert_eq!(er.dims, clarity_io::nifti::read_nifti(&fs.join("lr.nii.gz")).unwrap().dims);
    let lr = fs.join("lr.nii.gz");
    let (model, lr) = (model_dir.to_str().unwrap(), lr.to_str().unwrap());
    let out = out.to_str().unwrap();
    let (ok, text) = clarity(&[
        "enhance",
        lr,
        out,
        "--model",
        model,
        "--noise-sigma",
        "off",
        "--reduction",
        "0.25",
        "--force",
    ]);
    assert!(ok && text.contains("(--reduction)"), "{text}");
    let (ok, text) = clarity(&["enhance", lr, out, "--model", model, "--reduction", "1.5"]);
    assert!(!ok && text.contains("not auto or a fraction"), "{text}");
}

#[test]
fn train_enhance_lists_its_data_and_marks_what_is_missing() {
    let Some(data) = shared_data() else { return };
    let mri = data.join("mri");
    let (ok, text) = clarity(&["train", "enhance", "--data", mri.to_str().unwrap(), "--list-data"]);
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    // Real training scans first, the validation volumes last, the phantom source by default.
    assert!(lines[0].ends_with("pyradiomics_brain1/t1.nii.gz"), "{text}");
    assert!(lines.iter().any(|l| l.ends_with("wg04/REF/MR1_UNC")), "{text}");
    assert!(lines.iter().any(|l| l.ends_with("prostatex_0000/t2_tse.nii.gz")), "{text}");
    assert!(lines.last().unwrap().ends_with("mni152"), "{text}");
    assert!(!text.contains("(missing)"), "{text}");
    // Without phantoms no MNI152; a folder without the data is listed as missing, not an error.
    let empty = std::env::temp_dir().join("clarity-list-data-empty/mri");
    let (ok, text) = clarity(&[
        "train",
        "enhance",
        "--data",
        empty.to_str().unwrap(),
        "--list-data",
        "--no-phantoms",
    ]);
    assert!(ok, "{text}");
    assert!(!text.contains("mni152"), "{text}");
    assert_eq!(text.lines().count(), text.matches("(missing)").count(), "{text}");
    assert_eq!(text.lines().count(), 13, "2 NIfTI + 9 DICOM training, 2 validation: {text}");
}

/// A `--dilations` list that does not fit `--depth` (or dilates the tail) is refused by name
/// before any training data is read (the data folder here does not exist).
#[test]
fn train_enhance_refuses_bad_dilations_before_reading_data() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-data");
    let out = dir.path().join("run");
    for (dilations, why) in [
        ("1,2,1", "3 dilations given for 4 layers"),
        ("1,2,2,2", "the tail"),
        ("1,0,1,1", "dilation of 0"),
    ] {
        let (ok, text) = clarity(&[
            "train",
            "enhance",
            "--data",
            missing.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--depth",
            "4",
            "--dilations",
            dilations,
        ]);
        assert!(!ok, "{dilations}: {text}");
        assert!(text.contains("--dilations") && text.contains(why), "{dilations}: {text}");
        assert!(!text.contains("no-such-data"), "{dilations}: data read first: {text}");
    }
    assert!(!out.exists(), "nothing written");
}

/// The shipped model is built into the binary: `enhance` runs from a folder without `models/`
/// and without `--model`; a 4D input says that only its first frame is enhanced, and negative
/// voxels that they are read as 0.
#[test]
fn enhance_uses_the_built_in_model_anywhere_and_says_what_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (n, nz) = (64, 3);
    let mut data: Vec<f32> = (0..2 * nz * n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f32 - 32.0, ((i / n) % n) as f32 - 32.0);
            let object = if x * x + y * y < 400.0 { 200.0 } else { 0.0 };
            object + ((i * 7919) % 101) as f32 * 0.2
        })
        .collect();
    data[5] = -7.5;
    let vol = clarity_core::Volume::new_4d([n, n, nz], 2, data).unwrap();
    let input = dir.path().join("in.nii.gz");
    clarity_io::nifti::write_nifti(&vol, &input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clarity"))
        .current_dir(dir.path())
        .args(["enhance", "in.nii.gz", "er.nii.gz", "--single-pass"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("has 2 frames; only the first is enhanced"), "{text}");
    assert!(text.contains("has 1 negative voxel(s) (down to -7.5)"), "{text}");
    let er = clarity_io::nifti::read_nifti(&dir.path().join("er.nii.gz")).unwrap();
    assert_eq!((er.dims, er.frames), ([n, n, nz], 1));
}

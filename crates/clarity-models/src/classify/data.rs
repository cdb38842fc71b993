//! Training and test samples for the pixel model: every series of generated liver exams, plus
//! "other" series that are none of the nine classes, each resampled to the network's grid.
//!
//! Preprocessing ([`preprocess`]): frame 0 resampled to the grid over the series' own extent,
//! divided by the 99th percentile of its positive values, clipped to [0, 2] — the per-series
//! normalisation that keeps the model from reading absolute scanner units.
//!
//! "Other" series: CT-like volumes rendered from a generated exam's tissue labels (Hounsfield
//! units, with or without contrast in the vessels), and brain images (MNI152-based phantoms in
//! five contrasts, and real brain T1 volumes when the shared `mri` folder is given), each as a
//! random sub-volume with a random intensity curve.

use std::path::Path;

use clarity_core::Volume;
use clarity_mr::exam::{generate_exam, ExamSettings};
use clarity_mr::phantom::brain::{BrainContrast, BrainPhantom};
use clarity_mr::tissue::{Field, Tissue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::Class;

/// One series on the grid, with its class and where it came from.
#[derive(Debug, Clone)]
pub struct Sample {
    /// `[d, h, w]`, `w` fastest.
    pub input: Vec<f32>,
    pub class: Class,
    /// Exam or source the sample came from (samples of one exam never straddle a split).
    pub source: String,
}

/// Frame 0 of `vol` on `grid` (`[d, h, w]`), normalised per series.
pub fn preprocess(vol: &Volume, grid: [usize; 3]) -> Vec<f32> {
    let [d, h, w] = grid;
    let g = clarity_transforms::resample::to_grid(vol, [w, h, d]);
    let scale = clarity_core::percentile(&g, 0.99, |x| x > 0.0).map_or(1.0, |p| p.max(1e-6));
    g.iter().map(|v| (v / scale).clamp(0.0, 2.0)).collect()
}

/// What a dataset is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSettings {
    pub exams: usize,
    /// Seed of the generator run (exam n of seed s is always the same exam).
    pub seed: u64,
    /// Ranges of the generator (field strengths, vendors, SNR, motion, orientation...).
    pub exam: ExamSettings,
    /// Matrix scale drawn per exam from this range (smaller = faster generation).
    pub matrix_scale: (f64, f64),
    /// "Other" series per exam (CT-like and brain, alternating from exam to exam).
    pub others_per_exam: usize,
}

impl Default for DatasetSettings {
    fn default() -> Self {
        Self {
            exams: 120,
            seed: 0,
            exam: ExamSettings {
                fields: vec![1.5],
                snr: (12.0, 45.0),
                motion_probability: 0.2,
                max_bias: 0.3,
                max_tilt_deg: 8.0,
                coronal_probability: 0.1,
                ..Default::default()
            },
            matrix_scale: (0.4, 0.7),
            others_per_exam: 1,
        }
    }
}

/// Hounsfield units of a tissue (typical unenhanced values; vessels and enhancing organs
/// raised when `contrast`).
fn hounsfield(t: Tissue, contrast: bool) -> f32 {
    use Tissue::*;
    let (plain, enhanced) = match t {
        Air => (-1000.0, -1000.0),
        Gas => (-900.0, -900.0),
        SubcutaneousFat | VisceralFat => (-100.0, -100.0),
        Muscle => (50.0, 60.0),
        Liver => (60.0, 110.0),
        Spleen => (50.0, 120.0),
        KidneyCortex => (35.0, 180.0),
        KidneyMedulla => (35.0, 120.0),
        Aorta | Ivc | PortalVein | HepaticVein => (45.0, 180.0),
        VertebralMarrow => (250.0, 260.0),
        CorticalBone => (1000.0, 1000.0),
        Gallbladder | StomachFluid | BowelFluid | Cyst => (10.0, 12.0),
        Pancreas => (45.0, 100.0),
        Haemangioma | Hcc => (45.0, 120.0),
        GreyMatter => (40.0, 45.0),
        WhiteMatter => (30.0, 32.0),
        Csf => (5.0, 5.0),
        Scalp => (30.0, 40.0),
    };
    if contrast {
        enhanced
    } else {
        plain
    }
}

/// A CT-like volume on a generated series' grid from its tissue labels.
fn ct_like(like: &Volume, labels: &[u8], rng: &mut StdRng) -> Volume {
    let contrast = rng.gen_bool(0.5);
    let noise = rng.gen_range(5.0..25.0);
    let mut v = like.clone();
    for (o, l) in v.data.iter_mut().zip(labels) {
        let n: f32 = rng.gen_range(-1.0..1.0) + rng.gen_range(-1.0..1.0) + rng.gen_range(-1.0..1.0);
        *o = hounsfield(Tissue::from_label(*l), contrast) + noise * n;
    }
    v.meta = Default::default();
    v.meta.modality = Some("CT".into());
    v
}

/// A random sub-volume (60-100 % of each axis) with a random intensity curve: brain and other
/// non-liver images seen in many framings and contrasts.
fn random_view(vol: &Volume, rng: &mut StdRng) -> Volume {
    let [nx, ny, nz] = vol.dims;
    let mut lo = [0usize; 3];
    let mut len = [0usize; 3];
    for (a, n) in [nx, ny, nz].into_iter().enumerate() {
        len[a] = ((n as f64 * rng.gen_range(0.6..=1.0)) as usize).max(1);
        lo[a] = rng.gen_range(0..=n - len[a]);
    }
    let gamma: f32 = rng.gen_range(0.7..1.4);
    let mut data = Vec::with_capacity(len.iter().product());
    for z in lo[2]..lo[2] + len[2] {
        for y in lo[1]..lo[1] + len[1] {
            let row = &vol.data[(z * ny + y) * nx + lo[0]..(z * ny + y) * nx + lo[0] + len[0]];
            data.extend(row.iter().map(|v| v.max(0.0).powf(gamma)));
        }
    }
    Volume::new(len, data).expect("consistent sizes")
}

/// Brain volumes for "other": MNI152 phantoms in every contrast at both fields, and the real
/// brain T1s of the shared `mri` folder when it is given (never the DICOM test series).
pub fn brain_pool(mri: Option<&Path>) -> Vec<Volume> {
    let mut pool = Vec::new();
    let Some(mri) = mri else { return pool };
    if let Ok(phantom) = BrainPhantom::from_mni152(&mri.join("mni152")) {
        for field in [Field::T1_5, Field::T3] {
            for c in [
                BrainContrast::T1,
                BrainContrast::T2,
                BrainContrast::Pd,
                BrainContrast::Flair,
                BrainContrast::Stir,
            ] {
                pool.push(phantom.render(&c.protocol(field)));
            }
        }
    }
    for rel in ["colin27/t1.nii.gz", "itk_kmeans/t1.nii.gz", "pyradiomics_brain1/t1.nii.gz"] {
        if let Ok(v) = clarity_io::nifti::read_nifti(&mri.join(rel)) {
            pool.push(v);
        }
    }
    pool
}

/// Generate the samples of `settings` on `grid`; `progress(done_exams)` after each exam.
pub fn generate(
    settings: &DatasetSettings,
    grid: [usize; 3],
    brains: &[Volume],
    progress: &mut dyn FnMut(usize),
) -> Vec<Sample> {
    let mut out = Vec::new();
    for n in 0..settings.exams {
        let mut rng =
            StdRng::seed_from_u64(settings.seed.wrapping_mul(7919).wrapping_add(n as u64));
        let mut exam_settings = settings.exam.clone();
        exam_settings.matrix_scale =
            rng.gen_range(settings.matrix_scale.0..=settings.matrix_scale.1);
        let exam = generate_exam(&exam_settings, settings.seed, n);
        let source = exam.patient_id.clone();
        for s in &exam.series {
            out.push(Sample {
                input: preprocess(&s.volume, grid),
                class: Class::Liver(s.class),
                source: source.clone(),
            });
        }
        for k in 0..settings.others_per_exam {
            let vol = if (n + k) % 2 == 0 || brains.is_empty() {
                let s = &exam.series[rng.gen_range(0..exam.series.len())];
                ct_like(&s.volume, &s.labels, &mut rng)
            } else {
                random_view(&brains[rng.gen_range(0..brains.len())], &mut rng)
            };
            out.push(Sample {
                input: preprocess(&vol, grid),
                class: Class::Other,
                source: source.clone(),
            });
        }
        progress(n + 1);
    }
    out
}

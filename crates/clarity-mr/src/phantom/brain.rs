//! Brain phantoms from real tissue maps under `../shared/data/mri`: MNI152 grey/white-matter
//! probabilities, ITK's k-means tissue labels, and Colin27 with the AAL atlas. Each voxel's
//! signal is the fraction-weighted sum of its tissues' signals, so partial volume is real.

use std::path::Path;

use clarity_core::Volume;
use serde::Serialize;

use crate::sequence::{null_ti_ms, signal, Protocol, Sequence};
use crate::tissue::{params, Field, Tissue};

/// Common brain contrasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BrainContrast {
    T1,
    T2,
    Pd,
    Flair,
    /// Short-tau inversion recovery: fat nulled by its inversion time.
    Stir,
}

impl BrainContrast {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "t1" => Self::T1,
            "t2" => Self::T2,
            "pd" => Self::Pd,
            "flair" => Self::Flair,
            "stir" => Self::Stir,
            _ => return None,
        })
    }

    /// A typical clinical protocol for this contrast at `field`.
    pub fn protocol(self, field: Field) -> Protocol {
        self.protocol_from(field, &mut |lo, hi| (lo + hi) / 2.0)
    }

    /// The protocol with TR/TE/TI drawn within the ranges sites use (1.5 and 3 T, all three
    /// major vendors' defaults fall inside them).
    pub fn random_protocol(self, field: Field, rng: &mut impl rand::Rng) -> Protocol {
        self.protocol_from(field, &mut |lo, hi| rng.gen_range(lo..=hi))
    }

    /// `pick(lo, hi)` chooses each parameter within its range.
    fn protocol_from(self, field: Field, pick: &mut dyn FnMut(f32, f32) -> f32) -> Protocol {
        let hi_field = field == Field::T3;
        let sequence = match self {
            // Inversion-prepared T1 (MPRAGE-like): with literature T1s a plain spin echo at
            // TR 500 barely separates grey from white matter, while the inversion does, as on
            // the 3D T1 sequences sites use for brain anatomy.
            Self::T1 => Sequence::InversionRecovery {
                tr_ms: if hi_field { pick(2100.0, 2500.0) } else { pick(1800.0, 2200.0) },
                te_ms: pick(2.5, 3.5),
                ti_ms: if hi_field { pick(900.0, 1100.0) } else { pick(800.0, 1000.0) },
            },
            Self::T2 => {
                Sequence::SpinEcho { tr_ms: pick(3500.0, 5500.0), te_ms: pick(85.0, 115.0) }
            }
            Self::Pd => Sequence::SpinEcho { tr_ms: pick(2500.0, 3500.0), te_ms: pick(10.0, 15.0) },
            Self::Flair => {
                let csf = params(Tissue::Csf, field);
                let tr_ms = pick(8000.0, 10000.0);
                Sequence::InversionRecovery {
                    tr_ms,
                    te_ms: pick(85.0, 120.0),
                    ti_ms: null_ti_ms(csf.t1_ms, tr_ms),
                }
            }
            Self::Stir => {
                let fat = crate::tissue::fat_params(field);
                let tr_ms = pick(3000.0, 5000.0);
                Sequence::InversionRecovery {
                    tr_ms,
                    te_ms: pick(30.0, 60.0),
                    ti_ms: null_ti_ms(fat.t1_ms, tr_ms),
                }
            }
        };
        Protocol { sequence, fat_sat: 0.0, field }
    }
}

/// Tissue fractions on a real image's grid.
#[derive(Debug, Clone)]
pub struct BrainPhantom {
    /// Geometry (and the source image's intensities, unused for signal).
    pub grid: Volume,
    /// Fraction of each voxel made of each tissue.
    pub fractions: Vec<(Tissue, Vec<f32>)>,
}

fn read(path: &Path) -> clarity_io::Result<Volume> {
    clarity_io::nifti::read_nifti(path)
}

fn same_grid(v: &Volume, grid: &Volume, path: &Path) -> clarity_io::Result<()> {
    if v.dims != grid.dims {
        return Err(clarity_io::IoError::NotFound {
            path: path.to_path_buf(),
            reason: format!("grid {:?} differs from the T1 image's {:?}", v.dims, grid.dims),
        });
    }
    Ok(())
}

impl BrainPhantom {
    /// MNI152 (ICBM 2009c): `t1.nii.gz`, `gm_prob.nii.gz`, `wm_prob.nii.gz` (probabilities in
    /// 0..1 or 0..255). The template is skull-stripped: CSF is the rest of the brain mask.
    pub fn from_mni152(dir: &Path) -> clarity_io::Result<Self> {
        let grid = read(&dir.join("t1.nii.gz"))?;
        let load_prob = |name: &str| -> clarity_io::Result<Vec<f32>> {
            let path = dir.join(name);
            let v = read(&path)?;
            same_grid(&v, &grid, &path)?;
            let max = v.data.iter().fold(0f32, |a, b| a.max(*b));
            let scale = if max > 1.5 { 1.0 / 255.0 } else { 1.0 };
            Ok(v.data.iter().map(|p| (p * scale).clamp(0.0, 1.0)).collect())
        };
        let grey = load_prob("gm_prob.nii.gz")?;
        let white = load_prob("wm_prob.nii.gz")?;
        let csf = grid
            .data
            .iter()
            .zip(grey.iter().zip(&white))
            .map(|(t1, (g, w))| if *t1 > 0.0 { (1.0 - g - w).clamp(0.0, 1.0) } else { 0.0 })
            .collect();
        Ok(Self::grey_white_csf(grid, grey, white, csf))
    }

    /// ITK's k-means tissue example (`itk_kmeans`): `t1.nii.gz` and `tissue_labels.nii.gz`,
    /// whose classes 4, 5, 6 are CSF, grey and white matter (their mean T1 intensities are 48,
    /// 76 and 101 with narrow spread), 2 dark and 3 bright non-brain head tissue.
    pub fn from_itk_kmeans(dir: &Path) -> clarity_io::Result<Self> {
        let grid = read(&dir.join("t1.nii.gz"))?;
        let path = dir.join("tissue_labels.nii.gz");
        let labels = read(&path)?;
        same_grid(&labels, &grid, &path)?;
        let map = [
            (2.0, Tissue::Muscle),
            (3.0, Tissue::Scalp),
            (4.0, Tissue::Csf),
            (5.0, Tissue::GreyMatter),
            (6.0, Tissue::WhiteMatter),
        ];
        let fractions = map
            .iter()
            .map(|&(l, t)| (t, labels.data.iter().map(|v| (v.round() == l) as u8 as f32).collect()))
            .collect();
        Ok(Self { grid, fractions })
    }

    /// Colin27 with the AAL atlas (`t1.nii.gz`, `aal_labels.nii.gz`): grey matter is every AAL
    /// region; inside the brain (between the outermost AAL voxels of each row) white matter
    /// and CSF are told apart by T1 intensity (bright / dark), partial volume linear between.
    pub fn from_colin27(dir: &Path) -> clarity_io::Result<Self> {
        let grid = read(&dir.join("t1.nii.gz"))?;
        let path = dir.join("aal_labels.nii.gz");
        let aal = read(&path)?;
        same_grid(&aal, &grid, &path)?;
        let gm_mean = {
            let (s, n) = grid
                .data
                .iter()
                .zip(&aal.data)
                .filter(|(_, a)| **a > 0.0)
                .fold((0.0, 0usize), |(s, n), (v, _)| (s + *v as f64, n + 1));
            (s / n.max(1) as f64) as f32
        };
        let [nx, ny, nz] = grid.dims;
        let n = nx * ny * nz;
        let (mut grey, mut white, mut csf) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        for row in 0..ny * nz {
            let r = row * nx..(row + 1) * nx;
            let inside: Vec<usize> = r.clone().filter(|&i| aal.data[i] > 0.0).collect();
            let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else { continue };
            for i in first..=last {
                if aal.data[i] > 0.0 {
                    grey[i] = 1.0;
                } else {
                    // WM is brighter than GM on T1, CSF much darker: 1.2×GM → WM, 0.4×GM → CSF.
                    let x = ((grid.data[i] / gm_mean - 0.4) / 0.8).clamp(0.0, 1.0);
                    white[i] = x;
                    csf[i] = 1.0 - x;
                }
            }
        }
        Ok(Self::grey_white_csf(grid, grey, white, csf))
    }

    fn grey_white_csf(grid: Volume, grey: Vec<f32>, white: Vec<f32>, csf: Vec<f32>) -> Self {
        let fractions =
            vec![(Tissue::GreyMatter, grey), (Tissue::WhiteMatter, white), (Tissue::Csf, csf)];
        Self { grid, fractions }
    }

    /// Load whichever of the three layouts `dir` holds.
    pub fn load(dir: &Path) -> clarity_io::Result<Self> {
        if dir.join("gm_prob.nii.gz").is_file() {
            Self::from_mni152(dir)
        } else if dir.join("tissue_labels.nii.gz").is_file() {
            Self::from_itk_kmeans(dir)
        } else {
            Self::from_colin27(dir)
        }
    }

    /// Noise-free image of the phantom under `proto` (values relative to pure water = 1000).
    pub fn render(&self, proto: &Protocol) -> Volume {
        let mut out = self.grid.clone();
        out.data.iter_mut().for_each(|v| *v = 0.0);
        for (t, frac) in &self.fractions {
            let s = 1000.0 * signal(*t, &params(*t, proto.field), 0.0, proto);
            for (v, f) in out.data.iter_mut().zip(frac) {
                *v += f * s;
            }
        }
        out.meta.field_strength_t = Some(proto.field.tesla());
        out
    }
}

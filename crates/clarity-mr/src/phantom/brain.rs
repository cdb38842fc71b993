//! A brain phantom from real tissue probability maps: the MNI152 (ICBM 2009c) grey- and
//! white-matter maps under `../shared/data/mri/mni152`. CSF is what remains of the brain mask
//! (template intensity > 0) after grey and white matter; each voxel's signal is the
//! fraction-weighted sum of the three tissues' signals, so partial volume is real.

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
}

impl BrainContrast {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "t1" => Self::T1,
            "t2" => Self::T2,
            "pd" => Self::Pd,
            "flair" => Self::Flair,
            _ => return None,
        })
    }

    /// A typical clinical protocol for this contrast at `field`.
    pub fn protocol(self, field: Field) -> Protocol {
        let sequence = match self {
            // Spin-echo T1 (TR 500, TE 10) at 1.5 T; 3 T sites use longer TR for the longer T1s.
            Self::T1 => Sequence::SpinEcho {
                tr_ms: if field == Field::T3 { 650.0 } else { 500.0 },
                te_ms: 10.0,
            },
            Self::T2 => Sequence::SpinEcho { tr_ms: 4500.0, te_ms: 100.0 },
            Self::Pd => Sequence::SpinEcho { tr_ms: 3000.0, te_ms: 12.0 },
            Self::Flair => {
                let csf = params(Tissue::Csf, field);
                Sequence::InversionRecovery {
                    tr_ms: 9000.0,
                    te_ms: 100.0,
                    ti_ms: null_ti_ms(csf.t1_ms, 9000.0),
                }
            }
        };
        Protocol { sequence, fat_sat: 0.0, field }
    }
}

/// Tissue fractions on the template grid.
#[derive(Debug, Clone)]
pub struct BrainPhantom {
    /// Geometry (and the template's intensities, unused for signal).
    pub grid: Volume,
    pub grey: Vec<f32>,
    pub white: Vec<f32>,
    pub csf: Vec<f32>,
}

impl BrainPhantom {
    /// Load from a folder holding `t1.nii.gz`, `gm_prob.nii.gz` and `wm_prob.nii.gz`
    /// (probabilities in 0..1 or 0..255).
    pub fn from_mni152(dir: &Path) -> clarity_io::Result<Self> {
        let grid = clarity_io::nifti::read_nifti(&dir.join("t1.nii.gz"))?;
        let load_prob = |name: &str| -> clarity_io::Result<Vec<f32>> {
            let v = clarity_io::nifti::read_nifti(&dir.join(name))?;
            if v.dims != grid.dims {
                return Err(clarity_io::IoError::NotFound {
                    path: dir.join(name),
                    reason: format!("grid {:?} differs from t1.nii.gz {:?}", v.dims, grid.dims),
                });
            }
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
        Ok(Self { grid, grey, white, csf })
    }

    /// Noise-free image of the phantom under `proto` (values relative to pure water = 1000).
    pub fn render(&self, proto: &Protocol) -> Volume {
        let s = |t: Tissue| 1000.0 * signal(t, &params(t, proto.field), 0.0, proto);
        let (sg, sw, sc) = (s(Tissue::GreyMatter), s(Tissue::WhiteMatter), s(Tissue::Csf));
        let mut out = self.grid.clone();
        for (i, v) in out.data.iter_mut().enumerate() {
            *v = self.grey[i] * sg + self.white[i] * sw + self.csf[i] * sc;
        }
        out.meta.field_strength_t = Some(proto.field.tesla());
        out
    }
}

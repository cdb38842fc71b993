//! Tissue classes and their MR parameters at 1.5 T and 3 T.
//!
//! Relaxation times are literature means; each synthetic patient draws its own values around
//! them ([`TissueParams::jittered`]) so a model never sees one fixed contrast.
//!
//! Sources of the values:
//! - abdomen (liver, spleen, kidney cortex/medulla, muscle, subcutaneous fat, marrow, pancreas)
//!   T1/T2 at 1.5 T and 3 T: de Bazelaire et al., *Radiology* 230:652 (2004);
//! - blood T1: Lu et al., *MRM* 52:679 (2004) (1.5 T ≈ 1440 ms, 3 T ≈ 1930 ms); blood T2
//!   (~250 ms arterial) from Stanisz et al., *MRM* 54:507 (2005);
//! - brain grey/white matter T1/T2 at 1.5 T and 3 T: Stanisz et al. (2005); T2*: Peters et al.,
//!   *MRI* 25:748 (2007) (3 T) scaled by ~1.3 for 1.5 T; CSF T1 ≈ 4 s, T2 ≈ 2 s;
//! - ADC (10⁻³ mm²/s): liver ~1.1-1.3, spleen ~0.8, kidney ~2.0, muscle ~1.4, HCC ~0.9-1.0,
//!   haemangioma ~1.8, cysts/bile ~3.0 (abdominal DWI reviews, e.g. Taouli & Koh, *Radiology*
//!   254:47 (2010)); brain GM 0.8, WM 0.7, CSF 3.0;
//! - liver T2* ~ 30 ms at 1.5 T, ~ 20 ms at 3 T (iron-free liver), fat chemical shift 3.4 ppm.
//!
//! Lesion values (cyst: fluid; haemangioma: long T2 ~140-160 ms; HCC: T1 and T2 slightly above
//! liver) follow the same reviews; they are approximations chosen to reproduce the contrasts
//! radiologists rely on, which is what the generator must get right.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Main magnetic field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Field {
    T1_5,
    T3,
}

impl Field {
    pub fn tesla(self) -> f64 {
        match self {
            Field::T1_5 => 1.5,
            Field::T3 => 3.0,
        }
    }

    /// Fat-water chemical shift in Hz (3.4 ppm of the proton frequency, 42.58 MHz/T).
    pub fn fat_shift_hz(self) -> f64 {
        3.4e-6 * 42.577e6 * self.tesla()
    }

    pub fn from_tesla(t: f64) -> Self {
        if t >= 2.0 {
            Field::T3
        } else {
            Field::T1_5
        }
    }
}

/// What a voxel of a phantom is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Tissue {
    Air = 0,
    SubcutaneousFat,
    VisceralFat,
    Muscle,
    Liver,
    Spleen,
    KidneyCortex,
    KidneyMedulla,
    Aorta,
    Ivc,
    PortalVein,
    HepaticVein,
    VertebralMarrow,
    CorticalBone,
    Gallbladder,
    StomachFluid,
    BowelFluid,
    Gas,
    Pancreas,
    Cyst,
    Haemangioma,
    Hcc,
    GreyMatter,
    WhiteMatter,
    Csf,
    Scalp,
}

/// Number of tissue classes (labels are `0..COUNT`).
pub const TISSUE_COUNT: usize = Tissue::Scalp as usize + 1;

impl Tissue {
    pub const ALL: [Tissue; TISSUE_COUNT] = [
        Tissue::Air,
        Tissue::SubcutaneousFat,
        Tissue::VisceralFat,
        Tissue::Muscle,
        Tissue::Liver,
        Tissue::Spleen,
        Tissue::KidneyCortex,
        Tissue::KidneyMedulla,
        Tissue::Aorta,
        Tissue::Ivc,
        Tissue::PortalVein,
        Tissue::HepaticVein,
        Tissue::VertebralMarrow,
        Tissue::CorticalBone,
        Tissue::Gallbladder,
        Tissue::StomachFluid,
        Tissue::BowelFluid,
        Tissue::Gas,
        Tissue::Pancreas,
        Tissue::Cyst,
        Tissue::Haemangioma,
        Tissue::Hcc,
        Tissue::GreyMatter,
        Tissue::WhiteMatter,
        Tissue::Csf,
        Tissue::Scalp,
    ];

    pub fn from_label(l: u8) -> Tissue {
        Self::ALL.get(l as usize).copied().unwrap_or(Tissue::Air)
    }

    /// Flowing blood: dark on spin-echo and diffusion sequences (flow void).
    pub fn is_flowing_blood(self) -> bool {
        matches!(self, Tissue::Aorta | Tissue::Ivc | Tissue::PortalVein | Tissue::HepaticVein)
    }
}

/// MR parameters of one tissue (water component; the fat component of a voxel uses
/// [`fat_params`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TissueParams {
    /// Proton density relative to pure water.
    pub pd: f32,
    pub t1_ms: f32,
    pub t2_ms: f32,
    pub t2star_ms: f32,
    /// Apparent diffusion coefficient, 10⁻³ mm²/s.
    pub adc: f32,
    /// Signal fraction of fat protons (0 = pure water, 1 = pure fat).
    pub fat_fraction: f32,
}

impl TissueParams {
    /// The same tissue in another patient: relaxation times and ADC scaled by up to ±`rel`.
    pub fn jittered(self, rel: f32, rng: &mut impl Rng) -> Self {
        let mut j = || 1.0 + rng.gen_range(-rel..=rel);
        Self {
            pd: self.pd * (1.0 + 0.5 * (j() - 1.0)),
            t1_ms: self.t1_ms * j(),
            t2_ms: self.t2_ms * j(),
            t2star_ms: self.t2star_ms * j(),
            adc: self.adc * j(),
            fat_fraction: self.fat_fraction,
        }
    }
}

/// The fat component (methylene-dominated, single-peak model at 3.4 ppm).
pub fn fat_params(field: Field) -> TissueParams {
    match field {
        Field::T1_5 => p(1.0, 343.0, 58.0, 40.0, 0.05, 1.0),
        Field::T3 => p(1.0, 382.0, 68.0, 30.0, 0.05, 1.0),
    }
}

const fn p(pd: f32, t1: f32, t2: f32, t2s: f32, adc: f32, ff: f32) -> TissueParams {
    TissueParams { pd, t1_ms: t1, t2_ms: t2, t2star_ms: t2s, adc, fat_fraction: ff }
}

/// Literature parameters of `t` at `field`.
pub fn params(t: Tissue, field: Field) -> TissueParams {
    let hi = field == Field::T3;
    let s = |a: f32, b: f32| if hi { b } else { a };
    match t {
        Tissue::Air | Tissue::Gas => p(0.0, 1000.0, 1.0, 1.0, 0.0, 0.0),
        Tissue::SubcutaneousFat => {
            p(0.95, s(343.0, 382.0), s(58.0, 68.0), s(40.0, 30.0), 0.05, 0.95)
        }
        Tissue::VisceralFat => p(0.9, s(343.0, 382.0), s(58.0, 68.0), s(40.0, 30.0), 0.05, 0.9),
        Tissue::Muscle => p(0.75, s(856.0, 898.0), s(27.0, 29.0), s(25.0, 20.0), 1.4, 0.03),
        Tissue::Liver => p(0.7, s(586.0, 809.0), s(46.0, 34.0), s(30.0, 20.0), 1.2, 0.0),
        Tissue::Spleen => p(0.8, s(1057.0, 1328.0), s(79.0, 61.0), s(60.0, 45.0), 0.85, 0.0),
        Tissue::KidneyCortex => p(0.85, s(966.0, 1142.0), s(87.0, 76.0), s(60.0, 45.0), 2.1, 0.0),
        Tissue::KidneyMedulla => p(0.9, s(1412.0, 1545.0), s(85.0, 81.0), s(60.0, 45.0), 1.9, 0.0),
        Tissue::Aorta | Tissue::Ivc | Tissue::PortalVein | Tissue::HepaticVein => {
            p(0.9, s(1440.0, 1930.0), s(250.0, 200.0), s(150.0, 100.0), 3.0, 0.0)
        }
        Tissue::VertebralMarrow => p(0.8, s(549.0, 586.0), s(49.0, 49.0), s(20.0, 12.0), 0.5, 0.45),
        Tissue::CorticalBone => p(0.05, 1000.0, 1.0, 0.5, 0.1, 0.0),
        Tissue::Gallbladder => {
            p(0.95, s(2500.0, 2800.0), s(600.0, 500.0), s(300.0, 200.0), 3.0, 0.0)
        }
        Tissue::StomachFluid | Tissue::BowelFluid => {
            p(0.95, s(3000.0, 3300.0), s(800.0, 700.0), s(200.0, 150.0), 2.6, 0.0)
        }
        Tissue::Pancreas => p(0.75, s(584.0, 725.0), s(46.0, 43.0), s(35.0, 25.0), 1.3, 0.03),
        Tissue::Cyst => p(1.0, s(3000.0, 3500.0), s(1200.0, 1000.0), s(400.0, 300.0), 3.0, 0.0),
        Tissue::Haemangioma => {
            p(0.95, s(1300.0, 1600.0), s(160.0, 140.0), s(100.0, 80.0), 1.8, 0.0)
        }
        Tissue::Hcc => p(0.8, s(900.0, 1200.0), s(75.0, 65.0), s(40.0, 30.0), 0.95, 0.05),
        Tissue::GreyMatter => p(0.8, s(1124.0, 1820.0), s(95.0, 99.0), s(84.0, 66.0), 0.8, 0.0),
        Tissue::WhiteMatter => p(0.7, s(884.0, 1084.0), s(72.0, 69.0), s(66.0, 53.0), 0.7, 0.0),
        Tissue::Csf => p(1.0, 4000.0, 2000.0, 1000.0, 3.0, 0.0),
        Tissue::Scalp => p(0.9, s(343.0, 382.0), s(58.0, 68.0), s(40.0, 30.0), 0.05, 0.8),
    }
}

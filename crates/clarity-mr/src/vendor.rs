//! Vendor header styles for the liver exam generator: how Siemens, GE and Philips name the
//! same series, so header rules can be tested per vendor and pixel models can be shown not to
//! lean on names.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::exam::SeriesClass;

/// A scanner maker's naming conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vendor {
    Siemens,
    Ge,
    Philips,
}

impl Vendor {
    pub const ALL: [Vendor; 3] = [Vendor::Siemens, Vendor::Ge, Vendor::Philips];

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "siemens" => Some(Self::Siemens),
            "ge" => Some(Self::Ge),
            "philips" => Some(Self::Philips),
            _ => None,
        }
    }

    pub fn manufacturer(self) -> &'static str {
        match self {
            Self::Siemens => "SIEMENS",
            Self::Ge => "GE MEDICAL SYSTEMS",
            Self::Philips => "Philips Medical Systems",
        }
    }

    pub fn model(self, tesla: f64, rng: &mut impl Rng) -> &'static str {
        let pick =
            |a: &'static [&'static str], rng: &mut dyn rand::RngCore| a[rng.gen_range(0..a.len())];
        match (self, tesla >= 2.0) {
            (Self::Siemens, false) => pick(&["Avanto", "Aera", "Sola"], rng),
            (Self::Siemens, true) => pick(&["Skyra", "Prisma", "Vida"], rng),
            (Self::Ge, false) => pick(&["SIGNA HDxt", "Optima MR450w", "SIGNA Artist"], rng),
            (Self::Ge, true) => pick(&["Discovery MR750", "SIGNA Premier", "SIGNA Architect"], rng),
            (Self::Philips, false) => pick(&["Achieva", "Ingenia"], rng),
            (Self::Philips, true) => pick(&["Ingenia", "Achieva dStream"], rng),
        }
    }

    /// `(SeriesDescription, SequenceName, ScanningSequence)` in this vendor's style.
    pub fn names(
        self,
        class: SeriesClass,
        b_high: f64,
        rng: &mut impl Rng,
    ) -> (String, String, String) {
        use SeriesClass::*;
        let b = b_high.round() as i64;
        let dce = |phase: &str, rng: &mut dyn rand::RngCore| -> String {
            match self {
                Self::Siemens => {
                    let p = match phase {
                        "pre" => ["pre", "nativ"][rng.gen_range(0..2)],
                        "art" => ["art", "arterial", "20s"][rng.gen_range(0..3)],
                        "pv" => ["pv", "portal", "70s"][rng.gen_range(0..3)],
                        _ => ["delay", "3min", "equil"][rng.gen_range(0..3)],
                    };
                    format!("t1_vibe_fs_tra_{p}")
                }
                Self::Ge => {
                    let p = match phase {
                        "pre" => "Pre",
                        "art" => ["Arterial", "Art", "Early Art"][rng.gen_range(0..3)],
                        "pv" => ["Portal", "PV", "Portal Venous"][rng.gen_range(0..3)],
                        _ => ["Delay", "Delayed 3min", "Equilibrium"][rng.gen_range(0..3)],
                    };
                    format!("Ax LAVA {p}")
                }
                Self::Philips => {
                    let p = match phase {
                        "pre" => "pre",
                        "art" => ["art", "arterial"][rng.gen_range(0..2)],
                        "pv" => ["pv", "portal"][rng.gen_range(0..2)],
                        _ => ["delay", "late"][rng.gen_range(0..2)],
                    };
                    format!("THRIVE {p}")
                }
            }
        };
        let (desc, seq, scan) = match (self, class) {
            (Self::Siemens, T1In) => ("t1_fl2d_in-phase_tra".into(), "*fl2d2", "GR"),
            (Self::Siemens, T1Opp) => ("t1_fl2d_opp-phase_tra".into(), "*fl2d2", "GR"),
            (Self::Siemens, T2Fs) => ("t2_tse_fs_tra_trig".into(), "*tse2d1_17", "SE"),
            (Self::Siemens, DwiHighB) => {
                (format!("ep2d_diff_b50_{b}_tra_TRACEW"), "*ep_b{b}t", "EP")
            }
            (Self::Siemens, Adc) => ("ep2d_diff_b50_tra_ADC".into(), "*ep_b50_{b}", "EP"),
            (Self::Ge, T1In) => ("Ax Dual Echo IP".into(), "fgre", "GR"),
            (Self::Ge, T1Opp) => ("Ax Dual Echo OP".into(), "fgre", "GR"),
            (Self::Ge, T2Fs) => ("Ax T2 FRFSE FS".into(), "fse-xl", "SE"),
            (Self::Ge, DwiHighB) => (format!("Ax DWI b{b}"), "epi", "EP"),
            (Self::Ge, Adc) => ("ADC (10^-6 mm2/s)".into(), "epi", "EP"),
            (Self::Philips, T1In) => ("T1 FFE IP".into(), "T1FFE", "GR"),
            (Self::Philips, T1Opp) => ("T1 FFE OP".into(), "T1FFE", "GR"),
            (Self::Philips, T2Fs) => ("T2W_TSE_SPAIR".into(), "TSE", "SE"),
            (Self::Philips, DwiHighB) => (format!("DWI b{b}"), "DwiSE", "SE\\EP"),
            (Self::Philips, Adc) => ("dADC".into(), "DwiSE", "SE\\EP"),
            (_, DcePre) => (dce("pre", rng), self.dce_sequence(), "GR"),
            (_, DceArterial) => (dce("art", rng), self.dce_sequence(), "GR"),
            (_, DcePortal) => (dce("pv", rng), self.dce_sequence(), "GR"),
            (_, DceDelayed) => (dce("delay", rng), self.dce_sequence(), "GR"),
        };
        (desc, seq.replace("{b}", &b.to_string()), scan.to_string())
    }

    fn dce_sequence(self) -> &'static str {
        match self {
            Self::Siemens => "*fl3d1",
            Self::Ge => "efgre3d",
            Self::Philips => "T1FFE",
        }
    }
}

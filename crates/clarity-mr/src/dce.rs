//! Contrast agent kinetics for dynamic contrast-enhanced (DCE) liver MRI.
//!
//! - **Aorta**: the population arterial input function of Parker et al., *MRM* 56:993 (2006)
//!   (blood concentration in mM of a standard 0.1 mmol/kg dose), its time axis stretched by 2
//!   for a clinical injection rate; the aortic peak is ~20 s after `t = 0`.
//! - **Portal vein**: the arterial curve delayed and dispersed through gut and spleen (delay
//!   8 s, exponential transit 14 s), so it peaks ~15-20 s after the aorta.
//! - **Systemic veins** (IVC, hepatic veins): recirculated blood (delay 14 s, transit 22 s).
//! - **Tissues**: an extended Tofts model, `C = vp·Cin + Ktrans·∫Cin(u)·e^(−kep(t−u))du`,
//!   `kep = Ktrans/ve`, with the tissue's own input: liver dual input (25 % arterial, 75 %
//!   portal), HCC purely arterial with high Ktrans and a small extravascular space (arterial
//!   hyperenhancement, then washout below liver), haemangioma slow and persistent, cysts none.
//!
//! Phase timing follows clinical protocols relative to the aortic peak (which comes ~20 s after
//! injection): arterial [`ARTERIAL_S`], portal venous [`PORTAL_S`], delayed [`DELAYED_S`].

use crate::tissue::Tissue;

/// Arterial phase window, seconds after the aortic peak (aorta bright, portal vein beginning).
pub const ARTERIAL_S: (f64, f64) = (-2.0, 4.0);
/// Portal venous phase window, seconds after the aortic peak (~65-80 s after injection).
pub const PORTAL_S: (f64, f64) = (45.0, 60.0);
/// Delayed (equilibrium) phase window, seconds after the aortic peak (3-5 min).
pub const DELAYED_S: (f64, f64) = (160.0, 280.0);

/// Time step of the tabulated curves (s).
const DT_S: f64 = 0.25;
/// Tabulated duration (s).
const T_MAX_S: f64 = 420.0;

/// Parker's population AIF, blood concentration in mM at `t_s` seconds.
pub fn parker_aif_mm(t_s: f64) -> f64 {
    let t = t_s / 60.0;
    let g = |a: f64, mu: f64, sigma: f64| {
        a / (sigma * (2.0 * std::f64::consts::PI).sqrt())
            * (-(t - mu).powi(2) / (2.0 * sigma * sigma)).exp()
    };
    g(0.809, 0.17046, 0.0563)
        + g(0.330, 0.365, 0.132)
        + 1.050 * (-0.1685 * t).exp() / (1.0 + (-38.078 * (t - 0.483)).exp())
}

/// Kinetic parameters of a tissue (per minute for rates, fractions for volumes).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Kinetics {
    /// Fraction of the input that is arterial (the rest portal venous).
    arterial_fraction: f64,
    vp: f64,
    ktrans_per_min: f64,
    ve: f64,
}

fn kinetics(t: Tissue) -> Option<Kinetics> {
    let k = |arterial_fraction, vp, ktrans_per_min, ve| {
        Some(Kinetics { arterial_fraction, vp, ktrans_per_min, ve })
    };
    match t {
        Tissue::Liver => k(0.25, 0.12, 1.5, 0.25),
        Tissue::Spleen => k(1.0, 0.20, 1.5, 0.20),
        Tissue::KidneyCortex => k(1.0, 0.30, 2.0, 0.20),
        Tissue::KidneyMedulla => k(1.0, 0.08, 0.6, 0.30),
        Tissue::Pancreas => k(1.0, 0.10, 1.0, 0.30),
        Tissue::Muscle => k(1.0, 0.03, 0.10, 0.15),
        Tissue::VertebralMarrow => k(1.0, 0.05, 0.30, 0.20),
        Tissue::Hcc => k(1.0, 0.12, 2.5, 0.05),
        Tissue::Haemangioma => k(1.0, 0.02, 0.25, 0.55),
        Tissue::SubcutaneousFat | Tissue::VisceralFat | Tissue::Scalp => k(1.0, 0.01, 0.02, 0.1),
        Tissue::GreyMatter | Tissue::WhiteMatter => k(1.0, 0.03, 0.0, 0.1),
        _ => None,
    }
}

/// Concentration curves of every tissue on a common time grid.
#[derive(Debug, Clone)]
pub struct ContrastCurves {
    aorta: Vec<f64>,
    portal: Vec<f64>,
    venous: Vec<f64>,
    /// Per tissue label: its curve (empty when the tissue does not enhance).
    tissue: Vec<Vec<f64>>,
    /// Time of the aortic peak (s).
    pub aortic_peak_s: f64,
}

/// `x` delayed by `delay_s` and convolved with a unit-area exponential of mean `tau_s`.
fn delay_disperse(x: &[f64], delay_s: f64, tau_s: f64) -> Vec<f64> {
    let shift = (delay_s / DT_S).round() as usize;
    let a = (-DT_S / tau_s).exp();
    let mut out = vec![0.0; x.len()];
    let mut acc = 0.0;
    for i in 0..x.len() {
        let input = if i >= shift { x[i - shift] } else { 0.0 };
        acc = acc * a + (1.0 - a) * input;
        out[i] = acc;
    }
    out
}

/// Extended Tofts tissue curve for input `cin`.
fn tofts(cin: &[f64], k: &Kinetics) -> Vec<f64> {
    let ktrans = k.ktrans_per_min / 60.0;
    let kep = ktrans / k.ve.max(1e-6);
    let a = (-kep * DT_S).exp();
    let mut ees = 0.0;
    cin.iter()
        .map(|&c| {
            ees = ees * a + ktrans * c * DT_S;
            k.vp * c + ees
        })
        .collect()
}

impl ContrastCurves {
    /// Curves for one patient; `cardiac_scale` stretches the arterial timing (slower
    /// circulation > 1), `dose_scale` scales all concentrations.
    pub fn new(cardiac_scale: f64, dose_scale: f64) -> Self {
        let n = (T_MAX_S / DT_S) as usize;
        // Parker's curve was measured with a fast bolus; a clinical abdominal injection
        // (~20 ml at 2 ml/s) arrives about twice as spread out in time.
        let stretch = 2.0 * cardiac_scale;
        let aorta: Vec<f64> =
            (0..n).map(|i| dose_scale * parker_aif_mm(i as f64 * DT_S / stretch)).collect();
        let portal = delay_disperse(&aorta, 8.0 * cardiac_scale, 14.0 * cardiac_scale);
        let venous = delay_disperse(&aorta, 14.0 * cardiac_scale, 22.0 * cardiac_scale);
        let tissue = Tissue::ALL
            .iter()
            .map(|&t| match kinetics(t) {
                Some(k) => {
                    let cin: Vec<f64> = aorta
                        .iter()
                        .zip(&portal)
                        .map(|(a, p)| k.arterial_fraction * a + (1.0 - k.arterial_fraction) * p)
                        .collect();
                    tofts(&cin, &k)
                }
                None => Vec::new(),
            })
            .collect();
        let peak = aorta
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as f64 * DT_S)
            .unwrap_or(0.0);
        Self { aorta, portal, venous, tissue, aortic_peak_s: peak }
    }

    /// Concentration (mM) in `tissue` at `t_s` seconds (`None` before contrast = 0).
    pub fn concentration_mm(&self, tissue: Tissue, t_s: Option<f64>) -> f32 {
        let Some(t) = t_s else { return 0.0 };
        let i = ((t / DT_S).round().max(0.0) as usize).min(self.aorta.len() - 1);
        let v = match tissue {
            Tissue::Aorta => self.aorta[i],
            Tissue::PortalVein => self.portal[i],
            Tissue::Ivc | Tissue::HepaticVein => self.venous[i],
            t => self.tissue[t as usize].get(i).copied().unwrap_or(0.0),
        };
        v as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aif_peaks_near_twenty_seconds_at_about_six_mm() {
        let c = ContrastCurves::new(1.0, 1.0);
        assert!((c.aortic_peak_s - 20.5).abs() < 1.5, "{}", c.aortic_peak_s);
        let peak = c.concentration_mm(Tissue::Aorta, Some(c.aortic_peak_s));
        assert!(peak > 5.0 && peak < 7.0, "{peak}");
    }

    #[test]
    fn hcc_washes_in_then_out_relative_to_liver() {
        let c = ContrastCurves::new(1.0, 1.0);
        let art = Some(c.aortic_peak_s + 3.0);
        let delayed = Some(c.aortic_peak_s + 200.0);
        assert!(c.concentration_mm(Tissue::Hcc, art) > c.concentration_mm(Tissue::Liver, art));
        assert!(
            c.concentration_mm(Tissue::Hcc, delayed) < c.concentration_mm(Tissue::Liver, delayed)
        );
    }
}

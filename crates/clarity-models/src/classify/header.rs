//! The header model: rules over DICOM attributes that name a series' class with a confidence.
//!
//! Two kinds of evidence, strongest first:
//! 1. **Names** — SeriesDescription and SequenceName in the styles of Siemens (`t1_vibe_fs_tra_art`,
//!    `ep2d_diff_..._TRACEW`), GE (`Ax LAVA Portal`, `Ax Dual Echo OP`) and Philips
//!    (`THRIVE delay`, `T2W_TSE_SPAIR`, `dADC`), read as lowercase word tokens.
//! 2. **Physics** — what no site renames: ImageType `ADC`, the b-value, the echo time's phase of
//!    the fat-water cycle (in phase at whole periods of `1 / (3.4 ppm · γ · B0)`, opposed at half
//!    periods), TR/TE of spin echoes, fat-saturation scan options, and for dynamic series
//!    (3D spoiled gradient echo, TR < 15 ms) the time since ContrastBolusStartTime (pre < 0 s,
//!    arterial < 45 s, portal < 130 s, then delayed) or, when no injection time is stored, the
//!    order of acquisition within the exam.
//!
//! Confidences are the rule's, not calibrated probabilities: 0.95 for names and unambiguous
//! physics (b-value, ADC flag), 0.85 for echo-time rules, 0.6 for phase-by-order, 0.3 when
//! nothing applied.

use clarity_core::Metadata;
use clarity_mr::exam::SeriesClass::{self, *};
use clarity_mr::tissue::Field;
use serde::Serialize;

use super::classes::Class;

/// What the rules decided for one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeaderDecision {
    pub class: Class,
    pub confidence: f32,
    /// The rule that fired, for reports.
    pub reason: String,
}

fn decided(class: Class, confidence: f32, reason: impl Into<String>) -> HeaderDecision {
    HeaderDecision { class, confidence, reason: reason.into() }
}

/// Intermediate outcome: a class, or "a dynamic series whose phase is not yet known".
enum Outcome {
    Done(HeaderDecision),
    Dynamic { why: String },
}

fn tokens(m: &Metadata) -> Vec<String> {
    let text = [&m.series_description, &m.sequence_name]
        .iter()
        .filter_map(|s| s.as_deref())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

fn has(tokens: &[String], words: &[&str]) -> bool {
    tokens.iter().any(|t| words.contains(&t.as_str()))
}

/// Phase words of dynamic series in the three vendor styles.
fn dce_phase_from_words(t: &[String]) -> Option<SeriesClass> {
    if has(t, &["pre", "nativ", "native", "precontrast"]) {
        Some(DcePre)
    } else if has(t, &["art", "arterial", "early", "20s", "hap"]) {
        Some(DceArterial)
    } else if has(t, &["pv", "portal", "venous", "70s", "pvp"]) {
        Some(DcePortal)
    } else if has(t, &["delay", "delayed", "late", "equil", "equilibrium", "3min", "5min"]) {
        Some(DceDelayed)
    } else {
        None
    }
}

fn by_names(m: &Metadata) -> Option<Outcome> {
    let t = tokens(m);
    if t.is_empty() {
        return None;
    }
    let done = |c: SeriesClass, why: &str| Some(Outcome::Done(decided(c.into(), 0.95, why)));
    if has(&t, &["adc", "dadc", "apparent"]) {
        return done(Adc, "name: ADC");
    }
    if has(&t, &["dwi", "diff", "diffusion", "tracew", "trace"])
        || t.iter().any(|w| w.starts_with("ep2d"))
    {
        return match m.b_value_s_per_mm2 {
            Some(b) if b < 400.0 => Some(Outcome::Done(decided(
                Class::Other,
                0.8,
                format!("name: diffusion, but b = {b} s/mm² (not high-b)"),
            ))),
            _ => done(DwiHighB, "name: diffusion"),
        };
    }
    let dynamic = has(&t, &["vibe", "lava", "thrive", "dyn", "dynamic", "dce", "fl3d1", "efgre3d"]);
    if dynamic {
        return Some(match dce_phase_from_words(&t) {
            Some(c) => Outcome::Done(decided(c.into(), 0.95, "name: dynamic phase")),
            None => Outcome::Dynamic { why: "name: dynamic".into() },
        });
    }
    let t1_gre = has(&t, &["t1", "dual", "ffe", "fgre", "fl2d", "fl2d2", "t1ffe", "echo"]);
    if t1_gre && has(&t, &["opp", "op", "opposed", "out", "oop", "outphase"]) {
        return done(T1Opp, "name: opposed phase");
    }
    if t1_gre && has(&t, &["in", "ip", "inphase"]) {
        return done(T1In, "name: in phase");
    }
    if has(&t, &["pd", "pdw", "flair", "dir", "swi", "tof", "mprage", "localizer", "scout"]) {
        return Some(Outcome::Done(decided(Class::Other, 0.8, "name: not a liver mpMRI contrast")));
    }
    if has(&t, &["t2", "t2w", "tse", "frfse", "fse", "haste", "ssfse"]) {
        return if has(&t, &["fs", "spair", "spir", "fatsat", "fat", "stir"]) {
            done(T2Fs, "name: fat-saturated T2")
        } else {
            Some(Outcome::Done(decided(Class::Other, 0.7, "name: T2 without fat saturation")))
        };
    }
    None
}

fn by_physics(m: &Metadata) -> Outcome {
    let done = |c: Class, conf: f32, why: String| Outcome::Done(decided(c, conf, why));
    if let Some(modality) = m.modality.as_deref().filter(|s| !s.eq_ignore_ascii_case("MR")) {
        return done(Class::Other, 0.99, format!("modality {modality}"));
    }
    if m.image_type.iter().any(|s| s.eq_ignore_ascii_case("ADC")) {
        return done(Adc.into(), 0.95, "ImageType ADC".into());
    }
    if let Some(b) = m.b_value_s_per_mm2 {
        return if b >= 400.0 {
            done(DwiHighB.into(), 0.95, format!("b = {b} s/mm²"))
        } else {
            done(Class::Other, 0.8, format!("b = {b} s/mm² (not high-b)"))
        };
    }
    let scan = m.scanning_sequence.as_deref().unwrap_or("").to_ascii_uppercase();
    let fat_sat = m.scan_options.as_deref().is_some_and(|s| {
        s.to_ascii_uppercase().split('\\').any(|o| matches!(o, "FS" | "FAT" | "SP"))
    });
    let (tr, te) = (m.repetition_time_ms, m.echo_time_ms);
    if scan.contains("EP") && !scan.contains("GR") {
        return done(DwiHighB.into(), 0.5, "echo-planar, no b-value stored".into());
    }
    if scan.contains("GR") {
        if tr.is_some_and(|tr| tr < 15.0) {
            return Outcome::Dynamic {
                why: format!("3D gradient echo, TR {:.1} ms", tr.unwrap_or(0.0)),
            };
        }
        if let (Some(te), Some(b0)) = (te, m.field_strength_t) {
            let cycles = te * Field::from_tesla(b0).fat_shift_hz() / 1000.0;
            let frac = cycles - cycles.floor();
            if (frac - 0.5).abs() < 0.2 {
                return done(
                    T1Opp.into(),
                    0.85,
                    format!("TE {te:.2} ms = {cycles:.2} fat-water cycles (opposed)"),
                );
            }
            if !(0.2..=0.8).contains(&frac) && cycles > 0.5 {
                return done(
                    T1In.into(),
                    0.85,
                    format!("TE {te:.2} ms = {cycles:.2} fat-water cycles (in phase)"),
                );
            }
        }
    }
    if scan.contains("SE") && te.is_some_and(|te| te >= 60.0) && tr.is_some_and(|tr| tr >= 1500.0) {
        return if fat_sat {
            done(T2Fs.into(), 0.85, "long TR/TE spin echo with fat saturation".into())
        } else {
            done(Class::Other, 0.6, "long TR/TE spin echo without fat saturation".into())
        };
    }
    done(Class::Other, 0.3, "no rule applied".into())
}

/// Seconds of day from a DICOM TM string (`HHMMSS.frac`, also the older `HH:MM:SS`).
pub fn seconds_of_day(tm: &str) -> Option<f64> {
    clarity_core::tm_seconds(&tm.replace(':', ""))
}

fn phase_from_injection(seconds_after: f64) -> SeriesClass {
    match seconds_after {
        t if t < 0.0 => DcePre,
        t if t < 45.0 => DceArterial,
        t if t < 130.0 => DcePortal,
        _ => DceDelayed,
    }
}

/// Classify every series of one exam (the order of `exam` is kept). Exam context is used only for
/// dynamic series whose phase no name gives.
pub fn classify_exam(exam: &[&Metadata]) -> Vec<HeaderDecision> {
    let outcomes: Vec<Outcome> =
        exam.iter().map(|m| by_names(m).unwrap_or_else(|| by_physics(m))).collect();
    // Dynamic series without a phase: time since injection when stored, else acquisition order.
    let injection = exam
        .iter()
        .filter_map(|m| m.contrast_bolus_start_time.as_deref().and_then(seconds_of_day))
        .reduce(f64::min);
    let mut undecided: Vec<(usize, Option<f64>, String)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Dynamic { why } => {
                let m = exam[i];
                let t = m
                    .acquisition_time
                    .as_deref()
                    .or(m.series_time.as_deref())
                    .and_then(seconds_of_day);
                Some((i, t, why.clone()))
            }
            Outcome::Done(_) => None,
        })
        .collect();
    undecided.sort_by(|a, b| a.1.unwrap_or(f64::MAX).total_cmp(&b.1.unwrap_or(f64::MAX)));
    let mut out: Vec<Option<HeaderDecision>> = outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Done(d) => Some(d),
            Outcome::Dynamic { .. } => None,
        })
        .collect();
    let order = [DcePre, DceArterial, DcePortal, DceDelayed];
    for (rank, (i, t, why)) in undecided.iter().enumerate() {
        out[*i] = Some(match (injection, t) {
            (Some(inj), Some(t)) => {
                let c = phase_from_injection(t - inj);
                decided(c.into(), 0.9, format!("{why}; {:.0} s after injection", t - inj))
            }
            (None, Some(_)) => decided(
                order[rank.min(3)].into(),
                0.6,
                format!("{why}; number {} in acquisition order", rank + 1),
            ),
            _ => decided(DcePortal.into(), 0.25, format!("{why}; no times stored")),
        });
    }
    out.into_iter().map(|d| d.expect("every series decided")).collect()
}

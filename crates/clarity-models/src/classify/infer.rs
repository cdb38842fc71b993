//! Classifying the series of a study: the pixel model on every series, the header rules over the
//! study, and the fused decision.
//!
//! Pixel decision: the most probable class, or `other` when its probability is under
//! [`MIN_PIXEL_PROB`] (a series unlike anything seen in training). Fused decision: per class,
//! pixel probability plus the header rule's confidence for the class it named; the larger sum
//! wins, so a confident rule (a b-value, a vendor name) outweighs an unsure network and a
//! sure network outweighs a weak rule (acquisition order, no rule at all). The pixel evidence
//! fused is the one after the exam-context stage ([`order_dynamic_phases`]).

use burn::prelude::*;
use clarity_core::Volume;
use serde::Serialize;

use super::data::preprocess;
use super::header::{classify_exam, seconds_of_day, HeaderDecision};
use super::model::{SeriesNet, SeriesNetConfig};
use super::train::predict;
use super::{Class, N_CLASSES};
use clarity_mr::exam::SeriesClass::{self, DceArterial, DceDelayed, DcePortal, DcePre};

/// Below this top probability the pixel model answers `other`.
pub const MIN_PIXEL_PROB: f32 = 0.5;

/// Series with fewer slices are not 3D series the pixel model was built for (single images,
/// localisers, a few CT slices). Liver mpMRI series have 20 or more.
pub const MIN_SLICES: usize = 8;

/// Smallest extent (mm) a liver series covers along its slice axis and in-plane: the liver is
/// 12-20 cm in every direction and abdominal fields of view are 30-40 cm, so a series covering
/// less (a zoomed brain region, a cardiac slab, a joint) is none of the nine classes.
pub const MIN_COVERAGE_MM: f64 = 80.0;

/// Why the pixel model does not judge a series, if it does not: it then answers `other`
/// with probability 1 without running (a 3D network fed a single image or a small region would
/// answer anyway, with a confidence that means nothing).
pub fn out_of_scope(vol: &Volume) -> Option<String> {
    let [nx, ny, nz] = vol.dims;
    let extent = |n: usize, s: f64| n as f64 * s;
    let slab = extent(nz, vol.spacing_mm[2]);
    let fov = extent(nx, vol.spacing_mm[0]).min(extent(ny, vol.spacing_mm[1]));
    if nz < MIN_SLICES {
        Some(format!("{nz} slices (a liver series has at least {MIN_SLICES})"))
    } else if slab < MIN_COVERAGE_MM || fov < MIN_COVERAGE_MM {
        Some(format!(
            "covers {slab:.0} mm through-plane and {fov:.0} mm in-plane (the liver needs {MIN_COVERAGE_MM:.0})"
        ))
    } else {
        None
    }
}

/// Everything said about one series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesResult {
    pub series_uid: String,
    pub description: String,
    /// Fused class.
    pub class: Class,
    pub pixel_class: Class,
    pub pixel_prob: f32,
    /// Pixel probabilities in class order (see [`Class::all`]).
    pub pixel_probs: [f32; N_CLASSES],
    pub header_class: Class,
    pub header_confidence: f32,
    pub header_reason: String,
    /// Pixel and header decisions name the same class.
    pub agree: bool,
    /// The pixel decision after the exam-context stage ([`order_dynamic_phases`]).
    pub pixel_context_class: Class,
    /// Set when the pixel model did not judge the series ([`out_of_scope`]), with the reason.
    pub pixel_abstained: Option<String>,
}

const DCE: [SeriesClass; 4] = [DcePre, DceArterial, DcePortal, DceDelayed];

/// Exam-context stage for dynamic series. The pixel model sees one series at a time, but the
/// phases of one exam must follow each other in time: pre, then arterial, portal venous,
/// delayed. Among the series the pixel model calls dynamic, sorted by acquisition time, this
/// picks the phase sequence that never goes back in time and has the largest summed
/// log-probability (dynamic programming over series × phase); with at most four dynamic series
/// each phase is used at most once (a protocol acquires each phase once; repeats are late
/// delayed images in longer protocols). Series without a time, and studies with fewer than two
/// timed dynamic series, keep their pixel decision.
pub fn order_dynamic_phases(probs: &[[f32; N_CLASSES]], times_s: &[Option<f64>]) -> Vec<Class> {
    let mut out: Vec<Class> = probs.iter().map(|p| pixel_decision(p).0).collect();
    let mut dyn_idx: Vec<(usize, f64)> = out
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, Class::Liver(s) if DCE.contains(s)))
        .filter_map(|(i, _)| times_s[i].map(|t| (i, t)))
        .collect();
    if dyn_idx.len() < 2 {
        return out;
    }
    dyn_idx.sort_by(|a, b| a.1.total_cmp(&b.1));
    let lp = |i: usize, ph: usize| (probs[i][Class::Liver(DCE[ph]).index()].max(1e-6) as f64).ln();
    // best[k][ph]: best score of the first k+1 series with series k in phase ph.
    let n = dyn_idx.len();
    let mut best = vec![[f64::NEG_INFINITY; 4]; n];
    let mut from = vec![[0usize; 4]; n];
    for ph in 0..4 {
        best[0][ph] = lp(dyn_idx[0].0, ph);
    }
    let strict = n <= 4;
    for k in 1..n {
        for ph in 0..4 {
            let allowed = if strict { 0..ph } else { 0..ph + 1 };
            let Some((arg, prev)) =
                allowed.map(|q| (q, best[k - 1][q])).max_by(|a, b| a.1.total_cmp(&b.1))
            else {
                continue; // phase 0 cannot follow anything when phases must increase
            };
            best[k][ph] = prev + lp(dyn_idx[k].0, ph);
            from[k][ph] = arg;
        }
    }
    let mut ph = (0..4).max_by(|&a, &b| best[n - 1][a].total_cmp(&best[n - 1][b])).unwrap_or(0);
    for k in (0..n).rev() {
        out[dyn_idx[k].0] = Class::Liver(DCE[ph]);
        ph = from[k][ph];
    }
    out
}

fn one_hot(c: Class) -> [f32; N_CLASSES] {
    let mut p = [0.0; N_CLASSES];
    p[c.index()] = 1.0;
    p
}

/// The pixel decision from probabilities.
pub fn pixel_decision(p: &[f32; N_CLASSES]) -> (Class, f32) {
    let best = (0..N_CLASSES).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(N_CLASSES - 1);
    let class = if p[best] < MIN_PIXEL_PROB { Class::Other } else { Class::from_index(best) };
    (class, p[best])
}

/// The fused decision (see the module docs). When the pixel decision is `other` for lack of
/// confidence, its top probability counts for `other` too, so a weak rule cannot turn an
/// unsure network into a liver class.
pub fn fuse(p: &[f32; N_CLASSES], header: &HeaderDecision) -> Class {
    let mut p = *p;
    if let (Class::Other, top) = pixel_decision(&p) {
        let o = Class::Other.index();
        p[o] = p[o].max(top);
    }
    let h = header.class.index();
    let score = |k: usize| p[k] + if k == h { header.confidence } else { 0.0 };
    Class::from_index((0..N_CLASSES).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap_or(h))
}

/// Classify the series (`(series_uid, volume)`) of one study.
pub fn classify_study(
    model: &SeriesNet,
    cfg: &SeriesNetConfig,
    series: &[(String, &Volume)],
    device: &Device,
) -> Vec<SeriesResult> {
    let abstain: Vec<Option<String>> = series.iter().map(|(_, v)| out_of_scope(v)).collect();
    let volumetric: Vec<usize> = (0..series.len()).filter(|&i| abstain[i].is_none()).collect();
    let inputs: Vec<Vec<f32>> =
        volumetric.iter().map(|&i| preprocess(series[i].1, cfg.grid)).collect();
    let refs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
    let mut probs = vec![one_hot(Class::Other); series.len()];
    for (i, p) in volumetric.iter().zip(predict(model, &refs, cfg.grid, device, 8)) {
        probs[*i] = p;
    }
    let metas: Vec<_> = series.iter().map(|(_, v)| &v.meta).collect();
    let headers = classify_exam(&metas);
    let times: Vec<Option<f64>> = metas
        .iter()
        .map(|m| {
            m.acquisition_time.as_deref().or(m.series_time.as_deref()).and_then(seconds_of_day)
        })
        .collect();
    let context = order_dynamic_phases(&probs, &times);
    series
        .iter()
        .zip(probs)
        .zip(headers)
        .zip(context)
        .zip(abstain)
        .map(|(((((uid, vol), p), h), pixel_context_class), pixel_abstained)| {
            let (pixel_class, pixel_prob) = pixel_decision(&p);
            // Where the exam context moved a dynamic series to another phase, the fusion sees
            // the pixel evidence for the two phases swapped.
            let mut p_ctx = p;
            if pixel_context_class != pixel_class && pixel_class != Class::Other {
                p_ctx.swap(pixel_class.index(), pixel_context_class.index());
            }
            SeriesResult {
                series_uid: uid.clone(),
                description: vol.meta.series_description.clone().unwrap_or_default(),
                class: fuse(&p_ctx, &h),
                pixel_class,
                pixel_prob,
                pixel_probs: p,
                agree: pixel_class == h.class,
                header_class: h.class,
                header_confidence: h.confidence,
                header_reason: h.reason,
                pixel_context_class,
                pixel_abstained,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: Class, confidence: f32) -> HeaderDecision {
        HeaderDecision { class, confidence, reason: String::new() }
    }

    #[test]
    fn fusion_weighs_rule_confidence_against_pixel_probability() {
        let mut p = [0.0f32; N_CLASSES];
        p[Class::Liver(SeriesClass::DcePortal).index()] = 0.7;
        p[Class::Liver(SeriesClass::DceDelayed).index()] = 0.3;
        // A name-based rule (0.95) beats a 0.7 network.
        let strong = header(SeriesClass::DceDelayed.into(), 0.95);
        assert_eq!(fuse(&p, &strong), SeriesClass::DceDelayed.into());
        // Acquisition order (0.6) tips a 0.7 / 0.3 split: 0.3 + 0.6 > 0.7.
        let order = header(SeriesClass::DceDelayed.into(), 0.6);
        assert_eq!(fuse(&p, &order), SeriesClass::DceDelayed.into());
        // "No rule applied" (0.3 for other) loses to the network.
        let none = header(Class::Other, 0.3);
        assert_eq!(fuse(&p, &none), SeriesClass::DcePortal.into());
        // An unsure network's top class does not win over other on a weak rule.
        let mut unsure = [0.05f32; N_CLASSES];
        unsure[Class::Liver(SeriesClass::T2Fs).index()] = 0.45;
        assert_eq!(fuse(&unsure, &none), Class::Other);
        // An unsure network says other.
        let flat = [0.1f32; N_CLASSES];
        assert_eq!(pixel_decision(&flat).0, Class::Other);
        assert_eq!(pixel_decision(&p).0, SeriesClass::DcePortal.into());
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;

    fn probs(pairs: &[(SeriesClass, f32)]) -> [f32; N_CLASSES] {
        let mut p = [0.0; N_CLASSES];
        for (c, v) in pairs {
            p[Class::Liver(*c).index()] = *v;
        }
        p
    }

    #[test]
    fn dynamic_phases_follow_acquisition_time() {
        // Four dynamic series given in scrambled order; the network swaps portal and delayed
        // on two of them (0.55 vs 0.45), which time order corrects.
        let p = vec![
            probs(&[(DceDelayed, 0.55), (DcePortal, 0.45)]), // acquired third
            probs(&[(DcePre, 0.9), (DceArterial, 0.1)]),     // first
            probs(&[(DcePortal, 0.55), (DceDelayed, 0.45)]), // fourth
            probs(&[(DceArterial, 0.8), (DcePortal, 0.2)]),  // second
        ];
        let t = vec![Some(300.0), Some(100.0), Some(400.0), Some(200.0)];
        let got = order_dynamic_phases(&p, &t);
        let want: Vec<Class> =
            [DcePortal, DcePre, DceDelayed, DceArterial].map(Class::Liver).to_vec();
        assert_eq!(got, want);
        // Both portal and delayed called delayed: each phase once, so the earlier is portal.
        let p2 = vec![
            probs(&[(DcePre, 0.9), (DceArterial, 0.1)]),
            probs(&[(DceArterial, 0.8), (DcePortal, 0.2)]),
            probs(&[(DceDelayed, 0.6), (DcePortal, 0.4)]),
            probs(&[(DceDelayed, 0.9), (DcePortal, 0.1)]),
        ];
        let t2 = vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)];
        let want: Vec<Class> =
            [DcePre, DceArterial, DcePortal, DceDelayed].map(Class::Liver).to_vec();
        assert_eq!(order_dynamic_phases(&p2, &t2), want);
        // Without times nothing changes.
        let got = order_dynamic_phases(&p, &[None; 4]);
        assert_eq!(got[0], Class::Liver(DceDelayed));
        assert_eq!(got[2], Class::Liver(DcePortal));
    }
}

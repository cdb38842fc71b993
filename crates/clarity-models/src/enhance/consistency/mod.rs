//! Data consistency tuned by SURE: after the network, re-weigh its last layer per volume so its
//! output agrees with what the scanner measured as well as the noise allows.
//!
//! The shortened scan `y` measured the acquired phase-encoding band exactly, up to noise. On
//! scans unlike its training data the network smooths away real detail with the noise
//! (measured on the prostate validation volume at SNR 20, r = 0.25: mixing 40 % of the measured
//! band back in gains +0.36 dB PSNR; on brain1, which it was trained on, any mixing loses).
//! The network's output is a weighted sum of C + 2 images ([`SliceParts`]: the input slice,
//! each feature channel's contribution through the tail, a constant), so inside the band the
//! output is re-read with weights `w` fitted to this volume:
//!
//! `out = (I − P) f + P g_w`, `g_w = w_0 · y + Σ_c w_{1+c} · s t_c + w_{C+1} · s`,
//!
//! with `P` the projection onto the acquired band: the lines outside it, which `y` never
//! measured, stay the network's own `f`. `w` minimises Stein's unbiased risk estimate (SURE)
//! of the in-band error inside the foreground mask `M`, which needs no truth: for noise
//! `n ~ N(0, Σ)`, `Σ = σ_k² P` (the real channel of a zero-filled scan's noise),
//!
//! `SURE(w) = ‖M(P g_w − y)‖² + 2 tr(Σ M P J_{g_w}) − tr(M Σ)`,
//!
//! a quadratic in `w` (each image's Jacobian trace by Monte Carlo: one probe `b`, drawn like
//! the scan's noise, `tr(Σ M P J_X) ≈ ⟨P(M b), X(y + εb) − X(y)⟩ / ε`). Its minimiser solves a
//! (C+2)-square linear system. The network's own readout (`w = 1`, tail bias) is one point of
//! the family, and so is any mix `f + α P(y − f)` of its output with the measured band.
//!
//! Why per-channel weights rather than one α: measured on 6 slices of each validation volume
//! at SNR 20, r = 0.25 (PSNR inside the mask): prostate network 38.23, best α 38.62, SURE
//! channel weights 38.82, truth-fitted full 3×3 tail 38.98; brain2 network 39.11, best α 39.11
//! (α = 0), SURE channel weights 39.35, truth-fitted tail 39.57. A SURE-fitted full 3×3 tail
//! (434 weights) gained no more than the 50 channel weights and costs nine times the projections.
//! The probe costs two network passes over a few slices; σ must be known: the simulation
//! protocol knows it; for a real scan it is given or estimated from the background.

use std::ops::Range;

use burn::prelude::Device;
use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_mr::band::{band_noise, project_to_band};
use clarity_mr::fastscan::foreground_threshold;

use super::infer::{enhance_volume, slice_parts, InferOptions};
use super::model::{EnhanceNet, EnhanceNetConfig};
use super::readout::{Readout, SliceParts};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// What the consistency step needs to know about the scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanNoise {
    /// Standard deviation of the image noise per pixel (one channel) of the shortened scan.
    pub sigma_pixel: f32,
    /// Acquired PE lines (`0..n`, DC at `n / 2`).
    pub lines: Range<usize>,
    pub pe: PhaseEncodingDirection,
}

/// Probe settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SureSettings {
    /// Slices the probe runs on (evenly spaced; all when the volume has fewer).
    pub probe_slices: usize,
    /// Probe step as a fraction of the noise: large enough that float rounding in the network
    /// does not dominate the difference, small enough to stay local. A trained denoiser's
    /// Jacobian changes at the scale of the noise itself, so a step near σ averages it over
    /// inputs noisier than the scan, and the fit exploits the biased traces. Measured with the
    /// shipped network (`clarity eval enhance`, brain2, r 0.33): step 0.5 → ER 34.82 / 38.09 dB
    /// at SNR 10 / 20 (below the network's 34.88 at SNR 10; SURE claimed +0.50 dB in band),
    /// 0.1 → 35.04 / 38.15, 0.02 → 35.04 / 38.15; 0.05 is in that flat range. Probing 16
    /// slices instead of 8 moved it by at most 0.01 dB.
    pub epsilon: f32,
    pub seed: u64,
    /// Fewest masked pixels per fitted weight for the fit to be used. Choosing `k` weights to
    /// minimise an unbiased risk estimate makes the minimum optimistic by about `2kσ²` over the
    /// `n` pixels, so on a tiny scan (an 8×8 slice: 64 pixels for 50 weights) the fit chases
    /// noise (gains of ±80 seen) while claiming a large gain. At 100 the optimism is at most
    /// 2 % of σ²; every real scan clears it by far (a 256² slab of 8 probed slices has ~200 000
    /// masked pixels for 50 weights).
    pub min_pixels_per_weight: usize,
}

impl Default for SureSettings {
    fn default() -> Self {
        Self { probe_slices: 8, epsilon: 0.05, seed: 0x5_0BE, min_pixels_per_weight: 100 }
    }
}

/// What the step did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConsistencyReport {
    /// Weight of the measured slice `y` in the in-band output (the network's own: 1).
    pub centre_weight: f32,
    /// Mean and range of the feature-channel weights (the network's own: all 1).
    pub gain_mean: f32,
    pub gain_min: f32,
    pub gain_max: f32,
    /// SURE of the in-band error inside the mask, per masked pixel, for the network's own
    /// readout and for the fitted one (intensity units squared; estimates, no truth used).
    pub risk_network: f64,
    pub risk_fitted: f64,
    /// Whether the fitted readout is used; false when the network's own was kept (the fit
    /// failed, estimated no gain, or estimated a negative error).
    pub refitted: bool,
}

impl ConsistencyReport {
    /// The estimated in-band error reduction in dB (positive: the fit helps).
    pub fn estimated_gain_db(&self) -> f64 {
        if self.risk_network > 0.0 && self.risk_fitted > 0.0 {
            10.0 * (self.risk_network / self.risk_fitted).log10()
        } else {
            f64::NAN
        }
    }
}

/// `count` evenly spaced slice indices of `0..nz` (all of them when `count >= nz`).
fn probe_indices(nz: usize, count: usize) -> Vec<usize> {
    if count >= nz {
        return (0..nz).collect();
    }
    let mut v: Vec<usize> = (0..count).map(|i| ((2 * i + 1) * nz) / (2 * count)).collect();
    v.dedup();
    v
}

/// A network taken apart at its tail, run on some slices of a volume:
/// `(volume, slices, sink)`, `sink(i, parts)` for `slices[i]`.
pub type PartsNetwork<'a> = dyn FnMut(&Volume, &[usize], &mut dyn FnMut(usize, SliceParts)) + 'a;

/// The images the readout weighs, in intensity units: `[y, s·t_0, …, s·t_{C−1}, s]`.
fn columns(parts: &SliceParts) -> Vec<Vec<f32>> {
    let s = parts.scale;
    let mut cols = Vec::with_capacity(parts.n_channels() + 2);
    cols.push(parts.centre.iter().map(|v| v * s).collect());
    cols.extend(parts.channels.chunks(parts.plane()).map(|t| t.iter().map(|v| v * s).collect()));
    cols.push(vec![s; parts.plane()]);
    cols
}

/// What [`fit`] found.
#[derive(Debug, Clone)]
pub struct FittedReadout {
    pub readout: Readout,
    pub report: ConsistencyReport,
    /// The probed slices' parts on the scan itself, `(slice, parts)`: the final pass reuses
    /// them instead of running the network on those slices again.
    pub probed: Vec<(usize, SliceParts)>,
}

/// Fit the readout on `lr`'s probe slices by SURE (see the module docs). `network` must be
/// the network whose own readout is `own`.
pub fn fit(
    lr: &Volume,
    noise: &ScanNoise,
    settings: &SureSettings,
    own: &Readout,
    network: &mut PartsNetwork<'_>,
) -> FittedReadout {
    let [nx, ny, nz] = lr.dims;
    let plane = nx * ny;
    let (pe, lines) = (noise.pe, &noise.lines);
    let sigma = noise.sigma_pixel.max(0.0);
    let eps = settings.epsilon;
    let probes = probe_indices(nz, settings.probe_slices.max(1));
    // The probe: the scan plus ε times a fresh draw of its noise, on the probed slices only
    // (noise is independent between slices, so only each slice's own block of the Jacobian
    // enters the trace; probed slices are far enough apart not to see each other's probe).
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut probe_vol = lr.clone();
    probe_vol.frames = 1;
    probe_vol.data.truncate(plane * nz);
    let mut draws = Vec::with_capacity(probes.len());
    for &k in &probes {
        let n = band_noise(nx, ny, pe, lines, sigma, &mut rng);
        for (v, d) in probe_vol.data[k * plane..(k + 1) * plane].iter_mut().zip(&n) {
            *v += eps * d;
        }
        draws.push(n);
    }
    let mut at = vec![None; probes.len()];
    network(lr, &probes, &mut |i, p| at[i] = Some(p));
    let at: Vec<SliceParts> = at.into_iter().map(|p| p.expect("network ran every slice")).collect();
    let mut perturbed = vec![None; probes.len()];
    if sigma > 0.0 {
        network(&probe_vol, &probes, &mut |i, p| perturbed[i] = Some(p));
    }
    // The mask: the network's own output above the foreground threshold of the probed slices.
    let own_out: Vec<Vec<f32>> = at.iter().map(|p| own.apply(p)).collect();
    let threshold = foreground_threshold(&own_out.concat());
    let k = own.gains.len() + 2;
    let (mut gram, mut rhs) = (vec![0f64; k * k], vec![0f64; k]);
    let (mut y_energy, mut in_mask) = (0f64, 0f64);
    for (i, &slice) in probes.iter().enumerate() {
        let y = lr.slice(slice);
        let mask: Vec<bool> = own_out[i].iter().map(|&v| v > threshold).collect();
        let x = columns(&at[i]);
        let z: Vec<Vec<f32>> = x.iter().map(|c| project_to_band(c, nx, ny, pe, lines)).collect();
        let masked: Vec<usize> = (0..plane).filter(|&p| mask[p]).collect();
        in_mask += masked.len() as f64;
        y_energy += masked.iter().map(|&p| (y[p] as f64).powi(2)).sum::<f64>();
        for a in 0..k {
            rhs[a] += masked.iter().map(|&p| z[a][p] as f64 * y[p] as f64).sum::<f64>();
            for b in a..k {
                let v = masked.iter().map(|&p| z[a][p] as f64 * z[b][p] as f64).sum::<f64>();
                gram[a * k + b] += v;
            }
        }
        if let Some(pp) = &perturbed[i] {
            let mb: Vec<f32> =
                draws[i].iter().zip(&mask).map(|(d, &m)| if m { *d } else { 0.0 }).collect();
            let pmb = project_to_band(&mb, nx, ny, pe, lines);
            for (a, xp) in columns(pp).iter().enumerate() {
                let trace: f64 =
                    (0..plane).map(|p| pmb[p] as f64 * (xp[p] - x[a][p]) as f64).sum::<f64>()
                        / eps as f64;
                rhs[a] -= trace;
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            gram[a * k + b] = gram[b * k + a];
        }
    }
    let mut own_w = vec![own.centre_weight as f64];
    own_w.extend(own.gains.iter().map(|&g| g as f64));
    own_w.push(own.bias as f64);
    let noise_energy = (sigma as f64).powi(2) * in_mask;
    let risk = |w: &[f64]| {
        let mut q = 0.0;
        for a in 0..k {
            q += w[a] * (w.iter().zip(&gram[a * k..(a + 1) * k]).map(|(u, g)| u * g).sum::<f64>());
            q -= 2.0 * w[a] * rhs[a];
        }
        (q + y_energy - noise_energy) / in_mask.max(1.0)
    };
    // A squared error is never negative: a fit whose estimate is means the Monte-Carlo trace
    // was too noisy to trust (seen on a pure-noise input, where 50 weights chased it to gains
    // of ±4000), so the network keeps its own readout.
    let risk_network = risk(&own_w);
    let fitted = solve(&gram, &rhs)
        .map(|w| {
            let r = risk(&w);
            (w, r)
        })
        .filter(|&(_, r)| r > 0.0 && r < risk_network)
        .filter(|_| in_mask >= (settings.min_pixels_per_weight * k) as f64);
    let refitted = fitted.is_some();
    let (w, risk_fitted) = fitted.unwrap_or((own_w, risk_network));
    let readout = Readout {
        centre_weight: w[0] as f32,
        gains: w[1..k - 1].iter().map(|&g| g as f32).collect(),
        bias: w[k - 1] as f32,
    };
    let gains = &readout.gains;
    let report = ConsistencyReport {
        centre_weight: readout.centre_weight,
        gain_mean: gains.iter().sum::<f32>() / gains.len().max(1) as f32,
        gain_min: gains.iter().copied().fold(f32::INFINITY, f32::min),
        gain_max: gains.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        risk_network,
        risk_fitted,
        refitted,
    };
    FittedReadout { readout, report, probed: probes.into_iter().zip(at).collect() }
}

/// Solve the symmetric system `a x = b` (`a` row-major `n × n`) by Gaussian elimination with
/// partial pivoting and a tiny ridge (collinear images, e.g. a dead feature channel, would
/// make it singular). `None` when it is singular even so or the result is not finite.
fn solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
    let ridge = 1e-9 * trace / n as f64;
    let mut m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut row = a[i * n..(i + 1) * n].to_vec();
            row[i] += ridge;
            row.push(b[i]);
            row
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() <= f64::MIN_POSITIVE {
            return None;
        }
        m.swap(col, pivot);
        for row in col + 1..n {
            let f = m[row][col] / m[col][col];
            if f != 0.0 {
                for c in col..=n {
                    m[row][c] -= f * m[col][c];
                }
            }
        }
    }
    let mut x = vec![0f64; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| m[row][c] * x[c]).sum();
        x[row] = (m[row][n] - s) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The consistent slice: the network's `own` output outside the band, `fitted`'s inside,
/// clipped at zero.
pub fn combine(own: &[f32], fitted: &[f32], nx: usize, ny: usize, noise: &ScanNoise) -> Vec<f32> {
    let diff: Vec<f32> = fitted.iter().zip(own).map(|(a, b)| a - b).collect();
    let back = project_to_band(&diff, nx, ny, noise.pe, &noise.lines);
    own.iter().zip(&back).map(|(o, d)| (o + d).max(0.0)).collect()
}

/// Enhance frame 0 of `vol`; with `noise`, also fit the readout by SURE ([`fit`]) and return
/// the consistent output and its report beside the network's own (both from one pass).
/// `progress(done, total)` counts slice passes (with `noise`, more than the slices).
#[allow(clippy::too_many_arguments)]
pub fn enhance_consistent(
    model: &EnhanceNet,
    cfg: &EnhanceNetConfig,
    vol: &Volume,
    device: &Device,
    opts: InferOptions,
    noise: Option<&ScanNoise>,
    pe: PhaseEncodingDirection,
    progress: &mut dyn FnMut(usize, usize),
) -> (Volume, Option<(Volume, ConsistencyReport)>) {
    let Some(noise) = noise else {
        // Nothing to fit: the plain forward pass, which skips taking the tail apart.
        return (enhance_volume(model, cfg, vol, pe, device, opts, progress), None);
    };
    let [nx, ny, nz] = vol.dims;
    let own = Readout::network(cfg.channels, model.tail_weights().1);
    let settings = SureSettings::default();
    // Progress counts slice passes: the probed slices twice (scan and probe), the rest once.
    let total = nz + probe_indices(nz, settings.probe_slices.max(1)).len();
    let mut passes = 0;
    let FittedReadout { readout, report, probed } = {
        let mut run = |v: &Volume, slices: &[usize], sink: &mut dyn FnMut(usize, SliceParts)| {
            let base = passes;
            let mut report = |d: usize, _: usize| progress(base + d, total);
            slice_parts(model, cfg, v, pe, device, opts, slices, &mut report, sink);
            passes += slices.len();
        };
        fit(vol, noise, &settings, &own, &mut run)
    };
    let plane = nx * ny;
    // Only frame 0 is enhanced; further frames (4D) are dropped rather than left unprocessed.
    let (mut net, mut consistent) = (vol.zeros_like(), vol.zeros_like());
    let mut write = |k: usize, parts: &SliceParts| {
        let f = own.apply(parts);
        let g = readout.apply(parts);
        consistent.data[k * plane..(k + 1) * plane]
            .copy_from_slice(&combine(&f, &g, nx, ny, noise));
        for (o, v) in net.data[k * plane..(k + 1) * plane].iter_mut().zip(f) {
            *o = v.max(0.0);
        }
    };
    for (k, parts) in &probed {
        write(*k, parts);
    }
    let rest: Vec<usize> = (0..nz).filter(|k| !probed.iter().any(|(p, _)| p == k)).collect();
    slice_parts(
        model,
        cfg,
        vol,
        pe,
        device,
        opts,
        &rest,
        &mut |d, _| progress(passes + d, total),
        &mut |i, parts| write(rest[i], &parts),
    );
    (net, Some((consistent, report)))
}

#[cfg(test)]
mod tests;

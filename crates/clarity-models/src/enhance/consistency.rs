//! Data consistency tuned by SURE: after the network, put back part of what the scanner measured.
//!
//! The shortened scan `y` measured the acquired phase-encoding band exactly, up to noise. The
//! network `f` replaces all of it with its estimate, and on scans unlike its training data it
//! smooths away real detail with the noise (measured on the prostate validation volume at SNR 20,
//! r = 0.25: mixing 40 % of the measured band back in gains +0.36 dB PSNR; on brain1, which it
//! was trained on, any mixing loses). So the output is
//!
//! `out = f(y) + α · P(y − f(y))`
//!
//! with `P` the projection onto the acquired band (the lines outside it, which `y` never
//! measured, stay the network's), as in the data-consistency layers of learned MRI
//! reconstruction. α is chosen per volume, without the truth, by minimising Stein's unbiased
//! risk estimate (SURE) of the in-band error inside the foreground mask `M`. For noise
//! `n ~ N(0, σ²P)` (the real channel of a zero-filled scan's noise) the risk of `out` is a
//! quadratic in α whose minimiser is
//!
//! `α = (⟨M u, M v⟩ − σ²·|M| + tr(M P J_f Σ)) / ‖M v‖²`, `u = f − y`, `v = P u`,
//!
//! where the trace of the network's Jacobian `J_f` is estimated by Monte Carlo: one probe
//! `n`, drawn like the scan's noise, and `tr(M P J_f Σ) ≈ ⟨P(M n), (f(y + εn) − f(y)) / ε⟩`.
//! The probe costs one more network pass over a few slices. σ must be known: the simulation
//! protocol knows it; for a real scan it is given or estimated from the background.

use std::ops::Range;

use burn::prelude::Device;
use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_mr::band::{band_noise, project_to_band};
use clarity_mr::fastscan::foreground_threshold;

use super::infer::{enhance_slices, enhance_volume, InferOptions};
use super::model::{EnhanceNet, EnhanceNetConfig};
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
    /// does not dominate the difference, small enough to stay local.
    pub epsilon: f32,
    pub seed: u64,
}

impl Default for SureSettings {
    fn default() -> Self {
        Self { probe_slices: 8, epsilon: 0.5, seed: 0x5_0BE }
    }
}

/// What the step did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ConsistencyReport {
    /// Weight of the measured band in the output, in `[0, 1]`.
    pub alpha: f32,
    /// The unclamped SURE minimiser (outside `[0, 1]` when the clamp acted).
    pub alpha_sure: f64,
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

/// A network run on some slices of a volume: `(volume, slices) -> one output plane per slice`.
pub type SliceNetwork<'a> = dyn FnMut(&Volume, &[usize]) -> Vec<Vec<f32>> + 'a;

/// Apply SURE-tuned data consistency to `enhanced` = f(`lr`). `network(vol, slices)` must run
/// the same enhancement as produced `enhanced` on the given slices of `vol`.
pub fn apply(
    enhanced: &Volume,
    lr: &Volume,
    noise: &ScanNoise,
    settings: &SureSettings,
    network: &mut SliceNetwork<'_>,
) -> (Volume, ConsistencyReport) {
    let [nx, ny, nz] = enhanced.dims;
    let plane = nx * ny;
    let (pe, lines) = (noise.pe, &noise.lines);
    let sigma = noise.sigma_pixel.max(0.0);
    let eps = settings.epsilon;
    let probes = probe_indices(nz, settings.probe_slices.max(1));
    // The probe: the scan plus ε times a fresh draw of its noise, on the probed slices only
    // (noise is independent between slices, so only each slice's own block of the Jacobian
    // enters the trace).
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
    let perturbed = if sigma > 0.0 { network(&probe_vol, &probes) } else { Vec::new() };
    let threshold = foreground_threshold(&enhanced.data);
    let (mut num, mut den) = (0f64, 0f64);
    for (i, &k) in probes.iter().enumerate() {
        let f = enhanced.slice(k);
        let y = lr.slice(k);
        let mask: Vec<bool> = f.iter().map(|&v| v > threshold).collect();
        let u: Vec<f32> = f.iter().zip(y).map(|(a, b)| a - b).collect();
        let v = project_to_band(&u, nx, ny, pe, lines);
        let in_mask = mask.iter().filter(|&&m| m).count() as f64;
        num -= (sigma as f64).powi(2) * in_mask;
        for p in 0..plane {
            if mask[p] {
                num += u[p] as f64 * v[p] as f64;
                den += (v[p] as f64).powi(2);
            }
        }
        if let Some(fp) = perturbed.get(i) {
            let masked: Vec<f32> =
                draws[i].iter().zip(&mask).map(|(d, &m)| if m { *d } else { 0.0 }).collect();
            let pm = project_to_band(&masked, nx, ny, pe, lines);
            for p in 0..plane {
                num += pm[p] as f64 * (fp[p] - f[p]) as f64 / eps as f64;
            }
        }
    }
    let alpha_sure = if den > 0.0 { num / den } else { 0.0 };
    let alpha = alpha_sure.clamp(0.0, 1.0) as f32;
    let mut out = enhanced.clone();
    if alpha > 0.0 {
        for k in 0..nz {
            let f = enhanced.slice(k);
            let diff: Vec<f32> = lr.slice(k).iter().zip(f).map(|(a, b)| a - b).collect();
            let back = project_to_band(&diff, nx, ny, pe, lines);
            for (o, (fv, d)) in
                out.data[k * plane..(k + 1) * plane].iter_mut().zip(f.iter().zip(&back))
            {
                *o = (fv + alpha * d).max(0.0);
            }
        }
    }
    (out, ConsistencyReport { alpha, alpha_sure })
}

/// [`super::infer::enhance_volume`] followed, when `noise` is given, by [`apply`] with the
/// same network and options. Returns the network's own output and, with `noise`, the output
/// of the consistency step and its report.
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
    let net = enhance_volume(model, cfg, vol, pe, device, opts, progress);
    let consistent = noise.map(|noise| {
        let mut run = |v: &Volume, slices: &[usize]| {
            enhance_slices(model, cfg, v, pe, device, opts, slices, &mut |_, _| {})
        };
        apply(&net, vol, noise, &SureSettings::default(), &mut run)
    });
    (net, consistent)
}

/// The per-pixel noise σ of a magnitude scan from its background: the mode of the values
/// below 10 % of the 99th percentile (air, Rayleigh-distributed with mode σ). `None` when under
/// 35 % of the voxels are that dark (the body fills the field of view and the mode would be
/// tissue, measured: 4× too high on the prostate validation scan), or the mode sits at the top
/// of that range.
pub fn background_sigma(vol: &Volume) -> Option<f32> {
    let top = foreground_threshold(&vol.data);
    if top <= 0.0 {
        return None;
    }
    let bins = 200;
    let mut hist = vec![0usize; bins];
    let mut dark = 0usize;
    for &v in &vol.data {
        if v < top && v > 0.0 {
            hist[(((v / top) * bins as f32) as usize).min(bins - 1)] += 1;
            dark += 1;
        }
    }
    if (dark as f64) < 0.35 * vol.data.len() as f64 {
        return None;
    }
    // Mode of the histogram smoothed over 5 bins (bin 0 left out: zero-padded borders).
    let smooth = |i: usize| hist[i.saturating_sub(2)..(i + 3).min(bins)].iter().sum::<usize>();
    let best = (1..bins).max_by_key(|&i| smooth(i))?;
    (best < bins * 3 / 4).then(|| (best as f32 + 0.5) / bins as f32 * top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clarity_mr::acquisition::acquired_lines;

    #[test]
    fn probe_indices_are_spread_and_distinct() {
        assert_eq!(probe_indices(5, 8), vec![0, 1, 2, 3, 4]);
        assert_eq!(probe_indices(20, 4), vec![2, 7, 12, 17]);
        assert_eq!(probe_indices(3, 2), vec![0, 2]);
    }

    /// A smooth object with a sharp edge and its shortened noisy scan, Gaussian noise in the band.
    fn scan(sigma: f32) -> (Volume, Volume, ScanNoise) {
        let (nx, ny, nz) = (48, 48, 4);
        let pe = PhaseEncodingDirection::Col;
        let lines = acquired_lines(ny, 0.25, 1.0);
        let mut truth = vec![0f32; nx * ny * nz];
        for (i, v) in truth.iter_mut().enumerate() {
            let (x, y) = ((i % nx) as f32, ((i / nx) % ny) as f32);
            let r2 = (x - 24.0).powi(2) + (y - 24.0).powi(2);
            *v = if r2 < 300.0 { 100.0 + 20.0 * (0.5 * x).sin() } else { 0.0 };
        }
        let mut rng = StdRng::seed_from_u64(9);
        let mut lr = vec![0f32; nx * ny * nz];
        for k in 0..nz {
            let t = &truth[k * nx * ny..(k + 1) * nx * ny];
            let band = project_to_band(t, nx, ny, pe, &lines);
            let n = band_noise(nx, ny, pe, &lines, sigma, &mut rng);
            for p in 0..nx * ny {
                lr[k * nx * ny + p] = band[p] + n[p];
            }
        }
        let t = Volume::new([nx, ny, nz], truth).unwrap();
        let y = Volume::new([nx, ny, nz], lr).unwrap();
        (t, y, ScanNoise { sigma_pixel: sigma, lines, pe })
    }

    fn in_band_error(a: &Volume, t: &Volume, noise: &ScanNoise) -> f64 {
        let [nx, ny, nz] = a.dims;
        (0..nz)
            .map(|k| {
                let d: Vec<f32> = a.slice(k).iter().zip(t.slice(k)).map(|(x, y)| x - y).collect();
                project_to_band(&d, nx, ny, noise.pe, &noise.lines)
                    .iter()
                    .map(|v| (*v as f64).powi(2))
                    .sum::<f64>()
            })
            .sum()
    }

    /// A "network" that shrinks towards a constant over-smooths: SURE puts the measured band
    /// back with a weight near the one that minimises the true error, without seeing the truth.
    #[test]
    fn sure_weight_is_close_to_the_oracle_weight_for_a_shrinking_network() {
        let (truth, lr, noise) = scan(4.0);
        // f(y) = 0.5 y + 0.5·mean: linear, its Jacobian trace is known.
        let mean = lr.data.iter().sum::<f32>() / lr.data.len() as f32;
        let shrink = |v: &Volume, slices: &[usize]| -> Vec<Vec<f32>> {
            slices
                .iter()
                .map(|&k| v.slice(k).iter().map(|x| 0.5 * x + 0.5 * mean).collect())
                .collect()
        };
        let mut enhanced = lr.clone();
        let all: Vec<usize> = (0..lr.dims[2]).collect();
        enhanced.data = shrink(&lr, &all).concat();
        let (out, report) =
            apply(&enhanced, &lr, &noise, &SureSettings::default(), &mut |v, s| shrink(v, s));
        assert!(report.alpha > 0.3, "over-smoothing not undone: α {}", report.alpha);
        // The oracle: the α of the grid with the lowest error against the truth.
        let err = |a: f32| {
            let mut o = enhanced.clone();
            for (k, slice) in o.data.chunks_mut(48 * 48).enumerate() {
                let d: Vec<f32> =
                    lr.slice(k).iter().zip(enhanced.slice(k)).map(|(x, y)| x - y).collect();
                let back = project_to_band(&d, 48, 48, noise.pe, &noise.lines);
                slice.iter_mut().zip(&back).for_each(|(s, b)| *s += a * b);
            }
            in_band_error(&o, &truth, &noise)
        };
        let oracle =
            (0..=20).map(|i| i as f32 / 20.0).min_by(|a, b| err(*a).total_cmp(&err(*b))).unwrap();
        assert!((report.alpha - oracle).abs() < 0.15, "SURE α {} vs oracle {oracle}", report.alpha);
        assert!(in_band_error(&out, &truth, &noise) < in_band_error(&enhanced, &truth, &noise));
    }

    /// A network that returns exactly the noise-free band (whatever its input) has nothing to
    /// gain from the noisy measurement: α ≈ 0.
    #[test]
    fn a_perfect_denoiser_keeps_its_output() {
        let (truth, lr, noise) = scan(4.0);
        let [nx, ny, _] = truth.dims;
        let oracle = |_: &Volume, slices: &[usize]| -> Vec<Vec<f32>> {
            slices
                .iter()
                .map(|&k| project_to_band(truth.slice(k), nx, ny, noise.pe, &noise.lines))
                .collect()
        };
        let all: Vec<usize> = (0..truth.dims[2]).collect();
        let mut enhanced = truth.clone();
        enhanced.data = oracle(&lr, &all).concat();
        let (_, report) =
            apply(&enhanced, &lr, &noise, &SureSettings::default(), &mut |v, s| oracle(v, s));
        assert!(
            report.alpha < 0.1,
            "α {} for a network that removes exactly the noise",
            report.alpha
        );
    }

    #[test]
    fn background_sigma_finds_the_rayleigh_mode_of_air_and_refuses_without_air() {
        use rand_distr::{Distribution, Normal};
        let (n, sigma) = (64usize, 5.0f32);
        let normal = Normal::new(0.0f32, sigma).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let noisy = |base: f32, rng: &mut StdRng| {
            let (a, b) = (base + normal.sample(rng), normal.sample(rng));
            (a * a + b * b).sqrt()
        };
        // A disc of tissue in air, 60 % air.
        let data: Vec<f32> = (0..n * n * 4)
            .map(|i| {
                let (x, y) = ((i % n) as f32 - 32.0, ((i / n) % n) as f32 - 32.0);
                let base = if x * x + y * y < 500.0 { 200.0 } else { 0.0 };
                noisy(base, &mut rng)
            })
            .collect();
        let vol = Volume::new([n, n, 4], data).unwrap();
        let est = background_sigma(&vol).expect("air present");
        assert!((est - sigma).abs() < 0.15 * sigma, "σ {est} vs {sigma}");
        // Tissue everywhere: no estimate rather than a wrong one.
        let full: Vec<f32> = (0..n * n).map(|i| noisy(100.0 + (i % 7) as f32, &mut rng)).collect();
        assert_eq!(background_sigma(&Volume::new([n, n, 1], full).unwrap()), None);
    }
}

//! Training pairs made on the fly: (zero-filled shortened scan, truth) patches.
//!
//! Each sample: a random volume and slice k with its neighbours, a random intensity curve
//! (`truth^γ`, γ in 0.7..1.4) and flips/transposes for contrast and orientation variety; the
//! shortened scan of each of the 2·context+1 slices simulated by `clarity-mr` (reduction r, SNR,
//! PE axis drawn per sample; independent noise per slice); then one random patch of both.
//! Intensities are divided by the 99th percentile of the shortened scan's slab, the same
//! normalisation inference uses (the truth is unknown there).

use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_mr::acquisition::Sampling;
use rand::rngs::StdRng;
use rand::Rng;

/// Ranges pairs are drawn from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairSettings {
    pub reduction: (f64, f64),
    /// SNR of the full-length scan (drawn log-uniformly).
    pub snr: (f64, f64),
    pub patch: usize,
    pub context: usize,
    /// Phase encoding of every pair along this axis (a PE-specific network), or along either
    /// axis at random (`None`).
    #[serde(default)]
    pub pe_axis: Option<PhaseEncodingDirection>,
}

impl Default for PairSettings {
    fn default() -> Self {
        Self { reduction: (0.2, 0.4), snr: (8.0, 60.0), patch: 64, context: 1, pe_axis: None }
    }
}

/// A batch as flat arrays, ready for tensors.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[batch, 2·context + 1, patch, patch]`.
    pub input: Vec<f32>,
    /// `[batch, 1, patch, patch]`.
    pub target: Vec<f32>,
    pub batch: usize,
    pub patch: usize,
    pub channels: usize,
}

/// 99th percentile of the positive values (1 when there are none).
pub fn norm_scale(values: &[f32]) -> f32 {
    clarity_core::percentile(values, 0.99, |x| x > 0.0).map_or(1.0, |p| p.max(1e-6))
}

/// One slice with flips/transpose applied: returns (values, nx, ny).
fn oriented(
    slice: &[f32],
    nx: usize,
    ny: usize,
    flip_x: bool,
    flip_y: bool,
    transpose: bool,
) -> (Vec<f32>, usize, usize) {
    let (ox, oy) = if transpose { (ny, nx) } else { (nx, ny) };
    let mut out = vec![0f32; nx * ny];
    for y in 0..oy {
        for x in 0..ox {
            let (mut sx, mut sy) = if transpose { (y, x) } else { (x, y) };
            if flip_x {
                sx = nx - 1 - sx;
            }
            if flip_y {
                sy = ny - 1 - sy;
            }
            out[y * ox + x] = slice[sy * nx + sx];
        }
    }
    (out, ox, oy)
}

/// Draw one (input, target) patch pair from `vol` into the given buffers.
pub fn sample_pair(
    vol: &Volume,
    s: &PairSettings,
    rng: &mut StdRng,
    input: &mut [f32],
    target: &mut [f32],
) {
    let [nx, ny, nz] = vol.dims;
    let c = s.context;
    let k = rng.gen_range(0..nz);
    let (fx, fy, tr) = (rng.gen_bool(0.5), rng.gen_bool(0.5), rng.gen_bool(0.5));
    let gamma: f32 = rng.gen_range(0.7..1.4);
    let scale_in = norm_scale(vol.slice(k));
    let mut truth_slices = Vec::with_capacity(2 * c + 1);
    let (mut ox, mut oy) = (nx, ny);
    for d in 0..=2 * c {
        let kk = (k + d).saturating_sub(c).min(nz - 1);
        let (v, a, b) = oriented(vol.slice(kk), nx, ny, fx, fy, tr);
        (ox, oy) = (a, b);
        truth_slices
            .push(v.iter().map(|x| (x.max(0.0) / scale_in).powf(gamma)).collect::<Vec<f32>>());
    }
    let reduction = rng.gen_range(s.reduction.0..=s.reduction.1);
    let snr = (rng.gen_range(s.snr.0.ln()..=s.snr.1.ln())).exp();
    // Drawn even for a fixed axis so the rest of the sample does not depend on the setting.
    let random_pe =
        if rng.gen_bool(0.5) { PhaseEncodingDirection::Row } else { PhaseEncodingDirection::Col };
    let pe = s.pe_axis.unwrap_or(random_pe);
    let centre = &truth_slices[c];
    // SNR is relative to the foreground mean exactly as the physics engine defines it.
    let mean_fg = match clarity_mr::fastscan::foreground_mean_of(centre) {
        m if m > 0.0 => m,
        _ => 1.0,
    };
    let sampling = Sampling {
        reduction,
        pe,
        noise_sigma: (mean_fg as f64 / snr) as f32,
        ..Default::default()
    };
    let lr: Vec<Vec<f32>> =
        truth_slices.iter().map(|t| sampling.acquire_magnitude(t, ox, oy, rng)).collect();
    let scale = norm_scale(&lr.concat());
    let p = s.patch.min(ox).min(oy);
    // Prefer patches on the object: up to 8 tries for one whose truth mean is over 5 % of the
    // slab's scale (air teaches nothing but the noise floor).
    let (mut x0, mut y0) = (0, 0);
    for _ in 0..8 {
        (x0, y0) = (rng.gen_range(0..=ox - p), rng.gen_range(0..=oy - p));
        let mut sum = 0f32;
        for y in 0..p {
            sum += centre[(y0 + y) * ox + x0..(y0 + y) * ox + x0 + p].iter().sum::<f32>();
        }
        if sum / (p * p) as f32 > 0.05 * scale {
            break;
        }
    }
    for (ch, l) in lr.iter().enumerate() {
        for y in 0..p {
            for x in 0..p {
                input[ch * p * p + y * p + x] = l[(y0 + y) * ox + x0 + x] / scale;
            }
        }
    }
    for y in 0..p {
        for x in 0..p {
            target[y * p + x] = centre[(y0 + y) * ox + x0 + x] / scale;
        }
    }
}

/// A batch of `n` pairs from random volumes of `pool` (volumes smaller than the patch are skipped
/// by the caller).
pub fn sample_batch(pool: &[Volume], n: usize, s: &PairSettings, rng: &mut StdRng) -> Batch {
    let ch = 2 * s.context + 1;
    let p = s.patch;
    let mut input = vec![0f32; n * ch * p * p];
    let mut target = vec![0f32; n * p * p];
    for b in 0..n {
        let vol = &pool[rng.gen_range(0..pool.len())];
        sample_pair(
            vol,
            s,
            rng,
            &mut input[b * ch * p * p..(b + 1) * ch * p * p],
            &mut target[b * p * p..(b + 1) * p * p],
        );
    }
    Batch { input, target, batch: n, patch: p, channels: ch }
}

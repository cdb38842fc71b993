//! Training pairs made on the fly: (zero-filled shortened scan, truth) patches.
//!
//! Each sample: a random volume and slice k with its neighbours, a random intensity curve
//! (`truth^γ`, γ in 0.7..1.4; optionally times a smooth [`BiasField`]) and flips/transposes
//! for contrast and orientation variety; the shortened scan of each of the 2·context+1 slices
//! simulated by `clarity-mr` (reduction r, SNR, PE axis drawn per sample; independent noise per
//! slice); then one random patch of both.
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
    /// Append the noise plane (see [`super::model`]) after the image channels.
    #[serde(default)]
    pub noise_channel: bool,
    /// Append the reduction plane (the fraction of PE lines dropped, see [`super::model`])
    /// after the noise plane.
    #[serde(default)]
    pub reduction_channel: bool,
    /// Multiply each truth slab by a smooth random field (see [`BiasField`]) before the
    /// simulation, so the network meets the same tissue at many local signal-to-noise ratios,
    /// as under a surface coil's falloff, while its noise plane holds one σ for the slice.
    #[serde(default)]
    pub bias_field: bool,
}

impl Default for PairSettings {
    fn default() -> Self {
        Self {
            reduction: (0.2, 0.4),
            snr: (8.0, 60.0),
            patch: 64,
            context: 1,
            pe_axis: None,
            noise_channel: false,
            reduction_channel: false,
            bias_field: false,
        }
    }
}

impl PairSettings {
    /// Input channels of a pair: the slab, and the noise and reduction planes when asked for.
    pub fn input_channels(&self) -> usize {
        2 * self.context + 1 + usize::from(self.noise_channel) + usize::from(self.reduction_channel)
    }
}

/// A batch as flat arrays, ready for tensors.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[batch, input channels, patch, patch]`.
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

/// A `p × p` patch (x fastest) with flips/transpose applied.
fn orient_patch(patch: &[f32], p: usize, flip_x: bool, flip_y: bool, transpose: bool) -> Vec<f32> {
    let mut out = vec![0f32; p * p];
    for y in 0..p {
        for x in 0..p {
            let (mut sx, mut sy) = if transpose { (y, x) } else { (x, y) };
            if flip_x {
                sx = p - 1 - sx;
            }
            if flip_y {
                sy = p - 1 - sy;
            }
            out[y * p + x] = patch[sy * p + sx];
        }
    }
    out
}

/// Every 4th pixel of every 4th row: enough for percentiles and means, 16× cheaper.
fn subsampled(slice: &[f32], nx: usize) -> impl Iterator<Item = f32> + '_ {
    subsampled_at(nx, slice.len() / nx).map(move |(x, y)| slice[y * nx + x])
}

/// The `(x, y)` of the pixels [`subsampled`] takes, in its order.
fn subsampled_at(nx: usize, ny: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..ny).step_by(4).flat_map(move |y| (0..nx).step_by(4).map(move |x| (x, y)))
}

/// A smooth multiplicative intensity field over a slice, as a receive coil's sensitivity makes:
/// `exp` of a second-order polynomial in the slice's coordinates scaled to [−1, 1], each of its
/// five coefficients drawn from ±0.25, so the field stays within e^±1.25 (×0.29..×3.5) and is
/// usually within ×0.7..×1.5 across the slice.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasField {
    /// Coefficients of u, v, u², v², u·v.
    coefficients: [f32; 5],
    nx: usize,
    ny: usize,
}

impl BiasField {
    /// A random field for an `nx × ny` slice.
    pub fn draw(nx: usize, ny: usize, rng: &mut StdRng) -> Self {
        Self { coefficients: std::array::from_fn(|_| rng.gen_range(-0.25..=0.25)), nx, ny }
    }

    /// The field at voxel (x, y).
    pub fn at(&self, x: usize, y: usize) -> f32 {
        let unit = |i: usize, n: usize| 2.0 * i as f32 / (n.max(2) - 1) as f32 - 1.0;
        let (u, v) = (unit(x, self.nx), unit(y, self.ny));
        let c = &self.coefficients;
        (c[0] * u + c[1] * v + c[2] * u * u + c[3] * v * v + c[4] * u * v).exp()
    }
}

fn other_axis(pe: PhaseEncodingDirection) -> PhaseEncodingDirection {
    match pe {
        PhaseEncodingDirection::Row => PhaseEncodingDirection::Col,
        PhaseEncodingDirection::Col => PhaseEncodingDirection::Row,
    }
}

/// Draw one (input, target) patch pair from `vol` into the given buffers.
///
/// Only a strip is simulated: the patch's readout columns over the whole phase-encoding
/// extent. Dropping PE lines filters each readout position independently, so the strip's
/// shortened scan equals the whole slice's restricted to the strip (up to the noise draw), at
/// a fraction of the FFT work (a 1024² slice costs 16× less with 64-pixel patches).
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
    let reduction = rng.gen_range(s.reduction.0..=s.reduction.1);
    let snr = (rng.gen_range(s.snr.0.ln()..=s.snr.1.ln())).exp();
    // Drawn even for a fixed axis so the rest of the sample does not depend on the setting.
    let random_pe =
        if rng.gen_bool(0.5) { PhaseEncodingDirection::Row } else { PhaseEncodingDirection::Col };
    // PE axis in the patch as the network sees it, and in the volume (a transpose swaps them).
    let pe_patch = s.pe_axis.unwrap_or(random_pe);
    let pe = if tr { other_axis(pe_patch) } else { pe_patch };
    let slab: Vec<usize> = (0..=2 * c).map(|d| (k + d).saturating_sub(c).min(nz - 1)).collect();
    let centre = vol.slice(k);
    let sub: Vec<f32> = subsampled(centre, nx).collect();
    let scale_in = norm_scale(&sub);
    // Drawn only when asked for, so runs without it draw the same numbers as before it existed.
    let bias = s.bias_field.then(|| BiasField::draw(nx, ny, rng));
    let curve = |v: f32, x: usize, y: usize| {
        (v.max(0.0) / scale_in).powf(gamma) * bias.as_ref().map_or(1.0, |b| b.at(x, y))
    };
    let p = s.patch.min(nx).min(ny);
    // Prefer patches on the object: up to 8 tries for one whose mean is over 5 % of the 99th
    // percentile (air teaches nothing but the noise floor).
    let (mut x0, mut y0) = (0, 0);
    for _ in 0..8 {
        (x0, y0) = (rng.gen_range(0..=nx - p), rng.gen_range(0..=ny - p));
        let sum: f32 = (0..p).map(|y| centre[(y0 + y) * nx + x0..][..p].iter().sum::<f32>()).sum();
        if sum / (p * p) as f32 > 0.05 * scale_in {
            break;
        }
    }
    // The strip: columns x0..x0+p over all rows (PE along y), or rows y0..y0+p (PE along x).
    let (sw, sh) = match pe {
        PhaseEncodingDirection::Col => (p, ny),
        PhaseEncodingDirection::Row => (nx, p),
    };
    let (xs, ys) = match pe {
        PhaseEncodingDirection::Col => (x0..x0 + p, 0..ny),
        PhaseEncodingDirection::Row => (0..nx, y0..y0 + p),
    };
    let strip = |slice: &[f32]| -> Vec<f32> {
        let xs = &xs;
        ys.clone().flat_map(|y| xs.clone().map(move |x| curve(slice[y * nx + x], x, y))).collect()
    };
    let truth: Vec<Vec<f32>> = slab.iter().map(|&kk| strip(vol.slice(kk))).collect();
    // The slab after the intensity curve, subsampled: the centre slice's part sets the noise,
    // the whole the normalisation.
    let slab_values: Vec<f32> = slab
        .iter()
        .flat_map(|&kk| {
            let slice = vol.slice(kk);
            subsampled_at(nx, ny).map(move |(x, y)| (slice, x, y))
        })
        .map(|(slice, x, y)| curve(slice[y * nx + x], x, y))
        .collect();
    let centre_values = &slab_values[c * sub.len()..(c + 1) * sub.len()];
    // SNR is relative to the slice's foreground mean, as the physics engine defines it.
    let mean_fg = match clarity_mr::fastscan::foreground_mean_of(centre_values) {
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
        truth.iter().map(|t| sampling.acquire_magnitude(t, sw, sh, rng)).collect();
    // Inference divides by the 99th percentile of the shortened slab; the truth's (the
    // shortened scan's differs by the noise and blur, a few per cent) stands in for it here.
    let scale = norm_scale(&slab_values);
    let (ox, oy) = match pe {
        PhaseEncodingDirection::Col => (0, y0),
        PhaseEncodingDirection::Row => (x0, 0),
    };
    let cut = |img: &[f32]| -> Vec<f32> {
        let mut out = Vec::with_capacity(p * p);
        for y in 0..p {
            out.extend(img[(oy + y) * sw + ox..][..p].iter().map(|v| v / scale));
        }
        orient_patch(&out, p, fx, fy, tr)
    };
    for (ch, l) in lr.iter().enumerate() {
        input[ch * p * p..(ch + 1) * p * p].copy_from_slice(&cut(l));
    }
    let n_pe = match pe {
        PhaseEncodingDirection::Col => sh,
        PhaseEncodingDirection::Row => sw,
    };
    let mut plane = lr.len();
    if s.noise_channel {
        // The shortened scan's per-pixel noise: σ of the full scan times √(kept fraction).
        let level = super::model::NOISE_MAP_GAIN * sampling.image_sigma(n_pe) / scale;
        input[plane * p * p..(plane + 1) * p * p].fill(level);
        plane += 1;
    }
    if s.reduction_channel {
        // What was dropped in whole lines, as inference measures it.
        let dropped = clarity_mr::acquisition::dropped_fraction(&sampling.lines(n_pe), n_pe);
        input[plane * p * p..(plane + 1) * p * p].fill(dropped);
    }
    target[..p * p].copy_from_slice(&cut(&truth[c]));
}

/// A batch of `n` pairs from random volumes of `pool` (volumes smaller than the patch are skipped
/// by the caller). Pairs are simulated in parallel, each from its own seed drawn from `rng`, so
/// the batch depends only on `rng`, not on the thread count.
pub fn sample_batch(pool: &[Volume], n: usize, s: &PairSettings, rng: &mut StdRng) -> Batch {
    use rand::SeedableRng;
    use rayon::prelude::*;
    let ch = s.input_channels();
    let p = s.patch;
    let seeds: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
    let mut input = vec![0f32; n * ch * p * p];
    let mut target = vec![0f32; n * p * p];
    input.par_chunks_mut(ch * p * p).zip(target.par_chunks_mut(p * p)).zip(seeds).for_each(
        |((input, target), seed)| {
            let mut rng = StdRng::seed_from_u64(seed);
            let vol = &pool[rng.gen_range(0..pool.len())];
            sample_pair(vol, s, &mut rng, input, target);
        },
    );
    Batch { input, target, batch: n, patch: p, channels: ch }
}

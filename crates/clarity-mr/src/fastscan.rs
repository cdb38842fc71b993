//! Fast-scan pairs from real images: the protocol the enhancement model is trained and judged on.
//!
//! Given a real magnitude volume:
//! 1. **Truth at the acquired matrix.** Scanners often reconstruct on a finer grid than they
//!    acquire (256² acquired, 512² shown); the outer k-space of such an image is empty, and
//!    simulating a shorter scan on it would only remove nothing and flatter every method. The
//!    acquired matrix comes from DICOM AcquisitionMatrix when the volume has one, otherwise from
//!    where the k-space energy ends ([`detect_acquired_matrix`]); the volume's k-space is then
//!    cropped to it and reconstructed on that grid ([`to_acquired_matrix`]). This is the truth.
//! 2. **Noise level.** `σ = mean(truth in the foreground) / SNR`, the foreground being voxels
//!    above 10 % of the 99th percentile ([`foreground_mask`]). σ is the per-sample k-space
//!    noise, equal to the per-pixel noise of the full-length scan.
//! 3. **HR** = the full-length scan: every PE line, noise σ, magnitude.
//! 4. **LR** = the shortened scan: the central `1 − r` of the PE lines, the same σ per sample,
//!    zero-filled to the same matrix, magnitude (see [`crate::acquisition`] for what that does to
//!    the image noise).
//!
//! HR and LR use independent noise. Everything is seeded.

use clarity_core::{PhaseEncodingDirection, Volume};
use rayon::prelude::*;
use rustfft::num_complex::Complex32;

use crate::acquisition::Sampling;
use crate::fft::{fft2c, kspace_of, Direction};

/// Voxels above 10 % of the volume's 99th percentile: the object, without the air around it.
pub fn foreground_mask(vol: &Volume) -> Vec<bool> {
    let threshold = foreground_threshold(&vol.data);
    vol.data.iter().map(|&v| v > threshold).collect()
}

/// The foreground starts at this fraction of the 99th percentile.
pub const FOREGROUND_FRACTION: f32 = 0.1;

/// 10 % of the 99th percentile: above it is foreground (0 for an empty set).
pub fn foreground_threshold(values: &[f32]) -> f32 {
    FOREGROUND_FRACTION * clarity_core::percentile(values, 0.99, |_| true).unwrap_or(0.0)
}

/// Mean of the truth inside its foreground.
pub fn foreground_mean(vol: &Volume) -> f32 {
    foreground_mean_of(&vol.data)
}

/// [`foreground_mean`] of any set of values (a slice, a slab), with the same foreground rule.
pub fn foreground_mean_of(values: &[f32]) -> f32 {
    let threshold = foreground_threshold(values);
    let (s, n) = values
        .iter()
        .filter(|v| **v > threshold)
        .fold((0f64, 0usize), |(s, n), v| (s + *v as f64, n + 1));
    if n == 0 {
        0.0
    } else {
        (s / n as f64) as f32
    }
}

/// k-space energy along each in-plane axis `[along x, along y]` (summed over the other axis and
/// all slices), index 0..n with DC at n/2. Both from one transform of every slice: each
/// detector below needs the two.
fn energy_profiles(vol: &Volume) -> [Vec<f64>; 2] {
    let [nx, ny, nz] = vol.dims;
    let zero = || [vec![0f64; nx], vec![0f64; ny]];
    (0..nz)
        .into_par_iter()
        .map(|k| {
            let ks = kspace_of(vol.slice(k), nx, ny);
            let [mut px, mut py] = zero();
            for (i, c) in ks.iter().enumerate() {
                let e = c.norm_sqr() as f64;
                px[i % nx] += e;
                py[i / nx] += e;
            }
            [px, py]
        })
        .reduce(zero, |[ax, ay], [bx, by]| {
            let add = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(x, y)| x + y).collect();
            [add(ax, bx), add(ay, by)]
        })
}

/// Energy of a profile (DC at `len / 2`) at distance `d` from DC: both sides, the stronger one.
fn energy_at(profile: &[f64], d: usize) -> f64 {
    let c = profile.len() / 2;
    let hi = profile.get(c + d).copied().unwrap_or(0.0);
    let lo = if d <= c { profile[c - d] } else { 0.0 };
    hi.max(lo)
}

/// Width of the centred k-space band that holds the signal along one axis: `n` unless the
/// energy falls off a cliff (interpolated images: zero-padded outer k-space holds only
/// rounding noise and the little that taking the magnitude leaks past the edge).
fn acquired_extent(profile: &[f64]) -> usize {
    let n = profile.len();
    let c = n / 2;
    let half = n - c;
    let at = |d: usize| energy_at(profile, d);
    let mean = |r: std::ops::Range<usize>| -> f64 {
        let len = r.len().max(1) as f64;
        r.map(at).sum::<f64>() / len
    };
    // The edge is where the energy drops most between the 4 samples inside and the 4 outside;
    // it counts only if the drop is at least 20 dB and everything beyond a 4-sample guard
    // (magnitude images leak a little energy just past the edge) is 20 dB down too.
    let mut best: Option<(f64, usize)> = None;
    for d in 5..half.saturating_sub(4) {
        let inside = mean(d - 4..d);
        let outside = mean(d..d + 4);
        let beyond = (d + 4..half).map(at).fold(0f64, f64::max);
        if inside > 0.0 && outside * 100.0 < inside && beyond * 100.0 < inside {
            let ratio = inside / outside.max(f64::MIN_POSITIVE);
            if best.is_none_or(|(r, _)| ratio > r) {
                best = Some((ratio, d));
            }
        }
    }
    // The centred band of an even width m spans DC − m/2 ..= DC + m/2 − 1, so the first distance
    // empty on both sides is m/2 + 1.
    best.map(|(_, d)| (2 * (d - 1)).min(n)).unwrap_or(n)
}

/// The acquired in-plane matrix `[nx, ny]`: DICOM AcquisitionMatrix when present, else where
/// the k-space energy ends.
pub fn detect_acquired_matrix(vol: &Volume) -> [usize; 2] {
    if let Some((ax, ay)) = vol.meta.acquired_matrix() {
        let (ax, ay) = (ax as usize, ay as usize);
        if ax > 0 && ay > 0 && ax <= vol.dims[0] && ay <= vol.dims[1] {
            return [ax, ay];
        }
    }
    let [px, py] = energy_profiles(vol);
    [acquired_extent(&px), acquired_extent(&py)]
}

/// Where a phase-encoding direction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PeSource {
    /// Given by the user (`--pe-axis`).
    Override,
    /// The DICOM header's InPlanePhaseEncodingDirection.
    Header,
    /// Where the k-space energy is cut off ([`detect_phase_encoding`]).
    KSpace,
    /// Nothing said it; the default was assumed.
    Assumed,
}

/// The in-plane axis along which a shortened scan dropped its outer phase-encoding lines: the
/// axis whose k-space energy ends at a clearly smaller fraction of the matrix than the other
/// axis's. `None` when neither axis (a full scan) or both axes equally (an interpolated image)
/// show such a cut.
pub fn detect_phase_encoding(vol: &Volume) -> Option<PhaseEncodingDirection> {
    let [px, py] = energy_profiles(vol);
    let (sx, sy) = (sharpest_cut(&px).0, sharpest_cut(&py).0);
    // Taking the magnitude of a noisy image spreads energy over all of k-space, so the cut is
    // a step of ~10 dB rather than the cliff of an interpolated image; a natural spectrum
    // falls smoothly (measured on real brain slices: at most ~3 dB between 4-sample windows
    // outside the centre quarter).
    if sx >= 6.0 && sx > sy + 4.0 {
        Some(PhaseEncodingDirection::Row)
    } else if sy >= 6.0 && sy > sx + 4.0 {
        Some(PhaseEncodingDirection::Col)
    } else {
        None
    }
}

/// The largest energy drop (dB) between 4 samples inside and 4 outside a distance from DC,
/// over distances past the central quarter (where a natural spectrum falls steeply on its own),
/// and that distance (the first one outside).
fn sharpest_cut(profile: &[f64]) -> (f64, usize) {
    let n = profile.len();
    let c = n / 2;
    let half = n - c;
    let at = |d: usize| energy_at(profile, d);
    let mut best = (0f64, 0);
    for d in (half / 4).max(4)..half.saturating_sub(4) {
        let inside: f64 = (d - 4..d).map(at).sum();
        let outside: f64 = (d..d + 4).map(at).sum();
        if inside > 0.0 {
            let db = 10.0 * (inside / outside.max(f64::MIN_POSITIVE)).log10();
            if db > best.0 {
                best = (db, d);
            }
        }
    }
    best
}

/// The PE lines (`0..n`, DC at `n / 2`, as [`crate::acquisition::acquired_lines`]) that a
/// zero-filled shortened scan acquired: the centred band inside its k-space cut along `pe`, by
/// the same rule as [`detect_phase_encoding`] (a drop of at least 6 dB, 4 dB sharper than
/// along the readout). `None` when `vol` shows no such cut along `pe` (a full scan), or only
/// one that keeps under half the lines (see [`MIN_DETECTED_KEPT_FRACTION`]).
pub fn detect_acquired_lines(
    vol: &Volume,
    pe: PhaseEncodingDirection,
) -> Option<std::ops::Range<usize>> {
    let [px, py] = energy_profiles(vol);
    let (profile, readout) = match pe {
        PhaseEncodingDirection::Row => (px, py),
        PhaseEncodingDirection::Col => (py, px),
    };
    let (db, d) = sharpest_cut(&profile);
    let (readout_db, _) = sharpest_cut(&readout);
    if db < 6.0 || db <= readout_db + 4.0 {
        return None;
    }
    // `d` is the first distance from DC empty on both sides. A centred band of `kept` lines
    // spans DC − kept/2 ..= DC + kept/2 − 1 (even) or DC ± (kept − 1)/2 (odd): both start at
    // DC − (d − 1). A magnitude image's spectrum is symmetric, so the even band's one-sided edge
    // line shows on both sides at a fraction of a full line's energy (measured: −4.5 dB against
    // the line inside it), while the odd band's edge lines are full (within ~1 dB).
    let n = profile.len();
    let c = n / 2;
    let at = |dist: usize| energy_at(&profile, dist);
    let odd = d >= 2 && at(d - 1) >= 0.6 * at(d - 2);
    let kept = if odd { 2 * (d - 1) + 1 } else { 2 * (d - 1) };
    if (kept as f64) < MIN_DETECTED_KEPT_FRACTION * n as f64 {
        return None;
    }
    let start = c - (d - 1);
    Some(start..(start + kept).min(n))
}

/// The fewest lines, as a fraction of the matrix, that [`detect_acquired_lines`] believes a
/// cut at. Why: the shortened scans Clarity is for keep 60-80 % of the lines, while the
/// spectrum of a small, coarse matrix falls steeply near DC on its own. Measured: nibabel's
/// 33×41 `anatomical.nii` (2 mm voxels, a full scan) read as 7 of 33 lines kept, and the
/// consistency step then trusted 7 lines and took the rest from the network.
pub const MIN_DETECTED_KEPT_FRACTION: f64 = 0.5;

/// The phase-encoding direction of `vol` and where it came from: `override_pe` when given, else
/// the header, else k-space detection, else `Col` (the usual choice for axial images).
pub fn resolve_phase_encoding(
    vol: &Volume,
    override_pe: Option<PhaseEncodingDirection>,
) -> (PhaseEncodingDirection, PeSource) {
    if let Some(pe) = override_pe {
        (pe, PeSource::Override)
    } else if let Some(pe) = vol.meta.phase_encoding {
        (pe, PeSource::Header)
    } else if let Some(pe) = detect_phase_encoding(vol) {
        (pe, PeSource::KSpace)
    } else {
        (PhaseEncodingDirection::Col, PeSource::Assumed)
    }
}

/// Crop every slice's centred k-space to `matrix` and reconstruct on that grid: the same field
/// of view with larger pixels, intensities preserved.
pub fn to_acquired_matrix(vol: &Volume, matrix: [usize; 2]) -> Volume {
    let m = [matrix[0].clamp(1, vol.dims[0]), matrix[1].clamp(1, vol.dims[1])];
    if m == [vol.dims[0], vol.dims[1]] {
        return vol.clone();
    }
    resample_kspace(vol, m)
}

/// The reverse of [`to_acquired_matrix`]: zero-pad every slice's k-space to a larger matrix,
/// as a scanner's "interpolation" / "ZIP" reconstruction does.
pub fn zero_fill_to(vol: &Volume, matrix: [usize; 2]) -> Volume {
    resample_kspace(vol, [matrix[0].max(vol.dims[0]), matrix[1].max(vol.dims[1])])
}

/// Every slice's centred k-space copied into a `matrix`-sized one (cropped or zero-padded per
/// axis) and reconstructed as magnitude: same field of view, spacing scaled, intensities kept
/// (the unitary transforms' `sqrt(size)` is compensated).
fn resample_kspace(vol: &Volume, matrix: [usize; 2]) -> Volume {
    let [nx, ny, nz] = vol.dims;
    let [mx, my] = matrix;
    let scale = ((mx * my) as f32 / (nx * ny) as f32).sqrt();
    // Centred copy: index c in the input lines up with c - nx/2 + mx/2 in the output.
    let (sx, dx) = (nx / 2, mx / 2);
    let (sy, dy) = (ny / 2, my / 2);
    let slices: Vec<Vec<f32>> = (0..nz * vol.frames)
        .into_par_iter()
        .map(|s| {
            let k = kspace_of(&vol.data[s * nx * ny..(s + 1) * nx * ny], nx, ny);
            let mut out = vec![Complex32::new(0.0, 0.0); mx * my];
            for y in 0..my {
                let Some(iy) = (y + sy).checked_sub(dy).filter(|&v| v < ny) else { continue };
                for x in 0..mx {
                    if let Some(ix) = (x + sx).checked_sub(dx).filter(|&v| v < nx) {
                        out[y * mx + x] = k[iy * nx + ix] * scale;
                    }
                }
            }
            fft2c(&mut out, mx, my, Direction::Inverse);
            out.iter().map(|c| c.norm()).collect()
        })
        .collect();
    let mut out = Volume::new_4d([mx, my, nz], vol.frames, slices.concat())
        .expect("sizes are consistent by construction");
    let (rx, ry) = (nx as f64 / mx as f64, ny as f64 / my as f64);
    out.spacing_mm = [vol.spacing_mm[0] * rx, vol.spacing_mm[1] * ry, vol.spacing_mm[2]];
    // With centred transforms new pixel mx/2 sits on old pixel nx/2; place voxel 0 accordingly.
    let off = [(nx / 2) as f64 - (mx / 2) as f64 * rx, (ny / 2) as f64 - (my / 2) as f64 * ry];
    out.origin_mm = vol.voxel_to_world([off[0], off[1], 0.0]);
    out.direction = vol.direction;
    out.frame_axis = vol.frame_axis.clone();
    out.meta = vol.meta.clone();
    out
}

/// Settings of one fast-scan simulation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FastScanSettings {
    /// Fraction of PE lines the short scan drops.
    pub reduction: f64,
    /// SNR of the full-length scan: mean foreground truth / σ.
    pub snr: f64,
    pub pe: PhaseEncodingDirection,
    /// Bring the truth to the acquired matrix first (on unless the input is known to be
    /// acquired at its own matrix).
    pub to_acquired_matrix: bool,
    pub seed: u64,
}

impl Default for FastScanSettings {
    fn default() -> Self {
        Self {
            reduction: 0.3,
            snr: 20.0,
            pe: PhaseEncodingDirection::Col,
            to_acquired_matrix: true,
            seed: 0,
        }
    }
}

/// Truth, full-length scan and shortened scan of one volume, on the same grid.
#[derive(Debug, Clone)]
pub struct FastScanTriplet {
    pub truth: Volume,
    pub hr: Volume,
    pub lr: Volume,
    /// k-space σ used (= HR per-pixel noise).
    pub sigma: f32,
    /// The acquired matrix the truth was brought to.
    pub matrix: [usize; 2],
    /// The PE lines the shortened scan acquired (`0..n`, DC at `n / 2`).
    pub lr_lines: std::ops::Range<usize>,
    /// Per-pixel noise σ of the zero-filled shortened scan ([`Sampling::image_sigma`]).
    pub lr_sigma_pixel: f32,
}

/// Run the protocol of the module docs on `input`.
pub fn simulate(input: &Volume, s: &FastScanSettings) -> FastScanTriplet {
    let matrix = if s.to_acquired_matrix {
        detect_acquired_matrix(input)
    } else {
        [input.dims[0], input.dims[1]]
    };
    let mut truth = to_acquired_matrix(input, matrix);
    for v in truth.data.iter_mut() {
        *v = v.max(0.0);
    }
    let sigma = (foreground_mean(&truth) as f64 / s.snr.max(1e-6)) as f32;
    let full = Sampling { reduction: 0.0, pe: s.pe, noise_sigma: sigma, ..Default::default() };
    let short = Sampling { reduction: s.reduction, ..full.clone() };
    let hr = full.acquire_volume(&truth, s.seed.wrapping_mul(2).wrapping_add(1));
    let lr = short.acquire_volume(&truth, s.seed.wrapping_mul(2).wrapping_add(2));
    let n_pe = truth.dims[s.pe.voxel_axis()];
    let (lr_lines, lr_sigma_pixel) = (short.lines(n_pe), short.image_sigma(n_pe));
    FastScanTriplet { truth, hr, lr, sigma, matrix, lr_lines, lr_sigma_pixel }
}

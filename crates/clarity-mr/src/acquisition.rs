//! The k-space acquisition model: what a 2D Cartesian scanner does to a slice.
//!
//! A slice of the (noise-free, complex or magnitude) object is transformed to centred k-space
//! ([`crate::fft`]); phase-encoding (PE) lines are kept or dropped; complex Gaussian noise is added
//! to the *acquired* samples only; the missing lines stay zero (zero-filled reconstruction back to
//! the full matrix, as a scanner's "reduced phase resolution" does); the image is the magnitude of
//! the inverse transform, so the background has the Rician (Rayleigh) noise floor of real scans.
//!
//! ## Noise: what a shorter scan does to it
//! The noise standard deviation of one k-space sample, `σ`, is set by the receiver bandwidth,
//! the coil and the voxel; dropping PE lines does not change it (each acquired line is read out
//! exactly as before). The transform is unitary, so:
//! - full-length scan (HR): complex image noise is white with σ per pixel (per real/imaginary
//!   channel);
//! - shortened scan keeping a fraction `f = kept lines / N` (LR, zero-filled to N): the noise
//!   energy is `f` times smaller, so its per-pixel σ is **`σ·sqrt(f)`**, but it is correlated
//!   along PE (it lives only in the kept band); the signal in the kept band is unchanged. Per-pixel
//!   SNR of a flat region therefore rises by `1/sqrt(f)` while resolution along PE falls by `f`
//!   and the scan is `f` times as long (see [`crate::scan_time`]). `tests/it/physics.rs` measures this.
//!
//! Partial Fourier keeps only a fraction of the lines on one side of the centre and also lowers
//! `f`. Motion (random per-line shifts), an N/2 ghost (a phase error on every other line) and a
//! smooth receive-bias field are optional artefacts.

use clarity_core::PhaseEncodingDirection;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rustfft::num_complex::Complex32;

use crate::fft::{fft2c, to_complex, Direction};

/// Random rigid motion during the scan: each PE line, with probability `line_probability`,
/// is acquired with the object shifted by up to `max_shift_px` pixels (uniform, both in-plane
/// axes), which in k-space is a linear phase on that line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub line_probability: f64,
    pub max_shift_px: f64,
}

/// How one slice is sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Fraction of PE lines dropped from the outside of k-space (0 = full length scan). The
    /// central `round(N·(1 − r))` lines are kept.
    pub reduction: f64,
    /// Fraction of the kept lines acquired, the rest on the high-k side of one half skipped
    /// (1.0 = off; scanners offer 5/8 = 0.625 .. 7/8 = 0.875).
    pub partial_fourier: f64,
    /// Which in-plane axis is phase-encoded.
    pub pe: PhaseEncodingDirection,
    /// Noise σ of one k-space sample (per real/imaginary channel), in image intensity units:
    /// equal to the per-pixel image σ of the full-length scan.
    pub noise_sigma: f32,
    pub motion: Option<Motion>,
    /// Phase error (radians) on every other PE line: produces an N/2 ghost.
    pub ghost_phase_rad: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            reduction: 0.0,
            partial_fourier: 1.0,
            pe: PhaseEncodingDirection::Col,
            noise_sigma: 0.0,
            motion: None,
            ghost_phase_rad: 0.0,
        }
    }
}

/// Which PE lines (0..n, DC at n/2) a sampling acquires.
pub fn acquired_lines(n: usize, reduction: f64, partial_fourier: f64) -> std::ops::Range<usize> {
    let kept = ((n as f64) * (1.0 - reduction.clamp(0.0, 1.0))).round().max(1.0) as usize;
    let kept = kept.min(n);
    let start = n / 2 - kept / 2;
    let pf = partial_fourier.clamp(0.5, 1.0);
    // Partial Fourier drops lines from the high end (positive ky) of the kept band; the
    // centre is always acquired.
    let acquired = ((kept as f64) * pf).round() as usize;
    start..start + acquired.max(kept / 2 + 1).min(kept)
}

/// The fraction of `n` PE lines outside `acquired` (`1 − acquired / n`): the reduction as whole
/// lines made it, what a network told the reduction is given.
pub fn dropped_fraction(acquired: &std::ops::Range<usize>, n: usize) -> f32 {
    1.0 - acquired.len() as f32 / n.max(1) as f32
}

impl Sampling {
    /// The PE lines this sampling acquires out of `n` (`0..n`, DC at `n / 2`).
    pub fn lines(&self, n: usize) -> std::ops::Range<usize> {
        acquired_lines(n, self.reduction, self.partial_fourier)
    }

    /// Fraction of all PE lines that this sampling acquires (f in the module docs).
    pub fn acquired_fraction(&self, n: usize) -> f64 {
        self.lines(n).len() as f64 / n as f64
    }

    /// Per-pixel noise σ (one channel) of the zero-filled image of `n` PE lines:
    /// `noise_sigma · sqrt(f)`, since the lines not acquired carry no noise. What a denoiser
    /// of the shortened scan must be told.
    pub fn image_sigma(&self, n: usize) -> f32 {
        self.noise_sigma * self.acquired_fraction(n).sqrt() as f32
    }

    /// Acquire one slice (`nx × ny`, x fastest) and return the complex zero-filled image.
    pub fn acquire_complex(
        &self,
        object: &[Complex32],
        nx: usize,
        ny: usize,
        rng: &mut impl Rng,
    ) -> Vec<Complex32> {
        let mut k = object.to_vec();
        fft2c(&mut k, nx, ny, Direction::Forward);
        let (n_pe, n_ro) = match self.pe {
            PhaseEncodingDirection::Col => (ny, nx),
            PhaseEncodingDirection::Row => (nx, ny),
        };
        let lines = self.lines(n_pe);
        let idx = |pe: usize, ro: usize| match self.pe {
            PhaseEncodingDirection::Col => pe * nx + ro,
            PhaseEncodingDirection::Row => ro * nx + pe,
        };
        let noise = Normal::new(0.0f32, self.noise_sigma.max(0.0)).expect("finite sigma");
        for pe in 0..n_pe {
            if !lines.contains(&pe) {
                for ro in 0..n_ro {
                    k[idx(pe, ro)] = Complex32::new(0.0, 0.0);
                }
                continue;
            }
            // Per-line phase from motion (shift theorem) and from the odd/even ghost error.
            let mut shift = (0.0, 0.0);
            if let Some(m) = self.motion {
                if rng.gen_bool(m.line_probability.clamp(0.0, 1.0)) {
                    shift = (
                        rng.gen_range(-m.max_shift_px..=m.max_shift_px),
                        rng.gen_range(-m.max_shift_px..=m.max_shift_px),
                    );
                }
            }
            let ghost = if pe % 2 == 1 { self.ghost_phase_rad } else { 0.0 };
            for ro in 0..n_ro {
                let i = idx(pe, ro);
                let (kx, ky) =
                    ((i % nx) as f64 - (nx / 2) as f64, (i / nx) as f64 - (ny / 2) as f64);
                let phase = -2.0
                    * std::f64::consts::PI
                    * (kx * shift.0 / nx as f64 + ky * shift.1 / ny as f64)
                    + ghost as f64;
                if phase != 0.0 {
                    k[i] *= Complex32::from_polar(1.0, phase as f32);
                }
                if self.noise_sigma > 0.0 {
                    k[i] += Complex32::new(noise.sample(rng), noise.sample(rng));
                }
            }
        }
        fft2c(&mut k, nx, ny, Direction::Inverse);
        k
    }

    /// Acquire a real (magnitude) slice and return the magnitude image.
    pub fn acquire_magnitude(
        &self,
        object: &[f32],
        nx: usize,
        ny: usize,
        rng: &mut impl Rng,
    ) -> Vec<f32> {
        self.acquire_complex(&to_complex(object), nx, ny, rng).iter().map(|c| c.norm()).collect()
    }

    /// Acquire every slice of a volume (frame 0 and any further frames), in parallel; slice `k`
    /// uses its own generator seeded from `seed` and `k`, so results do not depend on threads.
    pub fn acquire_volume(&self, object: &clarity_core::Volume, seed: u64) -> clarity_core::Volume {
        use rayon::prelude::*;
        let [nx, ny, _] = object.dims;
        let mut out = object.clone();
        out.data.par_chunks_mut(nx * ny).zip(object.data.par_chunks(nx * ny)).enumerate().for_each(
            |(k, (dst, src))| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(
                    seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                dst.copy_from_slice(&self.acquire_magnitude(src, nx, ny, &mut rng));
            },
        );
        out
    }
}

/// A smooth multiplicative receive field `1 + amplitude·g(x, y, z)`, with `g` a random sum of
/// low-frequency cosines scaled to [-1, 1] over the volume: the slow shading of surface coils.
pub fn bias_field(dims: [usize; 3], amplitude: f32, rng: &mut impl Rng) -> Vec<f32> {
    let terms: Vec<([f32; 3], [f32; 3])> = (0..4)
        .map(|_| {
            let f = [
                rng.gen_range(0.0..1.2f32),
                rng.gen_range(0.0..1.2f32),
                rng.gen_range(0.0..0.8f32),
            ];
            let p = [
                rng.gen_range(0.0..std::f32::consts::TAU),
                rng.gen_range(0.0..std::f32::consts::TAU),
                rng.gen_range(0.0..std::f32::consts::TAU),
            ];
            (f, p)
        })
        .collect();
    let [nx, ny, nz] = dims;
    let mut g = Vec::with_capacity(nx * ny * nz);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let u = [i as f32 / nx as f32, j as f32 / ny as f32, k as f32 / nz.max(1) as f32];
                let v: f32 = terms
                    .iter()
                    .map(|(f, p)| {
                        (std::f32::consts::PI * (f[0] * u[0] + p[0])).cos()
                            * (std::f32::consts::PI * (f[1] * u[1] + p[1])).cos()
                            * (std::f32::consts::PI * (f[2] * u[2] + p[2])).cos()
                    })
                    .sum();
                g.push(v);
            }
        }
    }
    let m = g.iter().fold(0f32, |a, v| a.max(v.abs())).max(1e-6);
    g.iter().map(|v| 1.0 + amplitude * v / m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_lines_are_central_and_counted() {
        assert_eq!(acquired_lines(256, 0.0, 1.0), 0..256);
        let l = acquired_lines(320, 0.3, 1.0);
        assert_eq!(l.len(), 224);
        assert!(l.contains(&160), "DC line must be acquired");
        assert_eq!(l.start, 160 - 112);
        let pf = acquired_lines(256, 0.0, 0.625);
        assert_eq!(pf.len(), 160);
        assert!(pf.contains(&128));
    }
}

//! Non-local means (Buades, Coll & Morel 2005), per 2D slice.
//!
//! Each pixel becomes a weighted mean of pixels in a `(2·search + 1)²` window, weighted by
//! `exp(−max(d² − 2σ², 0) / h²)` where `d²` is the mean squared difference of the
//! `(2·patch + 1)²` patches around them, `σ` the noise level and `h = strength·σ`. Subtracting
//! the expected `2σ²` of two noisy patches (as in the IPOL reference description) keeps weights
//! high between patches that differ only by noise.

use clarity_core::Volume;
use rayon::prelude::*;

/// Parameters of [`denoise`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NlmSettings {
    /// Noise standard deviation of the image.
    pub sigma: f32,
    /// Patch half-width (1 → 3 × 3 patches).
    pub patch: usize,
    /// Search half-width (5 → 11 × 11 window).
    pub search: usize,
    /// `h / σ`.
    pub strength: f32,
}

impl NlmSettings {
    /// The usual choice for a given noise level: 3 × 3 patches, 11 × 11 search, h = 0.6·σ
    /// (the patch distance is a per-pixel mean, so h is on the scale of one pixel's noise).
    pub fn for_sigma(sigma: f32) -> Self {
        Self { sigma, patch: 1, search: 5, strength: 0.6 }
    }
}

/// Denoise every slice of frame 0.
pub fn denoise(vol: &Volume, s: &NlmSettings) -> Volume {
    let [nx, ny, _] = vol.dims;
    let plane = nx * ny;
    let mut out = vol.clone();
    let h2 = (s.strength * s.sigma).powi(2).max(1e-12);
    let two_sigma2 = 2.0 * s.sigma * s.sigma;
    let (p, r) = (s.patch as i64, s.search as i64);
    out.data[..plane * vol.dims[2]].par_chunks_mut(plane).enumerate().for_each(|(k, dst)| {
        let src = vol.slice(k);
        let at = |x: i64, y: i64| -> f32 {
            let xx = x.clamp(0, nx as i64 - 1) as usize;
            let yy = y.clamp(0, ny as i64 - 1) as usize;
            src[yy * nx + xx]
        };
        let n_patch = ((2 * p + 1) * (2 * p + 1)) as f32;
        for y in 0..ny as i64 {
            for x in 0..nx as i64 {
                let (mut num, mut den) = (0f32, 0f32);
                for dy in -r..=r {
                    for dx in -r..=r {
                        let mut d2 = 0f32;
                        for py in -p..=p {
                            for px in -p..=p {
                                let diff = at(x + px, y + py) - at(x + dx + px, y + dy + py);
                                d2 += diff * diff;
                            }
                        }
                        let d2 = (d2 / n_patch - two_sigma2).max(0.0);
                        let w = (-d2 / h2).exp();
                        num += w * at(x + dx, y + dy);
                        den += w;
                    }
                }
                dst[y as usize * nx + x as usize] = num / den;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_noise_from_a_flat_image_and_keeps_an_edge() {
        let n = 32;
        // Deterministic pseudo-noise of σ ≈ 5 on a step edge 50 → 150.
        let data: Vec<f32> = (0..n * n)
            .map(|i| {
                let base = if i % n < n / 2 { 50.0 } else { 150.0 };
                let h = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32
                    / (1u64 << 24) as f32;
                base + (h - 0.5) * 17.3
            })
            .collect();
        let v = Volume::new([n, n, 1], data.clone()).unwrap();
        let d = denoise(&v, &NlmSettings::for_sigma(5.0));
        let err = |img: &[f32]| {
            img.iter()
                .enumerate()
                .map(|(i, x)| (x - if i % n < n / 2 { 50.0 } else { 150.0 }).powi(2))
                .sum::<f32>()
                / (n * n) as f32
        };
        assert!(err(&d.data) < 0.3 * err(&data), "{} vs {}", err(&d.data), err(&data));
    }
}

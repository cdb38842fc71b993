//! # clarity-metrics
//!
//! ## Overview
//! Image-quality metrics of a test volume against a reference, computed only inside a mask
//! (the reference's foreground), slice by slice where a neighbourhood is needed:
//! - **PSNR** (dB) with the data range of the reference inside the mask (max − min);
//! - **SSIM** (Wang et al. 2004: Gaussian window σ = 1.5 px over 11 × 11, K1 = 0.01,
//!   K2 = 0.03, same data range), averaged over masked pixels of each 2D slice;
//! - **NRMSE**: RMSE divided by the reference's RMS inside the mask.
//!
//! Away from the image edge these equal scikit-image's `structural_similarity(gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False)` and its PSNR/NRMSE to 1e-9 on real slices
//! (`tests/golden.rs`). Within 5 pixels of the edge the window is renormalised over the pixels
//! inside the image, where scikit-image mirrors the image instead.
//!
//! And classification metrics ([`classification`]): a confusion matrix that accumulates over
//! batches, accuracy, macro-/micro-F1, per-class sensitivity, specificity, precision and F1.

pub mod classification;

use clarity_core::Volume;
use serde::Serialize;

/// The three metrics of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    pub psnr_db: f64,
    pub ssim: f64,
    pub nrmse: f64,
}

/// Metrics of `test` against `reference` inside `mask` (same dims; frame 0).
pub fn quality(test: &Volume, reference: &Volume, mask: &[bool]) -> Quality {
    assert_eq!(test.dims, reference.dims, "volumes must share a grid");
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    let (mut se, mut sr, mut n) = (0f64, 0f64, 0usize);
    for ((t, r), m) in test.data.iter().zip(&reference.data).zip(mask) {
        if *m {
            let (t, r) = (*t as f64, *r as f64);
            lo = lo.min(r);
            hi = hi.max(r);
            se += (t - r) * (t - r);
            sr += r * r;
            n += 1;
        }
    }
    let range = (hi - lo).max(1e-12);
    let mse = se / n.max(1) as f64;
    Quality {
        psnr_db: if mse == 0.0 { f64::INFINITY } else { 10.0 * (range * range / mse).log10() },
        ssim: ssim(test, reference, mask, range),
        nrmse: (mse / (sr / n.max(1) as f64).max(1e-24)).sqrt(),
    }
}

/// Gaussian-weighted local statistics SSIM, averaged over masked pixels.
fn ssim(test: &Volume, reference: &Volume, mask: &[bool], range: f64) -> f64 {
    let [nx, ny, nz] = reference.dims;
    let (c1, c2) = ((0.01 * range).powi(2), (0.03 * range).powi(2));
    let w: Vec<f64> = (-5i32..=5).map(|d| (-(d * d) as f64 / (2.0 * 1.5 * 1.5)).exp()).collect();
    // One separable pass along x or y, normalised by the weight that falls inside the image.
    let pass = |img: &[f64], along_x: bool| -> Vec<f64> {
        let mut out = vec![0f64; nx * ny];
        for y in 0..ny {
            for x in 0..nx {
                let (mut s, mut ws) = (0.0, 0.0);
                for (d, wd) in w.iter().enumerate() {
                    let (xx, yy) = if along_x {
                        (x as i64 + d as i64 - 5, y as i64)
                    } else {
                        (x as i64, y as i64 + d as i64 - 5)
                    };
                    if xx >= 0 && yy >= 0 && (xx as usize) < nx && (yy as usize) < ny {
                        s += wd * img[yy as usize * nx + xx as usize];
                        ws += wd;
                    }
                }
                out[y * nx + x] = s / ws;
            }
        }
        out
    };
    let blur = |img: &[f64]| pass(&pass(img, true), false);
    let (mut total, mut n) = (0f64, 0usize);
    for k in 0..nz {
        let a: Vec<f64> = test.slice(k).iter().map(|v| *v as f64).collect();
        let b: Vec<f64> = reference.slice(k).iter().map(|v| *v as f64).collect();
        let m = &mask[k * nx * ny..(k + 1) * nx * ny];
        if !m.iter().any(|v| *v) {
            continue;
        }
        let prod = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(x, y)| x * y).collect::<Vec<f64>>();
        let (ma, mb) = (blur(&a), blur(&b));
        let (saa, sbb, sab) = (blur(&prod(&a, &a)), blur(&prod(&b, &b)), blur(&prod(&a, &b)));
        for i in 0..nx * ny {
            if m[i] {
                let va = saa[i] - ma[i] * ma[i];
                let vb = sbb[i] - mb[i] * mb[i];
                let cov = sab[i] - ma[i] * mb[i];
                total += ((2.0 * ma[i] * mb[i] + c1) * (2.0 * cov + c2))
                    / ((ma[i] * ma[i] + mb[i] * mb[i] + c1) * (va + vb + c2));
                n += 1;
            }
        }
    }
    total / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(data: Vec<f32>, n: usize) -> Volume {
        Volume::new([n, n, 1], data).unwrap()
    }

    #[test]
    fn identical_images_are_perfect() {
        let n = 16;
        let a = vol((0..n * n).map(|i| (i % 7) as f32).collect(), n);
        let q = quality(&a, &a, &vec![true; n * n]);
        assert!(q.psnr_db.is_infinite() && (q.ssim - 1.0).abs() < 1e-12 && q.nrmse == 0.0);
    }

    #[test]
    fn psnr_and_nrmse_match_hand_computation() {
        // Reference 0..=10 (range 10), test off by 1 everywhere: MSE 1, PSNR 20 dB.
        let n = 11;
        let r: Vec<f32> = (0..n * n).map(|i| (i % n) as f32).collect();
        let t: Vec<f32> = r.iter().map(|v| v + 1.0).collect();
        let q = quality(&vol(t, n), &vol(r.clone(), n), &vec![true; n * n]);
        assert!((q.psnr_db - 20.0).abs() < 1e-9);
        let rms = (r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / (n * n) as f64).sqrt();
        assert!((q.nrmse - 1.0 / rms).abs() < 1e-12);
        // A constant offset keeps structure: SSIM stays high but below 1.
        assert!(q.ssim < 1.0 && q.ssim > 0.9);
    }

    #[test]
    fn noise_lowers_ssim_and_psnr() {
        let n = 32;
        let r: Vec<f32> = (0..n * n).map(|i| if (i % n) < n / 2 { 10.0 } else { 100.0 }).collect();
        let noisy: Vec<f32> =
            r.iter().enumerate().map(|(i, v)| v + if i % 3 == 0 { 20.0 } else { -10.0 }).collect();
        let a = quality(&vol(noisy, n), &vol(r.clone(), n), &vec![true; n * n]);
        assert!(a.ssim < 0.9 && a.psnr_db < 20.0, "{a:?}");
    }
}

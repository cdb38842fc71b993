//! Centred, orthonormal 2D FFTs of one slice.
//!
//! Conventions used throughout the crate: a slice is `ny` rows of `nx` samples, x fastest (as
//! [`clarity_core::Volume`] stores it). k-space is *centred*: the DC sample sits at
//! `(nx / 2, ny / 2)`. Both directions are scaled by `1/sqrt(nx·ny)`, so the transform is
//! unitary: white noise of standard deviation σ per k-space sample becomes white noise of σ per
//! image pixel, which is what makes the noise bookkeeping in [`crate::acquisition`] exact.

use rustfft::num_complex::Complex32;
use rustfft::FftPlanner;

pub use rustfft::num_complex::Complex32 as C32;

/// Forward or inverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Image → k-space.
    Forward,
    /// k-space → image.
    Inverse,
}

/// In-place centred unitary 2D FFT of an `nx × ny` slice (x fastest).
pub fn fft2c(data: &mut [Complex32], nx: usize, ny: usize, dir: Direction) {
    assert_eq!(data.len(), nx * ny, "slice buffer is not nx × ny");
    let mut planner = FftPlanner::<f32>::new();
    let (fx, fy) = match dir {
        Direction::Forward => (planner.plan_fft_forward(nx), planner.plan_fft_forward(ny)),
        Direction::Inverse => (planner.plan_fft_inverse(nx), planner.plan_fft_inverse(ny)),
    };
    // Centring: ifftshift before, fftshift after. For the even sizes MR uses these are the
    // same rotation; for odd sizes they differ by one sample, so both are done explicitly.
    shift_rows(data, nx, ny, false);
    for row in data.chunks_exact_mut(nx) {
        fx.process(row);
    }
    let mut col = vec![Complex32::new(0.0, 0.0); ny];
    for x in 0..nx {
        for y in 0..ny {
            col[y] = data[y * nx + x];
        }
        fy.process(&mut col);
        for y in 0..ny {
            data[y * nx + x] = col[y];
        }
    }
    shift_rows(data, nx, ny, true);
    let scale = 1.0 / ((nx * ny) as f32).sqrt();
    for v in data.iter_mut() {
        *v *= scale;
    }
}

/// 2D fftshift (`forward == true`) or ifftshift of an `nx × ny` buffer.
fn shift_rows(data: &mut [Complex32], nx: usize, ny: usize, forward: bool) {
    let (sx, sy) = if forward { (nx / 2, ny / 2) } else { (nx.div_ceil(2), ny.div_ceil(2)) };
    for row in data.chunks_exact_mut(nx) {
        row.rotate_right(sx % nx.max(1));
    }
    data.rotate_right((sy % ny.max(1)) * nx);
}

/// A real slice as complex samples.
pub fn to_complex(values: &[f32]) -> Vec<Complex32> {
    values.iter().map(|&v| Complex32::new(v, 0.0)).collect()
}

/// Centred k-space of a real slice.
pub fn kspace_of(values: &[f32], nx: usize, ny: usize) -> Vec<Complex32> {
    let mut k = to_complex(values);
    fft2c(&mut k, nx, ny, Direction::Forward);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_to_float_precision_even_and_odd() {
        for (nx, ny) in [(16, 12), (15, 9), (64, 64)] {
            let orig: Vec<Complex32> = (0..nx * ny)
                .map(|i| Complex32::new((i as f32 * 0.37).sin() * 100.0, (i as f32 * 0.11).cos()))
                .collect();
            let mut d = orig.clone();
            fft2c(&mut d, nx, ny, Direction::Forward);
            fft2c(&mut d, nx, ny, Direction::Inverse);
            for (a, b) in orig.iter().zip(&d) {
                assert!((a - b).norm() < 1e-4, "{nx}x{ny}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn dc_is_at_centre_and_energy_is_preserved() {
        let (nx, ny) = (8, 6);
        let img = vec![2.0f32; nx * ny];
        let k = kspace_of(&img, nx, ny);
        let dc = k[(ny / 2) * nx + nx / 2];
        assert!((dc.re - 2.0 * ((nx * ny) as f32).sqrt()).abs() < 1e-4);
        let e_img: f32 = img.iter().map(|v| v * v).sum();
        let e_k: f32 = k.iter().map(|v| v.norm_sqr()).sum();
        assert!((e_img - e_k).abs() / e_img < 1e-5);
    }
}

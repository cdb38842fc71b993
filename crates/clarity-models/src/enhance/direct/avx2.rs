//! The AVX2 + FMA inner loops of the direct convolution (x86-64 only; the caller checks the
//! CPU features at run time).

use std::arch::x86_64::*;

use super::BLOCK;

/// Floating-point operations per round of [`fma_chains`]: 12 FMAs × 8 lanes × 2.
pub(super) const FLOPS_PER_ROUND: f64 = 12.0 * 8.0 * 2.0;

/// `rounds` rounds of 12 independent FMA chains (enough to cover the latency of two FMA
/// pipes); returns a value that depends on all of them so none is optimised away.
///
/// # Safety
/// AVX2 and FMA must be available.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn fma_chains(rounds: u64) -> f32 {
    let mut acc = [_mm256_set1_ps(1.0); 12];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..rounds {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let sum = acc.iter().fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    lanes.iter().sum()
}

/// Sizes of one band: output rows and width, row strides (floats) of the input and output
/// planes, channels, tap spacing.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub n_rows: usize,
    pub w: usize,
    pub src_stride: usize,
    pub dst_stride: usize,
    pub ci: usize,
    pub co: usize,
    pub d: usize,
}

/// Every output pixel of the band, one 16-channel block at a time (so the block's packed
/// weights stay in L1 across the band), 6 pixels per kernel call with 4, 2 and 1 for the
/// rest of a row.
///
/// # Safety
/// AVX2 and FMA must be available; the pointers must hold the layouts [`super::run`]
/// describes.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn conv_rows(
    padded: *const f32,
    packed: *const f32,
    bias: *const f32,
    dst: *mut f32,
    s: Shape,
    relu: bool,
) {
    let k = 9 * s.ci;
    for j in 0..s.co / BLOCK {
        let weights = packed.add(j * k * BLOCK);
        let b = [_mm256_loadu_ps(bias.add(j * BLOCK)), _mm256_loadu_ps(bias.add(j * BLOCK + 8))];
        for r in 0..s.n_rows {
            let src_row = padded.add(r * s.src_stride);
            let dst_row = dst.add(r * s.dst_stride + j * BLOCK);
            let mut x = 0;
            while x + 6 <= s.w {
                tile::<6>(src_row.add(x * s.ci), weights, b, dst_row.add(x * s.co), s, relu);
                x += 6;
            }
            if x + 4 <= s.w {
                tile::<4>(src_row.add(x * s.ci), weights, b, dst_row.add(x * s.co), s, relu);
                x += 4;
            }
            if x + 2 <= s.w {
                tile::<2>(src_row.add(x * s.ci), weights, b, dst_row.add(x * s.co), s, relu);
                x += 2;
            }
            if x < s.w {
                tile::<1>(src_row.add(x * s.ci), weights, b, dst_row.add(x * s.co), s, relu);
            }
        }
    }
}

/// A 1-channel convolution of every pixel of the band: the 9·C products of each pixel summed
/// in two 8-lane accumulators (taps alternate between them), then across lanes, plus `bias`.
///
/// # Safety
/// AVX2 and FMA must be available; `src` is the top-left tap of output (0, 0) with rows
/// `s.src_stride` apart and every tap of the band inside its buffer; `weights` holds
/// `[9, s.ci]` with `s.ci % 8 == 0`; `dst` holds `[s.n_rows, s.w]`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tail_rows(
    src: *const f32,
    weights: *const f32,
    bias: f32,
    dst: *mut f32,
    s: Shape,
) {
    for r in 0..s.n_rows {
        for x in 0..s.w {
            let mut acc = [_mm256_setzero_ps(); 2];
            for t in 0..9 {
                let (ky, kx) = (t / 3, t % 3);
                let tap = src.add((r + ky * s.d) * s.src_stride + (x + kx * s.d) * s.ci);
                let wt = weights.add(t * s.ci);
                for i in (0..s.ci).step_by(8) {
                    let a = &mut acc[t % 2];
                    *a = _mm256_fmadd_ps(
                        _mm256_loadu_ps(tap.add(i)),
                        _mm256_loadu_ps(wt.add(i)),
                        *a,
                    );
                }
            }
            let v = _mm256_add_ps(acc[0], acc[1]);
            let v = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let v = _mm_add_ps(v, _mm_movehl_ps(v, v));
            let v = _mm_add_ss(v, _mm_shuffle_ps(v, v, 1));
            *dst.add(r * s.dst_stride + x) = _mm_cvtss_f32(v) + bias;
        }
    }
}

/// `P` consecutive output pixels × one 16-channel block. `src` points at the first pixel's
/// top-left tap in the padded band, `dst` at its first output channel of the block.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const P: usize>(
    src: *const f32,
    weights: *const f32,
    bias: [__m256; 2],
    dst: *mut f32,
    s: Shape,
    relu: bool,
) {
    let mut acc = [bias; P];
    let mut wt = weights;
    for ky in 0..3 {
        for kx in 0..3 {
            let tap = src.add(ky * s.d * s.src_stride + kx * s.d * s.ci);
            for i in 0..s.ci {
                let w0 = _mm256_loadu_ps(wt);
                let w1 = _mm256_loadu_ps(wt.add(8));
                wt = wt.add(BLOCK);
                for (p, a) in acc.iter_mut().enumerate() {
                    let v = _mm256_broadcast_ss(&*tap.add(p * s.ci + i));
                    a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                    a[1] = _mm256_fmadd_ps(v, w1, a[1]);
                }
            }
        }
    }
    let zero = _mm256_setzero_ps();
    for (p, a) in acc.iter().enumerate() {
        let (lo, hi) = if relu {
            (_mm256_max_ps(a[0], zero), _mm256_max_ps(a[1], zero))
        } else {
            (a[0], a[1])
        };
        _mm256_storeu_ps(dst.add(p * s.co), lo);
        _mm256_storeu_ps(dst.add(p * s.co + 8), hi);
    }
}

/// Adds the weight gradient of one band into `grad` (`[9·ci, co]`, rows ordered (ky, kx, ci)):
/// for every tap, Σ over the band's output pixels of that tap's input value × the pixel's
/// output gradient. Row by row, so that a row of `dz` and of the input stay in L1 while the
/// 9 taps × c_in inputs sweep them (taps outermost, so one padded input row serves every
/// output block); 6 input channels × 16 output channels per register tile
/// (4, 2 and 1 for the rest of c_in).
///
/// Here `s.src_stride` is the padded input's row stride and `s.dst_stride` that of `dz`.
///
/// # Safety
/// AVX2 and FMA must be available; `padded` holds the band with a border of `s.d` (pixel
/// (r, x) of it is the top-left tap of output (r, x)), `dz` `[s.n_rows, s.w, s.co]` rows
/// `s.dst_stride` apart, `grad` `[9·s.ci, s.co]`, `s.co % 16 == 0`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn weight_grad_rows(
    padded: *const f32,
    dz: *const f32,
    grad: *mut f32,
    s: Shape,
) {
    for r in 0..s.n_rows {
        for t in 0..9 {
            let (ky, kx) = (t / 3, t % 3);
            let taps = padded.add((r + ky * s.d) * s.src_stride + kx * s.d * s.ci);
            for j in 0..s.co / BLOCK {
                let dz_row = dz.add(r * s.dst_stride + j * BLOCK);
                let g = grad.add(t * s.ci * s.co + j * BLOCK);
                let mut i = 0;
                while i + 6 <= s.ci {
                    weight_tile::<6>(taps.add(i), dz_row, g.add(i * s.co), s);
                    i += 6;
                }
                if i + 4 <= s.ci {
                    weight_tile::<4>(taps.add(i), dz_row, g.add(i * s.co), s);
                    i += 4;
                }
                if i + 2 <= s.ci {
                    weight_tile::<2>(taps.add(i), dz_row, g.add(i * s.co), s);
                    i += 2;
                }
                if i < s.ci {
                    weight_tile::<1>(taps.add(i), dz_row, g.add(i * s.co), s);
                }
            }
        }
    }
}

/// `Q` input channels × one 16-channel block of the weight gradient, summed over one row of
/// output pixels: `taps` points at pixel 0's tap value of the first channel, `dz` at pixel 0's
/// gradient of the block's first channel, `grad` at the tile's first weight.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn weight_tile<const Q: usize>(taps: *const f32, dz: *const f32, grad: *mut f32, s: Shape) {
    let mut acc = [[_mm256_setzero_ps(); 2]; Q];
    for x in 0..s.w {
        let d0 = _mm256_loadu_ps(dz.add(x * s.co));
        let d1 = _mm256_loadu_ps(dz.add(x * s.co + 8));
        let px = taps.add(x * s.ci);
        for (q, a) in acc.iter_mut().enumerate() {
            let v = _mm256_broadcast_ss(&*px.add(q));
            a[0] = _mm256_fmadd_ps(v, d0, a[0]);
            a[1] = _mm256_fmadd_ps(v, d1, a[1]);
        }
    }
    for (q, a) in acc.iter().enumerate() {
        let row = grad.add(q * s.co);
        _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), a[0]));
        _mm256_storeu_ps(row.add(8), _mm256_add_ps(_mm256_loadu_ps(row.add(8)), a[1]));
    }
}

//! The network's output taken apart at its last layer, so it can be read out again with other
//! weights.
//!
//! The tail is one linear 3×3 convolution from C feature channels to the residual, so the
//! enhanced slice is a sum of C+2 images:
//!
//! `f = s · (centre + Σ_c t_c + bias)`,
//!
//! `s` the slab's normalisation scale, `centre` the normalised input slice and `t_c` what
//! feature channel `c` contributes through its 3×3 kernel (averaged over the flip ensemble).
//! [`SliceParts`] holds those images for one slice; a [`Readout`] weighs them. The network's
//! own readout has every weight 1; the consistency step (`consistency/`) fits other weights
//! per volume without the truth.

/// One slice's output, taken apart (all planes in the volume's own orientation, x fastest).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceParts {
    /// The slab's normalisation scale (intensity units per network unit).
    pub scale: f32,
    /// The normalised input slice (the residual's base).
    pub centre: Vec<f32>,
    /// `[C, plane]`: each feature channel's contribution through the tail, normalised units.
    pub channels: Vec<f32>,
}

impl SliceParts {
    pub fn plane(&self) -> usize {
        self.centre.len()
    }

    pub fn n_channels(&self) -> usize {
        self.channels.len() / self.centre.len().max(1)
    }
}

/// Weights over a slice's parts: `s · (centre_weight · centre + Σ_c gains[c] · t_c + bias)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    pub centre_weight: f32,
    pub gains: Vec<f32>,
    /// Normalised units.
    pub bias: f32,
}

impl Readout {
    /// The network's own tail: every weight 1 and its bias.
    pub fn network(channels: usize, tail_bias: f32) -> Self {
        Self { centre_weight: 1.0, gains: vec![1.0; channels], bias: tail_bias }
    }

    /// The readout in intensity units, not clamped (a negative value is the caller's to clip).
    pub fn apply(&self, parts: &SliceParts) -> Vec<f32> {
        let plane = parts.plane();
        assert_eq!(parts.n_channels(), self.gains.len(), "readout and parts disagree on C");
        let mut out: Vec<f32> =
            parts.centre.iter().map(|c| self.centre_weight * c + self.bias).collect();
        for (g, t) in self.gains.iter().zip(parts.channels.chunks(plane)) {
            out.iter_mut().zip(t).for_each(|(o, v)| *o += g * v);
        }
        out.iter_mut().for_each(|o| *o *= parts.scale);
        out
    }
}

/// Each channel's contribution through a one-output 3×3 convolution, zero padding, left
/// channels-last (the parts path sums flips and transposes in that layout).
///
/// # Shapes
/// `features`: `[h, w, C]` (channels-last), `kernel`: `[C, 3, 3]` → `[h, w, C]`.
pub fn tail_channels_last(features: &[f32], h: usize, w: usize, kernel: &[f32]) -> Vec<f32> {
    use rayon::prelude::*;
    let c = kernel.len() / 9;
    assert_eq!(features.len(), h * w * c, "features are not [{h}, {w}, {c}]");
    // Tap-major kernel so the innermost loop runs over contiguous channels (vectorises).
    let mut taps = vec![0f32; 9 * c];
    for ch in 0..c {
        for t in 0..9 {
            taps[t * c + ch] = kernel[ch * 9 + t];
        }
    }
    let mut last = vec![0f32; h * w * c]; // [h, w, C]
    last.par_chunks_mut(w * c).enumerate().for_each(|(y, row)| {
        for ky in 0..3 {
            let Some(sy) = (y + ky).checked_sub(1).filter(|&sy| sy < h) else { continue };
            for x in 0..w {
                let dst = &mut row[x * c..(x + 1) * c];
                for kx in 0..3 {
                    let Some(sx) = (x + kx).checked_sub(1).filter(|&sx| sx < w) else {
                        continue;
                    };
                    let src = &features[(sy * w + sx) * c..(sy * w + sx + 1) * c];
                    let k = &taps[(ky * 3 + kx) * c..(ky * 3 + kx + 1) * c];
                    for ((d, f), k) in dst.iter_mut().zip(src).zip(k) {
                        *d += f * k;
                    }
                }
            }
        }
    });
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`tail_channels_last`] as one plane per channel, `[C, h, w]`.
    fn tail_channels(features: &[f32], h: usize, w: usize, kernel: &[f32]) -> Vec<f32> {
        let c = kernel.len() / 9;
        let last = tail_channels_last(features, h, w, kernel);
        let mut out = vec![0f32; c * h * w];
        for (p, px) in last.chunks(c).enumerate() {
            for (ch, v) in px.iter().enumerate() {
                out[ch * h * w + p] = *v;
            }
        }
        out
    }

    #[test]
    fn the_channels_sum_to_the_convolution_and_the_network_readout_adds_centre_and_bias() {
        let (h, w, c) = (5, 4, 3);
        let features: Vec<f32> = (0..h * w * c).map(|i| ((i * 7) % 11) as f32 / 5.0).collect();
        let kernel: Vec<f32> = (0..9 * c).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let t = tail_channels(&features, h, w, &kernel);
        // The direct convolution at a corner (taps outside the image are zero) and inside.
        let conv = |y: isize, x: isize| -> f32 {
            let mut s = 0.0;
            for ky in 0..3isize {
                for kx in 0..3isize {
                    let (sy, sx) = (y + ky - 1, x + kx - 1);
                    if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                        continue;
                    }
                    for ch in 0..c {
                        s += kernel[ch * 9 + (ky * 3 + kx) as usize]
                            * features[((sy as usize) * w + sx as usize) * c + ch];
                    }
                }
            }
            s
        };
        for (y, x) in [(0, 0), (2, 1), (4, 3)] {
            let sum: f32 = (0..c).map(|ch| t[ch * h * w + y * w + x]).sum();
            assert!((sum - conv(y as isize, x as isize)).abs() < 1e-4, "({y}, {x})");
        }
        let parts = SliceParts {
            scale: 2.0,
            centre: (0..h * w).map(|i| i as f32).collect(),
            channels: t.clone(),
        };
        let out = Readout::network(c, 0.5).apply(&parts);
        let want = 2.0 * (7.0 + 0.5 + conv(1, 3));
        assert!((out[w + 3] - want).abs() < 1e-3, "{} vs {want}", out[w + 3]);
    }
}

//! The noise level of a scan, from the scan itself.

use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_mr::band::readout_edge_sigma;
use clarity_mr::fastscan::foreground_threshold;

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

/// Where a noise estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigmaSource {
    /// The Rayleigh mode of the background air ([`background_sigma`]).
    BackgroundAir,
    /// The outermost 5 % of the readout frequencies
    /// ([`clarity_mr::band::readout_edge_sigma`]): used when there is too little air.
    ReadoutEdge,
}

/// The per-pixel noise σ of frame 0 of `vol` (phase encoding along `pe`): from the background
/// air where there is enough of it, else from the edge of the readout spectrum. `None` when
/// that edge is all but empty (under 1/1000 of the 99th percentile: a scan interpolated along
/// the readout, whose outer k-space was zero-filled, says nothing about its noise there, and a
/// near-zero σ would make the consistency step copy the scan's noise back).
pub fn scan_sigma(vol: &Volume, pe: PhaseEncodingDirection) -> Option<(f32, SigmaSource)> {
    if let Some(s) = background_sigma(vol) {
        return Some((s, SigmaSource::BackgroundAir));
    }
    let [nx, ny, nz] = vol.dims;
    let frame0 = &vol.data[..nx * ny * nz];
    let floor = 1e-3 * clarity_core::percentile(frame0, 0.99, |_| true).unwrap_or(0.0);
    readout_edge_sigma(frame0, nx, ny, pe, 0.05)
        .filter(|&s| s > floor)
        .map(|s| (s, SigmaSource::ReadoutEdge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

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
        let full = Volume::new([n, n, 1], full).unwrap();
        assert_eq!(background_sigma(&full), None);
        // ... where the readout's edge takes over (that image's noise is white: σ 5).
        let (est, source) = scan_sigma(&full, PhaseEncodingDirection::Col).unwrap();
        assert_eq!(source, SigmaSource::ReadoutEdge);
        assert!((est - sigma).abs() < 0.15 * sigma, "σ {est} vs {sigma} from the readout edge");
        assert_eq!(
            scan_sigma(&vol, PhaseEncodingDirection::Col).unwrap().1,
            SigmaSource::BackgroundAir
        );
        // Tissue everywhere and nothing at the readout's k-space edge (smooth, periodic, as a
        // scan zero-filled along the readout): no estimate.
        let tau = std::f32::consts::TAU;
        let smooth: Vec<f32> = (0..n * n)
            .map(|i| 100.0 + 20.0 * (tau * 3.0 * (i % n) as f32 / n as f32).sin())
            .collect();
        let smooth = Volume::new([n, n, 1], smooth).unwrap();
        assert_eq!(scan_sigma(&smooth, PhaseEncodingDirection::Col), None);
    }
}

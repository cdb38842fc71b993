use super::*;
use clarity_mr::acquisition::acquired_lines;

#[test]
fn probe_indices_are_spread_and_distinct() {
    assert_eq!(probe_indices(5, 8), vec![0, 1, 2, 3, 4]);
    assert_eq!(probe_indices(20, 4), vec![2, 7, 12, 17]);
    assert_eq!(probe_indices(3, 2), vec![0, 2]);
}

/// A smooth object with a sharp edge and its shortened noisy scan, Gaussian noise in the band.
fn scan(sigma: f32) -> (Volume, Volume, ScanNoise) {
    let (nx, ny, nz) = (48, 48, 4);
    let pe = PhaseEncodingDirection::Col;
    let lines = acquired_lines(ny, 0.25, 1.0);
    let mut truth = vec![0f32; nx * ny * nz];
    for (i, v) in truth.iter_mut().enumerate() {
        let (x, y) = ((i % nx) as f32, ((i / nx) % ny) as f32);
        let r2 = (x - 24.0).powi(2) + (y - 24.0).powi(2);
        *v = if r2 < 300.0 { 100.0 + 20.0 * (0.5 * x).sin() } else { 0.0 };
    }
    let mut rng = StdRng::seed_from_u64(9);
    let mut lr = vec![0f32; nx * ny * nz];
    for k in 0..nz {
        let t = &truth[k * nx * ny..(k + 1) * nx * ny];
        let band = project_to_band(t, nx, ny, pe, &lines);
        let n = band_noise(nx, ny, pe, &lines, sigma, &mut rng);
        for p in 0..nx * ny {
            lr[k * nx * ny + p] = band[p] + n[p];
        }
    }
    let t = Volume::new([nx, ny, nz], truth).unwrap();
    let y = Volume::new([nx, ny, nz], lr).unwrap();
    (t, y, ScanNoise { sigma_pixel: sigma, lines, pe })
}

fn in_band_error(a: &Volume, t: &Volume, noise: &ScanNoise) -> f64 {
    let [nx, ny, nz] = a.dims;
    (0..nz)
        .map(|k| {
            let d: Vec<f32> = a.slice(k).iter().zip(t.slice(k)).map(|(x, y)| x - y).collect();
            project_to_band(&d, nx, ny, noise.pe, &noise.lines)
                .iter()
                .map(|v| (*v as f64).powi(2))
                .sum::<f64>()
        })
        .sum()
}

/// A one-channel "network" `f = y + t(y)` in parts (scale 1, no bias).
fn parts_of(
    t: impl Fn(&[f32], usize) -> Vec<f32>,
) -> impl FnMut(&Volume, &[usize], &mut dyn FnMut(usize, SliceParts)) {
    move |v: &Volume, slices: &[usize], sink: &mut dyn FnMut(usize, SliceParts)| {
        for (i, &k) in slices.iter().enumerate() {
            let y = v.slice(k).to_vec();
            let channels = t(&y, k);
            sink(i, SliceParts { scale: 1.0, centre: y, channels });
        }
    }
}

/// The residual `blur(y) − y` of a 5×5 box blur (edges clamped): with [`parts_of`], an
/// over-smoothing "network".
fn box_blur_residual(nx: usize, ny: usize) -> impl Fn(&[f32], usize) -> Vec<f32> {
    move |y: &[f32], _k: usize| -> Vec<f32> {
        (0..nx * ny)
            .map(|p| {
                let (x0, y0) = ((p % nx) as isize, (p / nx) as isize);
                let mut s = 0.0;
                for dy in -2..=2isize {
                    for dx in -2..=2isize {
                        let (x, yy) = (
                            (x0 + dx).clamp(0, nx as isize - 1),
                            (y0 + dy).clamp(0, ny as isize - 1),
                        );
                        s += y[yy as usize * nx + x as usize];
                    }
                }
                s / 25.0 - y[p]
            })
            .collect()
    }
}

/// Run a parts network over the whole volume with `readout`, then the consistency output.
fn outputs(
    lr: &Volume,
    noise: &ScanNoise,
    own: &Readout,
    fitted: &Readout,
    net: &mut PartsNetwork<'_>,
) -> (Volume, Volume) {
    let [nx, ny, nz] = lr.dims;
    let all: Vec<usize> = (0..nz).collect();
    let (mut f, mut out) = (lr.clone(), lr.clone());
    net(lr, &all, &mut |k, parts| {
        let (a, b) = (own.apply(&parts), fitted.apply(&parts));
        out.data[k * nx * ny..(k + 1) * nx * ny].copy_from_slice(&combine(&a, &b, nx, ny, noise));
        f.data[k * nx * ny..(k + 1) * nx * ny].copy_from_slice(&a);
    });
    (f, out)
}

/// A 5×5 box blur: an over-smoothing "network". SURE re-weighs it to an in-band error no
/// worse than the best mix with the measured band chosen with the truth (the family it fits
/// contains every such mix), and well below the network's own.
#[test]
fn sure_readout_beats_the_network_and_matches_the_best_truth_chosen_mix() {
    let (truth, lr, noise) = scan(4.0);
    let (nx, ny) = (truth.dims[0], truth.dims[1]);
    let own = Readout::network(1, 0.0);
    let mut net = parts_of(box_blur_residual(nx, ny));
    let FittedReadout { readout: fitted, report, .. } =
        fit(&lr, &noise, &SureSettings::default(), &own, &mut net);
    let (f, out) = outputs(&lr, &noise, &own, &fitted, &mut net);
    let (e_net, e_out) = (in_band_error(&f, &truth, &noise), in_band_error(&out, &truth, &noise));
    assert!(e_out < 0.8 * e_net, "SURE readout {e_out} vs network {e_net}");
    assert!(report.risk_fitted < report.risk_network && report.estimated_gain_db() > 0.5);
    // The truth-chosen mix f + α P(y − f) over a grid of α.
    let mix = |a: f32| {
        let mut o = f.clone();
        for (k, slice) in o.data.chunks_mut(nx * ny).enumerate() {
            let d: Vec<f32> = lr.slice(k).iter().zip(f.slice(k)).map(|(x, y)| x - y).collect();
            let back = project_to_band(&d, nx, ny, noise.pe, &noise.lines);
            slice.iter_mut().zip(&back).for_each(|(s, b)| *s += a * b);
        }
        in_band_error(&o, &truth, &noise)
    };
    let best = (0..=20).map(|i| mix(i as f32 / 20.0)).fold(f64::INFINITY, f64::min);
    assert!(e_out < 1.05 * best, "SURE readout {e_out} vs best truth-chosen mix {best}");
}

/// A network that returns exactly the noise-free band (whatever its input) has nothing to
/// gain from re-weighing: the fit keeps its own readout, near enough.
#[test]
fn a_perfect_denoiser_keeps_its_readout() {
    let (truth, lr, noise) = scan(4.0);
    let [nx, ny, _] = truth.dims;
    let clean = truth.clone();
    let (pe, lines) = (noise.pe, noise.lines.clone());
    let mut net = parts_of(move |y: &[f32], k: usize| {
        let band = project_to_band(clean.slice(k), nx, ny, pe, &lines);
        band.iter().zip(y).map(|(b, v)| b - v).collect()
    });
    let own = Readout::network(1, 0.0);
    let FittedReadout { readout: fitted, report, .. } =
        fit(&lr, &noise, &SureSettings::default(), &own, &mut net);
    assert!(
        (fitted.gains[0] - 1.0).abs() < 0.1 && (fitted.centre_weight - 1.0).abs() < 0.1,
        "a perfect denoiser re-weighed: {fitted:?}"
    );
    // Both risks are ≈ 0 (estimates, so either sign); the fit must not claim a gain.
    let sigma2 = (noise.sigma_pixel as f64).powi(2);
    assert!(report.risk_network.abs() < 0.05 * sigma2, "{report:?}");
    assert!(report.risk_network - report.risk_fitted < 0.01 * sigma2, "{report:?}");
}

/// A scan of pure white noise (no object, σ as high as an estimate from such a scan) under
/// a "network" of 40 random 3×3 filters: the Monte-Carlo trace is noisy enough for the 42
/// weights to chase it to a negative error estimate (−90 against the network's 105 360;
/// gains ±50 without the check), which no squared error can have. The network's own
/// readout must then stay.
#[test]
fn a_fit_that_estimates_a_negative_error_is_not_used() {
    let (lr, mut net) = noise_under_random_filters(32, 32, 2, 40);
    let pe = PhaseEncodingDirection::Col;
    let noise = ScanNoise { pe, lines: acquired_lines(32, 0.0, 1.0), sigma_pixel: 29.0 };
    let own = Readout::network(40, 0.0);
    // The pixel floor alone would keep this small scan's readout; off, so the risk check
    // is what this test exercises.
    let settings = SureSettings { min_pixels_per_weight: 0, ..Default::default() };
    let FittedReadout { report, readout, .. } = fit(&lr, &noise, &settings, &own, &mut net);
    assert!(!report.refitted || report.risk_fitted > 0.0, "{report:?}");
    assert!(readout.gains.iter().all(|g| g.abs() < 10.0), "{readout:?}");
}

/// An 8×8 slice has 64 pixels for 50 weights: without the pixel floor the fit is used
/// (gains far from 1, a large claimed gain), with it the network's readout stays.
#[test]
fn a_scan_too_small_for_its_weights_keeps_the_networks_readout() {
    let (lr, mut net) = noise_under_random_filters(8, 8, 1, 48);
    let pe = PhaseEncodingDirection::Col;
    let noise = ScanNoise { pe, lines: acquired_lines(8, 0.0, 1.0), sigma_pixel: 1.0 };
    let own = Readout::network(48, 0.0);
    let unguarded = SureSettings { min_pixels_per_weight: 0, ..Default::default() };
    let loose = fit(&lr, &noise, &unguarded, &own, &mut net).report;
    assert!(loose.refitted, "premise: without the floor this scan is refitted: {loose:?}");
    let FittedReadout { report, readout, .. } =
        fit(&lr, &noise, &SureSettings::default(), &own, &mut net);
    assert!(!report.refitted, "{report:?}");
    assert_eq!(readout, own);
}

/// A scan of uniform noise (0-100, seeded) and a "network" of `filters` random 3×3 filters
/// of the slice: as many weights as a real network's tail has, for a fit to chase noise with.
fn noise_under_random_filters(
    nx: usize,
    ny: usize,
    nz: usize,
    filters: usize,
) -> (Volume, Box<PartsNetwork<'static>>) {
    let mut rng = StdRng::seed_from_u64(3);
    let data: Vec<f32> =
        (0..nx * ny * nz).map(|_| rand::Rng::gen::<f32>(&mut rng) * 100.0).collect();
    let lr = Volume::new([nx, ny, nz], data).unwrap();
    let filters: Vec<[f32; 9]> = (0..filters)
        .map(|_| std::array::from_fn(|_| rand::Rng::gen::<f32>(&mut rng) - 0.5))
        .collect();
    let net = move |v: &Volume, slices: &[usize], sink: &mut dyn FnMut(usize, SliceParts)| {
        for (i, &k) in slices.iter().enumerate() {
            let y = v.slice(k).to_vec();
            let mut channels = Vec::with_capacity(filters.len() * nx * ny);
            for f in &filters {
                for p in 0..nx * ny {
                    let (x0, y0) = ((p % nx) as isize, (p / nx) as isize);
                    let mut s = 0.0;
                    for (t, w) in f.iter().enumerate() {
                        let x = (x0 + t as isize % 3 - 1).clamp(0, nx as isize - 1);
                        let yy = (y0 + t as isize / 3 - 1).clamp(0, ny as isize - 1);
                        s += w * y[yy as usize * nx + x as usize];
                    }
                    channels.push(s);
                }
            }
            sink(i, SliceParts { scale: 1.0, centre: y, channels });
        }
    };
    (lr, Box::new(net))
}

#[test]
fn solve_recovers_a_known_solution_and_refuses_a_singular_system() {
    let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
    let x = [1.0, -2.0, 0.5];
    let b: Vec<f64> = (0..3).map(|i| (0..3).map(|j| a[i * 3 + j] * x[j]).sum()).collect();
    let got = solve(&a, &b).unwrap();
    assert!(got.iter().zip(&x).all(|(g, w)| (g - w).abs() < 1e-6), "{got:?}");
    assert_eq!(solve(&[0.0; 4], &[1.0, 1.0]), None);
}

/// Outside the band the output is the network's own; inside, the fitted readout's.
#[test]
fn combine_keeps_the_networks_lines_outside_the_band() {
    let (_, lr, noise) = scan(4.0);
    let [nx, ny, _] = lr.dims;
    let own: Vec<f32> = lr.slice(1).iter().map(|v| v + 50.0).collect();
    let fitted: Vec<f32> = lr.slice(1).iter().map(|v| 0.5 * v + 60.0).collect();
    let out = combine(&own, &fitted, nx, ny, &noise);
    let outside = |v: &[f32]| -> Vec<f32> {
        let p = project_to_band(v, nx, ny, noise.pe, &noise.lines);
        v.iter().zip(&p).map(|(a, b)| a - b).collect()
    };
    let (a, b) = (outside(&out), outside(&own));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-2, "out-of-band changed by {worst}");
    let inside = project_to_band(&out, nx, ny, noise.pe, &noise.lines);
    let want = project_to_band(&fitted, nx, ny, noise.pe, &noise.lines);
    let worst = inside.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-2, "in-band differs from the fitted readout by {worst}");
}

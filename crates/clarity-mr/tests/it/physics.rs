//! Physics checks of clarity-mr: noise bookkeeping of shortened scans, scan time, and bringing
//! real images to their acquired matrix. Real volumes come from `../shared/data/mri`.

use std::path::PathBuf;

use crate::shared_mri;
use clarity_core::{PhaseEncodingDirection, Volume};
use clarity_mr::acquisition::Sampling;
use clarity_mr::fastscan::{
    detect_acquired_matrix, detect_phase_encoding, resolve_phase_encoding, simulate,
    to_acquired_matrix, zero_fill_to, FastScanSettings, PeSource,
};
use clarity_mr::scan_time::Protocol;
use rand::SeedableRng;
use rustfft::num_complex::Complex32;

fn std_of(values: impl Iterator<Item = f32>) -> f64 {
    let v: Vec<f64> = values.map(|x| x as f64).collect();
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn image_noise_follows_the_documented_sigma_relation() {
    let (nx, ny) = (192, 160);
    let zero = vec![Complex32::new(0.0, 0.0); nx * ny];
    let sigma = 3.0f32;
    for pe in [PhaseEncodingDirection::Col, PhaseEncodingDirection::Row] {
        for (reduction, pf) in [(0.0, 1.0), (0.25, 1.0), (0.33, 1.0), (0.3, 0.75)] {
            let s = Sampling {
                reduction,
                partial_fourier: pf,
                pe,
                noise_sigma: sigma,
                ..Default::default()
            };
            let n_pe = if pe == PhaseEncodingDirection::Col { ny } else { nx };
            let f = s.acquired_fraction(n_pe);
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let img = s.acquire_complex(&zero, nx, ny, &mut rng);
            let measured = std_of(img.iter().map(|c| c.re));
            let expected = sigma as f64 * f.sqrt();
            assert!(
                (measured / expected - 1.0).abs() < 0.05,
                "{pe:?} r={reduction} pf={pf}: measured σ {measured:.4}, documented σ·sqrt(f) {expected:.4}"
            );
        }
    }
}

#[test]
fn shortened_scan_keeps_signal_and_loses_resolution() {
    // A flat square: the zero-filled LR image keeps the plateau's level (signal in the kept
    // band is unchanged) but blurs its edge along PE only.
    let n = 64;
    let mut v = Volume::new([n, n, 1], vec![0.0; n * n]).unwrap();
    for j in 16..48 {
        for i in 16..48 {
            *v.at_mut(i, j, 0) = 100.0;
        }
    }
    let s = Sampling { reduction: 0.33, pe: PhaseEncodingDirection::Col, ..Default::default() };
    let lr = s.acquire_volume(&v, 1);
    assert!((lr.at(32, 32, 0) - 100.0).abs() < 5.0, "plateau {}", lr.at(32, 32, 0));
    // Just outside the edge: blurred along j (PE), sharp along i (readout).
    assert!(lr.at(32, 14, 0) > 3.0, "PE edge should be blurred: {}", lr.at(32, 14, 0));
    assert!(lr.at(14, 32, 0) < 1e-2, "readout edge should be sharp: {}", lr.at(14, 32, 0));
}

#[test]
fn scan_time_falls_by_the_fraction_of_lines_dropped() {
    let p = Protocol {
        repetition_time_ms: 3500.0,
        phase_lines: 320,
        averages: 1.0,
        turbo_factor: 1,
        slices: 20,
        slices_per_tr: None,
        partitions: None,
    };
    let s = p.saving(0.3, 1.0);
    assert!((s.saved_fraction - 0.30).abs() < 1e-9, "{s:?}");
    assert!((s.short_s - 0.7 * s.full_s).abs() < 1e-9);
}

#[test]
fn interpolated_volume_is_brought_back_to_its_acquired_matrix() {
    let Some(path) = shared_mri("pyradiomics_brain1/t1.nii.gz") else { return };
    let vol = clarity_io::nifti::read_nifti(&path).unwrap();
    let vol = Volume::new(
        [vol.dims[0], vol.dims[1], 4],
        vol.data[..vol.dims[0] * vol.dims[1] * 4].to_vec(),
    )
    .map(|mut v| {
        v.spacing_mm = vol.spacing_mm;
        v
    })
    .unwrap();
    // Make an "acquired 128 × 96, shown 256 × 256" volume like a scanner's interpolation does.
    let acquired = to_acquired_matrix(&vol, [128, 96]);
    assert_eq!(acquired.dims, [128, 96, 4]);
    let shown = zero_fill_to(&acquired, [vol.dims[0], vol.dims[1]]);
    // Stored as integers, as DICOM would: rounding adds a white noise floor.
    let mut shown_int = shown.clone();
    for v in shown_int.data.iter_mut() {
        *v = v.round();
    }
    assert_eq!(detect_acquired_matrix(&shown_int), [128, 96]);
    // A volume at its acquired matrix is left alone.
    assert_eq!(detect_acquired_matrix(&acquired), [128, 96]);
    // DICOM AcquisitionMatrix wins when present.
    let mut tagged = shown_int.clone();
    tagged.meta.acquisition_matrix = Some([0, 128, 96, 0]);
    assert_eq!(detect_acquired_matrix(&tagged), [128, 96]);
    // And the fast-scan protocol runs on the acquired grid: same field of view.
    let t =
        simulate(&shown_int, &FastScanSettings { reduction: 0.3, snr: 20.0, ..Default::default() });
    assert_eq!(t.matrix, [128, 96]);
    assert_eq!(t.truth.dims, [128, 96, 4]);
    for a in 0..2 {
        let fov_in = shown_int.spacing_mm[a] * shown_int.dims[a] as f64;
        let fov_out = t.truth.spacing_mm[a] * t.truth.dims[a] as f64;
        assert!((fov_in - fov_out).abs() < 1e-6, "axis {a}: FOV {fov_in} vs {fov_out}");
    }
}

#[test]
fn fast_scan_triplet_has_the_requested_snr() {
    let Some(path) = shared_mri("mni152/t1.nii.gz") else { return };
    let vol = clarity_io::nifti::read_nifti(&path).unwrap();
    let [nx, ny, _] = vol.dims;
    let k0 = vol.dims[2] / 2;
    let mut slab =
        Volume::new([nx, ny, 2], vol.data[k0 * nx * ny..(k0 + 2) * nx * ny].to_vec()).unwrap();
    slab.spacing_mm = vol.spacing_mm;
    let s = FastScanSettings {
        reduction: 0.25,
        snr: 20.0,
        to_acquired_matrix: false,
        ..Default::default()
    };
    let t = simulate(&slab, &s);
    let fg = clarity_mr::fastscan::foreground_mask(&t.truth);
    let mean: f64 =
        t.truth.data.iter().zip(&fg).filter(|(_, m)| **m).map(|(v, _)| *v as f64).sum::<f64>()
            / fg.iter().filter(|m| **m).count() as f64;
    assert!((mean / t.sigma as f64 - 20.0).abs() < 1e-3);
    // In the bright foreground the HR error is ~σ (Rician ≈ Gaussian at high SNR).
    let err = std_of(
        t.hr.data.iter().zip(&t.truth.data).zip(&fg).filter(|(_, m)| **m).map(|((h, g), _)| h - g),
    );
    assert!((err / t.sigma as f64 - 1.0).abs() < 0.1, "HR error {err} vs σ {}", t.sigma);
}

#[test]
fn kspace_resampling_keeps_intensity_and_field_of_view() {
    let mut v = Volume::new([64, 48, 1], vec![250.0; 64 * 48]).unwrap();
    v.spacing_mm = [1.0, 1.5, 4.0];
    for (m, name) in [([32, 24], "crop"), ([128, 96], "pad")] {
        let r = if m[0] < 64 { to_acquired_matrix(&v, m) } else { zero_fill_to(&v, m) };
        assert_eq!([r.dims[0], r.dims[1]], m, "{name}");
        // A flat image stays flat at the same level (away from the magnitude of ringing-free
        // edges: a constant has only DC, so everywhere).
        for x in &r.data {
            assert!((x - 250.0).abs() < 1e-2, "{name}: {x}");
        }
        assert!((r.spacing_mm[0] * m[0] as f64 - 64.0).abs() < 1e-9);
        assert!((r.spacing_mm[1] * m[1] as f64 - 72.0).abs() < 1e-9);
    }
}

#[test]
fn phase_encoding_direction_is_found_where_kspace_is_cut() {
    let Some(path) = shared_mri("pyradiomics_brain1/t1.nii.gz") else { return };
    let vol = clarity_io::nifti::read_nifti(&path).unwrap();
    let [nx, ny, nz] = vol.dims;
    let k0 = nz / 2;
    let mut slab =
        Volume::new([nx, ny, 3], vol.data[k0 * nx * ny..(k0 + 3) * nx * ny].to_vec()).unwrap();
    slab.spacing_mm = vol.spacing_mm;
    for pe in [PhaseEncodingDirection::Row, PhaseEncodingDirection::Col] {
        for (reduction, snr) in [(0.25, 20.0), (0.33, 10.0), (0.33, 40.0)] {
            let s = FastScanSettings {
                reduction,
                snr,
                pe,
                to_acquired_matrix: false,
                ..Default::default()
            };
            let t = simulate(&slab, &s);
            assert_eq!(detect_phase_encoding(&t.lr), Some(pe), "LR r={reduction} SNR {snr}");
            // The full-length scan has no cut: nothing to detect.
            assert_eq!(detect_phase_encoding(&t.hr), None, "HR r={reduction} SNR {snr}");
            // Stored as integers (DICOM) it is still found.
            let mut int = t.lr.clone();
            int.data.iter_mut().for_each(|v| *v = v.round());
            assert_eq!(detect_phase_encoding(&int), Some(pe));
            // Precedence: override > header > k-space.
            assert_eq!(resolve_phase_encoding(&t.lr, None), (pe, PeSource::KSpace));
            let other = if pe == PhaseEncodingDirection::Row {
                PhaseEncodingDirection::Col
            } else {
                PhaseEncodingDirection::Row
            };
            let mut tagged = t.lr.clone();
            tagged.meta.phase_encoding = Some(other);
            assert_eq!(resolve_phase_encoding(&tagged, None), (other, PeSource::Header));
            assert_eq!(resolve_phase_encoding(&tagged, Some(pe)), (pe, PeSource::Override));
        }
    }
    // Real full-length scans and templates show no cut (measured: sharpest steps 0.9-3.3 dB).
    for name in [
        "colin27/t1.nii.gz",
        "mni152/t1.nii.gz",
        "itk_kmeans/t1.nii.gz",
        "prostatex_0000/t2_tse.nii.gz",
        "pyradiomics_brain2/t1.nii.gz",
    ] {
        let Some(p) = shared_mri(name) else { continue };
        let v = clarity_io::nifti::read_nifti(&p).unwrap();
        assert_eq!(detect_phase_encoding(&v), None, "{name} is a full scan");
    }
    assert_eq!(
        resolve_phase_encoding(&slab, None),
        (PhaseEncodingDirection::Col, PeSource::Assumed),
        "an unshortened volume without a header falls back to COL"
    );
}

/// Full-length scans show no band of acquired lines along either axis, so `clarity enhance`
/// trusts all their lines. nibabel's 33×41 `anatomical.nii` (2 mm) is the case that needed
/// [`clarity_mr::fastscan::MIN_DETECTED_KEPT_FRACTION`]: its steep natural fall-off once read as
/// 7 of 33 lines kept.
#[test]
fn full_scans_show_no_acquired_band() {
    use clarity_mr::fastscan::detect_acquired_lines;
    let mut paths: Vec<PathBuf> = ["prostatex_0000/t2_tse.nii.gz", "pyradiomics_brain2/t1.nii.gz"]
        .iter()
        .filter_map(|n| shared_mri(n))
        .collect();
    let Some(nifti) = shared_mri("../nifti/anatomical.nii") else { return };
    paths.push(nifti);
    for p in paths {
        let v = clarity_io::nifti::read_nifti(&p).unwrap();
        for pe in [PhaseEncodingDirection::Row, PhaseEncodingDirection::Col] {
            assert_eq!(detect_acquired_lines(&v, pe), None, "{} along {pe:?}", p.display());
        }
    }
}

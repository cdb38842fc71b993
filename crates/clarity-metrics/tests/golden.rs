//! PSNR, SSIM and NRMSE against scikit-image on real slices (`golden/skimage.json`, made by
//! `golden/make_golden.py`; its docstring says how to remake it). Reads `../shared/data` in
//! place and skips loudly without it.

use clarity_core::Volume;

/// The case's test image, built with the script's float32 arithmetic.
fn test_image(vol: &Volume, reference: &[f32], test: &[serde_json::Value]) -> Vec<f32> {
    let nx = vol.dims[0];
    match test[0].as_str().unwrap() {
        "slice" => vol.slice(test[1].as_u64().unwrap() as usize).to_vec(),
        "affine" => {
            let (scale, offset) =
                (test[1].as_f64().unwrap() as f32, test[2].as_f64().unwrap() as f32);
            reference.iter().map(|r| r * scale + offset).collect()
        }
        "pattern" => {
            let amplitude = test[1].as_f64().unwrap() as f32;
            let pattern =
                |i: usize| ((((i % nx) * 7919 + (i / nx) * 104729) % 97) as f32 - 48.0) / 48.0;
            reference.iter().enumerate().map(|(i, r)| r + pattern(i) * amplitude).collect()
        }
        other => panic!("unknown test image kind {other}"),
    }
}

#[test]
fn quality_matches_scikit_image_on_real_slices() {
    let Some(mri) = clarity_core::testdata::shared_mri("") else { return };
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden/skimage.json")).unwrap();
    let border = golden["border_px"].as_u64().unwrap() as usize;
    for case in golden["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let vol = clarity_io::nifti::read_nifti(&mri.join(case["file"].as_str().unwrap())).unwrap();
        let [nx, ny, _] = vol.dims;
        let reference = vol.slice(case["slice"].as_u64().unwrap() as usize).to_vec();
        let test = test_image(&vol, &reference, case["test"].as_array().unwrap());
        let peak = reference.iter().fold(f32::MIN, |a, b| a.max(*b));
        let threshold = case["threshold"].as_f64().unwrap() as f32 * peak;
        let mask: Vec<bool> = (0..nx * ny)
            .map(|i| {
                let (x, y) = (i % nx, i / nx);
                let inner =
                    (border..nx - border).contains(&x) && (border..ny - border).contains(&y);
                inner && reference[i] > threshold
            })
            .collect();
        assert_eq!(
            mask.iter().filter(|m| **m).count() as u64,
            case["mask_pixels"].as_u64().unwrap(),
            "{name}"
        );
        let q = clarity_metrics::quality(
            &Volume::new([nx, ny, 1], test).unwrap(),
            &Volume::new([nx, ny, 1], reference).unwrap(),
            &mask,
        );
        for (what, ours, theirs) in [
            ("PSNR", q.psnr_db, case["psnr_db"].as_f64().unwrap()),
            ("SSIM", q.ssim, case["ssim"].as_f64().unwrap()),
            ("NRMSE", q.nrmse, case["nrmse"].as_f64().unwrap()),
        ] {
            assert!((ours - theirs).abs() < 1e-9, "{name}: {what} {ours} vs scikit-image {theirs}");
        }
    }
}

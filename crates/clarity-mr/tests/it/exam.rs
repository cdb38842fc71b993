//! The liver exam generator against the physics it must reproduce: chemical shift, fat
//! suppression, diffusion, contrast kinetics; and the exam written as DICOM reads back as nine
//! series with the right labels.

use clarity_mr::exam::{generate_exam, Exam, ExamSettings, HeaderMode, SeriesClass};
use clarity_mr::sequence::{chemical_shift_te_ms, signal, Protocol, Sequence};
use clarity_mr::tissue::{params, Field, Tissue};

fn quiet_settings() -> ExamSettings {
    ExamSettings {
        snr: (1e6, 1e6),
        motion_probability: 0.0,
        max_bias: 0.0,
        max_tilt_deg: 0.0,
        matrix_scale: 0.5,
        required_lesions: vec![Tissue::Hcc],
        ..Default::default()
    }
}

/// Median of the series' values over voxels labelled `t` whose in-plane 3 × 3 neighbourhood is
/// all `t` (an ROI away from edges, as a reader would place it; all voxels of `t` when fewer
/// than 20 are interior).
fn median_in(exam: &Exam, class: SeriesClass, t: Tissue) -> f32 {
    let s = exam.series.iter().find(|s| s.class == class).expect("series present");
    let [nx, ny, nz] = s.volume.dims;
    let l = |i: usize, j: usize, k: usize| s.labels[(k * ny + j) * nx + i];
    let mut v = Vec::new();
    for k in 0..nz {
        for j in 1..ny - 1 {
            for i in 1..nx - 1 {
                let inside =
                    (0..3).all(|dj| (0..3).all(|di| l(i + di - 1, j + dj - 1, k) == t as u8));
                if inside {
                    v.push(s.volume.data[(k * ny + j) * nx + i]);
                }
            }
        }
    }
    if v.len() < 20 {
        // Small vessels have few interior voxels at test matrices: use every labelled voxel.
        v = s
            .volume
            .data
            .iter()
            .zip(&s.labels)
            .filter(|(_, l)| **l == t as u8)
            .map(|(x, _)| *x)
            .collect();
    }
    assert!(v.len() > 10, "{class:?}: only {} voxels of {t:?}", v.len());
    let n = v.len() / 2;
    *v.select_nth_unstable_by(n, |a, b| a.total_cmp(b)).1
}

#[test]
fn opposed_phase_cancels_a_half_fat_voxel() {
    // A voxel with 50 % proton-density fat fraction, imaged with a proton-density-weighted dual
    // echo (small flip angle, as fat-quantification protocols do). With the 60-80° flips of the
    // clinical T1 dual echo, fat's shorter T1 gives it more than half the signal and the
    // cancellation is incomplete, as in real scans.
    for field in [Field::T1_5, Field::T3] {
        let mut tp = params(Tissue::Liver, field);
        tp.fat_fraction = 0.5;
        let gre = |te| Protocol {
            sequence: Sequence::GradientEcho { tr_ms: 150.0, te_ms: te, flip_deg: 5.0 },
            fat_sat: 0.0,
            field,
        };
        let ip = signal(Tissue::Liver, &tp, 0.0, &gre(chemical_shift_te_ms(field, true, 1)));
        let op = signal(Tissue::Liver, &tp, 0.0, &gre(chemical_shift_te_ms(field, false, 0)));
        assert!(op < 0.05 * ip, "{field:?}: OP {op} vs IP {ip}");
    }
}

#[test]
fn fat_saturation_removes_over_ninety_percent_of_fat() {
    let exam = generate_exam(&quiet_settings(), 11, 0);
    // Pure fat (the 5 % water of fatty tissue is not fat and is not suppressed).
    let mut fat = params(Tissue::SubcutaneousFat, exam.field);
    fat.fat_fraction = 1.0;
    // The T2 FS protocol of this exam, with and without its fat saturation.
    let tr_te = exam.series.iter().find(|s| s.class == SeriesClass::T2Fs).map(|s| {
        (
            s.volume.meta.repetition_time_ms.unwrap() as f32,
            s.volume.meta.echo_time_ms.unwrap() as f32,
        )
    });
    let (tr, te) = tr_te.unwrap();
    let mut p = Protocol {
        sequence: Sequence::SpinEcho { tr_ms: tr, te_ms: te },
        fat_sat: 0.0,
        field: exam.field,
    };
    let without = signal(Tissue::SubcutaneousFat, &fat, 0.0, &p);
    for eff in [0.92f32, 0.99] {
        p.fat_sat = eff;
        let with = signal(Tissue::SubcutaneousFat, &fat, 0.0, &p);
        assert!(with < 0.1 * without, "efficiency {eff}: {with} vs {without}");
    }
    // In the image: subcutaneous fat much darker than in the non-suppressed in-phase series,
    // relative to the liver.
    let t2_ratio = median_in(&exam, SeriesClass::T2Fs, Tissue::SubcutaneousFat)
        / median_in(&exam, SeriesClass::T2Fs, Tissue::Spleen);
    assert!(t2_ratio < 0.35, "T2 FS fat/spleen {t2_ratio}");
}

#[test]
fn adc_map_recovers_the_phantom_adc() {
    let exam = generate_exam(&quiet_settings(), 12, 0);
    // Fat-free tissues (residual fat in a steatotic liver lowers the apparent ADC, as it does
    // in patients, so the liver is checked only when it has no fat).
    let mut tissues = vec![Tissue::Spleen, Tissue::Gallbladder];
    if exam.anatomy.liver_fat_fraction == 0.0 {
        tissues.push(Tissue::Liver);
    }
    for t in tissues {
        let fitted = median_in(&exam, SeriesClass::Adc, t) / 1000.0; // 10⁻⁶ → 10⁻³ mm²/s
        let truth = exam.tissues[t as usize].adc;
        assert!((fitted / truth - 1.0).abs() < 0.02, "{t:?}: fitted {fitted} vs phantom {truth}");
    }
}

#[test]
fn contrast_phases_enhance_as_in_clinical_liver_mri() {
    let mut lean = 0;
    let mut fatty = 0;
    for seed in 13..25 {
        let exam = generate_exam(&quiet_settings(), seed, 0);
        let m = |c, t| median_in(&exam, c, t);
        let art = SeriesClass::DceArterial;
        // Arterial: aorta brighter than every other vessel.
        for v in [Tissue::PortalVein, Tissue::Ivc, Tissue::HepaticVein] {
            assert!(m(art, Tissue::Aorta) > 1.2 * m(art, v), "seed {seed}: aorta vs {v:?}");
        }
        // Portal venous: portal vein clearly enhanced over pre-contrast.
        let pv_gain = m(SeriesClass::DcePortal, Tissue::PortalVein)
            / m(SeriesClass::DcePre, Tissue::PortalVein);
        assert!(pv_gain > 2.0, "seed {seed}: portal vein gain {pv_gain}");
        // HCC: hyperenhancing in the arterial phase, washed out (below liver) when delayed.
        // A fatty liver loses signal on fat-suppressed T1 and can mask washout, as in patients;
        // washout is required where the liver has under 10 % fat.
        let hcc_art = m(art, Tissue::Hcc) / m(art, Tissue::Liver);
        assert!(hcc_art > 1.1, "seed {seed}: HCC/liver arterial {hcc_art}");
        if exam.anatomy.liver_fat_fraction < 0.1 {
            let hcc_del =
                m(SeriesClass::DceDelayed, Tissue::Hcc) / m(SeriesClass::DceDelayed, Tissue::Liver);
            assert!(hcc_del < 0.95, "seed {seed}: HCC/liver delayed {hcc_del}");
            lean += 1;
        } else {
            // Steatosis shows as liver signal loss on opposed phase relative to in phase.
            let ratio = |c| m(c, Tissue::Liver) / m(c, Tissue::Spleen);
            let drop = ratio(SeriesClass::T1Opp) / ratio(SeriesClass::T1In);
            assert!(drop < 0.85, "seed {seed}: fatty liver OP/IP drop {drop}");
            fatty += 1;
        }
    }
    assert!(lean >= 3 && fatty >= 1, "{lean} lean and {fatty} fatty livers checked");
}

#[test]
fn written_exam_reads_back_as_nine_labelled_series() {
    let settings = ExamSettings {
        matrix_scale: 0.4,
        header_mode: HeaderMode::Scrambled,
        ..Default::default()
    };
    let exam = generate_exam(&settings, 21, 0);
    let dir = tempfile::tempdir().unwrap();
    let rows = clarity_mr::exam_output::write_exam(&exam, dir.path()).unwrap();
    clarity_mr::exam_output::write_labels(&rows, dir.path()).unwrap();
    let report = clarity_io::dicom::scan(dir.path(), Default::default()).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.series.len(), 9);
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("labels.json")).unwrap())
            .unwrap();
    let mut seen = std::collections::HashSet::new();
    for s in &report.series {
        let row = labels
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["series_uid"] == s.series_uid.as_str())
            .unwrap_or_else(|| panic!("series {} has no label", s.series_uid));
        let class = SeriesClass::from_id(row["class"].as_str().unwrap()).unwrap();
        let generated = exam.series.iter().find(|g| g.class == class).unwrap();
        let vol = s.load().unwrap();
        assert_eq!(vol.dims, generated.volume.dims, "{class:?}");
        // Stored as integers: read back exactly, geometry to DICOM's DS precision.
        assert_eq!(vol.data, generated.volume.data, "{class:?} voxels");
        for r in 0..3 {
            assert!((vol.origin_mm[r] - generated.volume.origin_mm[r]).abs() < 1e-3);
        }
        // Scrambled headers carry no class name.
        assert!(vol.meta.series_description.as_deref().unwrap_or("").starts_with("Series "));
        seen.insert(class);
    }
    assert_eq!(seen.len(), 9);
}

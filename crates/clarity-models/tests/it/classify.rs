//! Series classification: header rules per vendor style and header mode on generated exams.

use clarity_models::classify::header::classify_exam;
use clarity_models::classify::Class;
use clarity_mr::exam::{generate_exam, ExamSettings, HeaderMode};
use clarity_mr::vendor::Vendor;

fn small(vendor: Vendor, header_mode: HeaderMode, field: f64) -> ExamSettings {
    ExamSettings {
        fields: vec![field],
        vendors: vec![vendor],
        header_mode,
        matrix_scale: 0.25,
        ..Default::default()
    }
}

#[test]
fn header_rules_name_every_series_for_every_vendor_style_and_header_mode() {
    for vendor in Vendor::ALL {
        for mode in [HeaderMode::Realistic, HeaderMode::Scrambled, HeaderMode::Blank] {
            for (n, field) in [(0, 1.5), (1, 3.0)] {
                let exam = generate_exam(&small(vendor, mode, field), 11, n);
                let metas: Vec<_> = exam.series.iter().map(|s| &s.volume.meta).collect();
                let decisions = classify_exam(&metas);
                for (s, d) in exam.series.iter().zip(&decisions) {
                    assert_eq!(
                        d.class,
                        Class::Liver(s.class),
                        "{vendor:?} {mode:?} {field} T: {:?} ({}) → {:?}",
                        s.volume.meta.series_description,
                        s.class.id(),
                        d
                    );
                    let floor = if mode == HeaderMode::Realistic { 0.9 } else { 0.5 };
                    assert!(d.confidence >= floor, "{d:?}");
                }
            }
        }
    }
}

#[test]
fn header_rules_send_non_liver_series_to_other() {
    use clarity_core::Metadata;
    let ct = Metadata { modality: Some("CT".into()), ..Default::default() };
    let brain_t1 = Metadata {
        modality: Some("MR".into()),
        series_description: Some("T1 SE sag".into()),
        scanning_sequence: Some("SE".into()),
        repetition_time_ms: Some(500.0),
        echo_time_ms: Some(12.0),
        ..Default::default()
    };
    let low_b = Metadata {
        modality: Some("MR".into()),
        series_description: Some("ep2d_diff_b50".into()),
        b_value_s_per_mm2: Some(50.0),
        ..Default::default()
    };
    let pd = Metadata {
        modality: Some("MR".into()),
        series_description: Some("FSE PD AXIAL OBL".into()),
        ..Default::default()
    };
    for m in [&ct, &brain_t1, &low_b, &pd] {
        let d = &classify_exam(&[m])[0];
        assert_eq!(d.class, Class::Other, "{m:?} → {d:?}");
    }
}

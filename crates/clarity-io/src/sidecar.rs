//! BIDS-style JSON sidecars: the acquisition parameters a NIfTI file cannot hold, written beside
//! it as `NAME.json` (as dcm2niix does), under BIDS's key names and units (times in seconds).
//! Only what the DICOM header said is written; absent values are left out, not guessed.

use std::path::{Path, PathBuf};

use clarity_core::{FrameKind, PhaseEncodingDirection, Volume};
use serde_json::{json, Map, Value};

use crate::error::Result;

/// `scan.json` for `scan.nii` or `scan.nii.gz` (any case); `NAME.json` for any other name.
pub fn sidecar_path(nifti: &Path) -> PathBuf {
    crate::nifti::beside_nifti(nifti, "json")
}

/// The sidecar of `vol`, read from DICOM: its metadata under BIDS keys. For a 4D volume the
/// value that changes from frame to frame is a list, one per frame (EchoTime for echoes,
/// DiffusionBValue for b-values, TemporalPositionIdentifier for time points).
pub fn bids_sidecar(vol: &Volume) -> Value {
    let m = &vol.meta;
    let mut out = Map::new();
    let mut text = |key: &str, value: &Option<String>| {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            out.insert(key.into(), json!(v));
        }
    };
    text("Modality", &m.modality);
    text("Manufacturer", &m.manufacturer);
    text("ManufacturersModelName", &m.manufacturer_model);
    text("SeriesDescription", &m.series_description);
    text("ScanningSequence", &m.scanning_sequence);
    text("SequenceVariant", &m.sequence_variant);
    text("ScanOptions", &m.scan_options);
    text("SequenceName", &m.sequence_name);
    text("ContrastBolusAgent", &m.contrast_bolus_agent);
    if let Some(t) = m.acquisition_time.as_deref().and_then(clock_time) {
        out.insert("AcquisitionTime".into(), json!(t));
    }
    // Divided, not multiplied by 1e-3: 2300 ms / 1000 is the double nearest 2.3 s.
    let mut number = |key: &str, value: Option<f64>, divisor: f64| {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.insert(key.into(), json!(v / divisor));
        }
    };
    number("MagneticFieldStrength", m.field_strength_t, 1.0);
    number("SliceThickness", m.slice_thickness_mm, 1.0);
    number("SpacingBetweenSlices", m.spacing_between_slices_mm, 1.0);
    number("EchoTime", m.echo_time_ms, 1e3);
    number("RepetitionTime", m.repetition_time_ms, 1e3);
    number("InversionTime", m.inversion_time_ms, 1e3);
    number("FlipAngle", m.flip_angle_deg, 1.0);
    number("PixelBandwidth", m.pixel_bandwidth_hz, 1.0);
    number("DiffusionBValue", m.b_value_s_per_mm2, 1.0);
    if let Some(n) = m.echo_train_length.filter(|n| n.is_finite() && n.fract() == 0.0) {
        out.insert("EchoTrainLength".into(), json!(n as i64));
    }
    if let Some(n) = m.series_number {
        out.insert("SeriesNumber".into(), json!(n));
    }
    if !m.image_type.is_empty() {
        out.insert("ImageType".into(), json!(m.image_type));
    }
    if let Some(pe) = m.phase_encoding {
        // NIfTI's i axis runs along a DICOM row (the files' columns index it), j down a column.
        let (dicom, axis) = match pe {
            PhaseEncodingDirection::Row => ("ROW", "i"),
            PhaseEncodingDirection::Col => ("COL", "j"),
        };
        out.insert("InPlanePhaseEncodingDirectionDICOM".into(), json!(dicom));
        out.insert("PhaseEncodingAxis".into(), json!(axis));
    }
    if let Some(axis) = vol.frame_axis.as_ref().filter(|_| vol.frames > 1) {
        let per_frame = match axis.kind {
            FrameKind::Echo => Some(("EchoTime", 1e3)),
            FrameKind::BValue => Some(("DiffusionBValue", 1.0)),
            FrameKind::Phase => Some(("TemporalPositionIdentifier", 1.0)),
            FrameKind::Other => None,
        };
        if let Some((key, divisor)) = per_frame {
            let values: Vec<f64> = axis.values.iter().map(|v| v / divisor).collect();
            out.insert(key.into(), json!(values));
        }
    }
    out.insert("ConversionSoftware".into(), json!("clarity"));
    out.insert("ConversionSoftwareVersion".into(), json!(env!("CARGO_PKG_VERSION")));
    Value::Object(out)
}

/// Write [`bids_sidecar`] of `vol` to `path` (replacing a file there).
pub fn write_bids_sidecar(vol: &Volume, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(&bids_sidecar(vol)).expect("JSON of plain values");
    crate::write_text_replacing(path, &text)
}

/// A DICOM time `HHMMSS.FFFFFF` as BIDS writes it, `HH:MM:SS.FFFFFF`; None when it is not one.
fn clock_time(tm: &str) -> Option<String> {
    let tm = tm.trim();
    let (whole, fraction) = tm.split_once('.').unwrap_or((tm, ""));
    if whole.len() != 6 || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction = format!("{fraction:0<6}");
    Some(format!("{}:{}:{}.{}", &whole[..2], &whole[2..4], &whole[4..], &fraction[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_sit_beside_the_nifti() {
        assert_eq!(sidecar_path(Path::new("out/scan.nii.gz")), Path::new("out/scan.json"));
        assert_eq!(sidecar_path(Path::new("scan.NII")), Path::new("scan.json"));
        assert_eq!(sidecar_path(Path::new("a.b.nii")), Path::new("a.b.json"));
    }

    #[test]
    fn the_value_that_changes_per_frame_is_a_list_in_seconds() {
        let mut vol = Volume::new_4d([2, 2, 1], 2, vec![0.0; 8]).unwrap();
        vol.meta.echo_time_ms = Some(22.0);
        vol.meta.repetition_time_ms = Some(2300.0);
        vol.frame_axis =
            Some(clarity_core::FrameAxis { kind: FrameKind::Echo, values: vec![22.0, 52.0] });
        let sidecar = bids_sidecar(&vol);
        assert_eq!(sidecar["EchoTime"], json!([0.022, 0.052]));
        assert_eq!(sidecar["RepetitionTime"], json!(2.3));
        vol.frame_axis =
            Some(clarity_core::FrameAxis { kind: FrameKind::BValue, values: vec![0.0, 800.0] });
        let sidecar = bids_sidecar(&vol);
        assert_eq!(
            (&sidecar["EchoTime"], &sidecar["DiffusionBValue"]),
            (&json!(0.022), &json!([0.0, 800.0]))
        );
    }

    #[test]
    fn dicom_times_become_clock_times() {
        assert_eq!(clock_time("143415").as_deref(), Some("14:34:15.000000"));
        assert_eq!(clock_time("143415.5").as_deref(), Some("14:34:15.500000"));
        assert_eq!(clock_time("1434"), None);
        assert_eq!(clock_time("14:34:15"), None);
    }
}

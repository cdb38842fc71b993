//! What the scanner said about an image: the attributes the rest of Clarity needs (classification
//! rules, the MR physics engine, derived-series writing). Every field is optional because NIfTI
//! carries almost none of them and real DICOM omits many.

use serde::{Deserialize, Serialize};

/// In-plane phase-encoding direction, as DICOM's InPlanePhaseEncodingDirection says it: along the
/// image rows (`Row`, i.e. the `i` axis) or along the columns (`Col`, the `j` axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhaseEncodingDirection {
    /// Phase encoding along a row: the `i` (column index) axis varies with phase.
    Row,
    /// Phase encoding along a column: the `j` (row index) axis varies with phase.
    Col,
}

impl PhaseEncodingDirection {
    /// Parse DICOM's `ROW` / `COL` (case-insensitive, padded).
    pub fn from_dicom(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "ROW" => Some(Self::Row),
            "COL" | "COLUMN" => Some(Self::Col),
            _ => None,
        }
    }

    /// The voxel axis (0 = `i`, 1 = `j`) along which phase is encoded.
    pub fn voxel_axis(self) -> usize {
        match self {
            Self::Row => 0,
            Self::Col => 1,
        }
    }
}

/// What the 4th dimension of a volume indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameKind {
    /// Diffusion b-values in s/mm².
    BValue,
    /// Dynamic phases / temporal positions (values are acquisition times in s when known).
    Phase,
    /// Echoes (values are echo times in ms).
    Echo,
    /// Anything else (values are just indices).
    Other,
}

/// The 4th dimension: its kind and one value per frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameAxis {
    pub kind: FrameKind,
    pub values: Vec<f64>,
}

/// Acquisition metadata. Units are in the names; times of day are DICOM `HHMMSS.frac` strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub modality: Option<String>,
    pub manufacturer: Option<String>,
    pub manufacturer_model: Option<String>,
    pub field_strength_t: Option<f64>,
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub series_description: Option<String>,
    pub series_number: Option<i64>,
    pub sequence_name: Option<String>,
    pub scanning_sequence: Option<String>,
    pub sequence_variant: Option<String>,
    pub scan_options: Option<String>,
    pub image_type: Vec<String>,
    pub repetition_time_ms: Option<f64>,
    pub echo_time_ms: Option<f64>,
    pub inversion_time_ms: Option<f64>,
    pub flip_angle_deg: Option<f64>,
    pub echo_train_length: Option<f64>,
    pub b_value_s_per_mm2: Option<f64>,
    /// Diffusion gradient direction of each frame, a unit vector in LPS patient coordinates
    /// (zero for b = 0 and for isotropic, trace-weighted images), in frame order; empty when
    /// the files do not give one for every diffusion-weighted frame.
    #[serde(default)]
    pub diffusion_directions_lps: Vec<[f64; 3]>,
    /// DICOM AcquisitionMatrix: `[freq rows, freq cols, phase rows, phase cols]`; two are nonzero.
    pub acquisition_matrix: Option<[u16; 4]>,
    pub phase_encoding: Option<PhaseEncodingDirection>,
    pub contrast_bolus_agent: Option<String>,
    pub contrast_bolus_start_time: Option<String>,
    pub acquisition_time: Option<String>,
    pub series_time: Option<String>,
    pub slice_thickness_mm: Option<f64>,
    pub spacing_between_slices_mm: Option<f64>,
    pub pixel_bandwidth_hz: Option<f64>,
    pub transfer_syntax: Option<String>,
    /// Original stored sample width (bits), used when writing derived data back.
    pub bits_stored: Option<u16>,
}

impl Metadata {
    /// The acquired in-plane matrix `(along i, along j)` from AcquisitionMatrix and the phase
    /// direction, when both are known. Scanners often interpolate the displayed matrix beyond this.
    pub fn acquired_matrix(&self) -> Option<(u16, u16)> {
        let [freq_rows, freq_cols, phase_rows, phase_cols] = self.acquisition_matrix?;
        // DICOM fills either (freq_rows, phase_cols) or (freq_cols, phase_rows): the first pair
        // means frequency runs down the rows (j) and phase along i.
        if freq_rows > 0 || phase_cols > 0 {
            Some((phase_cols.max(freq_cols), freq_rows.max(phase_rows)))
        } else {
            Some((freq_cols, phase_rows))
        }
    }
}

/// Seconds after midnight of a DICOM time of day (TM: `HH`, `HHMM` or `HHMMSS`, then
/// optionally `.` and up to six digits of fraction), as [`Metadata`] keeps times; None when
/// `tm` is not one.
pub fn tm_seconds(tm: &str) -> Option<f64> {
    let tm = tm.trim();
    let (whole, fraction) = tm.split_once('.').unwrap_or((tm, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !matches!(whole.len(), 2 | 4 | 6) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let field = |i: usize| whole.get(2 * i..2 * i + 2).map_or(Some(0.0), |d| d.parse().ok());
    let (h, m, sec): (f64, f64, f64) = (field(0)?, field(1)?, field(2)?);
    if h >= 24.0 || m >= 60.0 || sec >= 61.0 {
        return None;
    }
    let fraction: f64 =
        if fraction.is_empty() { 0.0 } else { format!("0.{fraction}").parse().ok()? };
    Some(h * 3600.0 + m * 60.0 + sec + fraction)
}

/// The DICOM time of day (TM, `HHMMSS.FFFFFF`) `seconds` after midnight, wrapped into one day.
pub fn tm_from_seconds(seconds: f64) -> String {
    // Whole microseconds, so no binary rounding reaches the printed digits (59.9999999 s
    // becomes the next minute, not "60.000000").
    let micros = (seconds * 1e6).round().rem_euclid(86_400e6) as u64;
    let (secs, micro) = (micros / 1_000_000, micros % 1_000_000);
    format!("{:02}{:02}{:02}.{micro:06}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_direction_parses_dicom_codes() {
        assert_eq!(PhaseEncodingDirection::from_dicom("ROW "), Some(PhaseEncodingDirection::Row));
        assert_eq!(PhaseEncodingDirection::from_dicom("col"), Some(PhaseEncodingDirection::Col));
        assert_eq!(PhaseEncodingDirection::from_dicom("OTHER"), None);
        assert_eq!(PhaseEncodingDirection::Col.voxel_axis(), 1);
    }

    #[test]
    fn acquired_matrix_reads_both_layouts() {
        let m = Metadata { acquisition_matrix: Some([0, 256, 192, 0]), ..Default::default() };
        assert_eq!(m.acquired_matrix(), Some((256, 192)));
        let m = Metadata { acquisition_matrix: Some([256, 0, 0, 192]), ..Default::default() };
        assert_eq!(m.acquired_matrix(), Some((192, 256)));
    }
}

//! Reading the attributes Clarity needs from a DICOM object, including the Enhanced MR/CT
//! functional groups, into plain structs that can be grouped and sorted without the object.

use std::path::{Path, PathBuf};

use clarity_core::{Metadata, PhaseEncodingDirection};
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemDicomObject;
use dicom_object::DefaultDicomObject;

use super::mosaic::{mosaic_frames, MosaicLayout};
pub(crate) use super::open::error_chain;
pub use super::open::{open, open_bytes};
use crate::error::{IoError, Result};

/// Geometry and per-frame values of one frame (one 2D image) of a DICOM file.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameInfo {
    pub position: Option<[f64; 3]>,
    /// Row then column direction cosines (ImageOrientationPatient).
    pub orientation: Option<[f64; 6]>,
    /// `[row spacing, column spacing]` as PixelSpacing: distance between rows, then columns.
    pub pixel_spacing: Option<[f64; 2]>,
    pub slice_thickness_mm: Option<f64>,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    pub b_value: Option<f64>,
    /// Diffusion gradient direction, a unit vector in LPS (zero for an isotropic image).
    pub diffusion_direction: Option<[f64; 3]>,
    pub echo_time_ms: Option<f64>,
    pub temporal_index: Option<f64>,
    pub acquisition_time: Option<String>,
}

/// Everything Clarity reads from one DICOM file's header.
#[derive(Debug, Clone)]
pub struct DicomHeader {
    pub path: PathBuf,
    pub transfer_syntax: String,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub instance_number: Option<i64>,
    pub echo_number: Option<i64>,
    pub rows: u32,
    pub columns: u32,
    pub number_of_frames: u32,
    pub samples_per_pixel: u16,
    pub photometric: String,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub pixel_representation: u16,
    pub has_pixel_data: bool,
    pub spacing_between_slices_mm: Option<f64>,
    /// One entry per frame (a single-frame file has one; a mosaic one per slice).
    pub frames: Vec<FrameInfo>,
    /// Set for a Siemens mosaic: `rows` × `columns` is then the stored grid of slices.
    pub mosaic: Option<MosaicLayout>,
    pub meta: Metadata,
}

impl DicomHeader {
    /// Rows × columns × samples; zero for objects without an image.
    pub fn is_image(&self) -> bool {
        self.has_pixel_data && self.rows > 0 && self.columns > 0
    }

    /// Rows of one frame as the series stacks it (a mosaic's tile, else `rows`).
    pub fn image_rows(&self) -> u32 {
        self.mosaic.map_or(self.rows, |m| m.tile_rows as u32)
    }

    /// Columns of one frame as the series stacks it (a mosaic's tile, else `columns`).
    pub fn image_columns(&self) -> u32 {
        self.mosaic.map_or(self.columns, |m| m.tile_columns as u32)
    }
}

/// Human name of a transfer syntax UID (falls back to the UID).
pub fn transfer_syntax_name(uid: &str) -> String {
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    TransferSyntaxRegistry
        .get(uid.trim_end_matches('\0'))
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| uid.to_string())
}

/// Read just the header of `path` (pixel data is not loaded).
pub fn read_header(path: &Path) -> Result<DicomHeader> {
    let obj = open(path, false)?;
    // `read_until` stops before Pixel Data, so an object that declares an image matrix is taken
    // to have one; a missing or broken pixel stream is reported when the pixels are decoded.
    let declares_image =
        get_u32(&obj, tags::ROWS).unwrap_or(0) > 0 && get_u32(&obj, tags::COLUMNS).unwrap_or(0) > 0;
    let bad =
        |attribute, problem| IoError::Attribute { path: path.to_path_buf(), attribute, problem };
    // Every frame takes at least one byte of the file: a larger count is a broken header, and
    // believing it would allocate a per-frame table of that size (1e9 frames aborted the run).
    // (Asked of multi-frame files only: a folder scan reads thousands of single-frame headers.)
    let frames = get_f64(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1.0);
    if frames > 1.0 {
        let file_bytes = std::fs::metadata(path).map_or(f64::INFINITY, |m| m.len() as f64);
        if frames > file_bytes {
            let problem =
                format!("is {frames}, more frames than the file's {file_bytes} bytes hold");
            return Err(bad("NumberOfFrames", problem));
        }
    }
    if declares_image {
        check_pixel_module(path, &obj)?;
    }
    let header = header_from_object(path, &obj, declares_image);
    for f in &header.frames {
        if let Some(s) = f.pixel_spacing.filter(|s| !(s[0] > 0.0 && s[1] > 0.0)) {
            return Err(bad("PixelSpacing", format!("is {s:?}; both must be above 0")));
        }
        if let Some(o) = f.orientation.filter(|o| !orthonormal_enough(o)) {
            let problem = format!("is {o:?}, not two perpendicular unit direction vectors");
            return Err(bad("ImageOrientationPatient", problem));
        }
    }
    Ok(header)
}

/// Refuse pixel-description attributes no image can have, as pydicom does: decoded with them,
/// the pixels would be garbage (a damaged Pixel Representation of 32768 read as signed moved a
/// fifth of a CT's values by 65536; an unknown colour model left YBR samples unconverted).
/// Missing attributes are left to the decoders' defaults; an unknown photometric
/// interpretation of one sample is read as MONOCHROME2 (its values do not depend on it).
pub(crate) fn check_pixel_module(path: &Path, obj: &DefaultDicomObject) -> Result<()> {
    let bad =
        |attribute, problem| IoError::Attribute { path: path.to_path_buf(), attribute, problem };
    if let Some(r) = get_u32(obj, tags::PIXEL_REPRESENTATION).filter(|&r| r > 1) {
        return Err(bad("PixelRepresentation", format!("is {r}; 0 (unsigned) or 1 (signed)")));
    }
    // An unsupported BitsAllocated is the decoders' to report, with its own message.
    let allocated = get_u32(obj, tags::BITS_ALLOCATED).filter(|a| [1, 8, 16, 32, 64].contains(a));
    if let Some(stored) = get_u32(obj, tags::BITS_STORED) {
        let most = allocated.unwrap_or(64);
        if stored == 0 || stored > most {
            return Err(bad("BitsStored", format!("is {stored}; 1 to BitsAllocated ({most})")));
        }
    }
    let samples = get_u32(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    if samples != 1 && samples != 3 {
        return Err(bad("SamplesPerPixel", format!("is {samples}; 1 (grey) or 3 (colour)")));
    }
    const COLOUR: [&str; 7] = [
        "RGB",
        "YBR_FULL",
        "YBR_FULL_422",
        "YBR_PARTIAL_422",
        "YBR_PARTIAL_420",
        "YBR_ICT",
        "YBR_RCT",
    ];
    let photometric = get_str(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    if samples == 3 && !COLOUR.contains(&photometric.as_str()) {
        let problem = format!("is {photometric:?}, not a colour model of 3 samples ({COLOUR:?})");
        return Err(bad("PhotometricInterpretation", problem));
    }
    Ok(())
}

/// Row and column cosines that are (nearly) unit length and (nearly) perpendicular. Loose on
/// purpose: files store them to a few digits, and only a degenerate orientation (zero or
/// parallel vectors, which give a singular affine) is refused.
fn orthonormal_enough(o: &[f64; 6]) -> bool {
    let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    let unit = |v: [f64; 3]| (clarity_core::norm(v) - 1.0).abs() < 0.1;
    unit(r) && unit(c) && clarity_core::dot(r, c).abs() < 0.1
}

/// Build a [`DicomHeader`] from an opened object.
pub fn header_from_object(path: &Path, obj: &DefaultDicomObject, has_pixels: bool) -> DicomHeader {
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_string();
    let number_of_frames = get_f64(obj, tags::NUMBER_OF_FRAMES).map(|v| v as u32).unwrap_or(1);
    let mut meta = read_metadata(obj);
    meta.transfer_syntax = Some(ts.clone());

    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame =
        obj.get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).and_then(|e| e.items()).unwrap_or(&[]);

    let base = frame_from_top_level(obj);
    meta.b_value_s_per_mm2 = base.b_value;
    let (rows, columns) =
        (get_u32(obj, tags::ROWS).unwrap_or(0), get_u32(obj, tags::COLUMNS).unwrap_or(0));
    let mut mosaic = None;
    let frames = if shared.is_some() || !per_frame.is_empty() {
        (0..number_of_frames.max(1) as usize)
            .map(|f| {
                let mut fi = base.clone();
                if let Some(s) = shared {
                    apply_functional_groups(&mut fi, s);
                }
                if let Some(p) = per_frame.get(f) {
                    apply_functional_groups(&mut fi, p);
                }
                fi
            })
            .collect()
    } else if let Some((layout, frames)) = (number_of_frames <= 1)
        .then(|| mosaic_frames(obj, &meta.image_type, rows, columns, &base))
        .flatten()
    {
        mosaic = Some(layout);
        frames
    } else {
        dose_grid_frames(obj, base, number_of_frames.max(1) as usize)
    };
    if meta.b_value_s_per_mm2.is_none() {
        meta.b_value_s_per_mm2 = frames.first().and_then(|f| f.b_value);
    }
    if meta.echo_time_ms.is_none() {
        meta.echo_time_ms = frames.first().and_then(|f| f.echo_time_ms);
    }
    if meta.slice_thickness_mm.is_none() {
        meta.slice_thickness_mm = frames.first().and_then(|f| f.slice_thickness_mm);
    }

    DicomHeader {
        path: path.to_path_buf(),
        transfer_syntax: ts,
        sop_class_uid: get_str(obj, tags::SOP_CLASS_UID).unwrap_or_default(),
        sop_instance_uid: get_str(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        instance_number: get_f64(obj, tags::INSTANCE_NUMBER).map(|v| v as i64),
        echo_number: get_f64(obj, tags::ECHO_NUMBERS).map(|v| v as i64),
        rows,
        columns,
        number_of_frames,
        samples_per_pixel: get_u32(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
        photometric: get_str(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
        bits_allocated: get_u32(obj, tags::BITS_ALLOCATED).unwrap_or(0) as u16,
        bits_stored: get_u32(obj, tags::BITS_STORED).unwrap_or(0) as u16,
        pixel_representation: get_u32(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) as u16,
        has_pixel_data: has_pixels,
        spacing_between_slices_mm: get_f64(obj, tags::SPACING_BETWEEN_SLICES),
        frames,
        mosaic,
        meta,
    }
}

/// The frames of a multi-frame file without functional groups: all at the top-level plane,
/// except an RT Dose grid, whose frames are planes along the normal at GridFrameOffsetVector
/// (3004,000C) and whose stored values are doses in units of DoseGridScaling (3004,000E).
/// Why: read as one plane of 15 "frames", a dose grid lost its third axis and its scale.
fn dose_grid_frames(obj: &InMemDicomObject, mut base: FrameInfo, n: usize) -> Vec<FrameInfo> {
    if obj.get(tags::RESCALE_SLOPE).is_none() {
        if let Some(scale) = get_f64(obj, tags::DOSE_GRID_SCALING).filter(|s| *s > 0.0) {
            base.rescale_slope = scale;
        }
    }
    let offsets = get_multi_f64(obj, tags::GRID_FRAME_OFFSET_VECTOR).filter(|v| v.len() == n);
    let (Some(offsets), Some(pos), Some(o)) = (offsets, base.position, base.orientation) else {
        return vec![base; n];
    };
    let normal = clarity_core::cross([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    // A first offset of 0 makes the offsets relative to ImagePositionPatient; otherwise they are
    // the planes' z coordinates (axial grids only), of which the first is that position's.
    offsets
        .iter()
        .map(|d| {
            let along = d - offsets[0];
            let mut f = base.clone();
            f.position = Some(std::array::from_fn(|c| pos[c] + along * normal[c]));
            f
        })
        .collect()
}

fn frame_from_top_level(obj: &InMemDicomObject) -> FrameInfo {
    FrameInfo {
        position: get_vec::<3>(obj, tags::IMAGE_POSITION_PATIENT),
        orientation: get_vec::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT),
        pixel_spacing: get_vec::<2>(obj, tags::PIXEL_SPACING)
            .or_else(|| get_vec::<2>(obj, tags::IMAGER_PIXEL_SPACING)),
        slice_thickness_mm: get_f64(obj, tags::SLICE_THICKNESS),
        rescale_slope: get_f64(obj, tags::RESCALE_SLOPE).filter(|s| *s != 0.0).unwrap_or(1.0),
        rescale_intercept: get_f64(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        b_value: b_value(obj),
        diffusion_direction: diffusion_direction(obj),
        echo_time_ms: get_f64(obj, tags::ECHO_TIME),
        temporal_index: get_f64(obj, tags::TEMPORAL_POSITION_IDENTIFIER)
            .or_else(|| get_f64(obj, tags::TEMPORAL_POSITION_INDEX)),
        acquisition_time: get_str(obj, tags::ACQUISITION_TIME),
    }
}

/// Diffusion gradient direction (LPS unit vector) from the standard attributes, at the top level
/// or in an MR Diffusion Sequence there, or from Siemens's private (0019,100E) or, without it,
/// the CSA image header's DiffusionGradientDirection, both in the same patient frame. GE's and
/// Philips's private directions are not read: their frames and sign conventions vary by software
/// version, and a wrong direction is worse than none.
fn diffusion_direction(obj: &InMemDicomObject) -> Option<[f64; 3]> {
    if let Some(d) = standard_diffusion_direction(obj) {
        return Some(d);
    }
    if let Some(d) =
        first_item(obj, tags::MR_DIFFUSION_SEQUENCE).and_then(standard_diffusion_direction)
    {
        return Some(d);
    }
    let siemens = get_str(obj, Tag(0x0019, 0x0010)).is_some_and(|c| c.contains("SIEMENS"));
    siemens
        .then(|| get_vec::<3>(obj, Tag(0x0019, 0x100E)))
        .flatten()
        .or_else(|| csa_number_list::<3>(obj, "DiffusionGradientDirection"))
        .and_then(unit_or_zero)
}

/// The tag `name` of the Siemens CSA image header when it holds exactly `N` numbers. Looked
/// for in Siemens files only: finding the header's private block costs a search of the group,
/// which every other file of a folder scan would pay for nothing.
fn csa_number_list<const N: usize>(obj: &InMemDicomObject, name: &str) -> Option<[f64; N]> {
    let siemens = get_str(obj, tags::MANUFACTURER)
        .is_some_and(|m| m.to_ascii_uppercase().contains("SIEMENS"));
    if !siemens {
        return None;
    }
    let csa = super::mosaic::csa_image_header(obj)?;
    super::mosaic::csa_numbers(&csa, name)?.try_into().ok()
}

/// DiffusionDirectionality ISOTROPIC or NONE (no direction: a trace image or b = 0) gives the
/// zero vector; else DiffusionGradientOrientation, directly or in its sequence.
fn standard_diffusion_direction(item: &InMemDicomObject) -> Option<[f64; 3]> {
    let directionality = get_str(item, tags::DIFFUSION_DIRECTIONALITY);
    if matches!(directionality.as_deref(), Some("ISOTROPIC" | "NONE")) {
        return Some([0.0; 3]);
    }
    get_vec::<3>(item, tags::DIFFUSION_GRADIENT_ORIENTATION)
        .or_else(|| {
            first_item(item, tags::DIFFUSION_GRADIENT_DIRECTION_SEQUENCE)
                .and_then(|g| get_vec::<3>(g, tags::DIFFUSION_GRADIENT_ORIENTATION))
        })
        .and_then(unit_or_zero)
}

/// The vector scaled to unit length (files store them to a few digits), zero kept as zero;
/// None for anything else that is not a direction (non-finite values).
fn unit_or_zero(v: [f64; 3]) -> Option<[f64; 3]> {
    let len = clarity_core::norm(v);
    if !len.is_finite() {
        return None;
    }
    Some(if len < 1e-6 { [0.0; 3] } else { v.map(|c| c / len) })
}

/// Diffusion b-value from the standard tag or the vendors' private ones.
fn b_value(obj: &InMemDicomObject) -> Option<f64> {
    if let Some(b) = get_f64(obj, tags::DIFFUSION_B_VALUE) {
        return Some(b);
    }
    // Siemens's private tag (0019,100C) and GE's (0043,1039, first value, sometimes with
    // 1e9 added as a flag). Only trusted when the private creator block says whose it is.
    let creator = |group: u16, block: u16| get_str(obj, Tag(group, block));
    if creator(0x0019, 0x0010).is_some_and(|c| c.contains("SIEMENS")) {
        if let Some(b) = get_f64(obj, Tag(0x0019, 0x100C)) {
            return Some(b);
        }
    }
    // The same value in the CSA image header, which some exports keep without the (0019) block.
    if let Some([b]) = csa_number_list::<1>(obj, "B_value") {
        return Some(b);
    }
    if creator(0x0043, 0x0010).is_some_and(|c| c.contains("GEMS")) {
        if let Some(v) = get_multi_f64(obj, Tag(0x0043, 0x1039)).and_then(|v| v.first().copied()) {
            return Some(v % 1e9);
        }
    }
    None
}

fn apply_functional_groups(fi: &mut FrameInfo, item: &InMemDicomObject) {
    if let Some(pp) = first_item(item, tags::PLANE_POSITION_SEQUENCE) {
        if let Some(p) = get_vec::<3>(pp, tags::IMAGE_POSITION_PATIENT) {
            fi.position = Some(p);
        }
    }
    if let Some(po) = first_item(item, tags::PLANE_ORIENTATION_SEQUENCE) {
        if let Some(o) = get_vec::<6>(po, tags::IMAGE_ORIENTATION_PATIENT) {
            fi.orientation = Some(o);
        }
    }
    if let Some(pm) = first_item(item, tags::PIXEL_MEASURES_SEQUENCE) {
        if let Some(s) = get_vec::<2>(pm, tags::PIXEL_SPACING) {
            fi.pixel_spacing = Some(s);
        }
        if let Some(t) = get_f64(pm, tags::SLICE_THICKNESS) {
            fi.slice_thickness_mm = Some(t);
        }
    }
    if let Some(pv) = first_item(item, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
        if let Some(s) = get_f64(pv, tags::RESCALE_SLOPE).filter(|s| *s != 0.0) {
            fi.rescale_slope = s;
        }
        if let Some(i) = get_f64(pv, tags::RESCALE_INTERCEPT) {
            fi.rescale_intercept = i;
        }
    }
    if let Some(d) = first_item(item, tags::MR_DIFFUSION_SEQUENCE) {
        if let Some(b) = get_f64(d, tags::DIFFUSION_B_VALUE) {
            fi.b_value = Some(b);
        }
        if let Some(g) = standard_diffusion_direction(d) {
            fi.diffusion_direction = Some(g);
        }
    }
    if let Some(e) = first_item(item, tags::MR_ECHO_SEQUENCE) {
        if let Some(te) = get_f64(e, tags::EFFECTIVE_ECHO_TIME) {
            fi.echo_time_ms = Some(te);
        }
    }
    if let Some(fc) = first_item(item, tags::FRAME_CONTENT_SEQUENCE) {
        if let Some(t) = get_f64(fc, tags::TEMPORAL_POSITION_INDEX) {
            fi.temporal_index = Some(t);
        }
        if let Some(t) = get_str(fc, tags::FRAME_ACQUISITION_DATE_TIME) {
            fi.acquisition_time = Some(t);
        }
    }
}

fn read_metadata(obj: &InMemDicomObject) -> Metadata {
    let acq = get_multi_f64(obj, tags::ACQUISITION_MATRIX)
        .and_then(|v| (v.len() == 4).then(|| [v[0] as u16, v[1] as u16, v[2] as u16, v[3] as u16]));
    Metadata {
        modality: get_str(obj, tags::MODALITY),
        manufacturer: get_str(obj, tags::MANUFACTURER),
        manufacturer_model: get_str(obj, tags::MANUFACTURER_MODEL_NAME),
        field_strength_t: get_f64(obj, tags::MAGNETIC_FIELD_STRENGTH),
        patient_id: get_str(obj, tags::PATIENT_ID),
        patient_name: get_str(obj, tags::PATIENT_NAME),
        study_instance_uid: get_str(obj, tags::STUDY_INSTANCE_UID),
        series_instance_uid: get_str(obj, tags::SERIES_INSTANCE_UID),
        series_description: get_str(obj, tags::SERIES_DESCRIPTION),
        series_number: get_f64(obj, tags::SERIES_NUMBER).map(|v| v as i64),
        sequence_name: get_str(obj, tags::SEQUENCE_NAME)
            .or_else(|| get_str(obj, tags::PULSE_SEQUENCE_NAME)),
        scanning_sequence: get_str(obj, tags::SCANNING_SEQUENCE),
        sequence_variant: get_str(obj, tags::SEQUENCE_VARIANT),
        scan_options: get_str(obj, tags::SCAN_OPTIONS),
        image_type: get_str(obj, tags::IMAGE_TYPE)
            .map(|s| s.split('\\').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default(),
        repetition_time_ms: get_f64(obj, tags::REPETITION_TIME),
        echo_time_ms: get_f64(obj, tags::ECHO_TIME),
        inversion_time_ms: get_f64(obj, tags::INVERSION_TIME),
        flip_angle_deg: get_f64(obj, tags::FLIP_ANGLE),
        echo_train_length: get_f64(obj, tags::ECHO_TRAIN_LENGTH),
        // Read with the top-level frame ([`header_from_object`]), not a second time here.
        b_value_s_per_mm2: None,
        // Per frame, so set when a series is stacked (`DicomSeries::load`).
        diffusion_directions_lps: Vec::new(),
        acquisition_matrix: acq,
        phase_encoding: get_str(obj, tags::IN_PLANE_PHASE_ENCODING_DIRECTION)
            .and_then(|s| PhaseEncodingDirection::from_dicom(&s)),
        contrast_bolus_agent: get_str(obj, tags::CONTRAST_BOLUS_AGENT),
        contrast_bolus_start_time: get_str(obj, tags::CONTRAST_BOLUS_START_TIME),
        acquisition_time: get_str(obj, tags::ACQUISITION_TIME),
        series_time: get_str(obj, tags::SERIES_TIME),
        slice_thickness_mm: get_f64(obj, tags::SLICE_THICKNESS),
        spacing_between_slices_mm: get_f64(obj, tags::SPACING_BETWEEN_SLICES),
        pixel_bandwidth_hz: get_f64(obj, tags::PIXEL_BANDWIDTH),
        transfer_syntax: None,
        bits_stored: get_u32(obj, tags::BITS_STORED).map(|v| v as u16),
    }
}

// Accessors that treat absent, empty and malformed values alike as "not there": real files are
// full of empty type-2 attributes, and a bad optional value must not sink the whole file.

// `get` rather than `element_opt`: the latter builds an error (with a backtrace when
// RUST_BACKTRACE is set) for every absent attribute, which dominated header parsing.
pub(crate) fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    // Text stored under VR UN/OB (implicit-VR files read with an unknown dictionary entry, or
    // writers that got the VR wrong) arrives as bytes; read it as text when it is printable.
    if matches!(e.vr(), dicom_core::VR::UN | dicom_core::VR::OB) {
        return bytes_as_text(&e.to_bytes().ok()?).map(str::to_string);
    }
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!s.is_empty()).then(|| s.to_string())
}

/// A value stored as bytes read as text, trimmed of padding, when it is printable.
fn bytes_as_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty() && text.chars().all(|c| !c.is_control())).then_some(text)
}

pub(crate) fn get_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    get_multi_f64(obj, tag).and_then(|v| v.first().copied())
}

pub(crate) fn get_multi_f64(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.get(tag)?;
    let v = if e.vr() == dicom_core::VR::UN {
        un_numbers(tag, &e.to_bytes().ok()?)?
    } else {
        e.to_multi_float64().ok()?
    };
    (!v.is_empty() && v.iter().all(|x| x.is_finite())).then_some(v)
}

/// The numbers of an element stored with VR UN, read by the VR the standard dictionary gives
/// its tag (as pydicom does). Why: read as bytes, the DS text `1\0\0...` of an orientation
/// became the numbers 49, 92, 48, ... (the character codes).
fn un_numbers(tag: Tag, bytes: &[u8]) -> Option<Vec<f64>> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    use dicom_core::VR;
    let vr = match dicom_dictionary_std::StandardDataDictionary.by_tag(tag)?.vr() {
        VirtualVr::Exact(vr) => vr,
        _ => return None,
    };
    fn le<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Option<Vec<f64>> {
        let chunks = bytes.chunks_exact(N);
        let whole = chunks.remainder().is_empty();
        whole.then(|| chunks.map(|c| f(c.try_into().expect("N bytes"))).collect())
    }
    match vr {
        VR::DS | VR::IS => {
            bytes_as_text(bytes)?.split('\\').map(|p| p.trim().parse::<f64>().ok()).collect()
        }
        VR::US => le(bytes, |b| u16::from_le_bytes(b) as f64),
        VR::SS => le(bytes, |b| i16::from_le_bytes(b) as f64),
        VR::UL => le(bytes, |b| u32::from_le_bytes(b) as f64),
        VR::SL => le(bytes, |b| i32::from_le_bytes(b) as f64),
        VR::FL => le(bytes, |b| f32::from_le_bytes(b) as f64),
        VR::FD => le(bytes, f64::from_le_bytes),
        _ => None,
    }
}

fn get_u32(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    get_f64(obj, tag).filter(|v| *v >= 0.0).map(|v| v as u32)
}

fn get_vec<const N: usize>(obj: &InMemDicomObject, tag: Tag) -> Option<[f64; N]> {
    let v = get_multi_f64(obj, tag)?;
    (v.len() >= N).then(|| std::array::from_fn(|i| v[i]))
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.get(tag)?.items()?.first()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::{DataSetSequence, PrimitiveValue};
    use dicom_core::{DataElement, VR};

    fn with(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
        InMemDicomObject::from_element_iter(elements)
    }

    fn orientation(g: [f64; 3]) -> DataElement<InMemDicomObject> {
        DataElement::new(tags::DIFFUSION_GRADIENT_ORIENTATION, VR::FD, PrimitiveValue::from(g))
    }

    fn sequence(tag: Tag, item: InMemDicomObject) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, VR::SQ, DataSetSequence::from(vec![item]))
    }

    fn text(tag: Tag, vr: VR, value: &str) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, vr, PrimitiveValue::from(value))
    }

    #[test]
    fn diffusion_directions_are_read_where_the_files_put_them() {
        // Top level, stored to a few digits: scaled to unit length.
        let top = with(vec![orientation([0.0, 0.6001, 0.8])]);
        let g = diffusion_direction(&top).unwrap();
        assert!((clarity_core::norm(g) - 1.0).abs() < 1e-12 && (g[1] - 0.6).abs() < 1e-4);
        // Enhanced MR: in the MR Diffusion Sequence, inside its gradient direction sequence.
        let nested = with(vec![sequence(
            tags::MR_DIFFUSION_SEQUENCE,
            with(vec![sequence(
                tags::DIFFUSION_GRADIENT_DIRECTION_SEQUENCE,
                with(vec![orientation([0.0, 0.0, -1.0])]),
            )]),
        )]);
        assert_eq!(diffusion_direction(&nested), Some([0.0, 0.0, -1.0]));
        // A trace image has no direction of its own: the zero vector, not "unknown".
        let trace = with(vec![text(tags::DIFFUSION_DIRECTIONALITY, VR::CS, "ISOTROPIC")]);
        assert_eq!(diffusion_direction(&trace), Some([0.0; 3]));
        // Siemens's private direction only under Siemens's private creator.
        let private = |creator: &str| {
            with(vec![
                text(Tag(0x0019, 0x0010), VR::LO, creator),
                DataElement::new(
                    Tag(0x0019, 0x100E),
                    VR::FD,
                    PrimitiveValue::from([1.0, 0.0, 0.0]),
                ),
            ])
        };
        assert_eq!(diffusion_direction(&private("SIEMENS MR HEADER")), Some([1.0, 0.0, 0.0]));
        assert_eq!(diffusion_direction(&private("GEMS_ACQU_01")), None);
        assert_eq!(diffusion_direction(&with(vec![])), None);
    }
}

//! Derived series: a processed [`Volume`] written back as DICOM beside the series it came from,
//! keeping patient and study so PACS files it with the original.

use std::path::{Path, PathBuf};

use clarity_core::{FrameAxis, FrameKind, Volume};
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::DefaultDicomObject;
use rayon::prelude::*;

use super::header::error_chain;
use super::series::DicomSeries;
use crate::error::{IoError, Result};

/// A fresh UID under the `2.25` root (a random 122-bit UUID as a decimal integer, PS3.5 B.2).
pub fn new_uid() -> String {
    let hi: u64 = rand::random();
    let lo: u64 = rand::random();
    // Version-4 UUID bits, so the number is a valid UUID integer.
    let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!("2.25.{}", ((hi as u128) << 64) | lo as u128)
}

/// How stored 16-bit values map back to the volume: `value = stored * slope + intercept`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rescale {
    pub slope: f64,
    pub intercept: f64,
    pub signed: bool,
}

/// Integers that fit int16 are stored exactly; anything else spreads the value range over the
/// 16-bit unsigned range.
pub fn choose_rescale(vol: &Volume) -> Rescale {
    let (lo, hi) = vol.min_max();
    let integral = vol.data.iter().all(|v| v.fract() == 0.0);
    if integral && lo >= i16::MIN as f32 && hi <= i16::MAX as f32 {
        return Rescale { slope: 1.0, intercept: 0.0, signed: lo < 0.0 };
    }
    let range = (hi - lo) as f64;
    let slope = if range > 0.0 { range / 65535.0 } else { 1.0 };
    Rescale { slope, intercept: lo as f64, signed: false }
}

/// Decimal strings (DS): as many digits as fit the 16-character limit, so rescale slopes and
/// positions keep their precision.
pub(crate) fn ds(values: &[f64]) -> PrimitiveValue {
    let one = |v: f64| -> String {
        if v == 0.0 || !v.is_finite() {
            return "0".into();
        }
        for decimals in (0..=15).rev() {
            let s = format!("{v:.decimals$}");
            let s = if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            };
            if s.len() <= 16 {
                return s;
            }
        }
        format!("{v:.8e}")
    };
    PrimitiveValue::Strs(values.iter().map(|&v| one(v)).collect::<Vec<_>>().into())
}

/// The name of slice `k` (from 0) of a written series: `IM00001.dcm` for `k` = 0.
pub fn series_file_name(k: usize) -> String {
    format!("IM{:05}.dcm", k + 1)
}

/// Whether `name` is one [`series_file_name`] gives (`IM` + 5 or more digits + `.dcm`: slice
/// 100000 of a series gets six).
pub fn is_series_file_name(name: &str) -> bool {
    name.strip_prefix("IM")
        .and_then(|rest| rest.strip_suffix(".dcm"))
        .is_some_and(|digits| digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The files a series of `slices` single-frame files gets in `out_dir` (`IM00001.dcm`, ...),
/// or an error naming the first that already exists.
///
/// Both writers check every name before writing any, so a clash leaves no half-written series;
/// a caller with minutes of work before the write (`clarity enhance`) checks up front too.
pub fn series_file_paths(out_dir: &Path, slices: usize) -> Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = (0..slices).map(|k| out_dir.join(series_file_name(k))).collect();
    if let Some(taken) = paths.iter().find(|p| p.exists()) {
        return Err(IoError::DicomWrite {
            path: taken.clone(),
            reason: "file exists; refusing to overwrite (choose an empty folder)".into(),
        });
    }
    Ok(paths)
}

/// Write `vol` as a derived series of single-frame files into `out_dir`, one file per slice
/// and frame (frame-major: `IM00001.dcm` .. the first frame's slices, then the next frame's),
/// copying patient/study/equipment attributes from `source`. Refuses to overwrite existing
/// files. Returns the written paths.
///
/// A 4D volume needs a source with as many frames (each frame's files take their attributes,
/// echo time or b-value included, from the source's files for that frame); every file also
/// says which frame it is (the b-value, echo time or TemporalPositionIdentifier), so readers
/// (this one, dcm2niix) stack the frames back as they were.
pub fn write_derived_series(
    vol: &Volume,
    source: &DicomSeries,
    out_dir: &Path,
    description_suffix: &str,
) -> Result<Vec<PathBuf>> {
    let nz = vol.dims[2];
    let frames = vol.frames.max(1);
    if frames > 1 && source.frames != frames {
        return Err(IoError::DicomWrite {
            path: out_dir.to_path_buf(),
            reason: format!(
                "the volume has {frames} frames but the reference series {} has {}: a derived \
                 4D series takes each frame's attributes from the reference's frame",
                source.name(),
                source.frames
            ),
        });
    }
    let paths = series_file_paths(out_dir, nz * frames)?;
    create_dir(out_dir)?;
    let series_uid = new_uid();
    let rescale = choose_rescale(vol);
    let description = format!("{}{}", source.description(), description_suffix);
    let series_number = source.headers[0].meta.series_number.unwrap_or(0) + 1000;
    let sop_class = single_frame_sop_class(&source.headers[0].sop_class_uid, source.modality());
    // Slice k of frame t is made from the file that holds that image in the source (and its
    // frame there), when the source is on this volume's grid; else from the first file.
    let on_grid = source.slices.len() == nz * source.frames;
    let template_for = |t: usize, k: usize| -> (usize, usize) {
        if on_grid {
            let image = &source.slices[k * source.frames + t];
            (image.file, image.frame)
        } else {
            (0, 0)
        }
    };
    // Each source file's header parsed once, not once per image it holds: a multi-frame file
    // (a mosaic, an Enhanced MR with its per-frame groups) lends itself to every slice.
    let mut used = vec![false; source.headers.len()];
    (0..nz * frames).for_each(|n| used[template_for(n / nz, n % nz).0] = true);
    let templates: Vec<Option<DefaultDicomObject>> = source
        .headers
        .par_iter()
        .zip(&used)
        .map(|(h, &used)| used.then(|| super::header::open(&h.path, false)).transpose())
        .collect::<Result<_>>()?;
    // What the frames are: the volume's own axis when it knows (a DICOM read), else the
    // source's (a NIfTI read only numbers its frames).
    let axis = vol
        .frame_axis
        .as_ref()
        .filter(|a| a.kind != FrameKind::Other)
        .or(source.frame_axis.as_ref());
    (0..nz * frames)
        .into_par_iter()
        .map(|n| {
            let (t, k) = (n / nz, n % nz);
            let (file, frame) = template_for(t, k);
            let src = templates[file].as_ref().expect("every template file was opened");
            let multi_frame = src.get(tags::NUMBER_OF_FRAMES).is_some();
            let mut obj: InMemDicomObject = (**src).clone();
            for tag in [
                tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
                tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
                tags::NUMBER_OF_FRAMES,
                tags::PIXEL_DATA,
                tags::PLANAR_CONFIGURATION,
                tags::WINDOW_CENTER,
                tags::WINDOW_WIDTH,
                tags::LARGEST_IMAGE_PIXEL_VALUE,
                tags::SMALLEST_IMAGE_PIXEL_VALUE,
                // Counts the source's acquisition, not this series: dcm2niix warned of
                // missing volumes when it did not match the files it found.
                tags::IMAGES_IN_ACQUISITION,
            ] {
                obj.remove_element(tag);
            }
            if source.headers[0].mosaic.is_some() {
                super::mosaic::mosaic_slice_header(&mut obj, frame);
            }
            if multi_frame || source.headers[0].mosaic.is_some() {
                // A file of many images holds one SliceLocation (if any) for all of them.
                obj.remove_element(tags::SLICE_LOCATION);
            }
            put_str(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, &series_uid);
            obj.put(DataElement::new(
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(["DERIVED".to_string(), "SECONDARY".to_string()].into()),
            ));
            put_str(&mut obj, tags::SERIES_DESCRIPTION, VR::LO, &description);
            put_str(&mut obj, tags::SERIES_NUMBER, VR::IS, &series_number.to_string());
            if frames > 1 {
                put_frame_identity(&mut obj, axis, t, frames);
            } else if let (true, Some(b)) = (multi_frame, vol.meta.b_value_s_per_mm2) {
                // An Enhanced file said it in the functional groups just removed.
                obj.put(DataElement::new(tags::DIFFUSION_B_VALUE, VR::FD, PrimitiveValue::from(b)));
            }
            // The volume's own directions: an Enhanced file's were in the groups removed, and
            // a volume whose directions were changed (rotated with it) must not get the
            // template's back.
            let directions = &vol.meta.diffusion_directions_lps;
            if directions.len() == frames {
                let b_value = match axis {
                    Some(a) if a.kind == FrameKind::BValue => a.values.get(t).copied(),
                    _ => vol.meta.b_value_s_per_mm2,
                };
                put_diffusion_direction(&mut obj, directions[t], b_value);
            }
            put_slice(&mut obj, vol, t, k, rescale);
            write_object(obj, sop_class, &paths[n])
        })
        .collect()
}

/// Which frame of a 4D series a file holds, in the element a reader tells frames apart by:
/// the b-value or echo time of that frame, else its temporal position (from 1).
fn put_frame_identity(
    obj: &mut InMemDicomObject,
    axis: Option<&FrameAxis>,
    t: usize,
    frames: usize,
) {
    let value = axis.and_then(|a| a.values.get(t).copied()).filter(|v| v.is_finite());
    match (axis.map(|a| a.kind), value) {
        (Some(FrameKind::BValue), Some(b)) => {
            obj.put(DataElement::new(tags::DIFFUSION_B_VALUE, VR::FD, PrimitiveValue::from(b)));
        }
        (Some(FrameKind::Echo), Some(te)) => {
            obj.put(DataElement::new(tags::ECHO_TIME, VR::DS, ds(&[te])));
        }
        _ => {
            let position = (t + 1).to_string();
            put_str(obj, tags::TEMPORAL_POSITION_IDENTIFIER, VR::IS, &position);
            put_str(obj, tags::NUMBER_OF_TEMPORAL_POSITIONS, VR::IS, &frames.to_string());
        }
    }
}

/// A diffusion gradient direction (LPS), as DICOM says it: the zero vector as NONE (b = 0) or
/// ISOTROPIC (a trace image) without an orientation, any other as DIRECTIONAL with it. A
/// template's Siemens private copy of the direction (0019,100E), which Siemens readers take
/// first, is set to the same.
fn put_diffusion_direction(obj: &mut InMemDicomObject, g: [f64; 3], b_value: Option<f64>) {
    if g.iter().all(|c| *c == 0.0) {
        let directionality = if b_value == Some(0.0) { "NONE" } else { "ISOTROPIC" };
        put_str(obj, tags::DIFFUSION_DIRECTIONALITY, VR::CS, directionality);
        obj.remove_element(tags::DIFFUSION_GRADIENT_ORIENTATION);
    } else {
        put_str(obj, tags::DIFFUSION_DIRECTIONALITY, VR::CS, "DIRECTIONAL");
        obj.put(DataElement::new(
            tags::DIFFUSION_GRADIENT_ORIENTATION,
            VR::FD,
            PrimitiveValue::F64(g.to_vec().into()),
        ));
    }
    const SIEMENS_DIRECTION: Tag = Tag(0x0019, 0x100E);
    if obj.get(SIEMENS_DIRECTION).is_some() {
        obj.put(DataElement::new(
            SIEMENS_DIRECTION,
            VR::FD,
            PrimitiveValue::F64(g.to_vec().into()),
        ));
    }
}

/// The SOP class of one slice of a derived series: the source's when it is one of the
/// single-frame image classes this writer fills (CT, MR, PET Image Storage); else the
/// single-frame class of the source's modality, since an Enhanced or Legacy Converted CT/MR/PET
/// object written as one plain slice, without its functional groups, would claim an IOD it
/// does not meet; else Secondary Capture (a derived image of a SEG, RT dose, US...).
fn single_frame_sop_class(source_class: &str, modality: &str) -> &'static str {
    const SINGLE_FRAME: [&str; 3] = [
        uids::CT_IMAGE_STORAGE,
        uids::MR_IMAGE_STORAGE,
        uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
    ];
    if let Some(same) = SINGLE_FRAME.iter().find(|c| **c == source_class) {
        return same;
    }
    match modality {
        "CT" => uids::CT_IMAGE_STORAGE,
        "MR" | "" => uids::MR_IMAGE_STORAGE,
        "PT" => uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
        _ => uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    }
}

/// Write `vol` (frame 0) as a new MR series of single-frame files, every attribute taken from
/// `vol.meta` (patient, study and series UIDs are made up when absent). Used for synthetic data.
/// Refuses to overwrite existing files.
pub fn write_new_series(vol: &Volume, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let paths = series_file_paths(out_dir, vol.dims[2])?;
    create_dir(out_dir)?;
    let m = &vol.meta;
    let mut base = InMemDicomObject::new_empty();
    let study_uid = m.study_instance_uid.clone().unwrap_or_else(new_uid);
    let series_uid = m.series_instance_uid.clone().unwrap_or_else(new_uid);
    put_str(&mut base, tags::STUDY_INSTANCE_UID, VR::UI, &study_uid);
    put_str(&mut base, tags::SERIES_INSTANCE_UID, VR::UI, &series_uid);
    put_str(&mut base, tags::MODALITY, VR::CS, m.modality.as_deref().unwrap_or("MR"));
    put_str(&mut base, tags::PATIENT_ID, VR::LO, m.patient_id.as_deref().unwrap_or(""));
    put_str(&mut base, tags::PATIENT_NAME, VR::PN, m.patient_name.as_deref().unwrap_or(""));
    // Required for MR and CT (type 2C); a generated volume's patient axes are the LPS world
    // itself, which is a head-first supine patient.
    put_str(&mut base, tags::PATIENT_POSITION, VR::CS, "HFS");
    let image_type = if m.image_type.is_empty() {
        vec!["ORIGINAL".to_string(), "PRIMARY".to_string()]
    } else {
        m.image_type.clone()
    };
    base.put(DataElement::new(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(image_type.into())));
    let strings = [
        (tags::MANUFACTURER, VR::LO, &m.manufacturer),
        (tags::MANUFACTURER_MODEL_NAME, VR::LO, &m.manufacturer_model),
        (tags::SERIES_DESCRIPTION, VR::LO, &m.series_description),
        (tags::PROTOCOL_NAME, VR::LO, &m.series_description),
        (tags::SEQUENCE_NAME, VR::SH, &m.sequence_name),
        (tags::SCANNING_SEQUENCE, VR::CS, &m.scanning_sequence),
        (tags::SEQUENCE_VARIANT, VR::CS, &m.sequence_variant),
        (tags::SCAN_OPTIONS, VR::CS, &m.scan_options),
        (tags::CONTRAST_BOLUS_AGENT, VR::LO, &m.contrast_bolus_agent),
        (tags::CONTRAST_BOLUS_START_TIME, VR::TM, &m.contrast_bolus_start_time),
        (tags::ACQUISITION_TIME, VR::TM, &m.acquisition_time),
        (tags::SERIES_TIME, VR::TM, &m.series_time),
    ];
    for (tag, vr, value) in strings {
        if let Some(v) = value {
            put_str(&mut base, tag, vr, v);
        }
    }
    let numbers = [
        (tags::MAGNETIC_FIELD_STRENGTH, m.field_strength_t),
        (tags::REPETITION_TIME, m.repetition_time_ms),
        (tags::ECHO_TIME, m.echo_time_ms),
        (tags::INVERSION_TIME, m.inversion_time_ms),
        (tags::FLIP_ANGLE, m.flip_angle_deg),
        (tags::ECHO_TRAIN_LENGTH, m.echo_train_length),
        (tags::SLICE_THICKNESS, m.slice_thickness_mm),
        (tags::PIXEL_BANDWIDTH, m.pixel_bandwidth_hz),
    ];
    for (tag, value) in numbers {
        if let Some(v) = value {
            let vr = if tag == tags::ECHO_TRAIN_LENGTH { VR::IS } else { VR::DS };
            let value = if vr == VR::IS {
                PrimitiveValue::from((v.round() as i64).to_string())
            } else {
                ds(&[v])
            };
            base.put(DataElement::new(tag, vr, value));
        }
    }
    if let Some(n) = m.series_number {
        put_str(&mut base, tags::SERIES_NUMBER, VR::IS, &n.to_string());
    }
    if let Some(b) = m.b_value_s_per_mm2 {
        base.put(DataElement::new(tags::DIFFUSION_B_VALUE, VR::FD, PrimitiveValue::from(b)));
        if let ([g], true) = (&m.diffusion_directions_lps[..], b > 0.0) {
            put_diffusion_direction(&mut base, *g, Some(b));
        }
    }
    if let Some(am) = m.acquisition_matrix {
        base.put(DataElement::new(
            tags::ACQUISITION_MATRIX,
            VR::US,
            PrimitiveValue::U16(am.to_vec().into()),
        ));
    }
    if let Some(pe) = m.phase_encoding {
        let text = match pe {
            clarity_core::PhaseEncodingDirection::Row => "ROW",
            clarity_core::PhaseEncodingDirection::Col => "COL",
        };
        put_str(&mut base, tags::IN_PLANE_PHASE_ENCODING_DIRECTION, VR::CS, text);
    }
    let rescale = choose_rescale(vol);
    (0..vol.dims[2])
        .into_par_iter()
        .map(|k| {
            let mut obj = base.clone();
            put_slice(&mut obj, vol, 0, k, rescale);
            write_object(obj, uids::MR_IMAGE_STORAGE, &paths[k])
        })
        .collect()
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|source| IoError::Write { path: dir.to_path_buf(), source })
}

fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// Geometry, pixel description and pixel data of slice `k` of frame `t` (instance number
/// `t · nz + k + 1`, so frames follow one another).
fn put_slice(obj: &mut InMemDicomObject, vol: &Volume, t: usize, k: usize, rescale: Rescale) {
    let [nx, ny, nz] = vol.dims;
    let row = [vol.direction[0][0], vol.direction[1][0], vol.direction[2][0]];
    let col = [vol.direction[0][1], vol.direction[1][1], vol.direction[2][1]];
    let put = |obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, v));
    };
    put(obj, tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from((t * nz + k + 1).to_string()));
    let pos = vol.voxel_to_world([0.0, 0.0, k as f64]);
    put(obj, tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&pos));
    put(
        obj,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        ds(&[row[0], row[1], row[2], col[0], col[1], col[2]]),
    );
    put(obj, tags::PIXEL_SPACING, VR::DS, ds(&[vol.spacing_mm[1], vol.spacing_mm[0]]));
    put(obj, tags::SPACING_BETWEEN_SLICES, VR::DS, ds(&[vol.spacing_mm[2]]));
    put(obj, tags::ROWS, VR::US, PrimitiveValue::from(ny as u16));
    put(obj, tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16));
    put(obj, tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, PrimitiveValue::from("MONOCHROME2"));
    put(obj, tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(obj, tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
    put(obj, tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
    put(obj, tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(rescale.signed as u16));
    put(obj, tags::RESCALE_SLOPE, VR::DS, ds(&[rescale.slope]));
    put(obj, tags::RESCALE_INTERCEPT, VR::DS, ds(&[rescale.intercept]));
    let mut bytes = Vec::with_capacity(nx * ny * 2);
    let first = (t * nz + k) * nx * ny;
    for &v in &vol.data[first..first + nx * ny] {
        let stored = ((v as f64 - rescale.intercept) / rescale.slope).round();
        if rescale.signed {
            bytes.extend_from_slice(&(stored.clamp(-32768.0, 32767.0) as i16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&(stored.clamp(0.0, 65535.0) as u16).to_le_bytes());
        }
    }
    put(obj, tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into()));
}

/// Give `obj` a new SOP instance UID and file meta, and write it to `path` unless it exists.
pub(crate) fn write_object(
    mut obj: InMemDicomObject,
    sop_class: &str,
    path: &Path,
) -> Result<PathBuf> {
    let sop_uid = new_uid();
    put_str(&mut obj, tags::SOP_CLASS_UID, VR::UI, sop_class);
    put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop_uid);
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_uid.as_str())
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .build()
        .map_err(|e| IoError::DicomWrite { path: path.to_path_buf(), reason: error_chain(&e) })?;
    if path.exists() {
        return Err(IoError::DicomWrite {
            path: path.to_path_buf(),
            reason: "file exists; refusing to overwrite (choose an empty folder)".into(),
        });
    }
    obj.with_exact_meta(meta)
        .write_to_file(path)
        .map_err(|e| IoError::DicomWrite { path: path.to_path_buf(), reason: error_chain(&e) })?;
    Ok(path.to_path_buf())
}

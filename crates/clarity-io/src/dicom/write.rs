//! Derived series: a processed [`Volume`] written back as DICOM beside the series it came from,
//! keeping patient and study so PACS files it with the original.

use std::path::{Path, PathBuf};

use clarity_core::Volume;
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
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
fn ds(values: &[f64]) -> PrimitiveValue {
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

/// Write `vol` (frame 0) as a derived series of single-frame files into `out_dir`, one file per
/// slice, copying patient/study/equipment attributes from `source`. Refuses to overwrite
/// existing files. Returns the written paths.
pub fn write_derived_series(
    vol: &Volume,
    source: &DicomSeries,
    out_dir: &Path,
    description_suffix: &str,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)
        .map_err(|source| IoError::Write { path: out_dir.to_path_buf(), source })?;
    let series_uid = new_uid();
    let rescale = choose_rescale(vol);
    let [nx, ny, nz] = vol.dims;
    let description = format!("{}{}", source.description(), description_suffix);
    let row = [vol.direction[0][0], vol.direction[1][0], vol.direction[2][0]];
    let col = [vol.direction[0][1], vol.direction[1][1], vol.direction[2][1]];
    let template_for = |k: usize| -> &Path {
        // Slice k of a stack of single-frame files has its own source file; otherwise the first.
        if source.headers.len() == nz * source.frames && source.frames == 1 {
            &source.headers[source.slices[k].file].path
        } else {
            source.first_path()
        }
    };
    (0..nz)
        .into_par_iter()
        .map(|k| {
            let src_path = template_for(k);
            let src = super::header::open(src_path, false)?;
            let mut obj: InMemDicomObject = (*src).clone();
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
            ] {
                obj.remove_element(tag);
            }
            let sop_uid = new_uid();
            let sop_class = super::header::get_str(&obj, tags::SOP_CLASS_UID)
                .filter(|c| !c.starts_with("1.2.840.10008.5.1.4.1.1.4.1")) // Enhanced MR
                .unwrap_or_else(|| uids::MR_IMAGE_STORAGE.to_string());
            let put = |obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: PrimitiveValue| {
                obj.put(DataElement::new(tag, vr, v));
            };
            put(&mut obj, tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(sop_class.as_str()));
            put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop_uid.as_str()));
            put(
                &mut obj,
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(series_uid.as_str()),
            );
            put(
                &mut obj,
                tags::IMAGE_TYPE,
                VR::CS,
                PrimitiveValue::Strs(["DERIVED".to_string(), "SECONDARY".to_string()].into()),
            );
            put(
                &mut obj,
                tags::SERIES_DESCRIPTION,
                VR::LO,
                PrimitiveValue::from(description.as_str()),
            );
            let series_number = source.headers[0].meta.series_number.unwrap_or(0) + 1000;
            put(
                &mut obj,
                tags::SERIES_NUMBER,
                VR::IS,
                PrimitiveValue::from(series_number.to_string()),
            );
            put(&mut obj, tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from((k + 1).to_string()));
            let pos = vol.voxel_to_world([0.0, 0.0, k as f64]);
            put(&mut obj, tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&pos));
            put(
                &mut obj,
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                ds(&[row[0], row[1], row[2], col[0], col[1], col[2]]),
            );
            put(&mut obj, tags::PIXEL_SPACING, VR::DS, ds(&[vol.spacing_mm[1], vol.spacing_mm[0]]));
            put(&mut obj, tags::SPACING_BETWEEN_SLICES, VR::DS, ds(&[vol.spacing_mm[2]]));
            put(&mut obj, tags::ROWS, VR::US, PrimitiveValue::from(ny as u16));
            put(&mut obj, tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16));
            put(&mut obj, tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
            put(
                &mut obj,
                tags::PHOTOMETRIC_INTERPRETATION,
                VR::CS,
                PrimitiveValue::from("MONOCHROME2"),
            );
            put(&mut obj, tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
            put(&mut obj, tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
            put(&mut obj, tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
            put(
                &mut obj,
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(rescale.signed as u16),
            );
            put(&mut obj, tags::RESCALE_SLOPE, VR::DS, ds(&[rescale.slope]));
            put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, ds(&[rescale.intercept]));
            let mut bytes = Vec::with_capacity(nx * ny * 2);
            for &v in vol.slice(k) {
                let stored = ((v as f64 - rescale.intercept) / rescale.slope).round();
                if rescale.signed {
                    bytes
                        .extend_from_slice(&(stored.clamp(-32768.0, 32767.0) as i16).to_le_bytes());
                } else {
                    bytes.extend_from_slice(&(stored.clamp(0.0, 65535.0) as u16).to_le_bytes());
                }
            }
            put(&mut obj, tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into()));
            let meta = FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(sop_class.as_str())
                .media_storage_sop_instance_uid(sop_uid.as_str())
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .build()
                .map_err(|e| IoError::DicomWrite {
                    path: out_dir.to_path_buf(),
                    reason: error_chain(&e),
                })?;
            let file = obj.with_exact_meta(meta);
            let path = out_dir.join(format!("IM{:05}.dcm", k + 1));
            if path.exists() {
                return Err(IoError::DicomWrite {
                    path: path.clone(),
                    reason: "file exists; refusing to overwrite (choose an empty folder)".into(),
                });
            }
            file.write_to_file(&path)
                .map_err(|e| IoError::DicomWrite { path: path.clone(), reason: error_chain(&e) })?;
            Ok(path)
        })
        .collect()
}

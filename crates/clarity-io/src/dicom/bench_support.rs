//! Test and benchmark fixtures built from real series: a long series made by stacking copies of
//! a short one (new positions and UIDs), since the shared corpus has no 100+ slice series.

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;

use super::header::{error_chain, open};
use super::series::{scan, SeriesOptions};
use super::write::new_uid;
use crate::error::{IoError, Result};

/// Write `copies` copies of the series in `src` into `dst`, each copy shifted along the slice
/// normal past the previous one, as one new series. Returns the number of slices written.
pub fn stack_copies(src: &Path, dst: &Path, copies: usize) -> Result<usize> {
    let report = scan(src, SeriesOptions::default())?;
    let series = match &report.series[..] {
        [one] => one,
        [] => {
            return Err(IoError::NotFound {
                path: src.to_path_buf(),
                reason: "no DICOM series to stack".into(),
            })
        }
        many => {
            // Stacking the first of several would time a series the user did not name.
            return Err(IoError::NotFound {
                path: src.to_path_buf(),
                reason: format!("{} series found; pass a folder holding one series", many.len()),
            });
        }
    };
    std::fs::create_dir_all(dst)
        .map_err(|source| IoError::Write { path: dst.to_path_buf(), source })?;
    let series_uid = new_uid();
    let nz = series.dims[2];
    // Extent along the normal plus one mean gap, so the joins look like every other gap.
    let (first, last) = (&series.slices[0], &series.slices[series.slices.len() - 1]);
    let extent = last.distance_mm - first.distance_mm;
    let step = if nz > 1 { extent * nz as f64 / (nz - 1) as f64 } else { series.spacing_mm[2] };
    let n = [series.direction[0][2], series.direction[1][2], series.direction[2][2]];
    let mut written = 0;
    for c in 0..copies {
        for (k, s) in series.slices.iter().enumerate() {
            let path = &series.headers[s.file].path;
            let mut obj = open(path, true)?;
            let p = s.position;
            let shift = step * c as f64;
            let pos: Vec<String> = (0..3).map(|a| format!("{:.4}", p[a] + n[a] * shift)).collect();
            let sop = new_uid();
            obj.put(DataElement::new(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                PrimitiveValue::Strs(pos.into()),
            ));
            obj.put(DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(series_uid.as_str()),
            ));
            obj.put(DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(sop.as_str()),
            ));
            obj.put(DataElement::new(
                tags::INSTANCE_NUMBER,
                VR::IS,
                PrimitiveValue::from((c * nz + k + 1).to_string()),
            ));
            obj.meta_mut().media_storage_sop_instance_uid = sop.clone();
            let out = dst.join(super::series_file_name(c * nz + k));
            obj.write_to_file(&out)
                .map_err(|e| IoError::DicomWrite { path: out.clone(), reason: error_chain(&e) })?;
            written += 1;
        }
    }
    Ok(written)
}

//! Test and benchmark fixtures built from real series, for what the shared corpus lacks: a
//! 100+ slice series (copies of a short one stacked along its normal) and 4D series of
//! single-frame files (copies at the same positions as echoes, or as diffusion directions).

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use super::header::{error_chain, open};
use super::series::{scan, DicomSeries, SeriesOptions, SliceRef};
use super::write::new_uid;
use crate::error::{IoError, Result};

/// Write `copies` copies of the series in `src` into `dst`, each copy shifted along the slice
/// normal past the previous one, as one new series. Returns the number of slices written.
pub fn stack_copies(src: &Path, dst: &Path, copies: usize) -> Result<usize> {
    let series = only_series(src)?;
    let nz = series.dims[2];
    // Extent along the normal plus one mean gap, so the joins look like every other gap.
    let (first, last) = (&series.slices[0], &series.slices[series.slices.len() - 1]);
    let extent = last.distance_mm - first.distance_mm;
    let step = if nz > 1 { extent * nz as f64 / (nz - 1) as f64 } else { series.spacing_mm[2] };
    let n = [series.direction[0][2], series.direction[1][2], series.direction[2][2]];
    write_copies(&series, dst, copies, |obj, c, s| {
        let p = s.position;
        let shift = step * c as f64;
        let pos: Vec<String> = (0..3).map(|a| format!("{:.4}", p[a] + n[a] * shift)).collect();
        obj.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(pos.into()),
        ));
    })
}

/// Write `echoes` copies of the 3D series in `src` into `dst` as one multi-echo (4D) series:
/// copy `e` at the same positions, its EchoTime `e · echo_step_ms` later than the source's.
/// The real corpus has no 4D series of single-frame files. Returns the number of files written.
pub fn echo_copies(src: &Path, dst: &Path, echoes: usize, echo_step_ms: f64) -> Result<usize> {
    let series = only_series(src)?;
    let first_echo_ms = series.headers[0].meta.echo_time_ms.unwrap_or(0.0);
    write_copies(&series, dst, echoes, |obj, e, _| {
        let te = format!("{:.4}", first_echo_ms + echo_step_ms * e as f64);
        obj.put(DataElement::new(tags::ECHO_TIME, VR::DS, PrimitiveValue::from(te)));
    })
}

/// Write one copy of the 3D series in `src` into `dst` per `(b-value, direction)` of
/// `gradients`, at the same positions, as one diffusion-weighted (4D) series: each copy gets
/// DiffusionBValue, DiffusionGradientOrientation (the LPS direction as given) and
/// DiffusionDirectionality (NONE for a zero vector). The copies say Manufacturer SIEMENS:
/// dcm2niix reads a GE file's diffusion from GE's private tags only, and the corpus's series
/// are GE's. Returns the number of files written.
pub fn diffusion_copies(src: &Path, dst: &Path, gradients: &[(f64, [f64; 3])]) -> Result<usize> {
    let series = only_series(src)?;
    write_copies(&series, dst, gradients.len(), |obj, c, _| {
        let (b, g) = gradients[c];
        let directionality = if g == [0.0; 3] { "NONE" } else { "DIRECTIONAL" };
        obj.put(DataElement::new(tags::DIFFUSION_B_VALUE, VR::FD, PrimitiveValue::from(b)));
        obj.put(DataElement::new(
            tags::DIFFUSION_GRADIENT_ORIENTATION,
            VR::FD,
            PrimitiveValue::from(g),
        ));
        obj.put(DataElement::new(
            tags::DIFFUSION_DIRECTIONALITY,
            VR::CS,
            PrimitiveValue::from(directionality),
        ));
        obj.put(DataElement::new(tags::MANUFACTURER, VR::LO, PrimitiveValue::from("SIEMENS")));
    })
}

/// As [`diffusion_copies`], but each copy carries its b-value and direction only where some
/// Siemens exports keep them: in the CSA image header ((0029,1010), tags B_value and
/// DiffusionGradientDirection, none for a zero vector), with no standard diffusion attribute
/// and no (0019) block. Returns the number of files written.
pub fn diffusion_copies_csa(
    src: &Path,
    dst: &Path,
    gradients: &[(f64, [f64; 3])],
) -> Result<usize> {
    let series = only_series(src)?;
    write_copies(&series, dst, gradients.len(), |obj, c, _| {
        let (b, g) = gradients[c];
        for tag in [
            tags::DIFFUSION_B_VALUE,
            tags::DIFFUSION_GRADIENT_ORIENTATION,
            tags::DIFFUSION_DIRECTIONALITY,
        ] {
            obj.remove_element(tag);
        }
        let direction: &[f64] = if g == [0.0; 3] { &[] } else { &g };
        let csa = csa_header(&[("B_value", &[b]), ("DiffusionGradientDirection", direction)]);
        let creator = DataElement::new(
            dicom_core::Tag(0x0029, 0x0010),
            VR::LO,
            PrimitiveValue::from("SIEMENS CSA HEADER"),
        );
        obj.put(creator);
        obj.put(DataElement::new(
            dicom_core::Tag(0x0029, 0x1010),
            VR::OB,
            PrimitiveValue::from(csa),
        ));
        obj.put(DataElement::new(tags::MANUFACTURER, VR::LO, PrimitiveValue::from("SIEMENS")));
    })
}

/// A Siemens CSA header (format 2, "SV10") holding the given numeric tags, each value one item
/// of text, as the scanner writes them.
fn csa_header(entries: &[(&str, &[f64])]) -> Vec<u8> {
    let mut out = b"SV10\x04\x03\x02\x01".to_vec();
    let int = |out: &mut Vec<u8>, v: i32| out.extend_from_slice(&v.to_le_bytes());
    int(&mut out, entries.len() as i32);
    int(&mut out, 77);
    for (name, values) in entries {
        let mut field = [0u8; 64];
        field[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&field);
        int(&mut out, values.len().max(1) as i32); // VM
        out.extend_from_slice(b"FD\0\0"); // VR
        int(&mut out, 0); // SyngoDT
        int(&mut out, values.len() as i32); // items
        int(&mut out, 77);
        for v in *values {
            let mut text = format!("{v:.8}").into_bytes();
            text.push(0);
            let len = text.len() as i32;
            for x in [len, len, 77, len] {
                int(&mut out, x);
            }
            text.resize(text.len().div_ceil(4) * 4, 0);
            out.extend_from_slice(&text);
        }
    }
    out
}

/// The one series under `src`, or an error saying there is none or more than one.
fn only_series(src: &Path) -> Result<DicomSeries> {
    let mut report = scan(src, SeriesOptions::default())?;
    match report.series.len() {
        1 => Ok(report.series.remove(0)),
        0 => Err(IoError::NotFound {
            path: src.to_path_buf(),
            reason: "no DICOM series to copy".into(),
        }),
        // Copying the first of several would time or test a series the user did not name.
        many => Err(IoError::NotFound {
            path: src.to_path_buf(),
            reason: format!("{many} series found; pass a folder holding one series"),
        }),
    }
}

/// `copies` copies of every slice of `series` into `dst` as one new series (new series and SOP
/// instance UIDs, instance numbers running on), `edit(object, copy, slice)` changing each.
fn write_copies(
    series: &DicomSeries,
    dst: &Path,
    copies: usize,
    edit: impl Fn(&mut DefaultDicomObject, usize, &SliceRef),
) -> Result<usize> {
    std::fs::create_dir_all(dst)
        .map_err(|source| IoError::Write { path: dst.to_path_buf(), source })?;
    let series_uid = new_uid();
    let nz = series.slices.len();
    for c in 0..copies {
        for (k, s) in series.slices.iter().enumerate() {
            let mut obj = open(&series.headers[s.file].path, true)?;
            edit(&mut obj, c, s);
            let sop = new_uid();
            let put = |obj: &mut DefaultDicomObject, tag, vr, value: &str| {
                obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
            };
            put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, &series_uid);
            put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop);
            put(&mut obj, tags::INSTANCE_NUMBER, VR::IS, &(c * nz + k + 1).to_string());
            obj.meta_mut().media_storage_sop_instance_uid = sop;
            let out = dst.join(super::series_file_name(c * nz + k));
            obj.write_to_file(&out)
                .map_err(|e| IoError::DicomWrite { path: out.clone(), reason: error_chain(&e) })?;
        }
    }
    Ok(copies * nz)
}

//! Test and benchmark fixtures built from real series, for what the shared corpus lacks: a
//! 100+ slice series (copies of a short one stacked along its normal) and 4D series of
//! single-frame files (copies at the same positions as echoes, or as diffusion directions), or
//! one Enhanced MR file holding such a diffusion series.

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, InMemDicomObject};

use super::header::{error_chain, open};
use super::series::{scan, DicomSeries, SeriesOptions, SliceRef};
use super::write::{ds, new_uid, write_object};
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

/// Write the 3D series in `src` as one Enhanced MR Image file `dst` holding a diffusion-weighted
/// (4D) series, as Philips scanners export one: every slice once per `(b-value, direction)` of
/// `gradients`, volume after volume. Each frame's position, rescale, b-value and direction (in
/// the MR Diffusion Sequence's Diffusion Gradient Direction Sequence; DiffusionDirectionality
/// NONE for a zero vector) are in its per-frame functional groups, orientation and pixel
/// spacing in the shared ones, and a Dimension Index Sequence (stack, position in the stack,
/// volume) orders the frames as dcm2niix expects. The corpus has no Enhanced diffusion file.
/// The source must be uncompressed little-endian. Returns the number of frames written.
pub fn enhanced_diffusion_copy(
    src: &Path,
    dst: &Path,
    gradients: &[(f64, [f64; 3])],
) -> Result<usize> {
    let series = only_series(src)?;
    let fault = |reason: String| IoError::DicomWrite { path: dst.to_path_buf(), reason };
    if series.frames != 1 {
        return Err(fault(format!("{} holds a 4D series; a 3D one is copied", src.display())));
    }
    // The stored values of each slice, in the series' order along the normal.
    let mut slice_pixels = Vec::with_capacity(series.slices.len());
    for s in &series.slices {
        let path = &series.headers[s.file].path;
        let obj = open(path, true)?;
        let ts = obj.meta().transfer_syntax();
        if ![uids::EXPLICIT_VR_LITTLE_ENDIAN, uids::IMPLICIT_VR_LITTLE_ENDIAN]
            .contains(&ts.trim_end_matches('\0'))
        {
            return Err(fault(format!("{}: transfer syntax {ts} is not native", path.display())));
        }
        let bytes = obj
            .element(tags::PIXEL_DATA)
            .ok()
            .and_then(|e| e.value().to_bytes().ok())
            .ok_or_else(|| fault(format!("{}: no native pixel data", path.display())))?;
        slice_pixels.push(bytes.into_owned());
    }
    let mut obj = open(&series.headers[series.slices[0].file].path, true)?;
    for tag in [
        tags::IMAGE_POSITION_PATIENT,
        tags::IMAGE_ORIENTATION_PATIENT,
        tags::PIXEL_SPACING,
        tags::SLICE_THICKNESS,
        tags::SLICE_LOCATION,
        tags::RESCALE_SLOPE,
        tags::RESCALE_INTERCEPT,
        tags::DIFFUSION_B_VALUE,
        tags::DIFFUSION_GRADIENT_ORIENTATION,
        tags::DIFFUSION_DIRECTIONALITY,
    ] {
        obj.remove_element(tag);
    }
    let text = |tag, vr, value: &str| DataElement::new(tag, vr, PrimitiveValue::from(value));
    let numbers = |tag, values: &[f64]| DataElement::new(tag, VR::DS, ds(values));
    let group = |elements: Vec<DataElement<InMemDicomObject>>| {
        InMemDicomObject::from_element_iter(elements)
    };
    let sequence = |tag, item: InMemDicomObject| {
        DataElement::new(tag, VR::SQ, DataSetSequence::from(vec![item]))
    };
    let first = &series.headers[0].meta;
    let orientation = [0, 1].map(|c| series.direction.map(|row| row[c]));
    let shared = group(vec![
        sequence(
            tags::PLANE_ORIENTATION_SEQUENCE,
            group(vec![numbers(tags::IMAGE_ORIENTATION_PATIENT, orientation.as_flattened())]),
        ),
        sequence(
            tags::PIXEL_MEASURES_SEQUENCE,
            group(vec![
                numbers(tags::PIXEL_SPACING, &[series.spacing_mm[1], series.spacing_mm[0]]),
                numbers(tags::SLICE_THICKNESS, &[first.slice_thickness_mm.unwrap_or(1.0)]),
            ]),
        ),
    ]);
    let mut frames = Vec::with_capacity(gradients.len() * series.slices.len());
    for (volume, (b, g)) in gradients.iter().enumerate() {
        for (k, s) in series.slices.iter().enumerate() {
            let index = [1u32, k as u32 + 1, volume as u32 + 1];
            let mut diffusion = vec![
                DataElement::new(tags::DIFFUSION_B_VALUE, VR::FD, PrimitiveValue::from(*b)),
                text(
                    tags::DIFFUSION_DIRECTIONALITY,
                    VR::CS,
                    if *g == [0.0; 3] { "NONE" } else { "DIRECTIONAL" },
                ),
            ];
            if *g != [0.0; 3] {
                diffusion.push(sequence(
                    tags::DIFFUSION_GRADIENT_DIRECTION_SEQUENCE,
                    group(vec![DataElement::new(
                        tags::DIFFUSION_GRADIENT_ORIENTATION,
                        VR::FD,
                        PrimitiveValue::from(*g),
                    )]),
                ));
            }
            frames.push(group(vec![
                sequence(
                    tags::FRAME_CONTENT_SEQUENCE,
                    group(vec![
                        text(tags::STACK_ID, VR::SH, "1"),
                        DataElement::new(
                            tags::IN_STACK_POSITION_NUMBER,
                            VR::UL,
                            PrimitiveValue::from(k as u32 + 1),
                        ),
                        DataElement::new(
                            tags::DIMENSION_INDEX_VALUES,
                            VR::UL,
                            PrimitiveValue::from(index),
                        ),
                    ]),
                ),
                sequence(
                    tags::PLANE_POSITION_SEQUENCE,
                    group(vec![numbers(tags::IMAGE_POSITION_PATIENT, &s.position)]),
                ),
                sequence(
                    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                    group(vec![
                        numbers(tags::RESCALE_INTERCEPT, &[s.rescale.1]),
                        numbers(tags::RESCALE_SLOPE, &[s.rescale.0]),
                        text(tags::RESCALE_TYPE, VR::LO, "US"),
                    ]),
                ),
                sequence(tags::MR_DIFFUSION_SEQUENCE, group(diffusion)),
            ]));
        }
    }
    // Which attribute each of a frame's three index values counts, and in which group.
    let dimension = |index: Tag, group: Tag| {
        let tag_value = |t: Tag| PrimitiveValue::Tags(std::iter::once(t).collect());
        InMemDicomObject::from_element_iter([
            DataElement::new(tags::DIMENSION_INDEX_POINTER, VR::AT, tag_value(index)),
            DataElement::new(tags::FUNCTIONAL_GROUP_POINTER, VR::AT, tag_value(group)),
        ])
    };
    let dimensions = vec![
        dimension(tags::STACK_ID, tags::FRAME_CONTENT_SEQUENCE),
        dimension(tags::IN_STACK_POSITION_NUMBER, tags::FRAME_CONTENT_SEQUENCE),
        dimension(tags::DIFFUSION_B_VALUE, tags::MR_DIFFUSION_SEQUENCE),
    ];
    let n_frames = frames.len();
    obj.put(DataElement::new(
        tags::DIMENSION_INDEX_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(dimensions),
    ));
    obj.put(sequence(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, shared));
    obj.put(DataElement::new(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(frames),
    ));
    obj.put(text(tags::NUMBER_OF_FRAMES, VR::IS, &n_frames.to_string()));
    obj.put(text(tags::MANUFACTURER, VR::LO, "Philips Medical Systems"));
    obj.put(text(tags::SERIES_INSTANCE_UID, VR::UI, &new_uid()));
    obj.put(text(tags::INSTANCE_NUMBER, VR::IS, "1"));
    let pixels: Vec<u8> =
        (0..gradients.len()).flat_map(|_| slice_pixels.iter().flatten()).copied().collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)));
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| IoError::Write { path: parent.to_path_buf(), source })?;
    }
    // New SOP instance UID and file meta; an existing file is not overwritten.
    write_object(obj.into_inner(), uids::ENHANCED_MR_IMAGE_STORAGE, dst)?;
    Ok(n_frames)
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

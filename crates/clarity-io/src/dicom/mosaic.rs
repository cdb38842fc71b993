//! Siemens mosaic images: the slices of one EPI volume (fMRI, diffusion) tiled into a single
//! 2D image, ImageType `...\MOSAIC`. A mosaic read as one image is a grid of slices with the
//! wrong geometry; here it becomes one frame per slice, each at its own position, so series
//! assembly stacks it like any multi-frame file (as dcm2niix and nibabel do).
//!
//! Layout: the number of slices N comes from the private NumberOfImagesInMosaic (0019,xx0A) or
//! the CSA image header; the tiles fill a ceil(√N) × ceil(√N) grid row by row. The
//! ImagePositionPatient of a mosaic is that of the top-left pixel of the whole grid read as one
//! image, so the first slice lies half the grid's excess size further along the rows and
//! columns. Slices follow one another along the CSA header's SliceNormalVector (else the
//! cross product of the in-plane directions), SpacingBetweenSlices (else SliceThickness) apart.

use dicom_core::Tag;
use dicom_object::mem::InMemDicomObject;

use super::header::{get_f64, get_str, FrameInfo};
use super::pixels::{PixelArray, SampleType};

/// Most slices a mosaic is believed to hold.
const MAX_SLICES: usize = 4096;

/// Where the slices of a mosaic lie in its stored image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MosaicLayout {
    /// Slices in the mosaic.
    pub slices: usize,
    /// Tiles per row (and per column) of the grid.
    pub grid: usize,
    pub tile_rows: usize,
    pub tile_columns: usize,
}

/// The layout of `obj` and one frame per slice, when it is a mosaic of `rows × columns`
/// (`image_type`: its ImageType values, as the header reader split them).
pub(crate) fn mosaic_frames(
    obj: &InMemDicomObject,
    image_type: &[String],
    rows: u32,
    columns: u32,
    base: &FrameInfo,
) -> Option<(MosaicLayout, Vec<FrameInfo>)> {
    if !image_type.iter().any(|v| v == "MOSAIC") {
        return None;
    }
    let csa = csa_image_header(obj);
    let csa_number = |name: &str| csa_numbers(csa.as_deref()?, name);
    let slices = private_element(obj, 0x0019, "SIEMENS MR HEADER", 0x0A)
        .and_then(|e| match e.vr() {
            dicom_core::VR::UN | dicom_core::VR::OB => {
                let b = e.to_bytes().ok()?;
                (b.len() == 2).then(|| u16::from_le_bytes([b[0], b[1]]) as f64)
            }
            _ => e.to_float64().ok(),
        })
        .or_else(|| csa_number("NumberOfImagesInMosaic")?.first().copied())
        // Real mosaics hold at most a few hundred slices; a corrupt count must not make the
        // header reader allocate a frame list of billions.
        .filter(|n| (2.0..=MAX_SLICES as f64).contains(n))? as usize;
    let grid = (slices as f64).sqrt().ceil() as usize;
    let (rows, columns) = (rows as usize, columns as usize);
    if rows < 2 * grid || columns < 2 * grid || rows % grid != 0 || columns % grid != 0 {
        return None;
    }
    let layout =
        MosaicLayout { slices, grid, tile_rows: rows / grid, tile_columns: columns / grid };
    let (Some(pos), Some(o), Some(ps)) = (base.position, base.orientation, base.pixel_spacing)
    else {
        return Some((layout, vec![base.clone(); slices]));
    };
    let (row_dir, col_dir) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
    // Along a row the column index grows (spacing ps[1]); down a column the row index (ps[0]).
    let across = (columns - layout.tile_columns) as f64 / 2.0 * ps[1];
    let down = (rows - layout.tile_rows) as f64 / 2.0 * ps[0];
    let first: [f64; 3] = std::array::from_fn(|c| pos[c] + across * row_dir[c] + down * col_dir[c]);
    let normal = csa_number("SliceNormalVector")
        .filter(|v| v.len() == 3)
        .map(|v| [v[0], v[1], v[2]])
        .unwrap_or_else(|| clarity_core::cross(row_dir, col_dir));
    let step = get_f64(obj, dicom_dictionary_std::tags::SPACING_BETWEEN_SLICES)
        .or(base.slice_thickness_mm)
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let frames = (0..slices)
        .map(|k| {
            let mut f = base.clone();
            f.position = Some(std::array::from_fn(|c| first[c] + k as f64 * step * normal[c]));
            f
        })
        .collect();
    Some((layout, frames))
}

/// The tag `(group, block·0x100 + element)` in the private block `creator` reserved.
fn private_tag(obj: &InMemDicomObject, group: u16, creator: &str, element: u16) -> Option<Tag> {
    let block =
        (0x10..=0xFFu16).find(|b| get_str(obj, Tag(group, *b)).is_some_and(|c| c == creator))?;
    Some(Tag(group, (block << 8) | element))
}

/// The private element `(group, block·0x100 + element)` of the block `creator` reserved.
fn private_element<'a>(
    obj: &'a InMemDicomObject,
    group: u16,
    creator: &str,
    element: u16,
) -> Option<&'a dicom_object::mem::InMemElement> {
    obj.get(private_tag(obj, group, creator, element)?)
}

/// Make `obj` (a copy of a mosaic's header) the header of its slice `slice` alone. What marks
/// it as a mosaic goes: with the private slice count, CSA image header, mosaic acquisition times
/// and ImageType text left in, dcm2niix read such slices (ImageType already DERIVED) as 6 × 6
/// mosaics of 10 × 10 tiles. The slice's own acquisition time, which the mosaic kept as an
/// offset in MosaicRefAcqTimes, becomes its AcquisitionTime, so slice timing survives (without
/// it dcm2niix warned of bogus slice timing).
pub(crate) fn mosaic_slice_header(obj: &mut InMemDicomObject, slice: usize) {
    let offset_ms = private_element(obj, 0x0019, "SIEMENS MR HEADER", 0x29)
        .and_then(|e| match e.vr() {
            dicom_core::VR::UN | dicom_core::VR::OB => {
                let b = e.to_bytes().ok()?;
                let at = slice * 8;
                Some(f64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
            }
            _ => e.to_multi_float64().ok()?.get(slice).copied(),
        })
        .filter(|ms| ms.is_finite() && (0.0..86_400_000.0).contains(ms));
    let slice_time = offset_ms.and_then(|ms| {
        let start = get_str(obj, dicom_dictionary_std::tags::ACQUISITION_TIME)?;
        time_plus_ms(&start, ms)
    });
    for (group, creator, element) in [
        (0x0019, "SIEMENS MR HEADER", 0x0A),  // NumberOfImagesInMosaic
        (0x0019, "SIEMENS MR HEADER", 0x29),  // MosaicRefAcqTimes
        (0x0029, "SIEMENS CSA HEADER", 0x10), // CSA image header
        (0x0051, "SIEMENS MR HEADER", 0x16),  // ImageType as text ("p2 M/ND/MOSAIC")
    ] {
        if let Some(tag) = private_tag(obj, group, creator, element) {
            obj.remove_element(tag);
        }
    }
    if let Some(time) = slice_time {
        obj.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::ACQUISITION_TIME,
            dicom_core::VR::TM,
            dicom_core::PrimitiveValue::from(time),
        ));
    }
}

/// The DICOM time `ms` milliseconds after `tm`, wrapping at midnight; None when `tm` is not a
/// DICOM time.
fn time_plus_ms(tm: &str, ms: f64) -> Option<String> {
    Some(clarity_core::tm_from_seconds(clarity_core::tm_seconds(tm)? + ms / 1e3))
}

/// The bytes of a Siemens file's CSA image header ((0029,xx10) of "SIEMENS CSA HEADER").
pub(crate) fn csa_image_header(obj: &InMemDicomObject) -> Option<Vec<u8>> {
    let e = private_element(obj, 0x0029, "SIEMENS CSA HEADER", 0x10)?;
    e.to_bytes().ok().map(|b| b.to_vec())
}

/// The numbers of the tag `name` in a CSA header; None when it is absent, has no items, or an
/// item is not a number.
pub(crate) fn csa_numbers(csa: &[u8], name: &str) -> Option<Vec<f64>> {
    let items = csa_items(csa, name)?;
    let numbers: Option<Vec<f64>> = items.iter().map(|s| s.trim().parse::<f64>().ok()).collect();
    numbers.filter(|v| !v.is_empty())
}

/// The text items of the tag `name` in a Siemens CSA header (format 2, `SV10`, or 1).
fn csa_items(bytes: &[u8], name: &str) -> Option<Vec<String>> {
    let i32_at = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let csa2 = bytes.starts_with(b"SV10");
    let (n_tags, mut at) = if csa2 { (i32_at(8)?, 16) } else { (i32_at(0)?, 8) };
    if !(1..=1000).contains(&n_tags) {
        return None;
    }
    let mut first_tag_items = None;
    for _ in 0..n_tags {
        let tag_name = bytes.get(at..at + 64)?;
        let tag_name = &tag_name[..tag_name.iter().position(|b| *b == 0).unwrap_or(64)];
        let n_items = i32_at(at + 76)?;
        if !(0..=1000).contains(&n_items) {
            return None;
        }
        let first_items = *first_tag_items.get_or_insert(n_items);
        at += 84;
        let mut items = Vec::new();
        for _ in 0..n_items {
            let (x0, x1) = (i32_at(at)?, i32_at(at + 4)?);
            at += 16;
            // Format 1 gives the length relative to the first tag's item count.
            let len = if csa2 { x1 } else { x0 - first_items };
            let len = usize::try_from(len).ok()?;
            let text = bytes.get(at..at + len)?;
            let text = &text[..text.iter().position(|b| *b == 0).unwrap_or(len)];
            items.push(String::from_utf8_lossy(text).into_owned());
            at += len.div_ceil(4) * 4;
        }
        if tag_name == name.as_bytes() {
            return Some(items.into_iter().filter(|s| !s.trim().is_empty()).collect());
        }
    }
    None
}

/// The slices of a decoded mosaic (its first stored frame), one frame each.
pub(crate) fn unpack(
    stored: &[f64],
    columns: usize,
    layout: MosaicLayout,
    sample_type: SampleType,
    photometric: &str,
) -> PixelArray {
    let (tr, tc) = (layout.tile_rows, layout.tile_columns);
    let mut values = Vec::with_capacity(layout.slices * tr * tc);
    for k in 0..layout.slices {
        let (gy, gx) = (k / layout.grid, k % layout.grid);
        for y in 0..tr {
            let row = (gy * tr + y) * columns + gx * tc;
            values.extend_from_slice(&stored[row..row + tc]);
        }
    }
    PixelArray {
        frames: layout.slices,
        rows: tr,
        columns: tc,
        samples_per_pixel: 1,
        sample_type,
        photometric: photometric.to_string(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquisition_times_add_milliseconds_and_wrap_at_midnight() {
        assert_eq!(time_plus_ms("134935.305000", 70.0).as_deref(), Some("134935.375000"));
        assert_eq!(time_plus_ms("134959.9", 2437.5).as_deref(), Some("135002.337500"));
        assert_eq!(time_plus_ms("1349", 0.5).as_deref(), Some("134900.000500"));
        assert_eq!(time_plus_ms("235959.5", 1000.0).as_deref(), Some("000000.500000"));
        for bad in ["", "1", "12:30:00", "250000", "12a000", "120000.x"] {
            assert_eq!(time_plus_ms(bad, 1.0), None, "{bad:?}");
        }
    }

    /// A format-2 CSA header with the given tags, each with text items.
    fn csa2(tags: &[(&str, &[&str])]) -> Vec<u8> {
        let mut b = b"SV10\x04\x03\x02\x01".to_vec();
        b.extend((tags.len() as i32).to_le_bytes());
        b.extend(77i32.to_le_bytes());
        for (name, items) in tags {
            let mut n = name.as_bytes().to_vec();
            n.resize(64, 0);
            b.extend(n);
            for v in [items.len() as i32, 0, 0] {
                b.extend(v.to_le_bytes()); // vm; then vr (4 bytes) and syngodt, left 0
            }
            b.extend((items.len() as i32).to_le_bytes());
            b.extend(77i32.to_le_bytes());
            for item in *items {
                let len = item.len() as i32 + 1;
                for v in [len, len, 77, len] {
                    b.extend(v.to_le_bytes());
                }
                b.extend(item.as_bytes());
                b.push(0);
                b.resize(b.len() + (4 - (item.len() + 1) % 4) % 4, 0);
            }
        }
        b
    }

    #[test]
    fn csa_header_items_are_read_by_name() {
        let b = csa2(&[
            ("EchoLinePosition", &["32"]),
            ("SliceNormalVector", &["0.0", "0.10799944", "0.99415095"]),
            ("NumberOfImagesInMosaic", &["35"]),
        ]);
        assert_eq!(
            csa_items(&b, "SliceNormalVector").unwrap(),
            ["0.0", "0.10799944", "0.99415095"]
        );
        assert_eq!(csa_items(&b, "NumberOfImagesInMosaic").unwrap(), ["35"]);
        assert_eq!(csa_items(&b, "Absent"), None);
        // Truncated or garbage headers give nothing, never a panic.
        for cut in [0, 10, 20, 100, b.len() - 3] {
            let _ = csa_items(&b[..cut], "NumberOfImagesInMosaic");
        }
        assert_eq!(csa_items(&[0xFF; 64], "SliceNormalVector"), None);
    }

    #[test]
    fn tiles_are_taken_row_by_row() {
        // 3 slices in a 2 × 2 grid of 2 × 3 tiles (rows × columns): stored 4 × 6.
        let layout = MosaicLayout { slices: 3, grid: 2, tile_rows: 2, tile_columns: 3 };
        let stored: Vec<f64> = (0..24).map(f64::from).collect();
        let px = unpack(&stored, 6, layout, SampleType::U16, "MONOCHROME2");
        assert_eq!((px.frames, px.rows, px.columns), (3, 2, 3));
        assert_eq!(px.frame(0), [0.0, 1.0, 2.0, 6.0, 7.0, 8.0]);
        assert_eq!(px.frame(1), [3.0, 4.0, 5.0, 9.0, 10.0, 11.0]);
        assert_eq!(px.frame(2), [12.0, 13.0, 14.0, 18.0, 19.0, 20.0]);
    }
}

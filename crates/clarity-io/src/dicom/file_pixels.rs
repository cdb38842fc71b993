//! One file's pixels for the series loader: the native fast path (raw bytes, converted frame by
//! frame straight into the volume), the general decoder, and Siemens mosaics cut into slices.

use super::header::DicomHeader;
use super::mosaic::MosaicLayout;
use super::native::{self, NativeLayout};
use super::pixels::{decode_object, PixelArray, SampleType};
use crate::error::{IoError, Result};

/// One file's pixels, either as raw bytes for the native fast path or fully decoded.
pub(super) enum FilePixels {
    Native { bytes: Vec<u8>, layout: NativeLayout, rows: usize, columns: usize, frames: usize },
    Decoded(PixelArray),
}

impl FilePixels {
    /// `(rows, columns, frames)`.
    pub(super) fn shape(&self) -> (usize, usize, usize) {
        match self {
            Self::Native { rows, columns, frames, .. } => (*rows, *columns, *frames),
            Self::Decoded(px) => (px.rows, px.columns, px.frames),
        }
    }

    /// Write one frame, rescaled, into a plane of the volume.
    pub(super) fn frame_into(&self, frame: usize, (slope, intercept): (f64, f64), dst: &mut [f32]) {
        match self {
            Self::Native { bytes, layout, .. } => {
                native::frame_to_f32(bytes, layout, frame, slope, intercept, dst)
            }
            Self::Decoded(px) => {
                let src = px.frame(frame);
                if px.samples_per_pixel == 3 {
                    // Colour (secondary capture, ultrasound) is reduced to BT.601 luma.
                    for (d, rgb) in dst.iter_mut().zip(src.chunks_exact(3)) {
                        let y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
                        *d = (y * slope + intercept) as f32;
                    }
                } else {
                    let spp = px.samples_per_pixel.max(1);
                    for (d, v) in dst.iter_mut().zip(src.iter().step_by(spp)) {
                        *d = (v * slope + intercept) as f32;
                    }
                }
            }
        }
    }
}

/// Read one file's pixels: a single read and no second header parse when the native fast path
/// applies, the general decoder otherwise.
pub(super) fn load_pixels(h: &DicomHeader) -> Result<FilePixels> {
    let bytes =
        std::fs::read(&h.path).map_err(|source| IoError::Read { path: h.path.clone(), source })?;
    if let Some(mosaic) = h.mosaic {
        return mosaic_pixels(h, bytes, mosaic);
    }
    if let Some(layout) = native::locate(h, &bytes) {
        return Ok(FilePixels::Native {
            bytes,
            layout,
            rows: h.rows as usize,
            columns: h.columns as usize,
            frames: h.number_of_frames.max(1) as usize,
        });
    }
    // Everything else is parsed from the same bytes: the file is read once either way.
    let obj = super::header::open_bytes(&h.path, &bytes)?;
    decode_object(&h.path, &obj).map(FilePixels::Decoded)
}

/// A mosaic's slices as frames: its stored image decoded (straight from the bytes when the
/// native path applies), then cut into tiles.
fn mosaic_pixels(h: &DicomHeader, bytes: Vec<u8>, mosaic: MosaicLayout) -> Result<FilePixels> {
    let (rows, columns) = (h.rows as usize, h.columns as usize);
    let (stored, sample_type, photometric) = match native::locate(h, &bytes) {
        Some(layout) => {
            let mut plane = vec![0f32; rows * columns];
            native::frame_to_f32(&bytes, &layout, 0, 1.0, 0.0, &mut plane);
            let sample_type =
                SampleType::for_storage(h.bits_allocated as usize, h.pixel_representation == 1)
                    .unwrap_or(SampleType::U16);
            (plane.into_iter().map(f64::from).collect(), sample_type, h.photometric.clone())
        }
        None => {
            let obj = super::header::open_bytes(&h.path, &bytes)?;
            let px = decode_object(&h.path, &obj)?;
            if px.samples_per_pixel != 1 || (px.rows, px.columns) != (rows, columns) {
                return Err(IoError::PixelDecode {
                    path: h.path.clone(),
                    transfer_syntax: h.transfer_syntax.clone(),
                    reason: format!(
                        "a mosaic of {} slices needs one {rows}×{columns} grey image; the pixel data is {}×{} with {} sample(s)",
                        mosaic.slices, px.rows, px.columns, px.samples_per_pixel
                    ),
                });
            }
            (px.frame(0).to_vec(), px.sample_type, px.photometric.clone())
        }
    };
    Ok(FilePixels::Decoded(super::mosaic::unpack(
        &stored,
        columns,
        mosaic,
        sample_type,
        &photometric,
    )))
}

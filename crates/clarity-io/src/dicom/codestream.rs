//! The image size a compressed frame declares in its own header, to check against the DICOM
//! Rows and Columns before the pixels are trusted.
//!
//! Why: the decoders fill a buffer the size of Rows × Columns. A damaged Rows (100 → 27748 in
//! a damaged copy of `SC_rgb_dcmtk_+eb+cy+n1.dcm`) made an 8.3-million-sample image of one
//! 100 × 100 JPEG and zeros; pydicom refuses such a file.

/// `(rows, columns)` from a JPEG (any SOF marker, JPEG-LS's included) or JPEG 2000 (SIZ
/// marker, bare or inside a JP2 file) frame; None when the frame is neither or too short.
pub(crate) fn declared_size(frame: &[u8]) -> Option<(usize, usize)> {
    if frame.starts_with(&[0xFF, 0xD8]) {
        return jpeg_size(frame);
    }
    // A J2K codestream starts SOC (FF4F) then SIZ (FF51); a JP2 file (its signature box
    // first) holds one in a later box.
    const SOC_SIZ: [u8; 4] = [0xFF, 0x4F, 0xFF, 0x51];
    const JP2: [u8; 8] = [0, 0, 0, 0x0C, b'j', b'P', b' ', b' '];
    let at = if frame.starts_with(&SOC_SIZ) {
        0
    } else if frame.starts_with(&JP2) {
        frame.windows(4).position(|w| w == SOC_SIZ)?
    } else {
        return None;
    };
    let siz = frame.get(at + 4..at + 4 + 2 + 2 + 16)?;
    let u32_at = |i: usize| u32::from_be_bytes([siz[i], siz[i + 1], siz[i + 2], siz[i + 3]]);
    // Lsiz, Rsiz, then the grid's width and height and the image's offset on it.
    let (width, height, x0, y0) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16));
    Some((height.checked_sub(y0)? as usize, width.checked_sub(x0)? as usize))
}

/// The size in the first start-of-frame segment of a JPEG stream, walking its marker segments.
fn jpeg_size(frame: &[u8]) -> Option<(usize, usize)> {
    let mut at = 2;
    loop {
        let marker = *frame.get(at + 1)?;
        if *frame.get(at)? != 0xFF {
            return None;
        }
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let len = u16::from_be_bytes([*frame.get(at + 2)?, *frame.get(at + 3)?]) as usize;
        // SOF0-SOF15 (not DHT C4, JPG C8, DAC CC) and JPEG-LS's SOF55 (F7): precision, height,
        // width.
        let sof = matches!(marker, 0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC));
        if sof || marker == 0xF7 {
            let s = frame.get(at + 5..at + 9)?;
            let height = u16::from_be_bytes([s[0], s[1]]) as usize;
            let width = u16::from_be_bytes([s[2], s[3]]) as usize;
            return Some((height, width));
        }
        if marker == 0xDA {
            return None; // scan data before any frame header
        }
        at += 2 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::declared_size;

    #[test]
    fn sizes_are_read_from_jpeg_jpeg_ls_and_jpeg_2000_headers() {
        // SOI, an APP0 segment of 4 bytes, SOF0: precision 8, height 300, width 200.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0x01, 0x2C, 0, 200, 1, 1,
            0x11, 0,
        ];
        assert_eq!(declared_size(&jpeg), Some((300, 200)));
        let mut ls = jpeg;
        ls[9] = 0xF7;
        assert_eq!(declared_size(&ls), Some((300, 200)));
        // SOC, SIZ: Lsiz, Rsiz, Xsiz 120, Ysiz 90, XOsiz 20, YOsiz 10.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 41, 0, 0];
        for v in [120u32, 90, 20, 10] {
            j2k.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(declared_size(&j2k), Some((80, 100)));
        assert_eq!(declared_size(&j2k[..12]), None);
        assert_eq!(declared_size(&[0xFF, 0xD8, 0xFF]), None);
        assert_eq!(declared_size(b"not a codestream"), None);
        // The J2K markers inside other data (an RLE segment, say) are not a codestream.
        assert_eq!(declared_size(&[[1, 2, 3].as_slice(), &j2k].concat()), None);
        let jp2 = [[0, 0, 0, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A].as_slice(), &j2k].concat();
        assert_eq!(declared_size(&jp2), Some((80, 100)));
    }
}

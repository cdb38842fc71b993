//! A second try for JPEG-LS streams CharLS refuses because of padding before the end marker.
//!
//! Some encoders leave a `0x00` byte between the last entropy-coded byte and EOI (`FF D9`): the
//! WG04 test image `MR1_JLSL` ends `2B 00 FF D9`. CharLS from 2.3 on rejects that ("the leading
//! start byte (0xFF) for a JPEG marker was not found"; team-charls/charls issues 365 and 437),
//! while older CharLS, DCMTK and libjpeg read it. Removing the zero bytes gives a stream whose
//! entropy-coded data is unchanged. This is tried only after CharLS has failed on the stream as
//! it is, and the result is used only if it has the expected size.

/// The stream with the zero bytes right before its final EOI removed, if there are any.
pub(crate) fn strip_zero_padding_before_eoi(stream: &[u8]) -> Option<Vec<u8>> {
    // DICOM pads fragments to even length, so EOI may be followed by one more zero.
    let mut end = stream.len();
    while end > 0 && stream[end - 1] == 0 {
        end -= 1;
    }
    if end < 2 || stream[end - 2..end] != [0xFF, 0xD9] {
        return None;
    }
    let eoi = end - 2;
    let mut data_end = eoi;
    while data_end > 0 && stream[data_end - 1] == 0 {
        data_end -= 1;
    }
    if data_end == eoi {
        return None;
    }
    let mut out = Vec::with_capacity(data_end + 2);
    out.extend_from_slice(&stream[..data_end]);
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

/// Decode one JPEG-LS frame with CharLS, retrying without padding before EOI: unsigned samples
/// (callers apply BitsStored and sign), rows and columns.
pub(crate) fn decode_frame(stream: &[u8]) -> Result<(Vec<u64>, usize, usize), String> {
    // A CharLS decoder reads the header once; frame info and decoding each need a fresh one.
    let attempt = |s: &[u8]| -> Result<(Vec<u8>, charls::FrameInfo), String> {
        let info = charls::CharLS::default().get_frame_info(s).map_err(|e| e.to_string())?;
        let bytes = charls::CharLS::default().decode(s).map_err(|e| e.to_string())?;
        Ok((bytes, info))
    };
    let (bytes, info) = match attempt(stream) {
        Ok(r) => r,
        Err(first) => {
            let stripped =
                strip_zero_padding_before_eoi(stream).ok_or_else(|| format!("CharLS: {first}"))?;
            attempt(&stripped).map_err(|e| format!("CharLS: {first}; without padding: {e}"))?
        }
    };
    let n = info.width as usize * info.height as usize * info.component_count as usize;
    let values: Vec<u64> = if info.bits_per_sample > 8 {
        bytes.chunks_exact(2).take(n).map(|c| u16::from_le_bytes([c[0], c[1]]) as u64).collect()
    } else {
        bytes.iter().take(n).map(|&b| b as u64).collect()
    };
    if values.len() != n {
        return Err(format!("CharLS returned {} samples for a {n}-sample frame", values.len()));
    }
    Ok((values, info.height as usize, info.width as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_before_eoi_are_removed_and_nothing_else() {
        let s = [0xFF, 0xD8, 0x12, 0x2B, 0x00, 0xFF, 0xD9];
        assert_eq!(
            strip_zero_padding_before_eoi(&s).unwrap(),
            [0xFF, 0xD8, 0x12, 0x2B, 0xFF, 0xD9]
        );
        // Fragment padding after EOI is tolerated.
        let s = [0xFF, 0xD8, 0x2B, 0x00, 0x00, 0xFF, 0xD9, 0x00];
        assert_eq!(strip_zero_padding_before_eoi(&s).unwrap(), [0xFF, 0xD8, 0x2B, 0xFF, 0xD9]);
        // Nothing to strip, or no EOI: no second try.
        assert!(strip_zero_padding_before_eoi(&[0xFF, 0xD8, 0x2B, 0xFF, 0xD9]).is_none());
        assert!(strip_zero_padding_before_eoi(&[0xFF, 0xD8, 0x2B, 0x00]).is_none());
    }
}

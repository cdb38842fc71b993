//! DICOM RLE Lossless (PS3.5 annex G) for every BitsAllocated, since dicom-pixeldata's decoder
//! stops at 16 bits and RT dose grids are 32-bit.

/// Decode one RLE frame into interleaved samples (`rows * columns * samples` values).
///
/// Segments hold one byte plane each: for each sample, its most significant byte first.
pub fn decode_frame(
    fragment: &[u8],
    rows: usize,
    columns: usize,
    samples: usize,
    bytes_per_sample: usize,
) -> Result<Vec<u64>, String> {
    if fragment.len() < 64 {
        return Err(format!("RLE header needs 64 bytes, fragment has {}", fragment.len()));
    }
    let word = |i: usize| {
        u32::from_le_bytes([fragment[i], fragment[i + 1], fragment[i + 2], fragment[i + 3]])
            as usize
    };
    let n_segments = word(0);
    let expected = samples * bytes_per_sample;
    if n_segments != expected {
        return Err(format!(
            "RLE header lists {n_segments} segments, {samples} sample(s) × {bytes_per_sample} byte(s) need {expected}"
        ));
    }
    let pixels = rows * columns;
    let mut out = vec![0u64; pixels * samples];
    for seg in 0..n_segments {
        let start = word(4 + 4 * seg);
        let end = if seg + 1 < n_segments { word(8 + 4 * seg) } else { fragment.len() };
        if start < 64 || start > end || end > fragment.len() {
            return Err(format!(
                "RLE segment {seg} offsets {start}..{end} are out of the fragment"
            ));
        }
        let plane = unpack_bits(&fragment[start..end], pixels)
            .map_err(|e| format!("RLE segment {seg}: {e}"))?;
        let sample = seg / bytes_per_sample;
        let shift = 8 * (bytes_per_sample - 1 - seg % bytes_per_sample);
        for (p, &b) in plane.iter().enumerate() {
            out[p * samples + sample] |= (b as u64) << shift;
        }
    }
    Ok(out)
}

/// PackBits: a header byte n ≥ 0 copies n+1 literal bytes, -127..=-1 repeats the next byte
/// 1-n times, -128 does nothing. Segments may be padded, so extra output is dropped.
fn unpack_bits(src: &[u8], want: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(want);
    let mut i = 0;
    while i < src.len() && out.len() < want {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            let lit = src.get(i..i + len).ok_or("literal run past the end of the segment")?;
            out.extend_from_slice(lit);
            i += len;
        } else if n != -128 {
            let b = *src.get(i).ok_or("repeat run past the end of the segment")?;
            out.extend(std::iter::repeat_n(b, 1 + (-(n as isize)) as usize));
            i += 1;
        }
    }
    if out.len() < want {
        return Err(format!("decoded {} bytes, the frame needs {want}", out.len()));
    }
    out.truncate(want);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_and_repeat_runs() {
        // 2 literals, then 4 × 0xAA, then a no-op, then 1 literal.
        let src = [1, 7, 8, (-3i8) as u8, 0xAA, 0x80, 0, 9];
        assert_eq!(unpack_bits(&src, 7).unwrap(), vec![7, 8, 0xAA, 0xAA, 0xAA, 0xAA, 9]);
        assert!(unpack_bits(&[5, 1], 6).is_err());
    }

    #[test]
    fn sixteen_bit_frame_combines_high_and_low_planes() {
        let mut frag = vec![0u8; 64];
        frag[0] = 2; // two segments
        frag[4] = 64; // segment 0 (high bytes) at 64
        frag[8] = 67; // segment 1 (low bytes) at 67
        frag.extend_from_slice(&[(-1i8) as u8, 0x01, 0x80]); // high: 0x01 0x01
        frag.extend_from_slice(&[1, 0x02, 0x03]); // low: 0x02 0x03
        let v = decode_frame(&frag, 1, 2, 1, 2).unwrap();
        assert_eq!(v, vec![0x0102, 0x0103]);
        assert!(decode_frame(&frag, 1, 2, 3, 2).is_err());
    }
}

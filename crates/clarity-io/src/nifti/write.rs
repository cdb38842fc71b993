//! Writing: NIfTI-1 with the sform and, for orthonormal directions, the matching qform.

use std::io::Write;
use std::path::Path;

use clarity_core::Volume;

use super::{nifti_err, NiftiType};
use crate::error::{IoError, Result};

/// Write a volume as NIfTI-1 (`.nii`, or gzipped when the name ends in `.gz`), with the sform
/// (code 1, scanner) and, when the direction is orthonormal, the matching qform. Volumes whose
/// values are all integers in int16 range (most DICOM-derived data) are stored as int16, exactly
/// and at half the size; anything else as float32.
pub fn write_nifti(vol: &Volume, path: &Path) -> Result<()> {
    let mut h = vec![0u8; 352];
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 =
        |h: &mut Vec<u8>, at: usize, v: f32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let ndim = if vol.frames > 1 { 4 } else { 3 };
    let dims = [ndim, vol.dims[0], vol.dims[1], vol.dims[2], vol.frames, 1, 1, 1];
    for (i, d) in dims.iter().enumerate() {
        let d = i16::try_from(*d)
            .map_err(|_| nifti_err(path, format!("dimension {d} does not fit NIfTI-1")))?;
        put_i16(&mut h, 40 + 2 * i, d);
    }
    // One pass encodes as int16 and gives up at the first value int16 cannot hold exactly
    // (fractional, out of range, NaN: the saturating cast does not round-trip).
    let data = encode_i16(&vol.data);
    let as_i16 = data.is_some();
    let data = data.unwrap_or_else(|| vol.data.iter().flat_map(|v| v.to_le_bytes()).collect());
    let (dtype, bitpix) = if as_i16 { (NiftiType::I16, 16) } else { (NiftiType::F32, 32) };
    put_i16(&mut h, 70, dtype as i16);
    put_i16(&mut h, 72, bitpix);
    let affine = vol.ras_affine();
    let (quat, qfac) = rotation_to_quaternion(&vol.direction);
    let pix = [qfac, vol.spacing_mm[0], vol.spacing_mm[1], vol.spacing_mm[2], 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pix.iter().enumerate() {
        put_f32(&mut h, 76 + 4 * i, *p as f32);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0);
    h[123] = 10 | 8; // xyzt_units: mm, seconds
    let desc = b"clarity";
    h[148..148 + desc.len()].copy_from_slice(desc);
    if let Some(q) = quat {
        put_i16(&mut h, 252, 1);
        for (i, v) in q.iter().enumerate() {
            put_f32(&mut h, 256 + 4 * i, *v as f32);
        }
        for r in 0..3 {
            put_f32(&mut h, 268 + 4 * r, affine[r][3] as f32);
        }
    }
    put_i16(&mut h, 254, 1);
    for r in 0..3 {
        for c in 0..4 {
            put_f32(&mut h, 280 + 16 * r + 4 * c, affine[r][c] as f32);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    let werr = |source| IoError::Write { path: path.to_path_buf(), source };
    crate::write_replacing(path, |mut w| {
        if path.to_string_lossy().ends_with(".gz") {
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
            gz.write_all(&h).map_err(werr)?;
            gz.write_all(&data).map_err(werr)?;
            gz.finish().map_err(werr)?.flush().map_err(werr)
        } else {
            w.write_all(&h).map_err(werr)?;
            w.write_all(&data).map_err(werr)?;
            w.flush().map_err(werr)
        }
    })
}

fn encode_i16(values: &[f32]) -> Option<Vec<u8>> {
    use rayon::prelude::*;
    let mut out = vec![0u8; values.len() * 2];
    // Chunks are encoded in parallel; `all` stops the others early once one value fails.
    let exact = out.par_chunks_mut(1 << 16).zip(values.par_chunks(1 << 15)).all(|(dst, src)| {
        for (d, &v) in dst.chunks_exact_mut(2).zip(src) {
            let i = v as i16;
            if i as f32 != v {
                return false;
            }
            d.copy_from_slice(&i.to_le_bytes());
        }
        true
    });
    exact.then_some(out)
}

/// Quaternion (b, c, d) and qfac of the RAS rotation for an LPS direction matrix, or `None` when
/// the matrix is not orthonormal (sheared geometry has no qform).
fn rotation_to_quaternion(lps_dir: &[[f64; 3]; 3]) -> (Option<[f64; 3]>, f64) {
    let mut m = *lps_dir;
    for c in 0..3 {
        m[0][c] = -m[0][c];
        m[1][c] = -m[1][c];
    }
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for row in m.iter_mut() {
            row[2] = -row[2];
        }
    }
    for a in 0..3 {
        for b in 0..3 {
            let d: f64 = (0..3).map(|r| m[r][a] * m[r][b]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            if (d - want).abs() > 1e-4 {
                return (None, qfac);
            }
        }
    }
    let trace = m[0][0] + m[1][1] + m[2][2];
    let (a, b, c, d);
    if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0;
        a = 0.25 * s;
        b = (m[2][1] - m[1][2]) / s;
        c = (m[0][2] - m[2][0]) / s;
        d = (m[1][0] - m[0][1]) / s;
    } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
        let s = (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt() * 2.0;
        a = (m[2][1] - m[1][2]) / s;
        b = 0.25 * s;
        c = (m[0][1] + m[1][0]) / s;
        d = (m[0][2] + m[2][0]) / s;
    } else if m[1][1] > m[2][2] {
        let s = (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt() * 2.0;
        a = (m[0][2] - m[2][0]) / s;
        b = (m[0][1] + m[1][0]) / s;
        c = 0.25 * s;
        d = (m[1][2] + m[2][1]) / s;
    } else {
        let s = (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt() * 2.0;
        a = (m[1][0] - m[0][1]) / s;
        b = (m[0][2] + m[2][0]) / s;
        c = (m[1][2] + m[2][1]) / s;
        d = 0.25 * s;
    }
    let sign = if a < 0.0 { -1.0 } else { 1.0 };
    (Some([b * sign, c * sign, d * sign]), qfac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nifti::read::qform_affine;

    #[test]
    fn qform_round_trips_through_quaternion() {
        let ang: f64 = 0.4;
        let dir = Volume::direction_from_orientation(
            [ang.cos(), ang.sin(), 0.0],
            [-ang.sin(), ang.cos(), 0.0],
            None,
        );
        let (q, qfac) = rotation_to_quaternion(&dir);
        let aff = qform_affine(q.unwrap(), [0.0; 3], [1.0, 1.0, 1.0], qfac);
        for r in 0..3 {
            for c in 0..3 {
                let ras = if r < 2 { -dir[r][c] } else { dir[r][c] };
                assert!((aff[r][c] - ras).abs() < 1e-9, "[{r}][{c}] {} vs {ras}", aff[r][c]);
            }
        }
    }
}
